//! InstanceNorm (without affine parameters) + LeakyReLU/ReLU (+ dropout) as one operation on
//! the CPU backend, with a hand-written backward pass.
//!
//! Composed from burn's tensor operations, this sequence is eight element-wise passes forward
//! (mean, subtract, square, mean, add, sqrt, divide, activation; two more with dropout) and more
//! in the backward pass, each a new tensor and each run on one thread at the U-Net's sizes
//! (burn-flex parallelises element-wise work only above 4 M values). Here the forward pass reads
//! the input twice and writes the output (and the normalised input kept for the backward) once,
//! and the backward pass is two reads and one write, all parallel over (image, channel) planes.
//! Dropout's mask is drawn inside the operation, in parallel, from a counter-based random
//! stream whose seed comes from burn's generator (so a run's seed still decides it), and drawn
//! again in the backward pass instead of being stored. Other backends compose burn's layers.

pub(super) mod kernel;

use std::sync::Arc;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::{Dropout, InstanceNorm};
use burn::tensor::{Device, Distribution, Tensor, activation};

use super::buffers::{contiguous, tensor_like, values};
use super::is_cpu_f32;
use crate::rng::stream_value;
use kernel::{DropoutMask, Params};

/// The fused operation as a backend extension: implemented for `Flex` and `Autodiff<Flex>`.
#[backend_extension(Flex, Autodiff)]
pub trait NormActBackend: Backend {
    /// InstanceNorm + LeakyReLU(`slope`) of `x` [n, c, h, w].
    fn instance_norm_act(x: FloatTensor<Self>, slope: f32, epsilon: f32) -> FloatTensor<Self>;
    /// As [`instance_norm_act`](Self::instance_norm_act), then dropout keeping each value with
    /// probability `keep`, by the random stream of `seed`.
    fn instance_norm_act_dropout(
        x: FloatTensor<Self>,
        slope: f32,
        epsilon: f32,
        seed: u64,
        keep: f64,
    ) -> FloatTensor<Self>;
    /// LeakyReLU(`slope`) of `x`, `slope >= 0` (0: ReLU).
    fn leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;
}

/// LeakyReLU with `slope` in [0, 1) (0: ReLU) of `x` [n, c, h, w]: one parallel pass each way on
/// the CPU backend (burn's runs on one thread below 4 M values), burn's elsewhere.
pub fn leaky_relu(x: Tensor<4>, slope: f64) -> Tensor<4> {
    if !(0.0..1.0).contains(&slope) || !is_cpu_f32(&x) {
        return activation::leaky_relu(x, slope);
    }
    Tensor::from_dispatch(<Dispatch as NormActBackend>::leaky_relu(
        x.into_dispatch(),
        slope as f32,
    ))
}

/// `instance_norm(x)`, then LeakyReLU with `slope` (0: ReLU), then `dropout` when it is active
/// (training mode on an autodiff device, as burn's `Dropout`). `x`: [n, c, h, w].
pub fn instance_norm_act(
    x: Tensor<4>,
    norm: &InstanceNorm,
    slope: f64,
    dropout: Option<&Dropout>,
) -> Tensor<4> {
    let dropout = dropout.filter(|d| d.training.is_enabled() && x.device().is_autodiff());
    let keep = dropout.map(|d| 1.0 - d.prob).filter(|&keep| keep < 1.0);
    if norm.affine || !is_cpu_f32(&x) {
        let x = activation::leaky_relu(norm.forward(x), slope);
        return match dropout {
            Some(d) => d.forward(x),
            None => x,
        };
    }
    let (slope, epsilon) = (slope as f32, norm.epsilon as f32);
    let out = match keep {
        Some(keep) => <Dispatch as NormActBackend>::instance_norm_act_dropout(
            x.into_dispatch(),
            slope,
            epsilon,
            draw_seed(),
            keep,
        ),
        None => <Dispatch as NormActBackend>::instance_norm_act(x.into_dispatch(), slope, epsilon),
    };
    Tensor::from_dispatch(out)
}

/// A 64-bit seed from burn's generator of the CPU backend (which a run seeds).
fn draw_seed() -> u64 {
    let draws = Tensor::<1>::random([3], Distribution::Default, &Device::flex()).into_data();
    draws
        .iter::<f32>()
        .fold(0, |seed, v| stream_value(seed ^ u64::from(v.to_bits()), 0))
}

/// The plane size (h * w) of an [n, c, h, w] tensor.
fn plane_of(x: &FlexTensor) -> usize {
    x.layout().shape().iter().skip(2).product()
}

/// The fused forward on the CPU backend.
fn forward_flex(x: FlexTensor, params: Params) -> FlexTensor {
    let x = contiguous(x);
    let fwd = kernel::forward(&values(&x), plane_of(&x), params, false);
    tensor_like(&x, fwd.out)
}

/// [`forward_flex`], also returning what the backward pass needs.
fn forward_flex_saving(x: FlexTensor, params: Params) -> (FlexTensor, Saved) {
    let x = contiguous(x);
    let fwd = kernel::forward(&values(&x), plane_of(&x), params, true);
    let saved = Saved {
        normalized: tensor_like(&x, fwd.normalized),
        inv_std: Arc::new(fwd.inv_std),
        params,
    };
    (tensor_like(&x, fwd.out), saved)
}

fn params(slope: f32, epsilon: f32, dropout: Option<(u64, f64)>) -> Params {
    Params {
        slope,
        epsilon,
        dropout: dropout.map(|(seed, keep)| DropoutMask::new(seed, keep)),
    }
}

impl NormActBackend for Flex {
    fn instance_norm_act(x: FlexTensor, slope: f32, epsilon: f32) -> FlexTensor {
        forward_flex(x, params(slope, epsilon, None))
    }

    fn instance_norm_act_dropout(
        x: FlexTensor,
        slope: f32,
        epsilon: f32,
        seed: u64,
        keep: f64,
    ) -> FlexTensor {
        forward_flex(x, params(slope, epsilon, Some((seed, keep))))
    }

    fn leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        let x = contiguous(x);
        tensor_like(&x, kernel::activate(&values(&x), slope))
    }
}

/// What the backward pass needs: the normalised input, `1 / std` per plane, the constants
/// (which include the dropout mask's seed).
#[derive(Clone, Debug)]
struct Saved {
    normalized: FlexTensor,
    inv_std: Arc<Vec<f32>>,
    params: Params,
}

#[derive(Debug)]
struct NormActBackward;

impl Backward<Flex, 1> for NormActBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            let saved = ops.state;
            let gx = kernel::backward(
                &values(&grad),
                &values(&saved.normalized),
                &saved.inv_std,
                plane_of(&saved.normalized),
                saved.params,
            );
            grads.register::<Flex>(parent.id, tensor_like(&grad, gx));
        }
    }
}

/// The fused forward on the autodiff backend, recording [`NormActBackward`] when `x` is tracked.
fn tracked<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    params: Params,
) -> FloatTensor<Autodiff<Flex, C>> {
    match NormActBackward
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, saved) = forward_flex_saving(x.into_primitive(), params);
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward_flex(x.into_primitive(), params)),
    }
}

impl<C: CheckpointStrategy> NormActBackend for Autodiff<Flex, C> {
    fn instance_norm_act(x: FloatTensor<Self>, slope: f32, epsilon: f32) -> FloatTensor<Self> {
        tracked::<C>(x, params(slope, epsilon, None))
    }

    fn instance_norm_act_dropout(
        x: FloatTensor<Self>,
        slope: f32,
        epsilon: f32,
        seed: u64,
        keep: f64,
    ) -> FloatTensor<Self> {
        tracked::<C>(x, params(slope, epsilon, Some((seed, keep))))
    }

    fn leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        match LeakyReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = Flex::leaky_relu(x.into_primitive(), slope);
                // The state shares the output's buffer: no copy.
                prep.finish((out.clone(), slope), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::leaky_relu(x.into_primitive(), slope)),
        }
    }
}

#[derive(Debug)]
struct LeakyReluBackward;

impl Backward<Flex, 1> for LeakyReluBackward {
    /// The output and the slope.
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            let (out, slope) = ops.state;
            let gx = kernel::activate_backward(&values(&grad), &values(&out), slope);
            grads.register::<Flex>(parent.id, tensor_like(&grad, gx));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{DropoutConfig, InstanceNormConfig};
    use burn::tensor::Shape;
    use burn::tensor::TensorData;

    /// Deterministic values with varied plane statistics (no shared random generator: tests run
    /// in parallel).
    fn values(shape: [usize; 4], salt: usize, device: &Device) -> Tensor<4> {
        let len = Shape::from(shape).num_elements();
        let v: Vec<f32> = (0..len)
            .map(|i| {
                let plane = (i / (shape[2] * shape[3])) as f32;
                (((i + salt) * 2_654_435_761) % 1000) as f32 / 250.0 - 2.0 + 0.3 * plane
            })
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    fn flat(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn norm(channels: usize) -> InstanceNorm {
        InstanceNormConfig::new(channels)
            .with_affine(false)
            .init(&Device::flex())
    }

    /// Output and input gradient of `f` on fixed `x` under a fixed projection of the output.
    fn run(f: impl Fn(Tensor<4>) -> Tensor<4>, shape: [usize; 4]) -> [Vec<f32>; 2] {
        let device = Device::flex().autodiff();
        let x = values(shape, 1, &device).require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * values(shape, 7, &device)).sum().backward();
        [flat(y), flat(x.grad(&grads).unwrap())]
    }

    fn assert_close(what: &str, ours: &[f32], reference: &[f32]) {
        assert_eq!(ours.len(), reference.len(), "{what}: size");
        let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!((a - b).abs() <= 2e-5 * scale, "{what}[{i}]: {a} vs {b}");
        }
    }

    #[test]
    fn equals_burns_layers_with_gradients() {
        // The U-Net's and PatchGAN's slopes, 1-pixel to 32 x 32 planes, and planes that do not
        // divide the parallel task size.
        for (slope, shape) in [
            (0.2, [2, 3, 8, 8]),
            (0.0, [2, 5, 4, 4]),
            (0.2, [3, 7, 1, 1]),
            (0.0, [2, 2, 32, 32]),
            (0.2, [4, 9, 3, 5]),
        ] {
            let n = norm(shape[1]);
            let ours = run(|x| instance_norm_act(x, &n, slope, None), shape);
            let burn = run(|x| activation::leaky_relu(n.forward(x), slope), shape);
            assert_close(&format!("output {shape:?}"), &ours[0], &burn[0]);
            assert_close(&format!("gradient {shape:?}"), &ours[1], &burn[1]);
        }
    }

    #[test]
    fn one_image_of_a_batch_shares_its_buffer_and_still_works() {
        // A slice of a batch is contiguous but a part of its parent's buffer (at the start, or
        // offset): the operations must read only its own values.
        let n = norm(3);
        for images in [0..1, 1..2] {
            let one = |x: Tensor<4>| x.slice([images.clone()]);
            let ours = run(|x| instance_norm_act(one(x), &n, 0.2, None), [2, 3, 4, 4]);
            let burn = run(
                |x| activation::leaky_relu(n.forward(one(x)), 0.2),
                [2, 3, 4, 4],
            );
            assert_close("output", &ours[0], &burn[0]);
            assert_close("gradient", &ours[1], &burn[1]);
            let ours = run(|x| leaky_relu(one(x) + 1e-3, 0.2), [2, 3, 4, 4]);
            let burn = run(|x| activation::leaky_relu(one(x) + 1e-3, 0.2), [2, 3, 4, 4]);
            assert_close("activation", &ours[0], &burn[0]);
        }
    }

    #[test]
    fn leaky_relu_equals_burns_with_gradients() {
        // Off zero: at exactly 0 burn passes the whole gradient, PyTorch (and this operation)
        // the slope's share (see the kernel's test).
        let off_zero = |x: Tensor<4>| x + 1e-3;
        for slope in [0.0, 0.2] {
            let shape = [2, 3, 16, 16];
            let ours = run(|x| leaky_relu(off_zero(x), slope), shape);
            let burn = run(|x| activation::leaky_relu(off_zero(x), slope), shape);
            assert_close(&format!("output, slope {slope}"), &ours[0], &burn[0]);
            assert_close(&format!("gradient, slope {slope}"), &ours[1], &burn[1]);
        }
    }

    #[test]
    fn dropout_variant_equals_burns_layers_times_its_mask() {
        let shape = [2, 4, 8, 8];
        let n = norm(4);
        let (seed, keep) = (11, 0.6);
        // The factors the kernel applies (0 or 1 / keep), as a tensor for burn's composition.
        let mask = || {
            let dropout = DropoutMask::new(seed, keep);
            let m = (0..512).map(|i| dropout.factor(i)).collect();
            Tensor::<4>::from_data(TensorData::new(m, shape), &Device::flex().autodiff())
        };
        let ours = run(
            |x| {
                Tensor::from_dispatch(<Dispatch as NormActBackend>::instance_norm_act_dropout(
                    x.into_dispatch(),
                    0.2,
                    1e-5,
                    seed,
                    keep,
                ))
            },
            shape,
        );
        let burn = run(
            |x| activation::leaky_relu(n.forward(x), 0.2) * mask(),
            shape,
        );
        assert_close("output", &ours[0], &burn[0]);
        assert_close("gradient", &ours[1], &burn[1]);
        assert!(ours[0].contains(&0.0), "some values are dropped");
    }

    #[test]
    fn dropout_applies_in_training_only() {
        let shape = [2, 8, 8, 8];
        let n = norm(8);
        let dropout = DropoutConfig::new(0.5).init();
        let plain = run(|x| instance_norm_act(x, &n, 0.0, None), shape)[0].clone();
        let dropped = run(|x| instance_norm_act(x, &n, 0.0, Some(&dropout)), shape)[0].clone();
        // Every value is either dropped or kept and doubled; about half are dropped.
        let mut zeroed = 0;
        for (d, p) in dropped.iter().zip(&plain) {
            if *d == 0.0 && *p != 0.0 {
                zeroed += 1;
            } else {
                assert!(
                    (d - 2.0 * p).abs() <= 1e-6 * p.abs().max(1.0),
                    "{d} vs 2 x {p}"
                );
            }
        }
        let positive = plain.iter().filter(|&&p| p != 0.0).count();
        assert!(
            (positive / 4..3 * positive / 4).contains(&zeroed),
            "{zeroed} of {positive}"
        );
        // Not on an inference device (as burn's Dropout).
        let x = values(shape, 1, &Device::flex());
        let inference = flat(instance_norm_act(x, &n, 0.0, Some(&dropout)));
        assert_close("inference", &inference, &plain);
    }
}
