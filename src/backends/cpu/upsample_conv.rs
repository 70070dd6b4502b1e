//! The U-Net's head, nearest x2 upsampling followed by a 4x4 convolution, computed at the low
//! resolution.
//!
//! Every 2x2 block of the upsampled image repeats one input pixel, so each output pixel of a
//! given parity (row and column even or odd) sees the input through a 3x3 window whose weights
//! are sums of the 4x4 kernel's. The four parities are one 3x3 convolution of the input with
//! four times the output channels, interleaved afterwards: 9 instead of 16 multiply-adds per output
//! pixel and input channel, and neither the upsampled image (4 M values at width 64, batch 8) nor
//! its gradient is ever built.

use burn::tensor::{Tensor, TensorData, module::conv2d, ops::ConvOptions};

/// `conv(upsample_nearest2x(x), weight) + bias` with a 4x4 kernel, stride 1 and padding
/// (top 2, left 2, bottom 1, right 1) — PyTorch's `Upsample(2), ZeroPad2d((1, 0, 1, 0)),
/// Conv2d(k=4, padding=1)`. `x` [n, c_in, h, w], `weight` [c_out, c_in, 4, 4] ->
/// [n, c_out, 2h, 2w].
pub fn upsample2x_conv4(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    let [n, _, h, w] = x.dims();
    let [c_out, c_in, _, _] = weight.dims();
    let device = weight.device();
    // MIX[p][r][k]: output parity p takes kernel row k from input row offset r - 1
    // (output row 2i + p, upsampled row 2i + p + k - 2, input row i + floor((p + k - 2) / 2)).
    const MIX: [[[f32; 4]; 3]; 2] = [
        [[1., 1., 0., 0.], [0., 0., 1., 1.], [0., 0., 0., 0.]],
        [[1., 0., 0., 0.], [0., 1., 1., 0.], [0., 0., 0., 1.]],
    ];
    let mix = |p: usize| -> Tensor<3> {
        let values: Vec<f32> = MIX[p].iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(values, [1, 3, 4]), &device)
    };
    let kernel = weight.reshape([c_out * c_in, 4, 4]);
    // [4 parities (p, q) x c_out, c_in, 3, 3]: MIX[p] · kernel · MIX[q]ᵀ.
    let parities: Vec<Tensor<4>> = (0..2)
        .flat_map(|p| (0..2).map(move |q| (p, q)))
        .map(|(p, q)| {
            mix(p)
                .matmul(kernel.clone())
                .matmul(mix(q).swap_dims(1, 2))
                .reshape([c_out, c_in, 3, 3])
        })
        .collect();
    let kernels = Tensor::cat(parities, 0);
    let bias = bias.map(|b| Tensor::cat(vec![b; 4], 0));
    let out = conv2d(
        x,
        kernels,
        bias,
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    // [n, (p, q, c_out), h, w] -> [n, c_out, h, p, w, q] -> [n, c_out, 2h, 2w]
    out.reshape([n, 2, 2, c_out, h, w])
        .permute([0, 3, 4, 1, 5, 2])
        .reshape([n, c_out, 2 * h, 2 * w])
}

/// Nearest-neighbour upsampling by two, as PyTorch's `Upsample(scale_factor=2)`: what
/// [`upsample2x_conv4`] avoids building, and what its test composes it from; the ResNet
/// generator's upsampling. Tensor operations only, so on every backend.
/// [batch, c, h, w] -> [batch, c, 2h, 2w]
pub fn upsample_nearest2x(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use burn::tensor::ops::PadMode;

    use super::super::conv_check::assert_same;
    use super::*;

    #[test]
    fn equals_upsampling_then_the_padded_convolution() {
        let direct = |x, w, b| {
            let padded = upsample_nearest2x(x).pad([(2, 1), (2, 1)], PadMode::Constant(0.0));
            conv2d(padded, w, b, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
        };
        for (n, c_in, c_out, side) in [(2, 3, 3, 4), (1, 5, 2, 3), (3, 2, 4, 1)] {
            let (x, w) = ([n, c_in, side, side], [c_out, c_in, 4, 4]);
            assert_same(&upsample2x_conv4, &direct, x, w, c_out);
        }
    }
}
