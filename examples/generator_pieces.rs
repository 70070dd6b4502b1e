//! One U-Net generator's training pieces timed apart (BENCHMARKS.md, changes 6 and 9): forward
//! in inference and in training mode, forward + backward, and the Adam step.
//!
//! usage: RAYON_NUM_THREADS=2 cargo run --release --example generator_pieces [WIDTH] [fused|burn]
//! PyTorch's side: bench/generator_pieces.py.

use std::hint::black_box;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Tensor};
use discogan::backends::cpu::FusedAdam;
use discogan::config::OptimizerConfig;
use discogan::model::UNetGeneratorConfig;

mod timing;
use timing::best_ms;

fn main() -> anyhow::Result<()> {
    // The binary's allocator settings: what is timed is what `discogan` runs.
    discogan::malloc::tune();
    let mut args = std::env::args().skip(1);
    let width: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let burn_adam = args.next().as_deref() == Some("burn");
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let g = UNetGeneratorConfig::new(3, 64)
        .with_width(width)
        .init(&device)?;
    let x = Tensor::<4>::random([8, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &device);
    let inference = g.valid();
    let x_plain = Tensor::<4>::random([8, 3, 64, 64], Distribution::Uniform(-1.0, 1.0), &plain);
    let forward_inference = best_ms(4, || {
        black_box(inference.forward(x_plain.clone()));
    });
    let forward_training = best_ms(4, || {
        black_box(g.forward(x.clone()));
    });
    let forward_backward = best_ms(4, || {
        black_box(g.forward(x.clone()).mean().backward());
    });
    let mut optim = if burn_adam {
        AdamConfig::new().with_epsilon(1e-8).init()
    } else {
        {
            let o = OptimizerConfig::default();
            ModuleOptimizer::from(FusedAdam::new(o.beta1, o.beta2, o.epsilon, o.weight_decay))
        }
    };
    // As the trainer does: the optimiser owns the module, so parameters update in place.
    let mut g = g;
    let mut adam = f64::INFINITY;
    for _ in 0..5 {
        let grads = GradientsParams::from_grads(g.forward(x.clone()).mean().backward(), &g);
        let start = Instant::now();
        g = optim.step(2e-4, g, grads);
        adam = adam.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "params {}, forward inference {forward_inference:.1} ms, forward training \
         {forward_training:.1} ms, forward+backward {forward_backward:.1} ms, adam {adam:.1} ms",
        g.num_params()
    );
    Ok(())
}
