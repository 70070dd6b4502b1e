//! Helpers shared by the integration tests: fixture access and tolerance checks.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

/// A comparison of one named tensor: (name, actual, expected).
pub type Check<'a> = dyn FnMut(&str, &[f32], &[f32]) + 'a;

/// Path of a parity fixture in the repository: the one built from, or `DISCOGAN_REPO` (a test
/// binary carried to another machine, `bench/gpu.sh`).
pub fn fixture_path(name: &str) -> PathBuf {
    std::env::var_os("DISCOGAN_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("tests/fixtures/parity")
        .join(format!("{name}.safetensors"))
}

/// A fixture file, read once.
pub struct Fixture {
    pub path: PathBuf,
    bytes: Vec<u8>,
}

impl Fixture {
    pub fn open(name: &str) -> Self {
        let path = fixture_path(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { path, bytes }
    }

    /// The values and shape of tensor `name`.
    pub fn values(&self, name: &str) -> (Vec<f32>, Vec<usize>) {
        let st = SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let view = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("{} has no tensor {name}", self.path.display()));
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (values, view.shape().to_vec())
    }

    pub fn scalar(&self, name: &str) -> f32 {
        self.values(name).0[0]
    }

    pub fn tensor4(&self, name: &str, device: &Device) -> Tensor<4> {
        let (values, shape) = self.values(name);
        let shape: [usize; 4] = shape.try_into().expect("a 4-d tensor");
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

pub fn values_of(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Largest |a - b| over the elements, and the largest |b|.
pub fn max_diff(actual: &[f32], expected: &[f32]) -> (f32, f32) {
    assert_eq!(actual.len(), expected.len(), "element counts differ");
    let diff = actual
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let scale = expected.iter().map(|b| b.abs()).fold(0.0f32, f32::max);
    (diff, scale)
}

/// Outputs: within 1e-4 relative to the tensor's largest magnitude.
pub fn assert_output_close(what: &str, actual: &[f32], expected: &[f32]) {
    let (diff, scale) = max_diff(actual, expected);
    assert!(
        diff <= 1e-4 * scale.max(1e-6),
        "{what}: max |diff| {diff:e} exceeds 1e-4 x {scale:e}"
    );
}

/// Losses: within 1e-4 relative.
pub fn assert_loss_close(what: &str, actual: f32, expected: f32) {
    assert!(
        (actual - expected).abs() <= 1e-4 * expected.abs().max(1e-6),
        "{what}: {actual} vs reference {expected}"
    );
}

/// Gradients: within 1e-3 x max(largest |grad| of that tensor, `floor`) (MANIFEST.md: 1e-4,
/// and 1e-3 for the ResNet fixtures, whose zero gradients show as noise up to 4e-7).
pub fn assert_grad_close(what: &str, actual: &[f32], expected: &[f32], floor: f32) {
    let (diff, scale) = max_diff(actual, expected);
    assert!(
        diff <= 1e-3 * scale.max(floor),
        "{what}: max |diff| {diff:e} exceeds 1e-3 x max({scale:e}, {floor:e})"
    );
}

impl Fixture {
    /// Names of the fixture's tensors that start with `prefix`.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let st = SafeTensors::deserialize(&self.bytes).expect("valid safetensors");
        let mut keys: Vec<String> = st
            .names()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .map(|k| k.to_string())
            .collect();
        keys.sort();
        keys
    }

    /// Checks every fixture tensor under `fixture_prefix` against `actual` (burn path -> values,
    /// under `actual_prefix`), translating names with a network's `torch_names` table. Tensors
    /// whose PyTorch name ends in `skip_suffix` (e.g. `num_batches_tracked`) are not compared.
    /// Returns the number of tensors compared.
    pub fn check_named(
        &self,
        fixture_prefix: &str,
        actual: &BTreeMap<String, Vec<f32>>,
        actual_prefix: &str,
        torch_names: &[(String, String)],
        check: &mut Check<'_>,
    ) -> usize {
        let mut compared = 0;
        for key in self.keys_with_prefix(fixture_prefix) {
            if key.ends_with("num_batches_tracked") {
                continue;
            }
            let torch = &key[fixture_prefix.len()..];
            let (from, to) = torch_names
                .iter()
                .find(|(from, _)| torch.starts_with(from.as_str()))
                .unwrap_or_else(|| panic!("no burn name for {key}"));
            let burn = format!("{actual_prefix}{to}{}", &torch[from.len()..]);
            let values = actual
                .get(&burn)
                .unwrap_or_else(|| panic!("{key}: no tensor {burn} in {:?}", actual.keys()));
            check(&key, values, &self.values(&key).0);
            compared += 1;
        }
        assert!(compared > 0, "no tensor under {fixture_prefix}");
        compared
    }
}

/// Every float tensor of a module by burn path, enum variants left out of the path.
pub fn named_values_flat<M: ModuleSnapshot>(module: &M) -> BTreeMap<String, Vec<f32>> {
    module
        .collect(None, None, true)
        .into_iter()
        .map(|t| {
            let bytes = t.to_bytes().expect("tensor bytes");
            let values = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (t.name.clone(), values)
        })
        .collect()
}
