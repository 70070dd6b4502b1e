//! The ResNet generator's pieces timed apart, forward + backward on the CPU backend, at 64 px
//! and batch 8: each convolution (with its padding), the reflection paddings, the upsampling
//! and InstanceNorm + ReLU, so that the layers worth a fast path show (BENCHMARKS.md, "The
//! ResNet generator"): burn's way and `padded_conv::conv`, what the network runs (which itself
//! takes burn's way above its size limit). PyTorch's side: bench/resnet_layers.py.
//!
//! usage: RAYON_NUM_THREADS=2 cargo run --release --example resnet_layers [WIDTH]

use std::hint::black_box;

use burn::nn::InstanceNormConfig;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Distribution, Tensor};
use discogan::backends::cpu::padded_conv::{self, ConvSpec, Padding};
use discogan::backends::cpu::{instance_norm_act, upsample_nearest2x};

mod timing;
use timing::best_ms;

fn random(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(shape, Distribution::Uniform(-1.0, 1.0), device)
}

fn main() -> anyhow::Result<()> {
    timing::as_the_binary(run)?
}

fn run() -> anyhow::Result<()> {
    let width: usize = std::env::args().nth(1).map_or(Ok(32), |s| s.parse())?;
    let device = Device::flex().autodiff();
    let (n, w) = (8, width);
    let reflect = |x: Tensor<4>, p: usize| x.pad([(p, p), (p, p)], PadMode::Reflect);
    // (name, input [n, c, side, side], output channels, kernel, stride, zero padding,
    // reflection padding, upsampled first, count per generator)
    let convs = [
        ("stem 7x7", 3, 64, w, 7, 1, 0, 3, false, 1),
        ("down 3x3/2", w, 64, 2 * w, 3, 2, 1, 0, false, 1),
        ("down 3x3/2", 2 * w, 32, 4 * w, 3, 2, 1, 0, false, 1),
        ("residual 3x3", 4 * w, 16, 4 * w, 3, 1, 0, 1, false, 12),
        ("up x2 + 3x3", 4 * w, 16, 2 * w, 3, 1, 1, 0, true, 1),
        ("up x2 + 3x3", 2 * w, 32, w, 3, 1, 1, 0, true, 1),
        ("head 7x7", w, 64, 3, 7, 1, 0, 3, false, 1),
    ];
    println!(
        "width {width}, batch {n}, forward + backward (ms): burn's conv alone + its padding or \
         upsampling alone; padded_conv, both in one; x count per generator"
    );
    let (mut total, mut fused_total) = (0.0, 0.0);
    for (name, c_in, side, c_out, k, stride, zero, mirror, up, count) in convs {
        let x = random([n, c_in, side, side], &device).require_grad();
        let weight = (random([c_out, c_in, k, k], &device) * 0.05).require_grad();
        let options = ConvOptions::new([stride, stride], [zero, zero], [1, 1], 1);
        let prepare = |x: Tensor<4>| {
            let x = if up { upsample_nearest2x(x) } else { x };
            if mirror > 0 { reflect(x, mirror) } else { x }
        };
        let input = prepare(x.clone()).detach().require_grad();
        let conv = best_ms(5, || {
            let y = conv2d(input.clone(), weight.clone(), None, options.clone());
            black_box(y.sum().backward());
        });
        let around = if up || mirror > 0 {
            best_ms(5, || {
                black_box(prepare(x.clone()).sum().backward());
            })
        } else {
            0.0
        };
        let spec = ConvSpec {
            upsample: up,
            pad: zero.max(mirror),
            padding: if mirror > 0 {
                Padding::Reflect
            } else {
                Padding::Zero
            },
            stride,
        };
        let fused = best_ms(5, || {
            let y = padded_conv::conv(x.clone(), weight.clone(), None, spec);
            black_box(y.sum().backward());
        });
        total += (conv + around) * count as f64;
        fused_total += fused * count as f64;
        println!(
            "{name} {c_in}->{c_out} at {side}: {conv:.1} + {around:.1}, padded_conv {fused:.1} \
             (x {count})"
        );
    }
    for (c, side, count) in [(w, 64, 2), (2 * w, 32, 2), (4 * w, 16, 13)] {
        let norm = InstanceNormConfig::new(c).with_affine(false).init(&device);
        let x = random([n, c, side, side], &device).require_grad();
        let ms = best_ms(5, || {
            black_box(
                instance_norm_act(x.clone(), &norm, 0.0, None)
                    .sum()
                    .backward(),
            );
        });
        total += ms * count as f64;
        fused_total += ms * count as f64;
        println!("instance norm + ReLU {c} at {side}: {ms:.1} (x {count})");
    }
    println!("sum for one generator: {total:.1} ms; with padded_conv: {fused_total:.1} ms");
    Ok(())
}
