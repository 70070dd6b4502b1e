//! Data parallelism: each of several devices trains a replica of the networks on its slice of
//! the batch, and one optimiser step is applied to the sum of their gradients.
//!
//! This is burn-train's multi-device strategy with the optimiser on the main device
//! (`MultiDeviceOptim::OptimMainDevice`), built from the same burn pieces: [`Module::fork`] for
//! the replicas, [`GradientsParams::to_device`] to bring their gradients to the main device, and
//! [`GradientsAccumulator`] to sum them. The networks, the optimisers' state and the moving
//! average live on the first device only, so checkpoints do not depend on the device count.
//!
//! Each slice's loss is weighted by its share of the batch, so for losses that average over the
//! batch the summed gradient is the whole batch's. What is not per image differs, as in PyTorch's
//! `DataParallel`: BatchNorm normalises each slice with that slice's statistics, and keeps the
//! running statistics of the first device's slice (the other replicas' are dropped with them);
//! the paper objective's feature matching compares the batch means of each slice. The U-Net and
//! PatchGAN use InstanceNorm, which is per image: there, several devices compute what one does.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// The devices a trainer runs on: the first holds the networks and the optimisers' state, and
/// every device (the first included) trains on a slice of each batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Devices(Vec<Device>);

impl Devices {
    /// One device: no replicas.
    pub fn one(device: &Device) -> Self {
        Self(vec![device.clone()])
    }

    /// `devices`, in order (the same device may be named twice: two replicas share it). Fails
    /// when there are none, or more than the images of a batch (`batch_size`).
    pub fn new(devices: Vec<Device>, batch_size: usize) -> Result<Self> {
        if devices.is_empty() {
            return Err(Error::config("devices", "name at least one device"));
        }
        if devices.len() > batch_size {
            return Err(Error::config(
                "train.batch_size",
                format!(
                    "a batch of {batch_size} cannot be split over {} devices: each needs at \
                     least one image",
                    devices.len()
                ),
            ));
        }
        Ok(Self(devices))
    }

    /// The device of the networks and the optimisers.
    pub fn main(&self) -> &Device {
        &self.0[0]
    }

    /// Every device, the main one first.
    pub fn all(&self) -> &[Device] {
        &self.0
    }

    /// How many replicas train (the main networks count as the first).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: there is always the main device.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits a batch of each domain ([batch, channels, h, w], on the main device) into one
    /// slice per device, as even as can be (the first slices one image larger), each moved to
    /// its device. A batch smaller than the device count leaves the last devices idle. Each
    /// slice's loss weighs its share of the A batch: exact when the two batches have the same
    /// size, as every batch of `train` does.
    pub(crate) fn shard(&self, real_a: Tensor<4>, real_b: Tensor<4>) -> Vec<Shard> {
        let (batch_a, batch_b) = (real_a.dims()[0], real_b.dims()[0]);
        let n = self.0.len().min(batch_a).min(batch_b).max(1);
        if n == 1 {
            return vec![Shard {
                real_a,
                real_b,
                first: 0,
                weight: None,
            }];
        }
        self.0
            .iter()
            .zip(slices(batch_a, n).into_iter().zip(slices(batch_b, n)))
            .map(|(device, ((start_a, len_a), (start_b, len_b)))| {
                // `first` keys per-image random draws of both domains (DiffAugment): the same
                // index for both, as `train`'s batches are always of one size.
                debug_assert!(batch_a != batch_b || start_a == start_b);
                Shard {
                    real_a: real_a.clone().narrow(0, start_a, len_a).to_device(device),
                    real_b: real_b.clone().narrow(0, start_b, len_b).to_device(device),
                    first: start_a,
                    weight: Some(len_a as f32 / batch_a as f32),
                }
            })
            .collect()
    }

    /// A replica of `module` for each of the `slices` first devices but the first (whose
    /// networks are the trained ones themselves), with parameters of the same ids (so gradients
    /// line up) and running statistics of its own (so that its forward passes leave the trained
    /// networks' alone). None for one slice.
    pub(crate) fn replicate<M: Module>(&self, module: &M, slices: usize) -> Vec<M> {
        // `valid()` gives the running statistics fresh storage (a plain `clone` or `fork` shares
        // it with the original, through an `Arc`); `train()` restores autodiff and the training
        // flags; `fork` makes each parameter a leaf of the replica's own graph on its device.
        self.0[1..slices.max(1)]
            .iter()
            .map(|device| module.valid().train().fork(device))
            .collect()
    }

    /// The gradient of the sum of `losses` (one per slice, each computed with that slice's
    /// replica) with respect to `main`'s parameters, on the main device: each replica's
    /// gradients are brought there and added in device order.
    pub(crate) fn gradients<M: Module>(
        &self,
        main: &M,
        mut losses: Vec<(Tensor<1>, &M)>,
    ) -> GradientsParams {
        if losses.len() == 1 {
            let (loss, replica) = losses.remove(0);
            return GradientsParams::from_grads(loss.backward(), replica);
        }
        let mut accumulator = GradientsAccumulator::<M>::new();
        for (loss, replica) in losses {
            let grads = GradientsParams::from_grads(loss.backward(), replica);
            accumulator.accumulate(main, grads.to_device(self.main(), main));
        }
        accumulator.grads()
    }
}

/// One device's part of an iteration: its images and the weight of its loss.
pub(crate) struct Shard {
    /// [batch / devices, channels, h, w], on the device.
    pub real_a: Tensor<4>,
    /// [batch / devices, channels, h, w], on the device.
    pub real_b: Tensor<4>,
    /// The index of the slice's first image in the whole batch (what per-image random draws
    /// are keyed by, so that a split batch draws as the whole one).
    pub first: usize,
    /// The slice's share of the batch, by which its loss is multiplied; `None` on one device.
    pub weight: Option<f32>,
}

impl Shard {
    /// `loss` weighted by this slice's share of the batch.
    pub fn weigh(&self, loss: Tensor<1>) -> Tensor<1> {
        match self.weight {
            Some(weight) => loss * weight,
            None => loss,
        }
    }
}

/// `n` contiguous (start, length) ranges covering `0..len`, the first `len % n` one longer.
fn slices(len: usize, n: usize) -> Vec<(usize, usize)> {
    let (base, extra) = (len / n, len % n);
    let mut start = 0;
    (0..n)
        .map(|i| {
            let size = base + usize::from(i < extra);
            let range = (start, size);
            start += size;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_batch_evenly() {
        assert_eq!(slices(8, 2), vec![(0, 4), (4, 4)]);
        assert_eq!(slices(7, 3), vec![(0, 3), (3, 2), (5, 2)]);
        assert_eq!(slices(2, 2), vec![(0, 1), (1, 1)]);
    }

    #[test]
    fn a_batch_smaller_than_the_devices_is_refused() {
        let flex = Device::flex();
        let err = Devices::new(vec![flex.clone(); 3], 2).unwrap_err();
        assert!(err.to_string().contains("train.batch_size"), "{err}");
        assert!(Devices::new(Vec::new(), 8).is_err());
        assert_eq!(Devices::new(vec![flex.clone(); 2], 2).unwrap().len(), 2);
    }
}
