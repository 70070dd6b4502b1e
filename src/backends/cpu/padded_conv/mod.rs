//! Convolutions of any kernel size and stride with their padding, zero or reflection, and a
//! nearest x2 upsampling before them, as one operation on the CPU backend: im2col reads the
//! padded (and upsampled) image in place, one matrix product per group of images, col2im —
//! with a hand-written backward pass. The ResNet generator's layers are all of this form
//! (reflection pad + 7x7, 3x3 stride 2, reflection pad + 3x3, upsample + 3x3).
//!
//! burn composes these from a padding (slices, flips and copies, each a pass over memory and a
//! node of the graph), an upsampling and its own convolution, which converts to NHWC and
//! flattens its weight on one thread (measured per layer by `examples/resnet_layers.rs`).
//! Here the padding and the upsampling are index arithmetic of im2col, every pass over memory
//! is parallel, and the products are as in [`super::conv4`]:
//!
//! - output: `W [c_out, c_in k²] x im2col(x) [c_in k², images P]`;
//! - input gradient: `col2im(W^T x grad)`;
//! - weight gradient: `grad [c_out, images P] x im2col(x)^T`.
//!
//! Where the output has fewer channels than the input, or is upsampled (its input has a
//! quarter of its pixels), the output-side form has the smaller matrix: `z = W [c_out k², c_in]
//! x X [c_in, images h w]`, then each output pixel gathers its k² taps from `z`; its backward
//! scatters the output gradient into `dz`, then `dW = dz X^T`, `dX = W^T dz`. The ResNet's head
//! (32 -> 3 channels, 7x7) and upsamplings take it; per layer 3-4x faster than im2col there.
//!
//! The column matrix is built for a group of images at a time, at most [`COLUMN_VALUES`]
//! values, so that a 7x7 layer at full resolution does not hold the whole batch's (hundreds of
//! MB at width 64). Other backends and dtypes compose burn's operations.

mod kernel;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::conv::Conv2d;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Shape, Tensor};

use super::buffers::{contiguous, tensor, values};
use super::conv4::kernel::{add_bias, bias_grad, from_channel_major_into, to_channel_major};
use super::gemm::matmul_tensors;
use super::is_cpu_f32;
use super::upsample_nearest2x;
use kernel::Geometry;
pub use kernel::Padding;

/// The most values of a column matrix held at once (64 MiB of `f32`): the images of a batch
/// are taken in groups that fit (at least one at a time).
#[cfg(not(test))]
const COLUMN_VALUES: usize = 16 << 20;
/// In the unit tests, small: their batches go through in groups too.
#[cfg(test)]
const COLUMN_VALUES: usize = 1000;

/// Above this many values per image in the chosen form's matrix, burn's convolution is taken:
/// measured per layer of the ResNet at width 32, 64 px, by `examples/resnet_layers.rs`
/// (2026-12-07, AMD EPYC, 2 cores; BENCHMARKS.md), im2col's passes over memory lost to burn
/// from 1.2 M values an image (the upsampling layers and the head, before the output-side
/// form took them: now 0.15-0.6 M) and won or tied up to 0.6 M. Larger images (128 px and
/// up) are not measured, so their large layers stay burn's.
const MAX_COLUMNS_PER_IMAGE: usize = 1 << 20;

/// What surrounds a convolution: an upsampling before it, its padding, its stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Nearest x2 upsampling of the input first.
    pub upsample: bool,
    /// Padding on every side (of the upsampled input).
    pub pad: usize,
    /// What the padding holds.
    pub padding: Padding,
    /// The stride.
    pub stride: usize,
}

/// The operation as a backend extension: implemented for `Flex` and `Autodiff<Flex>`. `bias`
/// is required (zeros for none); `spec` is [`ConvSpec`] as numbers: (upsample 1 or 2, pad,
/// reflect 0 or 1, stride).
#[backend_extension(Flex, Autodiff)]
pub trait PaddedConvBackend: Backend {
    /// `x` [n, c_in, h, w], upsampled and padded per `spec`, convolved by `weight`
    /// [c_out, c_in, k, k] with `spec`'s stride, plus `bias` [c_out].
    fn padded_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: [usize; 4],
    ) -> FloatTensor<Self>;
}

/// `x` [n, c_in, h, w] upsampled (x2 nearest, when `spec.upsample`), padded by `spec.pad`
/// (zeros or reflection), convolved by `weight` [c_out, c_in, k, k] with `spec.stride` (+
/// `bias` [c_out]): by this module's operation on the CPU backend where its columns are at
/// most [`MAX_COLUMNS_PER_IMAGE`] an image, by burn's padding, upsampling and convolution
/// elsewhere.
pub fn conv(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, spec: ConvSpec) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let k = weight.dims()[2];
    let g = geometry([n, c, h, w], k, spec);
    let [c_out, c_in, _, k_w] = weight.dims();
    // Sizes first (a kernel larger than the padded image has no output size), then the limit.
    let fits = g.fits() && k_w == k && c_in == c;
    if !is_cpu_f32(&x) || !fits || per_image(&g, c_out) > MAX_COLUMNS_PER_IMAGE {
        return composed(x, weight, bias, spec);
    }
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &x.device()));
    Tensor::from_dispatch(<Dispatch as PaddedConvBackend>::padded_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        numbers(spec),
    ))
}

/// `conv`'s weights and bias applied to `x` as [`conv`] does, with `spec`; `conv`'s own padding
/// and stride are not used (it is built without padding, `spec` says what surrounds it).
pub fn forward(conv_layer: &Conv2d, x: Tensor<4>, spec: ConvSpec) -> Tensor<4> {
    conv(
        x,
        conv_layer.weight.val(),
        conv_layer.bias.as_ref().map(|b| b.val()),
        spec,
    )
}

/// The same with burn's operations: what every other backend runs.
fn composed(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, spec: ConvSpec) -> Tensor<4> {
    let x = if spec.upsample {
        upsample_nearest2x(x)
    } else {
        x
    };
    let p = spec.pad;
    let (x, zero_pad) = match spec.padding {
        Padding::Reflect if p > 0 => (x.pad([(p, p), (p, p)], PadMode::Reflect), 0),
        _ => (x, p),
    };
    let options = ConvOptions::new([spec.stride; 2], [zero_pad; 2], [1, 1], 1);
    conv2d(x, weight, bias, options)
}

fn numbers(spec: ConvSpec) -> [usize; 4] {
    [
        if spec.upsample { 2 } else { 1 },
        spec.pad,
        usize::from(spec.padding == Padding::Reflect),
        spec.stride,
    ]
}

fn geometry([n, c, h, w]: [usize; 4], k: usize, spec: ConvSpec) -> Geometry {
    Geometry {
        n,
        c,
        h,
        w,
        up: if spec.upsample { 2 } else { 1 },
        pad: spec.pad,
        padding: spec.padding,
        k,
        stride: spec.stride,
    }
}

fn geometry_of(
    x: &FlexTensor,
    weight: &FlexTensor,
    [up, pad, reflect, stride]: [usize; 4],
) -> Geometry {
    let s = x.layout().shape();
    Geometry {
        n: s[0],
        c: s[1],
        h: s[2],
        w: s[3],
        up,
        pad,
        padding: if reflect == 1 {
            Padding::Reflect
        } else {
            Padding::Zero
        },
        k: weight.layout().shape()[2],
        stride,
    }
}

/// Whether the output-side form ([`kernel::gather_taps`]) is the smaller: its matrix has
/// c_out k² rows over the input's pixels, im2col's c_in k² rows over the output's.
fn output_side(g: &Geometry, c_out: usize) -> bool {
    c_out * g.h * g.w < g.c * g.p()
}

/// Values an image puts in the form's matrix.
fn per_image(g: &Geometry, c_out: usize) -> usize {
    if output_side(g, c_out) {
        c_out * g.k * g.k * g.h * g.w
    } else {
        g.rows() * g.p()
    }
}

/// Images per group: as many as keep the form's matrix within [`COLUMN_VALUES`].
fn group(g: &Geometry, c_out: usize) -> usize {
    (COLUMN_VALUES / per_image(g, c_out).max(1)).clamp(1, g.n.max(1))
}

/// `weight` [c_out, c_in, k, k] as the matrix [c_out k², c_in] (row `(o k + kh) k + kw`).
fn tap_major(weight: &FlexTensor, g: &Geometry) -> FlexTensor {
    let c_out = weight.layout().shape()[0];
    let w = contiguous(weight.clone()).reshape(Shape::from([c_out, g.c, g.k * g.k]));
    contiguous(w.transpose(1, 2)).reshape(Shape::from([c_out * g.k * g.k, g.c]))
}

/// The inverse of [`tap_major`]: [c_out k², c_in] -> [c_out, c_in, k, k].
fn from_tap_major(m: FlexTensor, c_out: usize, g: &Geometry) -> FlexTensor {
    let m = contiguous(m).reshape(Shape::from([c_out, g.k * g.k, g.c]));
    contiguous(m.transpose(1, 2)).reshape(Shape::from([c_out, g.c, g.k, g.k]))
}

/// The images `images` of `x` [n, c, h, w] as the matrix [c, images h w].
fn input_channel_major(x: &[f32], g: &Geometry, images: &std::ops::Range<usize>) -> FlexTensor {
    let hw = g.h * g.w;
    let part = &x[images.start * g.c * hw..][..images.len() * g.c * hw];
    tensor(
        to_channel_major(part, images.len(), g.c, hw),
        [g.c, images.len() * hw],
    )
}

/// `weight` [c_out, c_in, k, k] as the matrix [c_out, c_in k²].
fn weight_matrix(weight: &FlexTensor, g: &Geometry) -> FlexTensor {
    let c_out = weight.layout().shape()[0];
    contiguous(weight.clone()).reshape(Shape::from([c_out, g.rows()]))
}

/// The convolution's output [n, c_out, oh, ow], by the smaller form.
fn output(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor, g: Geometry) -> FlexTensor {
    let c_out = weight.layout().shape()[0];
    if output_side(&g, c_out) {
        output_by_taps(x, weight, bias, g)
    } else {
        output_by_columns(x, weight, bias, g)
    }
}

/// [`output`] in the output-side form: `z = W [c_out k², c_in] x X [c_in, images h w]`, then
/// each output pixel gathers its taps from `z`.
fn output_by_taps(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    g: Geometry,
) -> FlexTensor {
    let c_out = weight.layout().shape()[0];
    let (x, p) = (values(x), g.p());
    let w = tap_major(weight, &g);
    let mut out = vec![0.0; g.n * c_out * p];
    let step = group(&g, c_out);
    for first in (0..g.n).step_by(step) {
        let images = first..(first + step).min(g.n);
        let m = images.len();
        let x_cm = input_channel_major(&x, &g, &images);
        let z = matmul_tensors(&w, &x_cm); // [c_out k², m h w]
        let y = kernel::gather_taps(&values(&z), g, c_out, m);
        out[first * c_out * p..][..m * c_out * p].copy_from_slice(&y);
    }
    add_bias(&mut out, c_out, p, &values(bias));
    tensor(out, [g.n, c_out, g.oh(), g.ow()])
}

/// [`output`] by im2col: `W [c_out, c_in k²] x im2col(X) [c_in k², images P]`.
fn output_by_columns(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    g: Geometry,
) -> FlexTensor {
    let c_out = weight.layout().shape()[0];
    let (x, bias) = (values(x), values(bias));
    let w = weight_matrix(weight, &g);
    let p = g.p();
    let mut out = vec![0.0; g.n * c_out * p];
    let step = group(&g, c_out);
    for first in (0..g.n).step_by(step) {
        let images = first..(first + step).min(g.n);
        let m = images.len();
        let cols = tensor(kernel::im2col(&x, g, images), [g.rows(), m * p]);
        let y = matmul_tensors(&w, &cols); // [c_out, m P]
        from_channel_major_into(
            &values(&y),
            m,
            c_out,
            p,
            Some(&bias),
            &mut out[first * c_out * p..][..m * c_out * p],
        );
    }
    tensor(out, [g.n, c_out, g.oh(), g.ow()])
}

/// The gradients of the input and of the weight (each when asked) from the output's `grad`
/// [n, c_out, oh, ow], by the form the output was computed in.
fn input_and_weight_grads(
    x: &FlexTensor,
    weight: &FlexTensor,
    grad: &FlexTensor,
    g: Geometry,
    wanted: (bool, bool),
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let c_out = weight.layout().shape()[0];
    if output_side(&g, c_out) {
        grads_by_taps(x, weight, grad, g, wanted)
    } else {
        grads_by_columns(x, weight, grad, g, wanted)
    }
}

/// The output-side form's gradients: `dz` scattered from the output's gradient, then
/// `dW = dz x X^T` and `dX = W^T x dz`.
fn grads_by_taps(
    x: &FlexTensor,
    weight: &FlexTensor,
    grad: &FlexTensor,
    g: Geometry,
    (want_x, want_w): (bool, bool),
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let c_out = weight.layout().shape()[0];
    let (p, hw, taps) = (g.p(), g.h * g.w, c_out * g.k * g.k);
    let (x_values, grad) = (values(x), values(grad));
    let w_t = tap_major(weight, &g).transpose(0, 1); // [c_in, c_out k²], a view
    let mut x_grad = want_x.then(|| vec![0.0f32; g.n * g.c * hw]);
    let mut w_grad: Option<FlexTensor> = None;
    let step = group(&g, c_out);
    for first in (0..g.n).step_by(step) {
        let images = first..(first + step).min(g.n);
        let m = images.len();
        let part = &grad[first * c_out * p..][..m * c_out * p];
        let dz = tensor(kernel::scatter_taps(part, g, c_out, m), [taps, m * hw]);
        if want_w {
            let x_cm = input_channel_major(&x_values, &g, &images);
            let wg = matmul_tensors(&dz, &x_cm.transpose(0, 1)); // [c_out k², c_in]
            w_grad = Some(match w_grad {
                Some(sum) => Flex::float_add(sum, wg),
                None => wg,
            });
        }
        if let Some(x_grad) = x_grad.as_mut() {
            let dx = matmul_tensors(&w_t, &dz); // [c_in, m h w]
            let plane = g.c * hw;
            from_channel_major_into(
                &values(&dx),
                m,
                g.c,
                hw,
                None,
                &mut x_grad[first * plane..][..m * plane],
            );
        }
    }
    (
        x_grad.map(|v| tensor(v, [g.n, g.c, g.h, g.w])),
        w_grad.map(|wg| from_tap_major(wg, c_out, &g)),
    )
}

/// im2col's gradients: `dW = grad x im2col(X)^T` and `dX = col2im(W^T x grad)`.
fn grads_by_columns(
    x: &FlexTensor,
    weight: &FlexTensor,
    grad: &FlexTensor,
    g: Geometry,
    (want_x, want_w): (bool, bool),
) -> (Option<FlexTensor>, Option<FlexTensor>) {
    let c_out = weight.layout().shape()[0];
    let (p, rows) = (g.p(), g.rows());
    let (x_values, grad) = (values(x), values(grad));
    let w = weight_matrix(weight, &g);
    let w_t = w.transpose(0, 1); // [c_in k², c_out], a view
    let mut x_grad = want_x.then(|| vec![0.0f32; g.n * g.c * g.h * g.w]);
    let mut w_grad: Option<FlexTensor> = None;
    let step = group(&g, c_out);
    for first in (0..g.n).step_by(step) {
        let images = first..(first + step).min(g.n);
        let m = images.len();
        // [c_out, m P]: the group's output gradient, channel by channel.
        let part = &grad[first * c_out * p..][..m * c_out * p];
        let grad_cm = tensor(to_channel_major(part, m, c_out, p), [c_out, m * p]);
        if want_w {
            let cols = tensor(kernel::im2col(&x_values, g, images.clone()), [rows, m * p]);
            let wg = matmul_tensors(&grad_cm, &cols.transpose(0, 1)); // [c_out, rows]
            w_grad = Some(match w_grad {
                Some(sum) => Flex::float_add(sum, wg),
                None => wg,
            });
        }
        if let Some(x_grad) = x_grad.as_mut() {
            let cols_grad = matmul_tensors(&w_t, &grad_cm); // [rows, m P]
            let part = kernel::col2im(&values(&cols_grad), g, m);
            let plane = g.c * g.h * g.w;
            x_grad[first * plane..][..m * plane].copy_from_slice(&part);
        }
    }
    let k = g.k;
    (
        x_grad.map(|v| tensor(v, [g.n, g.c, g.h, g.w])),
        w_grad.map(|wg| contiguous(wg).reshape(Shape::from([c_out, g.c, k, k]))),
    )
}

impl PaddedConvBackend for Flex {
    fn padded_conv(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        spec: [usize; 4],
    ) -> FlexTensor {
        let x = contiguous(x);
        let g = geometry_of(&x, &weight, spec);
        output(&x, &weight, &contiguous(bias), g)
    }
}

#[derive(Debug)]
struct PaddedConvBackward;

impl Backward<Flex, 3> for PaddedConvBackward {
    /// The input, the weight, and the spec's numbers.
    type State = (FlexTensor, FlexTensor, [usize; 4]);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [x_node, weight_node, bias_node] = ops.parents;
        let (x, weight, spec) = ops.state;
        if let Some(node) = bias_node {
            let s = grad.layout().shape();
            let (n, c, p) = (s[0], s[1], s[2] * s[3]);
            grads.register::<Flex>(node.id, tensor(bias_grad(&values(&grad), n, c, p), [c]));
        }
        if weight_node.is_none() && x_node.is_none() {
            return;
        }
        let g = geometry_of(&x, &weight, spec);
        let wanted = (x_node.is_some(), weight_node.is_some());
        let (x_grad, w_grad) = input_and_weight_grads(&x, &weight, &grad, g, wanted);
        if let (Some(node), Some(grad)) = (weight_node, w_grad) {
            grads.register::<Flex>(node.id, grad);
        }
        if let (Some(node), Some(grad)) = (x_node, x_grad) {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

impl<C: CheckpointStrategy> PaddedConvBackend for Autodiff<Flex, C> {
    fn padded_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        spec: [usize; 4],
    ) -> FloatTensor<Self> {
        let prep = PaddedConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let (x, weight) = (contiguous(x.into_primitive()), weight.into_primitive());
        let bias = contiguous(bias.into_primitive());
        let g = geometry_of(&x, &weight, spec);
        let out = output(&x, &weight, &bias, g);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((x, weight, spec), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv_check::assert_same;
    use super::*;

    #[test]
    fn equals_burns_padding_upsampling_and_convolution_with_gradients() {
        // (input, kernel, c_out, spec): the ResNet's layers, and oblong and small images.
        let spec = |upsample, pad, padding, stride| ConvSpec {
            upsample,
            pad,
            padding,
            stride,
        };
        let cases = [
            ([2, 3, 9, 9], 7, 4, spec(false, 3, Padding::Reflect, 1)),
            ([2, 4, 8, 6], 3, 5, spec(false, 1, Padding::Zero, 2)),
            ([3, 4, 5, 5], 3, 4, spec(false, 1, Padding::Reflect, 1)),
            ([2, 4, 4, 3], 3, 2, spec(true, 1, Padding::Zero, 1)),
            ([1, 2, 6, 6], 4, 3, spec(false, 0, Padding::Zero, 2)),
            ([2, 3, 3, 3], 3, 2, spec(true, 2, Padding::Reflect, 1)),
            // Fewer output than input channels: the output-side form (the ResNet's head).
            ([3, 6, 9, 9], 7, 2, spec(false, 3, Padding::Reflect, 1)),
            ([2, 6, 8, 8], 3, 1, spec(false, 1, Padding::Zero, 2)),
            // Taps that read only zeros of a padding wider than the image, in both forms.
            ([1, 2, 2, 2], 7, 3, spec(false, 3, Padding::Zero, 1)),
            ([1, 4, 2, 2], 7, 1, spec(false, 3, Padding::Zero, 1)),
        ];
        let taps = cases
            .iter()
            .filter(|(x, k, c_out, spec)| output_side(&geometry(*x, *k, *spec), *c_out))
            .count();
        assert_eq!(taps, 5, "both forms are tested");
        for (x, k, c_out, spec) in cases {
            let ours = |x, w, b| conv(x, w, b, spec);
            let reference = |x, w, b| composed(x, w, b, spec);
            assert_same(&ours, &reference, x, [c_out, x[1], k, k], c_out);
        }
    }

    #[test]
    fn a_batch_in_groups_equals_it_whole() {
        // With the tests' limit, a 7x7 layer on 6x6 images takes one image a group, a 3x3
        // stride-2 one the whole batch: both equal burn's.
        let spec = |pad, padding, stride| ConvSpec {
            upsample: false,
            pad,
            padding,
            stride,
        };
        let wide = spec(3, Padding::Reflect, 1);
        assert_eq!(group(&geometry([3, 2, 6, 6], 7, wide), 2), 1);
        let ours = |x, w, b| conv(x, w, b, wide);
        let reference = |x, w, b| composed(x, w, b, wide);
        assert_same(&ours, &reference, [3, 2, 6, 6], [2, 2, 7, 7], 2);
        let narrow = spec(1, Padding::Zero, 2);
        assert_eq!(group(&geometry([3, 2, 6, 6], 3, narrow), 2), 3);
        let ours = |x, w, b| conv(x, w, b, narrow);
        let reference = |x, w, b| composed(x, w, b, narrow);
        assert_same(&ours, &reference, [3, 2, 6, 6], [2, 2, 3, 3], 2);
    }

    #[test]
    fn one_image_of_a_batch_is_convolved_alone() {
        // A slice of a batch shares its parent's buffer.
        let spec = ConvSpec {
            upsample: false,
            pad: 1,
            padding: Padding::Reflect,
            stride: 1,
        };
        for images in [0..1, 1..2] {
            let one = |x: Tensor<4>| x.slice([images.clone()]);
            let ours = |x, w, b| conv(one(x), w, b, spec);
            let reference = |x, w, b| composed(one(x), w, b, spec);
            assert_same(&ours, &reference, [2, 3, 4, 4], [5, 3, 3, 3], 5);
        }
    }
}
