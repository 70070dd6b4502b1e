//! The generators' output activations, tanh (U-Net, ResNet) and sigmoid (the paper's), as one
//! parallel pass each way on the CPU backend.
//!
//! burn-flex runs element-wise operations on one thread below 4 M values, and burn's autodiff
//! composes tanh's backward pass from five of them (tanh of the input again, square, negate,
//! add one, multiply): 3.8-5.3 ms forward + backward for a batch of 8 RGB 64 px images, against
//! 1.5 ms here (sigmoid 1.8 against 0.6; 2-core AMD EPYC, BENCHMARKS.md change 17). Both backward passes need only the output (tanh' =
//! 1 - y², sigmoid' = y (1 - y)), which is kept. The formulas are burn-flex's, so the values
//! are the same. Other backends run burn's.

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{Tensor, activation};

use super::buffers::{contiguous, par_map, par_map2, tensor_like, values};
use super::is_cpu_f32;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Squash {
    /// Hyperbolic tangent, into (-1, 1).
    Tanh,
    /// The logistic function, into (0, 1).
    Sigmoid,
}

impl Squash {
    fn apply(self, x: f32) -> f32 {
        match self {
            Squash::Tanh => x.tanh(),
            // burn-flex's form: no overflow of `exp` on either side.
            Squash::Sigmoid if x >= 0.0 => 1.0 / (1.0 + (-x).exp()),
            Squash::Sigmoid => {
                let e = x.exp();
                e / (1.0 + e)
            }
        }
    }

    /// The input gradient from the output gradient `g` at the output `y`, in the order of
    /// burn's operations (so equal to the last bit).
    fn backward(self, g: f32, y: f32) -> f32 {
        match self {
            Squash::Tanh => g * (1.0 - y * y),
            Squash::Sigmoid => g * y * (1.0 - y),
        }
    }
}

/// The operation as a backend extension: implemented for `Flex` and `Autodiff<Flex>`.
#[backend_extension(Flex, Autodiff)]
pub trait SquashBackend: Backend {
    /// `function` of every value of `x`.
    fn squash(x: FloatTensor<Self>, function: Squash) -> FloatTensor<Self>;
}

/// `function` of every value of `x` [n, c, h, w]: one parallel pass each way on the CPU
/// backend, burn's elsewhere.
pub fn squash(x: Tensor<4>, function: Squash) -> Tensor<4> {
    if !is_cpu_f32(&x) {
        return match function {
            Squash::Tanh => activation::tanh(x),
            Squash::Sigmoid => activation::sigmoid(x),
        };
    }
    Tensor::from_dispatch(<Dispatch as SquashBackend>::squash(
        x.into_dispatch(),
        function,
    ))
}

impl SquashBackend for Flex {
    fn squash(x: FlexTensor, function: Squash) -> FlexTensor {
        let x = contiguous(x);
        tensor_like(&x, par_map(&values(&x), |v| function.apply(v)))
    }
}

impl<C: CheckpointStrategy> SquashBackend for Autodiff<Flex, C> {
    fn squash(x: FloatTensor<Self>, function: Squash) -> FloatTensor<Self> {
        match SquashBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = Flex::squash(x.into_primitive(), function);
                // The state shares the output's buffer: no copy.
                prep.finish((out.clone(), function), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::squash(x.into_primitive(), function)),
        }
    }
}

#[derive(Debug)]
struct SquashBackward;

impl Backward<Flex, 1> for SquashBackward {
    /// The output and the function.
    type State = (FlexTensor, Squash);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [parent] = ops.parents;
        if let Some(parent) = parent {
            let (out, function) = ops.state;
            let out = contiguous(out);
            let gx = par_map2(&values(&grad), &values(&out), |g, y| {
                function.backward(g, y)
            });
            grads.register::<Flex>(parent.id, tensor_like(&grad, gx));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    /// Deterministic values spread over about [-scale, scale] (not burn's generator, which the
    /// tests running beside this one draw from too).
    fn values(shape: [usize; 4], salt: f32, scale: f32, device: &Device) -> Tensor<4> {
        let n = shape.iter().product::<usize>();
        let v: Vec<f32> = (0..n)
            .map(|i| scale * ((i as f32 * 0.7548 + salt).sin() * 43758.547).fract())
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    /// Output and input gradient of `f`, weighted by fixed gradients, on the CPU backend with
    /// autodiff.
    fn run(f: impl Fn(Tensor<4>) -> Tensor<4>, shape: [usize; 4]) -> [Vec<f32>; 2] {
        let device = Device::flex().autodiff();
        let x = values(shape, 0.1, 6.0, &device).require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * values(shape, 0.9, 1.0, &device))
            .sum()
            .backward();
        let flat = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        [flat(y), flat(x.grad(&grads).unwrap())]
    }

    #[test]
    fn equals_burns_with_gradients_bit_for_bit() {
        // A size that does not divide the task size, and one with many tasks.
        for shape in [[2, 3, 5, 7], [8, 3, 64, 64]] {
            for (function, burn) in [
                (Squash::Tanh, activation::tanh as fn(Tensor<4>) -> Tensor<4>),
                (Squash::Sigmoid, activation::sigmoid),
            ] {
                let ours = run(|x| squash(x, function), shape);
                let reference = run(burn, shape);
                assert_eq!(ours[0], reference[0], "{function:?} {shape:?}: output");
                assert_eq!(ours[1], reference[1], "{function:?} {shape:?}: gradient");
            }
        }
    }

    #[test]
    fn the_backward_pass_takes_the_saturated_ends_as_burn() {
        // Far out the output is 1 (or 0) exactly and the gradient 0: no NaN from exp's overflow.
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::from_floats([[[[-200.0, -20.0, 0.0, 20.0, 200.0]]]], &device)
            .require_grad();
        for function in [Squash::Tanh, Squash::Sigmoid] {
            let y = squash(x.clone(), function);
            let grads = y.clone().sum().backward();
            let gx = x
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let y = y.into_data().try_to_vec::<f32>().unwrap();
            assert!(
                y.iter().chain(&gx).all(|v| v.is_finite()),
                "{function:?}: {y:?} {gx:?}"
            );
            assert_eq!(gx[0], 0.0, "{function:?}");
            assert_eq!(gx[4], 0.0, "{function:?}");
        }
    }
}
