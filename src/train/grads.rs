//! Gradients viewed as a module, so that they can be named, saved and compared like weights.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

struct GradientMapper<'a> {
    grads: &'a GradientsParams,
}

impl ModuleMapper for GradientMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // Tensors without a gradient (running statistics, frozen parameters) are returned
        // untouched: running statistics live behind a lock shared by every clone of the module,
        // so writing anything else into them would change the original module too.
        match self.grads.get::<D>(param.id) {
            Some(grad) => Param::initialized(param.id, grad.detach()),
            None => param,
        }
    }
}

/// A copy of `module` whose parameters hold their gradients in `grads` instead of their values.
/// Tensors that `grads` has no gradient for (running statistics, frozen parameters) keep their
/// values.
pub fn gradients_as_module<M: Module>(module: &M, grads: &GradientsParams) -> M {
    module.clone().map(&mut GradientMapper { grads })
}
