//! The floating-point operations of one training iteration, counted once from the networks'
//! shapes ([`Convolutions`]) and the passes [`Trainer::step`] makes through them: how far a
//! measured iteration is from the machine's limit, not only from PyTorch's.

use super::step::{Side, Trainer};
use crate::config::ObjectiveKind;
use crate::model::{Convolutions, Direction, Gradients};

/// A backward pass that trains a network's parameters on an input that needs no gradient (a
/// real image, or a detached fake in the discriminators' step).
const TRAIN: Gradients = Gradients {
    weights: true,
    input: false,
};
/// A backward pass that trains a network's parameters and passes the gradient on to its input
/// (a fake, made by the other generator).
const TRAIN_THROUGH: Gradients = Gradients {
    weights: true,
    input: true,
};
/// A backward pass through a network whose parameters are not trained by this loss (the
/// discriminators judging the fakes in the generators' step) to its input.
const THROUGH: Gradients = Gradients {
    weights: false,
    input: true,
};

impl Trainer {
    /// Operations of iteration `iteration` (its sides: [`Trainer::sides`]) over `batch` images
    /// of each domain, as [`Trainer::step`] runs it: per direction the fake (and, when the
    /// generators are trained, the reconstruction and the identity pass), the discriminator's
    /// two passes of its own step and its judging of the fake in the generators' step (with
    /// the paper objective, also its forward pass over the real images for feature matching).
    /// Saturates at `u64::MAX` rather than wrapping.
    pub fn iteration_flops(&self, batch: usize, iteration: u64) -> u64 {
        let config = self.config();
        let o = &config.objective;
        let size = config.model.image_size;
        let sides = self.sides(iteration);
        let trains_d = sides.contains(&Side::Discriminators);
        let trains_g = sides.contains(&Side::Generators);
        let reconstructs = o.variant.reconstructs() && trains_g;
        let directions: &[Direction] = if o.variant.both_directions() {
            &[Direction::AToB, Direction::BToA]
        } else {
            &[Direction::AToB]
        };
        let generator = |d: Direction| -> Convolutions { self.generators.of(d).convolutions(size) };
        let per_image: u64 = directions
            .iter()
            .map(|&direction| {
                let (g, back) = (generator(direction), generator(direction.reversed()));
                let judge = self.discriminators.judge_of(direction).convolutions(size);
                // The fake, e.g. G_AB(a): trained through when the generators are.
                let mut ops: u64 = if trains_g {
                    g.trained(TRAIN)
                } else {
                    g.forward()
                };
                if reconstructs {
                    // G_BA(G_AB(a)): trained, and the gradient goes on to the fake.
                    ops = ops.saturating_add(back.trained(TRAIN_THROUGH));
                }
                if trains_d {
                    // D_B(b) and D_B(detached fake).
                    ops = ops.saturating_add(judge.trained(TRAIN).saturating_mul(2));
                }
                if trains_g {
                    // D_B(fake), its parameters' gradients off.
                    ops = ops.saturating_add(judge.trained(THROUGH));
                    if o.kind == ObjectiveKind::Paper {
                        // D_B(b)'s features for feature matching: no gradient at all.
                        ops = ops.saturating_add(judge.forward());
                    }
                    if o.lambda_identity > 0.0 {
                        // G_AB(b) left unchanged.
                        ops = ops.saturating_add(g.trained(TRAIN));
                    }
                }
                ops
            })
            .fold(0u64, u64::saturating_add);
        per_image.saturating_mul(batch as u64)
    }
}
