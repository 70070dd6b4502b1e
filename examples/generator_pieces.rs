//! One generator's and one discriminator's training pieces timed apart (BENCHMARKS.md, changes
//! 6 and 9, and the paper networks of 2026-12-07): forward in inference and in training mode,
//! forward + backward (of the output's mean), and the Adam step, best of four after a warm-up.
//!
//! usage: RAYON_NUM_THREADS=2 cargo run --release --example generator_pieces [WIDTH] [fused|burn]
//!        [unet|resnet|paper]
//! PyTorch's side: bench/generator_pieces.py, with the same WIDTH and architecture.

use std::hint::black_box;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Distribution, Tensor};
use discogan::backends::cpu::FusedAdam;
use discogan::config::OptimizerConfig;
use discogan::model::{Architecture, ModelConfig};

mod timing;
use timing::best_ms;

fn main() -> anyhow::Result<()> {
    timing::as_the_binary(run)?
}

/// The four timings of one network, in milliseconds.
struct Pieces {
    forward_inference: f64,
    forward_training: f64,
    forward_backward: f64,
    adam: f64,
    params: usize,
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let width: usize = args.next().map_or(Ok(64), |s| s.parse())?;
    let burn_adam = args.next().as_deref() == Some("burn");
    let architecture = match args.next().as_deref() {
        None | Some("unet") => Architecture::Unet,
        Some("resnet") => Architecture::Resnet,
        Some("paper") => Architecture::Paper,
        Some(other) => anyhow::bail!("unknown architecture {other}: unet, resnet or paper"),
    };
    let config = ModelConfig {
        architecture,
        width,
        ..ModelConfig::default()
    };
    config.validate()?;
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let (lo, hi) = architecture.pixel_range();
    let pixels = Distribution::Uniform(f64::from(lo), f64::from(hi));
    let x = Tensor::<4>::random([8, 3, 64, 64], pixels, &device);
    let x_plain = Tensor::<4>::random([8, 3, 64, 64], pixels, &plain);
    let optimizer = || {
        if burn_adam {
            AdamConfig::new().with_epsilon(1e-8).init()
        } else {
            let o = OptimizerConfig::default();
            ModuleOptimizer::from(FusedAdam::new(o.beta1, o.beta2, o.epsilon, o.weight_decay))
        }
    };

    let g = config.init_generator(&device)?;
    let inference = g.valid();
    let generator = Pieces {
        params: g.num_params(),
        forward_inference: best_ms(4, || {
            black_box(inference.forward(x_plain.clone()));
        }),
        forward_training: best_ms(4, || {
            black_box(g.forward(x.clone()));
        }),
        forward_backward: best_ms(4, || {
            black_box(g.forward(x.clone()).mean().backward());
        }),
        adam: adam_ms(g, optimizer(), |g| g.forward(x.clone()).mean()),
    };
    print("generator", &generator);

    let d = config.init_discriminator(&device)?;
    let inference = d.valid();
    let discriminator = Pieces {
        params: d.num_params(),
        forward_inference: best_ms(4, || {
            black_box(inference.forward(x_plain.clone()).logits);
        }),
        forward_training: best_ms(4, || {
            black_box(d.forward(x.clone()).logits);
        }),
        forward_backward: best_ms(4, || {
            black_box(d.forward(x.clone()).logits.mean().backward());
        }),
        adam: adam_ms(d, optimizer(), |d| d.forward(x.clone()).logits.mean()),
    };
    print("discriminator", &discriminator);
    Ok(())
}

/// The fastest of five Adam steps of `module` on the gradients of `loss`, in milliseconds. As
/// the trainer does: the optimiser owns the module, so parameters update in place.
fn adam_ms<M: Module>(
    mut module: M,
    mut optim: ModuleOptimizer,
    loss: impl Fn(&M) -> Tensor<1>,
) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let grads = GradientsParams::from_grads(loss(&module).backward(), &module);
        let start = Instant::now();
        module = optim.step(2e-4, module, grads);
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    best
}

fn print(network: &str, p: &Pieces) {
    println!(
        "{network}: params {}, forward inference {:.1} ms, forward training {:.1} ms, \
         forward+backward {:.1} ms, adam {:.1} ms",
        p.params, p.forward_inference, p.forward_training, p.forward_backward, p.adam
    );
}
