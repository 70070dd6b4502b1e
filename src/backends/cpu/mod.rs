//! The `flex` (CPU) backend's hand-written operations: the 4x4 stride-2 convolutions
//! ([`conv4`]), InstanceNorm + activation (+ dropout) ([`norm_act`]), the U-Net's head
//! ([`upsample2x_conv4`]), BatchNorm + activation ([`batch_norm_act_train`],
//! [`batch_norm_act_eval`]), the generators' output activations ([`squash`]), the ResNet's
//! convolutions with their padding or upsampling ([`padded_conv`]) and Adam in one pass
//! ([`FusedAdam`]); the convolutions' matrix products call the `gemm` crate into buffers of
//! their own (`gemm.rs`); element-wise maps are `buffers.rs`'s. Each checks whether its fast
//! path applies (`f32` tensors on `flex`) and otherwise composes burn's operations, so every
//! other backend (wgpu, cuda) runs burn's.

mod adam;
mod batch_norm;
mod buffers;
pub mod conv4;
#[cfg(test)]
mod conv_check;
mod gemm;
mod norm_act;
pub mod padded_conv;
mod squash;
mod upsample_conv;

pub use adam::FusedAdam;
pub use batch_norm::{BatchNormActOutput, batch_norm_act_eval, batch_norm_act_train};
pub use norm_act::{instance_norm_act, leaky_relu};
pub use squash::{Squash, squash};
pub use upsample_conv::{upsample_nearest2x, upsample2x_conv4};

use burn::tensor::{DType, Device, Tensor};

/// Whether `x` takes the fast paths: `f32` on the `flex` backend, with or without autodiff.
fn is_cpu_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device().without_autodiff() == Device::flex()
}
