//! The networks' 4x4, stride-2, padding-1 convolutions and transposed convolutions on the CPU
//! backend: im2col, one matrix product for the whole batch, col2im — with a hand-written
//! backward pass.
//!
//! burn-flex's convolution converts its input to NHWC and flattens its weight on one thread
//! before its per-image products, and its transposed convolution scatters its columns back on
//! one thread below 4 M output values; with two cores, one idled through those stretches, which
//! come back in every backward pass (a convolution's input gradient is a transposed
//! convolution, and the reverse). Here every pass over memory is parallel, the weight is used in
//! its stored layout, and each operation is one GEMM over all images:
//!
//! - convolution `big -> small`: `W [c_small, c_big * 16] x im2col(big) [c_big * 16, n * P]`;
//! - transposed convolution `small -> big`: `col2im(W^T x small)`;
//! - weight gradient: `small [c_small, n * P] x im2col(big)^T`.
//!
//! A convolution's input gradient is the transposed convolution of its output gradient, and the
//! reverse, so the two operations' backward passes are made of the same three pieces. Other
//! backends, dtypes or odd sizes use burn's `conv2d` / `conv_transpose2d`.

pub(super) mod kernel;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use super::buffers::{contiguous, tensor, values};
use super::gemm::{MatRef, matmul};
use super::is_cpu_f32;
use kernel::Geometry;

/// The two operations as a backend extension: implemented for `Flex` and `Autodiff<Flex>`.
/// `bias` is required (zeros for none).
#[backend_extension(Flex, Autodiff)]
pub trait Conv4Backend: Backend {
    /// Convolution of `x` [n, c_in, h, w] (h, w even) by `weight` [c_out, c_in, 4, 4] plus `bias`
    /// [c_out] -> [n, c_out, h/2, w/2].
    fn conv4_stride2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// Transposed convolution of `x` [n, c_in, h, w] by `weight` [c_in, c_out, 4, 4] plus `bias`
    /// [c_out] -> [n, c_out, 2h, 2w].
    fn conv_transpose4_stride2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Conv2d, kernel 4, stride 2, padding 1: `x` [n, c_in, h, w] by `weight` [c_out, c_in, 4, 4]
/// (+ `bias` [c_out]) -> [n, c_out, h/2, w/2].
pub fn conv(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if !is_cpu_f32(&x) || h % 2 != 0 || w % 2 != 0 {
        return conv2d(x, weight, bias, ConvOptions::new([2, 2], [1, 1], [1, 1], 1));
    }
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &x.device()));
    Tensor::from_dispatch(<Dispatch as Conv4Backend>::conv4_stride2(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// ConvTranspose2d, kernel 4, stride 2, padding 1: `x` [n, c_in, h, w] by `weight`
/// [c_in, c_out, 4, 4] (+ `bias` [c_out]) -> [n, c_out, 2h, 2w].
pub fn conv_transpose(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    if !is_cpu_f32(&x) {
        let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        return conv_transpose2d(x, weight, bias, options);
    }
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[1]], &x.device()));
    Tensor::from_dispatch(<Dispatch as Conv4Backend>::conv_transpose4_stride2(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// `conv.forward(x)`, by [`conv`] when `conv` is a 4x4, stride-2, padding-1 convolution (burn's
/// otherwise).
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let fits = conv.kernel_size == [4, 4]
        && conv.stride == [2, 2]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.padding == PaddingConfig2d::Explicit(1, 1, 1, 1);
    if !fits {
        return conv.forward(x);
    }
    self::conv(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()))
}

/// `conv.forward(x)`, by [`conv_transpose`] when `conv` is a 4x4, stride-2, padding-1 transposed
/// convolution (burn's otherwise).
pub fn forward_transposed(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let fits = conv.kernel_size == [4, 4]
        && conv.stride == [2, 2]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.padding == [1, 1]
        && conv.padding_out == [0, 0];
    if !fits {
        return conv.forward(x);
    }
    conv_transpose(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()))
}

fn dims4(x: &FlexTensor) -> [usize; 4] {
    let s = x.layout().shape();
    [s[0], s[1], s[2], s[3]]
}

/// The columns [c_big * 16, n * P] of `big` [n, c_big, h, w].
fn columns(big: &FlexTensor, g: Geometry) -> Vec<f32> {
    kernel::im2col(&values(big), dims4(big)[1], g)
}

/// `small` [n, c_small, h, w] as the matrix [c_small, n * h * w].
fn channel_major(small: &FlexTensor) -> Vec<f32> {
    let [n, c_small, h, w] = dims4(small);
    kernel::to_channel_major(&values(small), n, c_small, h * w)
}

/// `weight` [c_small, c_big, 4, 4] (its values) as the matrix [c_small, c_big * 16].
fn weight_matrix<'a>(weight: &FlexTensor, values: &'a [f32]) -> MatRef<'a> {
    let [c_small, c_big, _, _] = dims4(weight);
    MatRef::row_major(values, c_small, c_big * 16)
}

/// Convolution `big` [n, c_big, h, w] -> [n, c_small, h/2, w/2] (+ `bias` [c_small]).
///
/// # Panics
/// If `h` or `w` is odd (the public [`conv`] sends those to burn's `conv2d`): the kernels
/// pair each small pixel with two big ones.
fn down(big: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
    let [n, _, h, w] = dims4(big);
    assert!(
        h % 2 == 0 && w % 2 == 0,
        "conv4_stride2 of a {h} x {w} image: sides must be even"
    );
    let g = Geometry { n, h, w };
    down_from_columns(&columns(big, g), g, weight, bias)
}

/// [`down`] from the big image's [`columns`].
fn down_from_columns(
    cols: &[f32],
    g: Geometry,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
) -> FlexTensor {
    let [c_small, c_big, _, _] = dims4(weight);
    let w = values(weight);
    let cols = MatRef::row_major(cols, c_big * 16, g.columns());
    let small = matmul(weight_matrix(weight, &w), cols); // [c_small, n * P]
    let out = kernel::from_channel_major(&small, g.n, c_small, g.p(), bias.map(values).as_deref());
    tensor(out, [g.n, c_small, g.h / 2, g.w / 2])
}

/// Transposed convolution `small` [n, c_small, h, w] -> [n, c_big, 2h, 2w] (+ `bias` [c_big]).
fn up(small: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
    let [n, _, h, w] = dims4(small);
    let g = Geometry {
        n,
        h: 2 * h,
        w: 2 * w,
    };
    up_from_channel_major(&channel_major(small), g, weight, bias)
}

/// [`up`] from the small image as a [`channel_major`] matrix.
fn up_from_channel_major(
    small: &[f32],
    g: Geometry,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
) -> FlexTensor {
    let [c_small, c_big, _, _] = dims4(weight);
    let w = values(weight);
    let w_t = weight_matrix(weight, &w).t(); // [c_big * 16, c_small]
    let cols = matmul(w_t, MatRef::row_major(small, c_small, g.columns()));
    let big = kernel::col2im(&cols, c_big, g, bias.map(values).as_deref());
    tensor(big, [g.n, c_big, g.h, g.w])
}

/// The weight gradient [c_small, c_big, 4, 4] from the big image's [`columns`] and the small
/// image as a [`channel_major`] matrix (the convolution's input and output gradient, or the
/// transposed one's output gradient and input).
fn weight_grad(cols: &[f32], small: &[f32], c_small: usize, c_big: usize) -> FlexTensor {
    let columns = small.len() / c_small.max(1);
    let cols_t = MatRef::row_major(cols, c_big * 16, columns).t(); // [n * P, c_big * 16]
    let grad = matmul(MatRef::row_major(small, c_small, columns), cols_t);
    tensor(grad, [c_small, c_big, 4, 4])
}

/// The bias gradient [c] of an output gradient [n, c, h, w].
fn bias_grad(grad: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(grad);
    tensor(kernel::bias_grad(&values(grad), n, c, h * w), [c])
}

impl Conv4Backend for Flex {
    fn conv4_stride2(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        down(&contiguous(x), &weight, Some(&contiguous(bias)))
    }

    fn conv_transpose4_stride2(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        up(&contiguous(x), &weight, Some(&contiguous(bias)))
    }
}

/// Which of the two operations a backward step belongs to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Direction {
    /// Convolution: input big, output small.
    Down,
    /// Transposed convolution: input small, output big.
    Up,
}

#[derive(Debug)]
struct Conv4Backward;

impl Backward<Flex, 3> for Conv4Backward {
    /// The input, the weight, and the direction.
    type State = (FlexTensor, FlexTensor, Direction);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [x_node, weight_node, bias_node] = ops.parents;
        let (x, weight, direction) = ops.state;
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, bias_grad(&grad));
        }
        if weight_node.is_none() && x_node.is_none() {
            return;
        }
        // Each direction's two gradients share one operand: the output gradient as a matrix
        // (convolution) or its columns (transposed convolution).
        let [c_small, c_big, _, _] = dims4(&weight);
        let (w_grad, x_grad) = match direction {
            Direction::Down => {
                let [n, _, h, w] = dims4(&x);
                let g = Geometry { n, h, w };
                let grad = channel_major(&grad);
                let wg = weight_node
                    .is_some()
                    .then(|| weight_grad(&columns(&x, g), &grad, c_small, c_big));
                let xg = x_node
                    .is_some()
                    .then(|| up_from_channel_major(&grad, g, &weight, None));
                (wg, xg)
            }
            Direction::Up => {
                let [n, _, h, w] = dims4(&grad);
                let g = Geometry { n, h, w };
                let cols = columns(&grad, g);
                let wg = weight_node
                    .is_some()
                    .then(|| weight_grad(&cols, &channel_major(&x), c_small, c_big));
                let xg = x_node
                    .is_some()
                    .then(|| down_from_columns(&cols, g, &weight, None));
                (wg, xg)
            }
        };
        if let (Some(node), Some(grad)) = (weight_node, w_grad) {
            grads.register::<Flex>(node.id, grad);
        }
        if let (Some(node), Some(grad)) = (x_node, x_grad) {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

fn tracked<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    direction: Direction,
) -> FloatTensor<Autodiff<Flex, C>> {
    let prep = Conv4Backward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful();
    let (x, weight) = (contiguous(x.into_primitive()), weight.into_primitive());
    let bias = contiguous(bias.into_primitive());
    let out = match direction {
        Direction::Down => down(&x, &weight, Some(&bias)),
        Direction::Up => up(&x, &weight, Some(&bias)),
    };
    match prep {
        OpsKind::Tracked(prep) => prep.finish((x, weight, direction), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

impl<C: CheckpointStrategy> Conv4Backend for Autodiff<Flex, C> {
    fn conv4_stride2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked::<C>(x, weight, bias, Direction::Down)
    }

    fn conv_transpose4_stride2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked::<C>(x, weight, bias, Direction::Up)
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv_check::assert_same;
    use super::*;
    use burn::tensor::Device;

    fn burn_conv(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>) -> Tensor<4> {
        conv2d(x, w, b, ConvOptions::new([2, 2], [1, 1], [1, 1], 1))
    }

    fn burn_conv_transpose(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>) -> Tensor<4> {
        let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        conv_transpose2d(x, w, b, options)
    }

    #[test]
    fn convolution_equals_burns_with_gradients() {
        // Square, oblong, and the smallest image; one and several channels.
        for (x, c_out) in [([2, 3, 8, 8], 5), ([3, 4, 6, 10], 2), ([2, 1, 2, 2], 3)] {
            let w = [c_out, x[1], 4, 4];
            assert_same(&conv, &burn_conv, x, w, c_out);
        }
    }

    #[test]
    fn modules_take_this_path_only_when_they_fit() {
        use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
        use burn::tensor::Distribution;
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 8, 8], Distribution::Default, &device);
        let close = |a: Tensor<4>, b: Tensor<4>| {
            let (a, b) = (a.into_data(), b.into_data());
            a.assert_approx_eq::<f32>(&b, burn::tensor::Tolerance::absolute(1e-5));
        };
        let padded = PaddingConfig2d::Explicit(1, 1, 1, 1);
        // A 4x4 stride-2 padding-1 convolution, and a stride-1 one that must fall back.
        for stride in [2, 1] {
            let conv = Conv2dConfig::new([3, 5], [4, 4])
                .with_stride([stride, stride])
                .with_padding(padded.clone())
                .init(&device);
            close(forward(&conv, x.clone()), conv.forward(x.clone()));
        }
        for padding in [1, 0] {
            let conv = ConvTranspose2dConfig::new([3, 5], [4, 4])
                .with_stride([2, 2])
                .with_padding([padding, padding])
                .init(&device);
            close(
                forward_transposed(&conv, x.clone()),
                conv.forward(x.clone()),
            );
        }
    }

    #[test]
    #[should_panic(expected = "sides must be even")]
    fn the_backend_operation_refuses_odd_sides() {
        // `conv` sends odd sides to burn; called directly, the operation refuses them rather
        // than pairing pixels that do not exist.
        let x = tensor(vec![0.0; 5 * 4], [1, 1, 5, 4]);
        let weight = tensor(vec![0.0; 16], [1, 1, 4, 4]);
        let bias = tensor(vec![0.0], [1]);
        Flex::conv4_stride2(x, weight, bias);
    }

    #[test]
    fn one_image_of_a_batch_is_convolved_alone() {
        // A slice of a batch shares its parent's buffer (see flex_buffers).
        for images in [0..1, 1..2] {
            let one = |x: Tensor<4>| x.slice([images.clone()]);
            let ours = |x, w, b| conv(one(x), w, b);
            let burn = |x, w, b| burn_conv(one(x), w, b);
            assert_same(&ours, &burn, [2, 3, 4, 4], [5, 3, 4, 4], 5);
            let ours = |x, w, b| conv_transpose(one(x), w, b);
            let burn = |x, w, b| burn_conv_transpose(one(x), w, b);
            assert_same(&ours, &burn, [2, 3, 2, 2], [3, 5, 4, 4], 5);
        }
    }

    #[test]
    fn transposed_convolution_equals_burns_with_gradients() {
        for (x, c_out) in [([2, 3, 4, 4], 5), ([3, 4, 3, 5], 2), ([2, 2, 1, 1], 3)] {
            let w = [x[1], c_out, 4, 4];
            assert_same(&conv_transpose, &burn_conv_transpose, x, w, c_out);
        }
    }
}
