//! The `wgpu` backend (burn's CubeCL path, the one CUDA takes too) against the CPU backend, on
//! whatever adapter `wgpu` finds: on a machine without a GPU, Mesa's lavapipe
//! (`apt-get install mesa-vulkan-drivers`). Built only with `--features wgpu`:
//!
//! ```sh
//! cargo test --features wgpu --test wgpu --test parity          # parity runs on wgpu there
//! cargo test --features wgpu --test wgpu -- --ignored            # the known discrepancy
//! ```
//!
//! (With the feature, `Device::default()` is the wgpu device, so `tests/parity.rs` compares
//! wgpu with PyTorch; see README "GPU" for what passes.)
#![cfg(feature = "wgpu")]

mod common;

use std::collections::BTreeMap;

use burn::optim::GradientsParams;
use burn::tensor::{Device, DeviceKind, Tensor};
use common::{Fixture, named_values_flat};
use discogan::loss;
use discogan::model::{
    Discriminator, Discriminators, Generator, Generators, PatchDiscriminatorConfig,
    UNetGeneratorConfig, load_torch_weights,
};
use discogan::train::gradients_as_module;

/// The gradients of the seed fixture's discriminator loss w.r.t. both discriminators, with both
/// directions translated first (as a training step of the `discogan` variant does), the two
/// halves built D_A's first or D_B's, and summed D_A's first or D_B's.
fn discriminator_gradients(
    device: &Device,
    build_d_a_first: bool,
    sum_d_a_first: bool,
) -> BTreeMap<String, Vec<f32>> {
    let fx = Fixture::open("seed_step");
    let unet = |prefix: &str| {
        let mut net = UNetGeneratorConfig::new(3, 64)
            .with_width(4)
            .with_dropout(0.0)
            .init(device)
            .unwrap();
        load_torch_weights(&mut net, &fx.path, prefix).unwrap();
        Generator::UNet(net)
    };
    let patch = |prefix: &str| {
        let mut net = PatchDiscriminatorConfig::new(3, 64)
            .with_width(4)
            .init(device)
            .unwrap();
        load_torch_weights(&mut net, &fx.path, prefix).unwrap();
        Discriminator::Patch(net)
    };
    let g = Generators {
        g_ab: unet("init.G_AB."),
        g_ba: unet("init.G_BA."),
    };
    let d = Discriminators {
        d_a: patch("init.D_A."),
        d_b: patch("init.D_B."),
    };
    let (a, b) = (fx.tensor4("real_A", device), fx.tensor4("real_B", device));
    let cycle = g.cycle(&a, Some(&b), false);
    let (fake_b, fake_a) = (cycle.fake_b, cycle.fake_a.unwrap());
    let half = |judge: &Discriminator, real: &Tensor<4>, fake: &Tensor<4>| {
        loss::discriminator_half(
            loss::GanLoss::Bce,
            judge.forward(real.clone()).logits,
            judge.forward(fake.clone().detach()).logits,
        )
    };
    let halves = if build_d_a_first {
        let d_a = half(&d.d_a, &a, &fake_a);
        (half(&d.d_b, &b, &fake_b), d_a)
    } else {
        let d_b = half(&d.d_b, &b, &fake_b);
        (d_b, half(&d.d_a, &a, &fake_a))
    };
    let loss_d = if sum_d_a_first {
        (halves.1 + halves.0) / 2.0
    } else {
        (halves.0 + halves.1) / 2.0
    };
    let grads = GradientsParams::from_grads(loss_d.backward(), &d);
    named_values_flat(&gradients_as_module(&d, &grads))
}

/// The largest difference between two sets of gradients, relative to each tensor's largest
/// value (at least 1e-4), and the tensor it is in.
fn worst(cpu: &BTreeMap<String, Vec<f32>>, gpu: &BTreeMap<String, Vec<f32>>) -> (f32, String) {
    let mut worst = (0f32, String::new());
    for (name, x) in cpu {
        let y = &gpu[name];
        let diff = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        let scale = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-4);
        if diff / scale > worst.0 {
            worst = (diff / scale, name.clone());
        }
    }
    worst
}

fn wgpu() -> Device {
    Device::wgpu(DeviceKind::DefaultDevice).autodiff()
}

/// Measured on lavapipe (Mesa 22.3.6 llvmpipe, Vulkan 1.3.230), burn 0.22.1 with its default
/// fusion and autotune (any `CUBECL_AUTOTUNE_LEVEL`, one test thread or two): the value of the
/// loss is the same in every order, but the gradients are right only when D_A's half is both
/// built first and first in the sum. Worst relative difference to the CPU backend, and where:
///
/// | built first | summed first | worst |
/// |---|---|---|
/// | D_B | D_B | 171x, `d_b.head.bias` |
/// | D_B | D_A | 3.9x, `d_a.head.bias` |
/// | D_A | D_B | 16x, `d_b.head.bias` |
/// | D_A | D_A | 1.9e-4, `d_a.blocks.1.conv.bias` (right) |
///
/// The two PatchGANs have the same structure: the one whose subgraph comes second gets a wrong
/// head-bias gradient, which points at burn's operation fusion (its fused-kernel cache) rather
/// than at the kernels; compare tracel-ai/burn#3266 (closed, "Fusioned wgpu returns wrong
/// results") and #4366 (open, "Possible fusion bug"). `reference/`'s order is D_A first and
/// first, but a whole training step still goes wrong further on (`tests/parity.rs`'s
/// `seed_two_iterations_match_reference` on wgpu: `loss_gan` 0.7260 against 0.7294 after the
/// first discriminator update), so no order is chosen to hide it.
#[test]
#[ignore = "burn 0.22.1 wgpu fusion: discriminator gradients depend on the order of the halves"]
fn discriminator_gradients_do_not_depend_on_the_order_of_the_halves() {
    for build_d_a_first in [false, true] {
        for sum_d_a_first in [false, true] {
            let cpu =
                discriminator_gradients(&Device::flex().autodiff(), build_d_a_first, sum_d_a_first);
            let gpu = discriminator_gradients(&wgpu(), build_d_a_first, sum_d_a_first);
            let (diff, name) = worst(&cpu, &gpu);
            assert!(
                diff < 1e-3,
                "built D_A first: {build_d_a_first}, summed D_A first: {sum_d_a_first}: \
                 {name}: relative difference {diff:e}"
            );
        }
    }
}
