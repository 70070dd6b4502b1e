//! burn's convolutions against `discogan::backends::cpu::conv4`'s, per layer of a width-64 U-Net at 64 px,
//! batch 8 (BENCHMARKS.md, change 12): forward, and forward + backward. (Change 8's table came
//! from this program's version of commit 23e0dfc, which timed the since removed batched form.)
//!
//! usage: RAYON_NUM_THREADS=2 cargo run --release --example conv_layers [unet|paper]
//! (`paper`: the paper generator's eight layers, without bias). PyTorch's side:
//! bench/conv_layers.py.

use std::hint::black_box;

use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};
use discogan::backends::cpu::conv4;

mod timing;
use timing::best_ms;

type Conv = fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>;

fn burn_conv(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>) -> Tensor<4> {
    conv2d(x, w, b, ConvOptions::new([2, 2], [1, 1], [1, 1], 1))
}

fn burn_conv_transpose(x: Tensor<4>, w: Tensor<4>, b: Option<Tensor<1>>) -> Tensor<4> {
    let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
    conv_transpose2d(x, w, b, options)
}

fn main() -> anyhow::Result<()> {
    timing::as_the_binary(run)?
}

fn run() -> anyhow::Result<()> {
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let paper = match std::env::args().nth(1).as_deref() {
        None | Some("unet") => false,
        Some("paper") => true,
        Some(other) => anyhow::bail!("unknown networks {other}: unet or paper"),
    };
    // (layer, in channels, out channels, input side, transposed)
    let layers: &[(&str, usize, usize, usize, bool)] = if paper {
        // The paper generator's eight (its discriminator's first four are the same downs).
        &[
            ("down 1", 3, 64, 64, false),
            ("down 2", 64, 128, 32, false),
            ("down 3", 128, 256, 16, false),
            ("down 4", 256, 512, 8, false),
            ("up 1", 512, 256, 4, true),
            ("up 2", 256, 128, 8, true),
            ("up 3", 128, 64, 16, true),
            ("up 4", 64, 3, 32, true),
        ]
    } else {
        &[
            ("down 1", 3, 64, 64, false),
            ("down 2", 64, 128, 32, false),
            ("down 3", 128, 256, 16, false),
            ("down 4", 256, 512, 8, false),
            ("down 5", 512, 512, 4, false),
            ("down 6", 512, 512, 2, false),
            ("up 1", 512, 512, 1, true),
            ("up 2", 1024, 512, 2, true),
            ("up 3", 1024, 256, 4, true),
            ("up 4", 512, 128, 8, true),
            ("up 5", 256, 64, 16, true),
        ]
    };
    println!(
        "layer, burn forward, conv4 forward, burn forward+backward, conv4 forward+backward (ms)"
    );
    for &(name, c_in, c_out, side, transposed) in layers {
        let (convs, weight): ([Conv; 2], [usize; 4]) = if transposed {
            (
                [burn_conv_transpose, conv4::conv_transpose],
                [c_in, c_out, 4, 4],
            )
        } else {
            ([burn_conv, conv4::conv], [c_out, c_in, 4, 4])
        };
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([8, c_in, side, side], normal, &plain);
        let w = Tensor::<4>::random(weight, normal, &plain);
        // The paper's convolutions have no bias.
        let b = (!paper).then(|| Tensor::<1>::random([c_out], normal, &plain));
        let mut row = Vec::new();
        for conv in convs {
            row.push(best_ms(5, || {
                black_box(conv(x.clone(), w.clone(), b.clone()).into_data());
            }));
        }
        let xa = Tensor::<4>::from_data(x.to_data(), &device).require_grad();
        let wa = Tensor::<4>::from_data(w.to_data(), &device).require_grad();
        let ba = b
            .as_ref()
            .map(|b| Tensor::<1>::from_data(b.to_data(), &device).require_grad());
        for conv in convs {
            row.push(best_ms(5, || {
                let y = conv(xa.clone(), wa.clone(), ba.clone());
                black_box((y.clone() * y).sum().backward());
            }));
        }
        println!(
            "{name}, {:.2}, {:.2}, {:.2}, {:.2}",
            row[0], row[1], row[2], row[3]
        );
    }
    Ok(())
}
