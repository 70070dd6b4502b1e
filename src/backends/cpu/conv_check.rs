//! Test support: compares a convolution written with tensor operations against burn's own, by
//! output and by all three gradients.

use burn::tensor::{Device, Tensor, TensorData};

/// A convolution-shaped function: `(x, weight, bias) -> output`.
pub(super) type ConvFn<'a> = dyn Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4> + 'a;

/// Deterministic values in [-1, 1] (no process-wide random generator: tests run in parallel).
fn values<const D: usize>(shape: [usize; D], salt: usize, device: &Device) -> Tensor<D> {
    let len = shape.iter().product();
    let v: Vec<f32> = (0..len)
        .map(|i| (((i + salt) * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Output, input gradient, weight gradient and bias gradient of `f` on fixed inputs of the
/// given shapes, flattened, under a fixed projection of the output (so that the output
/// elements' gradients differ).
fn run(f: &ConvFn<'_>, x: [usize; 4], w: [usize; 4], c_out: usize) -> [Vec<f32>; 4] {
    let device = Device::flex().autodiff();
    let x = values(x, 1, &device).require_grad();
    let w = values(w, 2, &device).require_grad();
    let b = values([c_out], 3, &device).require_grad();
    let y = f(x.clone(), w.clone(), Some(b.clone()));
    let projection = values(y.dims(), 4, &device);
    let grads = (y.clone() * projection).sum().backward();
    [
        flat(y),
        flat(x.grad(&grads).unwrap()),
        flat(w.grad(&grads).unwrap()),
        flat(b.grad(&grads).unwrap()),
    ]
}

/// Asserts that `ours` and `reference` agree (within 1e-5 of the largest value) on the output
/// and on the gradients of the input (shape `x`), the weight (shape `w`) and the bias (`c_out`).
pub(super) fn assert_same(
    ours: &ConvFn<'_>,
    reference: &ConvFn<'_>,
    x: [usize; 4],
    w: [usize; 4],
    c_out: usize,
) {
    let names = [
        "output",
        "input gradient",
        "weight gradient",
        "bias gradient",
    ];
    let (ours, reference) = (run(ours, x, w, c_out), run(reference, x, w, c_out));
    for ((what, a), b) in names.iter().zip(ours).zip(reference) {
        assert_eq!(a.len(), b.len(), "{what}: size");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            diff <= 1e-5 * scale,
            "{what}: differs by {diff} (scale {scale}), x {x:?}, weight {w:?}"
        );
    }
}
