//! BatchNorm + LeakyReLU/ReLU as one operation on the CPU backend: the paper's networks'
//! normalisation. In training (batch statistics) with a hand-written backward pass; in
//! inference (running statistics, no autodiff) the same forward pass.
//!
//! burn's `batch_norm_train` composes about ten tensor passes forward and fifteen backward
//! (means, variance, reshapes and broadcasts), each on one thread at these sizes (burn-flex
//! parallelises element-wise work only above 4 M values), and the activation is one more each
//! way. Here the statistics are one parallel pass over the input (two reads), the forward pass
//! one read and two writes (the output and the normalised input kept for the backward), the
//! backward pass two reads for the per-channel sums and two reads and a write for the input
//! gradient. Other backends compose burn's operations.

mod kernel;

use std::sync::Arc;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::{
    AutodiffBackend, Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor,
};
use burn::tensor::{
    Tensor,
    module::{batch_norm, batch_norm_train},
};

use super::buffers::{contiguous, tensor, tensor_like, values};
use super::is_cpu_f32;
use super::norm_act::leaky_relu;
use kernel::{Layout, Params};

/// The fused operation as a backend extension: implemented for `Flex` and `Autodiff<Flex>`.
#[backend_extension(Flex, Autodiff)]
pub trait BatchNormActBackend: Backend {
    /// The per-channel batch mean and biased variance of `x` [n, c, h, w], as [2, c] (means,
    /// then variances); not tracked by autodiff.
    fn batch_moments(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `x` [n, c, h, w] normalised with `moments` [2, c] (means, then biased variances),
    /// scaled by `weight` [c], shifted by `bias` [c], then LeakyReLU(`slope`) (0: ReLU, 1:
    /// none). On autodiff, `moments` must be [`batch_moments`](Self::batch_moments) of the same
    /// `x`: the gradient of `x` includes the batch statistics' share, and `moments` itself
    /// takes none.
    fn batch_norm_act(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        slope: f32,
        epsilon: f32,
    ) -> FloatTensor<Self>;
}

/// Whether the fused operation applies: `f32` tensors on the CPU backend, a non-empty `x`
/// [n, c, h, w], `[c]` vectors beside it and a slope in [0, 1]. Anything else goes to burn's
/// composition (which checks the shapes itself).
fn fused_applies(x: &Tensor<4>, vectors: &[&Tensor<1>], slope: f64) -> bool {
    let channels = x.dims()[1];
    (0.0..=1.0).contains(&slope)
        && is_cpu_f32(x)
        && x.shape().num_elements() > 0
        && vectors
            .iter()
            .all(|v| is_cpu_f32(*v) && v.dims() == [channels])
}

/// LeakyReLU with `slope` (1: none) after burn's normalisation.
fn activate(x: Tensor<4>, slope: f64) -> Tensor<4> {
    if slope == 1.0 {
        x
    } else {
        leaky_relu(x, slope)
    }
}

/// What [`batch_norm_act_train`] returns.
#[derive(Debug, Clone)]
pub struct BatchNormActOutput {
    /// The activations. [n, c, h, w]
    pub output: Tensor<4>,
    /// The batch mean per channel (detached). [c]
    pub mean: Tensor<1>,
    /// The batch's biased variance per channel (detached). [c]
    pub variance: Tensor<1>,
}

/// BatchNorm of `x` [n, c, h, w] with its batch statistics, `weight` and `bias` [c], then
/// LeakyReLU with `slope` in [0, 1] (0: ReLU, 1: no activation); also the statistics, for the
/// running averages. One fused operation on the CPU backend (`f32`, non-empty), burn's
/// `batch_norm_train` and the activation elsewhere.
pub fn batch_norm_act_train(
    x: Tensor<4>,
    weight: Tensor<1>,
    bias: Tensor<1>,
    epsilon: f64,
    slope: f64,
) -> BatchNormActOutput {
    if !fused_applies(&x, &[&weight, &bias], slope) {
        let out = batch_norm_train(x, weight, bias, epsilon);
        return BatchNormActOutput {
            output: activate(out.output, slope),
            mean: out.mean.detach(),
            variance: out.variance.detach(),
        };
    }
    let channels = x.dims()[1];
    let moments: Tensor<2> = Tensor::from_dispatch(
        <Dispatch as BatchNormActBackend>::batch_moments(x.clone().into_dispatch()),
    );
    let output = Tensor::from_dispatch(<Dispatch as BatchNormActBackend>::batch_norm_act(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        moments.clone().into_dispatch(),
        slope as f32,
        epsilon as f32,
    ));
    let [mean, variance] = [0, 1].map(|row| moments.clone().narrow(0, row, 1).reshape([channels]));
    BatchNormActOutput {
        output,
        mean,
        variance,
    }
}

/// BatchNorm of `x` [n, c, h, w] with given statistics (the running ones: inference), `weight`
/// and `bias` [c], then LeakyReLU with `slope` in [0, 1] (0: ReLU, 1: no activation). One
/// fused pass on the CPU backend without autodiff (the fused operation's gradient assumes
/// batch statistics); burn's `batch_norm` and the activation elsewhere, autodiff included.
pub fn batch_norm_act_eval(
    x: Tensor<4>,
    weight: Tensor<1>,
    bias: Tensor<1>,
    statistics: [Tensor<1>; 2],
    epsilon: f64,
    slope: f64,
) -> Tensor<4> {
    let [mean, variance] = statistics;
    let vectors = [&weight, &bias, &mean, &variance];
    if !fused_applies(&x, &vectors, slope) || x.device().is_autodiff() {
        return activate(batch_norm(x, weight, bias, mean, variance, epsilon), slope);
    }
    // [2, c]: means, then variances, as `batch_moments` lays them out.
    let moments = Tensor::cat(vec![mean.unsqueeze::<2>(), variance.unsqueeze::<2>()], 0);
    Tensor::from_dispatch(<Dispatch as BatchNormActBackend>::batch_norm_act(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        moments.into_dispatch(),
        slope as f32,
        epsilon as f32,
    ))
}

fn layout_of(x: &FlexTensor) -> Layout {
    let dims = x.layout().shape();
    Layout {
        images: dims[0],
        channels: dims[1],
        plane: dims.iter().skip(2).product(),
    }
}

fn flex_moments(x: &FlexTensor) -> FlexTensor {
    let x = contiguous(x.clone());
    let layout = layout_of(&x);
    tensor(kernel::moments(&values(&x), layout), [2, layout.channels])
}

fn params(weight: &FlexTensor, bias: &FlexTensor, slope: f32) -> Params {
    Params {
        slope,
        weight: values(weight).into_owned(),
        bias: values(bias).into_owned(),
    }
}

/// The fused forward on the CPU backend.
fn forward_flex(x: FlexTensor, moments: &FlexTensor, params: &Params, epsilon: f32) -> FlexTensor {
    let x = contiguous(x);
    let fwd = kernel::forward(
        &values(&x),
        layout_of(&x),
        &values(moments),
        epsilon,
        params,
        false,
    );
    tensor_like(&x, fwd.out)
}

/// [`forward_flex`], also returning what the backward pass needs.
fn forward_flex_saving(
    x: FlexTensor,
    moments: &FlexTensor,
    params: Params,
    epsilon: f32,
) -> (FlexTensor, Saved) {
    let x = contiguous(x);
    let fwd = kernel::forward(
        &values(&x),
        layout_of(&x),
        &values(moments),
        epsilon,
        &params,
        true,
    );
    let saved = Saved {
        normalized: tensor_like(&x, fwd.normalized),
        inv_std: Arc::new(fwd.inv_std),
        params,
    };
    (tensor_like(&x, fwd.out), saved)
}

impl BatchNormActBackend for Flex {
    fn batch_moments(x: FlexTensor) -> FlexTensor {
        flex_moments(&x)
    }

    fn batch_norm_act(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        moments: FlexTensor,
        slope: f32,
        epsilon: f32,
    ) -> FlexTensor {
        forward_flex(x, &moments, &params(&weight, &bias, slope), epsilon)
    }
}

/// What the backward pass needs: the normalised input, `1 / std` per channel, the constants.
#[derive(Clone, Debug)]
struct Saved {
    normalized: FlexTensor,
    inv_std: Arc<Vec<f32>>,
    params: Params,
}

#[derive(Debug)]
struct BatchNormActBackward;

impl Backward<Flex, 3> for BatchNormActBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [x_node, weight_node, bias_node] = ops.parents;
        if x_node.is_none() && weight_node.is_none() && bias_node.is_none() {
            return;
        }
        let saved = ops.state;
        let layout = layout_of(&saved.normalized);
        let g = kernel::backward(
            &values(&grad),
            &values(&saved.normalized),
            &saved.inv_std,
            layout,
            &saved.params,
        );
        if let Some(node) = x_node {
            grads.register::<Flex>(node.id, tensor_like(&grad, g.x));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node.id, tensor(g.weight, [layout.channels]));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, tensor(g.bias, [layout.channels]));
        }
    }
}

impl<C: CheckpointStrategy> BatchNormActBackend for Autodiff<Flex, C> {
    fn batch_moments(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as AutodiffBackend>::from_inner(flex_moments(x.primitive()))
    }

    fn batch_norm_act(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        moments: FloatTensor<Self>,
        slope: f32,
        epsilon: f32,
    ) -> FloatTensor<Self> {
        let prep = BatchNormActBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let params = params(weight.primitive(), bias.primitive(), slope);
        let moments = moments.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let (out, saved) =
                    forward_flex_saving(x.into_primitive(), &moments, params, epsilon);
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward_flex(x.into_primitive(), &moments, &params, epsilon))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Shape, TensorData, activation};

    /// Deterministic values with varied channel statistics (no shared random generator: tests
    /// run in parallel).
    fn values_of<const D: usize>(shape: [usize; D], salt: usize, device: &Device) -> Tensor<D> {
        let len = Shape::from(shape).num_elements();
        let channels = if D == 4 { shape[1] } else { 1 };
        let plane: usize = shape.iter().skip(2).product();
        let v: Vec<f32> = (0..len)
            .map(|i| {
                let channel = (i / plane.max(1)) % channels;
                (((i + salt) * 2_654_435_761) % 1000) as f32 / 250.0 - 2.0 + 0.3 * channel as f32
            })
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn assert_close(what: &str, ours: &[f32], reference: &[f32]) {
        assert_eq!(ours.len(), reference.len(), "{what}: size");
        let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!((a - b).abs() <= 3e-5 * scale, "{what}[{i}]: {a} vs {b}");
        }
    }

    /// Output, statistics and the gradients of x, weight and bias under a fixed projection.
    fn run(
        f: impl Fn(Tensor<4>, Tensor<1>, Tensor<1>) -> BatchNormActOutput,
        shape: [usize; 4],
    ) -> [Vec<f32>; 6] {
        let device = Device::flex().autodiff();
        let x = values_of(shape, 1, &device).require_grad();
        let c = shape[1];
        let weight = (values_of([c], 3, &device) * 0.5 + 1.0).require_grad();
        let bias = (values_of([c], 5, &device) * 0.3).require_grad();
        let out = f(x.clone(), weight.clone(), bias.clone());
        let grads = (out.output.clone() * values_of(shape, 7, &device))
            .sum()
            .backward();
        [
            flat(out.output),
            flat(out.mean),
            flat(out.variance),
            flat(x.grad(&grads).unwrap()),
            flat(weight.grad(&grads).unwrap()),
            flat(bias.grad(&grads).unwrap()),
        ]
    }

    /// burn's composition: its batch_norm_train, then its activation.
    fn burns(x: Tensor<4>, w: Tensor<1>, b: Tensor<1>, slope: f64) -> BatchNormActOutput {
        let out = batch_norm_train(x, w, b, 1e-5);
        BatchNormActOutput {
            output: if slope == 1.0 {
                out.output
            } else {
                activation::leaky_relu(out.output, slope)
            },
            mean: out.mean.detach(),
            variance: out.variance.detach(),
        }
    }

    #[test]
    fn equals_burns_batch_norm_and_activation_with_gradients() {
        // The paper's slopes (LeakyReLU 0.2, ReLU) and none; 1-pixel to 32 x 32 planes, one
        // image, and sizes that do not divide the parallel task.
        let names = [
            "output",
            "mean",
            "variance",
            "x gradient",
            "weight gradient",
            "bias gradient",
        ];
        for (slope, shape) in [
            (0.2, [4, 3, 8, 8]),
            (0.0, [2, 5, 4, 4]),
            (1.0, [3, 7, 1, 1]),
            (0.2, [2, 2, 32, 32]),
            (0.0, [1, 9, 3, 5]),
            (0.2, [8, 16, 16, 16]),
            (0.0, [3, 7, 32, 32]),
        ] {
            let ours = run(|x, w, b| batch_norm_act_train(x, w, b, 1e-5, slope), shape);
            let burn = run(|x, w, b| burns(x, w, b, slope), shape);
            for (name, (o, b)) in names.iter().zip(ours.iter().zip(&burn)) {
                assert_close(&format!("{name}, slope {slope}, {shape:?}"), o, b);
            }
        }
    }

    #[test]
    fn one_image_of_a_batch_shares_its_buffer_and_still_works() {
        // A slice of a batch is contiguous but a part of its parent's buffer (at the start, or
        // offset): the operation must read only its own values.
        for images in [0..1, 1..2] {
            let one = |x: Tensor<4>| x.slice([images.clone()]);
            let ours = run(
                |x, w, b| batch_norm_act_train(one(x), w, b, 1e-5, 0.2),
                [2, 3, 4, 4],
            );
            let burn = run(|x, w, b| burns(one(x), w, b, 0.2), [2, 3, 4, 4]);
            for (o, b) in ours.iter().zip(&burn) {
                assert_close(&format!("images {images:?}"), o, b);
            }
        }
    }

    #[test]
    fn inference_equals_burns_batch_norm_and_activation() {
        let device = Device::flex();
        for (slope, shape) in [
            (0.2, [3, 5, 4, 4]),
            (0.0, [1, 7, 8, 8]),
            (1.0, [2, 3, 1, 1]),
        ] {
            let c = shape[1];
            let x = values_of(shape, 1, &device);
            let (w, b) = (values_of([c], 3, &device), values_of([c], 5, &device));
            let mean = values_of([c], 9, &device) * 0.1;
            let var = values_of([c], 11, &device).abs() + 0.5;
            let ours = batch_norm_act_eval(
                x.clone(),
                w.clone(),
                b.clone(),
                [mean.clone(), var.clone()],
                1e-5,
                slope,
            );
            let burn = batch_norm(x, w, b, mean, var, 1e-5);
            let burn = if slope == 1.0 {
                burn
            } else {
                activation::leaky_relu(burn, slope)
            };
            assert_close(
                &format!("slope {slope}, {shape:?}"),
                &flat(ours),
                &flat(burn),
            );
        }
    }

    #[test]
    fn untracked_inputs_take_no_gradient_and_the_output_is_the_same() {
        // The discriminators judged without weight gradients: x tracked, weight and bias not.
        let device = Device::flex().autodiff();
        let shape = [2, 4, 4, 4];
        let x = values_of(shape, 1, &device).require_grad();
        let (w, b) = (values_of([4], 3, &device), values_of([4], 5, &device));
        let out = batch_norm_act_train(x.clone(), w.clone(), b.clone(), 1e-5, 0.2);
        let grads = out.output.clone().sum().backward();
        assert!(x.grad(&grads).is_some());
        assert!(w.grad(&grads).is_none() && b.grad(&grads).is_none());
        // Without autodiff at all: the same values.
        let plain = batch_norm_act_train(
            values_of(shape, 1, &Device::flex()),
            values_of([4], 3, &Device::flex()),
            values_of([4], 5, &Device::flex()),
            1e-5,
            0.2,
        );
        assert_close("no autodiff", &flat(plain.output), &flat(out.output));
    }
}
