//! The networks' 4x4 stride-2 convolutions as one matrix product over the whole batch.
//!
//! burn-flex runs a convolution as one matrix product per image (and per tile of 512 output
//! pixels), and a transposed convolution likewise. Deep in the U-Net an image has only a few
//! pixels (4x4 down to 1x1) while the weights are large (512 x 512 x 4 x 4 = 16 MB), so each of
//! the batch's images reads all of the weights for a handful of multiply-adds. Here the batch is
//! one matrix product: the input is cut into its 16 kernel taps by reshapes and slices (cheap at
//! these sizes) and multiplied with the weights once; the gradients follow by autodiff, as
//! matrix products over the whole batch too. Same result as burn's convolution up to the order
//! of the additions.

use burn::tensor::{Device, Tensor, ops::PadMode};

/// The kernel side of every convolution built here.
const K: usize = 4;

/// Images of at most this many pixels (the output of a convolution, the input of a transposed
/// one) go through the batched product: measured per U-Net layer at width 64 and batch 8, it
/// wins only there, where burn-flex's per-image products are a few pixels wide.
const MAX_PIXELS: usize = 4;

/// Whether [`conv4_stride2`] beats burn's convolution of `x` [n, c, h, w]: on the CPU backend,
/// for a small even-sided image.
pub fn prefer_conv(x: &Tensor<4>) -> bool {
    let [_, _, h, w] = x.dims();
    h % 2 == 0 && w % 2 == 0 && (h / 2) * (w / 2) <= MAX_PIXELS && on_flex(x)
}

/// Whether [`conv_transpose4_stride2`] beats burn's transposed convolution of `x`.
pub fn prefer_conv_transpose(x: &Tensor<4>) -> bool {
    let [_, _, h, w] = x.dims();
    h * w <= MAX_PIXELS && on_flex(x)
}

fn on_flex(x: &Tensor<4>) -> bool {
    x.device().without_autodiff() == Device::flex()
}

/// Conv2d, kernel 4, stride 2, padding 1, of `x` [n, c_in, h, w] (h, w even) by `weight`
/// [c_out, c_in, 4, 4] (+ `bias` [c_out]) -> [n, c_out, h/2, w/2].
pub fn conv4_stride2(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [n, c_in, h, w] = x.dims();
    let c_out = weight.dims()[0];
    let (oh, ow) = (h / 2, w / 2);
    // Padded and split by parity: [n, c_in, oh + 1, 2, ow + 1, 2]; tap (kh, kw) of output pixel
    // (y, x) is padded pixel (2y + kh, 2x + kw) = row (y + kh/2, parity kh%2), likewise columns.
    let planes =
        x.pad([(1, 1), (1, 1)], PadMode::Constant(0.0))
            .reshape([n, c_in, oh + 1, 2, ow + 1, 2]);
    let taps: Vec<Tensor<4>> = (0..K * K)
        .map(|t| {
            let (kh, kw) = (t / K, t % K);
            planes
                .clone()
                .slice([
                    0..n,
                    0..c_in,
                    kh / 2..kh / 2 + oh,
                    kh % 2..kh % 2 + 1,
                    kw / 2..kw / 2 + ow,
                    kw % 2..kw % 2 + 1,
                ])
                .reshape([n, c_in, oh, ow])
        })
        .collect();
    // [n * oh * ow, c_in * 16], columns in the weights' (c_in, kh, kw) order.
    let columns = Tensor::stack::<5>(taps, 2)
        .permute([0, 3, 4, 1, 2])
        .reshape([n * oh * ow, c_in * K * K]);
    let out = columns.matmul(weight.reshape([c_out, c_in * K * K]).transpose()); // [n*oh*ow, c_out]
    let out = match bias {
        Some(bias) => out + bias.unsqueeze::<2>(),
        None => out,
    };
    out.reshape([n, oh, ow, c_out]).permute([0, 3, 1, 2])
}

/// ConvTranspose2d, kernel 4, stride 2, padding 1, of `x` [n, c_in, h, w] by `weight`
/// [c_in, c_out, 4, 4] (+ `bias` [c_out]) -> [n, c_out, 2h, 2w].
pub fn conv_transpose4_stride2(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> Tensor<4> {
    let [n, c_in, h, w] = x.dims();
    let c_out = weight.dims()[1];
    // Every input pixel's contribution to its 4x4 output neighbourhood, in one product:
    // [n * h * w, c_out * 16] -> [n, c_out, 4, 4, h + 2, w + 2] (zero border for the shifts below).
    let contributions = x
        .permute([0, 2, 3, 1])
        .reshape([n * h * w, c_in])
        .matmul(weight.reshape([c_in, c_out * K * K]))
        .reshape([n, h, w, c_out, K, K])
        .permute([0, 3, 4, 5, 1, 2])
        .pad([(1, 1), (1, 1)], PadMode::Constant(0.0));
    // Output row 2i + p receives tap kh from input row i + d, for (kh, d) in TAPS[p]: row
    // 2i + p = 2(i + d) - 1 + kh (stride 2, padding 1).
    const TAPS: [[(usize, isize); 2]; 2] = [[(1, 0), (3, -1)], [(0, 1), (2, 0)]];
    let shifted = |kh: usize, dy: isize, kw: usize, dx: isize| {
        let (y0, x0) = ((1 + dy) as usize, (1 + dx) as usize);
        contributions
            .clone()
            .slice([
                0..n,
                0..c_out,
                kh..kh + 1,
                kw..kw + 1,
                y0..y0 + h,
                x0..x0 + w,
            ])
            .reshape([n, c_out, h, w])
    };
    // One [n, c_out, h, w] plane per output parity (py, px), each the sum of four taps.
    let plane = |py: usize, px: usize| {
        let [(kh0, dy0), (kh1, dy1)] = TAPS[py];
        let [(kw0, dx0), (kw1, dx1)] = TAPS[px];
        shifted(kh0, dy0, kw0, dx0)
            + shifted(kh0, dy0, kw1, dx1)
            + shifted(kh1, dy1, kw0, dx0)
            + shifted(kh1, dy1, kw1, dx1)
    };
    let rows: Vec<Tensor<5>> = (0..2)
        .map(|py| Tensor::stack::<5>(vec![plane(py, 0), plane(py, 1)], 4)) // [n, c_out, h, w, 2]
        .collect();
    let out = Tensor::stack::<6>(rows, 3).reshape([n, c_out, 2 * h, 2 * w]); // [n, c_out, h, 2, w, 2]
    match bias {
        Some(bias) => out + bias.reshape([1, c_out, 1, 1]),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::{conv_transpose2d, conv2d};
    use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

    use super::super::conv_check::assert_same;
    use super::*;

    #[test]
    fn conv_equals_burns_convolution_and_its_gradients() {
        let burn = |x, w, b| conv2d(x, w, b, ConvOptions::new([2, 2], [1, 1], [1, 1], 1));
        for (n, c_in, c_out, side) in [(2, 3, 5, 8), (3, 4, 2, 2), (1, 6, 3, 4), (2, 2, 4, 6)] {
            let (x, w) = ([n, c_in, side, side], [c_out, c_in, 4, 4]);
            assert_same(&conv4_stride2, &burn, x, w, c_out);
        }
    }

    #[test]
    fn conv_transpose_equals_burns_and_its_gradients() {
        let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let burn = move |x, w, b| conv_transpose2d(x, w, b, options.clone());
        for (n, c_in, c_out, side) in [(2, 3, 5, 4), (3, 4, 2, 1), (1, 6, 3, 2), (2, 2, 4, 3)] {
            let (x, w) = ([n, c_in, side, side], [c_in, c_out, 4, 4]);
            assert_same(&conv_transpose4_stride2, &burn, x, w, c_out);
        }
    }
}
