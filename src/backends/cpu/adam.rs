//! Adam in one pass over memory on the CPU backend.
//!
//! burn's `Adam` composes its update from about a dozen element-wise tensor operations, each of
//! which reads and writes a whole parameter-sized tensor; for the 29 M parameters of a width-64
//! U-Net that made the optimiser step cost as much as a forward and backward pass (359 ms against
//! PyTorch's 92 ms on the project's 2-core machine). [`FusedAdam`] computes the same update,
//! element by element in the same order of `f32` operations, in a single parallel loop that reads
//! the parameter, its gradient and both moments once and writes them once. Its state is burn's
//! [`AdamState`], so optimiser records (checkpoints) are unchanged. Other devices and dtypes use
//! burn's `Adam`.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer,
    decay::WeightDecayConfig,
};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

/// Elements per parallel task: large enough that scheduling costs nothing, small enough that
/// both workers share even the mid-sized tensors.
const CHUNK: usize = 1 << 15;

/// Adam (PyTorch semantics, optional L2 weight decay added to the gradient), fused on the
/// `flex` backend and burn's own implementation elsewhere.
#[derive(Clone)]
pub struct FusedAdam {
    hyper: Hyper,
    fallback: Adam,
}

#[derive(Clone, Copy, Debug)]
struct Hyper {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: Option<f32>,
}

impl std::fmt::Debug for FusedAdam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // burn's `Adam` has no `Debug`; the hyperparameters are all there is to show.
        f.debug_struct("FusedAdam")
            .field("hyper", &self.hyper)
            .finish()
    }
}

impl FusedAdam {
    /// Adam with betas `beta_1`, `beta_2`, `epsilon` and L2 `weight_decay` (0 = none).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let weight_decay = (weight_decay > 0.0).then_some(weight_decay);
        Self {
            hyper: Hyper {
                beta_1,
                beta_2,
                epsilon,
                weight_decay,
            },
            fallback: AdamConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon)
                .with_weight_decay(weight_decay.map(WeightDecayConfig::new))
                .build(),
        }
    }

    /// Whether the fused loop applies: `f32` tensors on the CPU backend, no AMSGrad state.
    fn fuses<const D: usize>(
        tensor: &Tensor<D>,
        grad: &Tensor<D>,
        state: Option<&AdamState<D>>,
    ) -> bool {
        let f32_flex = |t: &Tensor<D>| t.dtype() == DType::F32 && t.device() == Device::flex();
        f32_flex(tensor)
            && f32_flex(grad)
            && state.is_none_or(|s| {
                f32_flex(&s.momentum.moment_1)
                    && f32_flex(&s.momentum.moment_2)
                    && s.momentum.max_moment_2.is_none()
            })
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !Self::fuses(&tensor, &grad, state.as_ref()) {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let device = tensor.device();
        let shape = tensor.shape();
        let (time, moments) = match state {
            Some(s) => (
                s.momentum.time + 1,
                Some((s.momentum.moment_1, s.momentum.moment_2)),
            ),
            None => (1, None),
        };
        // `into_data` hands over the buffer without copying when the tensor is its only owner.
        let mut param = tensor.into_data();
        let grad = grad.into_data();
        let (mut m, mut v) = match moments {
            Some((m, v)) => (m.into_data(), v.into_data()),
            None => (
                TensorData::zeros::<f32, _>(shape.clone()),
                TensorData::zeros::<f32, _>(shape),
            ),
        };
        let update = Update::new(self.hyper, time, lr);
        match (
            param.as_mut_slice::<f32>(),
            grad.as_slice::<f32>(),
            m.as_mut_slice::<f32>(),
            v.as_mut_slice::<f32>(),
        ) {
            (Ok(p), Ok(g), Ok(m), Ok(v)) => update.apply(p, g, m, v),
            // Unreachable after `fuses`: all four are f32 buffers of the parameter's shape.
            _ => unreachable!("fused Adam: the parameter, gradient and moments are f32"),
        }
        let state = AdamState::new(AdaptiveMomentumState::new(
            time,
            Tensor::from_data(m, &device),
            Tensor::from_data(v, &device),
        ));
        (Tensor::from_data(param, &device), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// One step's scalars, computed as burn's `Adam` computes them.
#[derive(Clone, Copy, Debug)]
struct Update {
    hyper: Hyper,
    one_minus_beta_1: f32,
    one_minus_beta_2: f32,
    combined_factor: f32,
    epsilon: f32,
    lr: f32,
}

impl Update {
    fn new(hyper: Hyper, time: usize, lr: LearningRate) -> Self {
        let t = i32::try_from(time).unwrap_or(i32::MAX);
        let bias_correction2_sqrt = (1.0 - hyper.beta_2.powi(t)).sqrt();
        Self {
            hyper,
            one_minus_beta_1: 1.0 - hyper.beta_1,
            one_minus_beta_2: 1.0 - hyper.beta_2,
            combined_factor: bias_correction2_sqrt / (1.0 - hyper.beta_1.powi(t)),
            epsilon: hyper.epsilon * bias_correction2_sqrt,
            lr: lr as f32,
        }
    }

    /// Updates the parameter `p` and the moments `m`, `v` in place from the gradient `g`.
    fn apply(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| self.apply_chunk(p, g, m, v));
    }

    fn apply_chunk(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let Hyper {
            beta_1,
            beta_2,
            weight_decay,
            ..
        } = self.hyper;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            // burn's WeightDecay: penalty * parameter + gradient.
            let g = match weight_decay {
                Some(penalty) => *p * penalty + g,
                None => g,
            };
            *m = *m * beta_1 + g * self.one_minus_beta_1;
            *v = *v * beta_2 + g * g * self.one_minus_beta_2;
            let step = *m * self.combined_factor / (v.sqrt() + self.epsilon);
            *p -= step * self.lr;
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};
    use burn::tensor::{Tensor, TensorData};

    use super::*;

    /// Deterministic inputs without the process-wide random generator (tests run in parallel).
    fn input(step: usize, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = (0..4 * 256)
            .map(|i| ((i * 7 + step * 13) % 23) as f32 / 11.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(values, [4, 256]), device)
    }

    /// The weight and bias values of `layer`.
    fn values(layer: &Linear) -> Vec<f32> {
        let mut values = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        if let Some(bias) = &layer.bias {
            values.extend(bias.val().into_data().try_to_vec::<f32>().unwrap());
        }
        values
    }

    /// Five steps of `optim` on a linear layer whose weight (49,152 values) spans two chunks.
    fn train(mut optim: ModuleOptimizer, mut layer: Linear) -> Vec<f32> {
        let device = Device::flex().autodiff();
        for step in 0..5 {
            let loss = layer.forward(input(step, &device)).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optim.step(1e-2, layer, grads);
        }
        values(&layer)
    }

    fn matches_burn(weight_decay: f32) {
        // The project's defaults (`OptimizerConfig`).
        let adam = || FusedAdam::new(0.5, 0.999, 1e-8, weight_decay);
        let layer = LinearConfig::new(256, 192).init(&Device::flex().autodiff());
        let fused = train(ModuleOptimizer::from(adam()), layer.clone());
        let burn = train(ModuleOptimizer::from(adam().fallback), layer.clone());
        // The same f32 operations in the same order: equal, not merely close.
        assert_eq!(fused, burn);
        assert_ne!(fused, values(&layer), "the parameters did not move");
    }

    #[test]
    fn fused_adam_equals_burns_adam() {
        matches_burn(0.0);
    }

    #[test]
    fn fused_adam_equals_burns_adam_with_weight_decay() {
        matches_burn(1e-2);
    }

    #[test]
    fn parameters_on_the_cpu_backend_take_the_fused_path() {
        let device = Device::flex();
        let t = Tensor::<2>::zeros([3, 4], &device);
        assert!(FusedAdam::fuses(&t, &t.clone(), None));
        let f64 = Tensor::<2>::zeros([3, 4], (&device, DType::F64));
        assert!(!FusedAdam::fuses(&f64, &f64.clone(), None));
    }
}
