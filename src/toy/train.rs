//! The toy experiment's networks (MLPs, as the paper: 3-layer G, 5-layer D, ReLU) and training.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData, activation};

use super::mixture::Mixture;
use crate::loss::{self, Distance, GanLoss, ObjectiveKind, PerDirection, Variant, WeightedTerms};
use crate::rng::SplitMix64;

/// A stack of linear layers with ReLU between them.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// `depth` linear layers: 2 → hidden → ... → `out`.
    pub fn new(depth: usize, hidden: usize, out: usize, device: &Device) -> Self {
        let layers = (0..depth)
            .map(|i| {
                let cin = if i == 0 { 2 } else { hidden };
                let cout = if i + 1 == depth { out } else { hidden };
                LinearConfig::new(cin, cout).init(device)
            })
            .collect();
        Self { layers }
    }

    /// [n, 2] -> [n, out].
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            let y = layer.forward(x);
            if i < last { activation::relu(y) } else { y }
        })
    }
}

/// Two networks, one per domain: (G_AB, G_BA) or (D_A, D_B).
#[derive(Module, Debug)]
pub struct MlpPair {
    /// G_AB, or D_A.
    pub first: Mlp,
    /// G_BA, or D_B.
    pub second: Mlp,
}

/// The four networks of one toy run.
#[derive(Debug)]
pub struct ToyNets {
    /// A → B.
    pub g_ab: Mlp,
    /// B → A.
    pub g_ba: Mlp,
    /// Judges A.
    pub d_a: Mlp,
    /// Judges B.
    pub d_b: Mlp,
}

/// Hyper-parameters of a toy run.
#[derive(Clone, Debug)]
pub struct ToyTraining {
    /// gan, recongan or discogan.
    pub variant: Variant,
    /// Iterations.
    pub iterations: u64,
    /// Samples of each domain per iteration.
    pub batch: usize,
    /// Hidden width of the MLPs.
    pub hidden: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Weight of the reconstruction term.
    pub lambda_cycle: f64,
    /// The run's seed.
    pub seed: u64,
}

fn points_tensor(points: &[[f32; 2]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = points.iter().flat_map(|p| [p[0], p[1]]).collect();
    Tensor::from_data(TensorData::new(flat, [points.len(), 2]), device)
}

/// Trains the four networks on samples of `a` and `b` with the weighted objective of
/// [`crate::loss`] (BCE GAN loss, MSE reconstruction, each averaged over the directions trained;
/// D step then G step each iteration). Returns the trained networks.
pub fn train_toy(a: &Mixture, b: &Mixture, t: &ToyTraining, device: &Device) -> ToyNets {
    device.seed(t.seed);
    let mut g = MlpPair {
        first: Mlp::new(3, t.hidden, 2, device),
        second: Mlp::new(3, t.hidden, 2, device),
    };
    let mut d = MlpPair {
        first: Mlp::new(5, t.hidden, 1, device),
        second: Mlp::new(5, t.hidden, 1, device),
    };
    let adam = AdamConfig::new()
        .with_beta_1(0.5)
        .with_beta_2(0.999)
        .with_epsilon(1e-8);
    let (mut opt_g, mut opt_d) = (adam.init(), adam.init());
    let both = t.variant == Variant::Discogan;
    let recon = t.variant != Variant::Gan;
    for iteration in 0..t.iterations {
        let mut rng = SplitMix64::new(&[t.seed, 0x70, iteration]);
        let real_a = points_tensor(&a.sample(t.batch, &mut rng).0, device);
        let real_b = points_tensor(&b.sample(t.batch, &mut rng).0, device);
        let fake_b = g.first.forward(real_a.clone());
        let fake_a = both.then(|| g.second.forward(real_b.clone()));

        // Discriminators: real → 1, fake (detached) → 0; D_B judges G_AB's fakes.
        let judge = |net: &Mlp, real: &Tensor<2>, fake: &Tensor<2>| {
            let on_real = net.forward(real.clone());
            let on_fake = net.forward(fake.clone().detach());
            loss::discriminator_half(GanLoss::Bce, on_real, on_fake)
        };
        let halves = PerDirection {
            a_to_b: judge(&d.second, &real_b, &fake_b),
            b_to_a: fake_a
                .as_ref()
                .map(|fake_a| judge(&d.first, &real_a, fake_a)),
        };
        let d_loss = loss::discriminator_loss(ObjectiveKind::Weighted, halves);
        let grads = GradientsParams::from_grads(d_loss.backward(), &d);
        d = opt_d.step(t.lr, d, grads);

        // Generators: fool the discriminators, and reconstruct.
        let mse = |x: Tensor<2>, y: &Tensor<2>| loss::distance(Distance::Mse, x, y.clone(), 0.0);
        let fool =
            |net: &Mlp, fake: &Tensor<2>| loss::gan(GanLoss::Bce, net.forward(fake.clone()), 1.0);
        let terms = WeightedTerms {
            gan: PerDirection {
                a_to_b: fool(&d.second, &fake_b),
                b_to_a: fake_a.as_ref().map(|fake_a| fool(&d.first, fake_a)),
            },
            pixelwise: PerDirection {
                a_to_b: mse(fake_b.clone(), &real_b),
                b_to_a: fake_a.as_ref().map(|fake_a| mse(fake_a.clone(), &real_a)),
            },
            cycle: recon.then(|| PerDirection {
                a_to_b: mse(g.second.forward(fake_b), &real_a),
                b_to_a: fake_a.map(|fake_a| mse(g.first.forward(fake_a), &real_b)),
            }),
        };
        let (g_loss, _) = loss::weighted_generator_loss(terms, t.lambda_cycle, 0.0);
        let grads = GradientsParams::from_grads(g_loss.backward(), &g);
        g = opt_g.step(t.lr, g, grads);
    }
    ToyNets {
        g_ab: g.first,
        g_ba: g.second,
        d_a: d.first,
        d_b: d.second,
    }
}

/// Applies a network to points, returning [n, out] values.
pub fn apply(net: &Mlp, points: &[[f32; 2]], device: &Device) -> crate::Result<Vec<Vec<f32>>> {
    let out = net
        .valid()
        .forward(points_tensor(points, &device.clone().without_autodiff()));
    let [n, k] = out.dims();
    let values = out
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| crate::Error::Backend(format!("the toy network's outputs: {e:?}")))?;
    Ok((0..n)
        .map(|i| values[i * k..(i + 1) * k].to_vec())
        .collect())
}
