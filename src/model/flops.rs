//! The floating-point operations of the networks, counted once from their layers' shapes: each
//! convolution's multiply-adds, two operations each, as PyTorch's `torch.utils.flop_counter`
//! counts them. Norms, activations, losses and the optimiser are left out (as there): a few
//! operations per value against a convolution's hundreds to thousands.
//!
//! The count is of the work the networks define, not of what a kernel executes: a convolution
//! of a nearest-upsampled image counts every product of the upsampled one, as PyTorch computes
//! it, even where `backends/cpu` computes fewer.

use burn::module::Param;
use burn::tensor::Tensor;

/// One network's convolutions for one image, in forward order: each one's multiply-adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Convolutions(Vec<u64>);

/// Which gradients a backward pass through a network computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gradients {
    /// Its parameters' gradients (the network is being trained by this loss).
    pub weights: bool,
    /// The gradient of its input (the input is itself the output of a network being trained,
    /// e.g. a generator's fakes judged by a discriminator).
    pub input: bool,
}

/// The product of `factors`, saturating at `u64::MAX` (no network a machine can train comes
/// near it; a count that did would be a wrong figure, not a panic).
fn product(factors: impl IntoIterator<Item = usize>) -> u64 {
    factors
        .into_iter()
        .fold(1u64, |p, f| p.saturating_mul(f as u64))
}

impl Convolutions {
    /// No layer yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A convolution of `weight` ([c_out, c_in / groups, k_h, k_w]) whose output is
    /// `out_h` x `out_w`: one multiply-add per weight and output position.
    pub fn conv(&mut self, weight: &Param<Tensor<4>>, out_h: usize, out_w: usize) -> &mut Self {
        let dims = weight.val().dims();
        self.0.push(product(dims.into_iter().chain([out_h, out_w])));
        self
    }

    /// A transposed convolution of `weight` ([c_in, c_out / groups, k_h, k_w]) whose input is
    /// `in_h` x `in_w`: one multiply-add per weight and input position.
    pub fn conv_transposed(
        &mut self,
        weight: &Param<Tensor<4>>,
        in_h: usize,
        in_w: usize,
    ) -> &mut Self {
        let dims = weight.val().dims();
        self.0.push(product(dims.into_iter().chain([in_h, in_w])));
        self
    }

    /// The layers' multiply-adds, in forward order.
    pub fn multiply_adds(&self) -> &[u64] {
        &self.0
    }

    /// Operations of a forward pass over one image.
    pub fn forward(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, &m| sum.saturating_add(m))
            .saturating_mul(2)
    }

    /// Operations of a backward pass over one image computing `gradients`. Each gradient of a
    /// layer (of its weights, of its input) costs what its forward does. The first layer's
    /// input gradient is computed only when the network's input needs one; every later
    /// layer's, whenever any gradient is wanted (its input depends on the first layer's
    /// weights).
    pub fn backward(&self, gradients: Gradients) -> u64 {
        let layers = self.forward();
        let first = self.0.first().map_or(0, |m| m.saturating_mul(2));
        let weights = if gradients.weights { layers } else { 0 };
        let inputs = match (gradients.input, gradients.weights) {
            (true, _) => layers,
            (false, true) => layers.saturating_sub(first),
            (false, false) => 0,
        };
        weights.saturating_add(inputs)
    }

    /// Operations of a forward pass over one image and a backward pass computing `gradients`.
    pub fn trained(&self, gradients: Gradients) -> u64 {
        self.forward().saturating_add(self.backward(gradients))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn weight(dims: [usize; 4]) -> Param<Tensor<4>> {
        Param::from_tensor(Tensor::zeros(dims, &Device::default()))
    }

    #[test]
    fn a_convolution_counts_its_weights_times_its_output_positions() {
        let mut c = Convolutions::new();
        // 3 -> 8 channels, 4x4, output 32x32; then a transposed 8 -> 3, input 32x32.
        c.conv(&weight([8, 3, 4, 4]), 32, 32)
            .conv_transposed(&weight([8, 3, 4, 4]), 32, 32);
        assert_eq!(c.multiply_adds(), [8 * 3 * 16 * 1024, 8 * 3 * 16 * 1024]);
        assert_eq!(c.forward(), 2 * 2 * 8 * 3 * 16 * 1024);
    }

    #[test]
    fn the_first_layer_has_an_input_gradient_only_when_its_input_needs_one() {
        let mut c = Convolutions::new();
        c.conv(&weight([1, 1, 1, 1]), 10, 10)
            .conv(&weight([1, 1, 1, 1]), 1, 1);
        let (first, second) = (200, 2);
        let grads = |weights, input| c.backward(Gradients { weights, input });
        assert_eq!(grads(true, false), (first + second) + second);
        assert_eq!(grads(true, true), 2 * (first + second));
        assert_eq!(grads(false, true), first + second);
        assert_eq!(grads(false, false), 0);
    }
}
