//! burn's BatchNorm (training mode) followed by discogan's parallel activation (the paper nets
//! before the fusion) against `discogan::backends::cpu::batch_norm_act_train`, per normalisation of the paper's networks at
//! width 64, 64 px, batch 8 (BENCHMARKS.md): forward + backward (input, weight and bias
//! gradients), best of five runs after one warm-up.
//!
//! usage: RAYON_NUM_THREADS=2 cargo run --release --example batch_norm_layers

use std::hint::black_box;

use burn::tensor::module::batch_norm_train;
use burn::tensor::{Device, Distribution, Tensor};
use discogan::backends::cpu::{batch_norm_act_train, leaky_relu};

mod timing;
use timing::best_ms;

/// Forward and backward of one normalisation + activation, by `fused` or burn's composition.
fn step(inputs: &[Tensor<4>; 1], params: &[Tensor<1>; 2], slope: f64, fused: bool) {
    let [x] = inputs.clone();
    let [weight, bias] = params.clone();
    let out = if fused {
        batch_norm_act_train(x.clone(), weight.clone(), bias.clone(), 1e-5, slope).output
    } else {
        leaky_relu(
            batch_norm_train(x.clone(), weight.clone(), bias.clone(), 1e-5).output,
            slope,
        )
    };
    let grads = out.sum().backward();
    black_box((x.grad(&grads), weight.grad(&grads), bias.grad(&grads)));
}

fn main() -> anyhow::Result<()> {
    timing::as_the_binary(run)
}

fn run() {
    let device = Device::flex().autodiff();
    // (what, shape, slope): the generator's encoder (LeakyReLU 0.2) and decoder (ReLU), the
    // discriminator's blocks (LeakyReLU 0.2).
    let layers = [
        ("G encoder 1", [8, 128, 16, 16], 0.2),
        ("G encoder 2", [8, 256, 8, 8], 0.2),
        ("G encoder 3", [8, 512, 4, 4], 0.2),
        ("G decoder 1", [8, 256, 8, 8], 0.0),
        ("G decoder 2", [8, 128, 16, 16], 0.0),
        ("G decoder 3", [8, 64, 32, 32], 0.0),
        ("D block 1", [8, 128, 16, 16], 0.2),
        ("D block 2", [8, 256, 8, 8], 0.2),
        ("D block 3", [8, 512, 4, 4], 0.2),
    ];
    println!("| layer | shape | burn ms | fused ms | ratio |");
    println!("|---|---|---|---|---|");
    let (mut generator, mut discriminator) = ([0.0; 2], [0.0; 2]);
    for (what, shape, slope) in layers {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let weight = Tensor::<1>::ones([shape[1]], &device).require_grad();
        let bias = Tensor::<1>::zeros([shape[1]], &device).require_grad();
        let (inputs, params) = ([x], [weight, bias]);
        let burn = best_ms(5, || step(&inputs, &params, slope, false));
        let fused = best_ms(5, || step(&inputs, &params, slope, true));
        let total = if what.starts_with('G') {
            &mut generator
        } else {
            &mut discriminator
        };
        total[0] += burn;
        total[1] += fused;
        println!(
            "| {what} | {shape:?} | {burn:.2} | {fused:.2} | {:.1}x |",
            burn / fused
        );
    }
    for (what, [burn, fused]) in [
        ("one generator", generator),
        ("one discriminator", discriminator),
    ] {
        println!(
            "| {what} | | {burn:.2} | {fused:.2} | {:.1}x |",
            burn / fused
        );
    }
}
