//! Plain `f32` buffers in and out of the CPU backend's tensors, for the hand-written operations
//! of [`super::conv4`] and [`super::norm_act`].

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData};

/// `x` with its values in order from the start of its buffer (copied only if they are not).
pub(super) fn contiguous(x: FlexTensor) -> FlexTensor {
    if x.is_contiguous() && x.layout().start_offset() == 0 {
        x
    } else {
        x.to_contiguous()
    }
}

/// The values of an `f32` tensor made [`contiguous`].
pub(super) fn values(x: &FlexTensor) -> &[f32] {
    x.storage::<f32>()
}

/// A tensor of `shape` owning `values` (no copy).
pub(super) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// A tensor shaped as `like` owning `values`.
pub(super) fn tensor_like(like: &FlexTensor, values: Vec<f32>) -> FlexTensor {
    tensor(values, like.layout().shape().clone())
}
