//! The translations of one batch of each domain, computed once and shared by the training step,
//! the sample grids and the evaluation.

use burn::tensor::Tensor;

use super::{Discriminator, Discriminators, Generator, Generators};

/// A direction of translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// G_AB: domain A to domain B.
    AToB,
    /// G_BA: domain B to domain A.
    BToA,
}

impl Direction {
    /// The way back: B→A for A→B and A→B for B→A.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::AToB => Direction::BToA,
            Direction::BToA => Direction::AToB,
        }
    }
}

impl Generators {
    /// The generator that translates in `direction`.
    pub fn of(&self, direction: Direction) -> &Generator {
        match direction {
            Direction::AToB => &self.g_ab,
            Direction::BToA => &self.g_ba,
        }
    }
}

impl Discriminators {
    /// The discriminator that judges `direction`'s translations: D_B judges G_AB's fakes.
    pub fn judge_of(&self, direction: Direction) -> &Discriminator {
        match direction {
            Direction::AToB => &self.d_b,
            Direction::BToA => &self.d_a,
        }
    }
}

/// The translations and reconstructions of a batch of each domain. A→B is always translated
/// (every variant of DiscoGAN trains G_AB); the rest is `None` where not asked for. Every tensor
/// is [batch, channels, size, size] in the generators' pixel range, the batch of the real images
/// it comes from (the two domains' batches may differ in size).
#[derive(Clone, Debug)]
pub struct Cycle {
    /// `G_AB(a)`.
    pub fake_b: Tensor<4>,
    /// `G_BA(b)`.
    pub fake_a: Option<Tensor<4>>,
    /// `G_BA(G_AB(a))`.
    pub recov_a: Option<Tensor<4>>,
    /// `G_AB(G_BA(b))`.
    pub recov_b: Option<Tensor<4>>,
}

impl Generators {
    /// Translates `real_a` into B and, when given, `real_b` into A, and with `reconstruct`
    /// each translation back, in the reference's order of generator calls (`G_AB(a)`,
    /// `G_BA(b)`, `G_BA(G_AB(a))`, `G_AB(G_BA(b))`): the order dropout draws its masks in.
    pub fn cycle(
        &self,
        real_a: &Tensor<4>,
        real_b: Option<&Tensor<4>>,
        reconstruct: bool,
    ) -> Cycle {
        let fake_b = self.g_ab.forward(real_a.clone());
        let fake_a = real_b.map(|b| self.g_ba.forward(b.clone()));
        let recov_a = reconstruct.then(|| self.g_ba.forward(fake_b.clone()));
        let recov_b = fake_a
            .as_ref()
            .filter(|_| reconstruct)
            .map(|fake| self.g_ab.forward(fake.clone()));
        Cycle {
            fake_b,
            fake_a,
            recov_a,
            recov_b,
        }
    }

    /// The same two generators with the domains' names swapped (`g_ab` is G_BA): B→A is the
    /// A→B of the mirrored pair, so that one direction's translations of B images are
    /// [`cycle`](Self::cycle)'s `fake_b` and `recov_a` of the mirror.
    pub fn mirrored(&self) -> Generators {
        Generators {
            g_ab: self.g_ba.clone(),
            g_ba: self.g_ab.clone(),
        }
    }
}
