//! Checks on weights that come from outside the process (imported files, checkpoints): every
//! float tensor in the networks' type (f32), and every value finite, so that a bad file is an
//! error naming the tensor rather than a panic deep in a matmul or all-black translations.

use burn::module::{Module, ModuleMapper, Param};
use burn::store::ModuleSnapshot;
use burn::tensor::{DType, Tensor};

/// What [`to_networks_type`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// Tensors that were stored in another float type (e.g. f16, f64) and were converted.
    pub tensors: usize,
    /// The types they had, e.g. `F16`.
    pub from: Vec<String>,
}

impl Converted {
    /// Adds what another conversion found.
    pub fn add(&mut self, other: Converted) {
        self.tensors += other.tensors;
        for from in other.from {
            if !self.from.contains(&from) {
                self.from.push(from);
            }
        }
    }
}

/// Converts every float tensor of `module` to f32, the type the networks compute in.
pub fn to_networks_type<M: Module>(module: M) -> (M, Converted) {
    let mut mapper = ToF32::default();
    let module = module.map(&mut mapper);
    (module, mapper.converted)
}

#[derive(Default)]
struct ToF32 {
    converted: Converted,
}

impl ModuleMapper for ToF32 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = param.val().dtype();
        if dtype == DType::F32 {
            return param;
        }
        self.converted.tensors += 1;
        let name = format!("{dtype:?}");
        if !self.converted.from.contains(&name) {
            self.converted.from.push(name);
        }
        let (id, tensor, mapper) = param.consume();
        let grad = tensor.is_require_grad();
        // Rebuilt from its values rather than cast: on an autodiff device a cast is an operation
        // of the graph, not a leaf, and only leaves train.
        let device = tensor.device();
        let cast = Tensor::from_data(tensor.into_data().convert::<f32>(), &device);
        let cast = if grad { cast.require_grad() } else { cast };
        Param::from_mapped_value(id, cast, mapper)
    }
}

/// Whether `path` names a safetensors file (by its extension, in any case); any other is read
/// as a PyTorch pickle.
pub(crate) fn is_safetensors(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// What is wrong with one tensor of a network's weights.
#[derive(Debug, thiserror::Error)]
pub enum TensorProblem {
    /// Stored in another type than the networks compute in.
    #[error("{tensor}: stored as {dtype}, expected F32")]
    NotF32 {
        /// The tensor's path in the module.
        tensor: String,
        /// Its type.
        dtype: String,
    },
    /// Holds NaN or infinite values.
    #[error("{tensor}: {bad} of {total} values are not finite (NaN or infinite)")]
    NotFinite {
        /// The tensor's path in the module.
        tensor: String,
        /// How many values are not finite.
        bad: usize,
        /// How many values it has.
        total: usize,
    },
    /// Its values could not be read back.
    #[error("{tensor}: cannot be read: {reason}")]
    Unreadable {
        /// The tensor's path in the module.
        tensor: String,
        /// burn's description (its error type has no `Error` implementation).
        reason: String,
    },
}

/// The first tensor of `module` that is not f32 or holds a value that is not finite, e.g.
/// `down1.conv.weight: 3 of 1024 values are not finite (NaN or infinite)`.
pub fn check_finite<M: ModuleSnapshot>(module: &M) -> std::result::Result<(), TensorProblem> {
    for snapshot in module.collect(None, None, false) {
        if snapshot.dtype != DType::F32 {
            return Err(TensorProblem::NotF32 {
                tensor: snapshot.name.clone(),
                dtype: format!("{:?}", snapshot.dtype),
            });
        }
        let values = f32_values(&snapshot)?;
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(TensorProblem::NotFinite {
                tensor: snapshot.name.clone(),
                bad,
                total: values.len(),
            });
        }
    }
    Ok(())
}

/// The values of an f32 tensor snapshot.
fn f32_values(
    snapshot: &burn::store::burn_pack::Tensor,
) -> std::result::Result<Vec<f32>, TensorProblem> {
    let bytes = snapshot.to_bytes().map_err(|e| TensorProblem::Unreadable {
        tensor: snapshot.name.clone(),
        reason: format!("{e:?}"),
    })?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use burn::tensor::{Device, FloatDType};

    fn small() -> ModelConfig {
        ModelConfig {
            width: 2,
            image_size: 32,
            ..ModelConfig::default()
        }
    }

    #[test]
    fn half_precision_weights_become_f32_with_the_same_values() {
        let device = Device::default();
        let g = small().init_generator(&device).unwrap();
        let before = g.collect(None, None, false);
        let half = g.map(&mut CastAll(FloatDType::F16));
        assert!(check_finite(&half).unwrap_err().to_string().contains("F16"));
        let (back, converted) = to_networks_type(half);
        assert!(
            converted.tensors > 0 && converted.from == ["F16"],
            "{converted:?}"
        );
        check_finite(&back).unwrap();
        let after = back.collect(None, None, false);
        for (x, y) in before.iter().zip(&after) {
            let (x, y) = (f32_values(x).unwrap(), f32_values(y).unwrap());
            for (a, b) in x.iter().zip(&y) {
                assert!((a - b).abs() <= 1e-3 * a.abs().max(1e-2), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn a_nan_is_found_and_named() {
        let device = Device::default();
        let g = small().init_generator(&device).unwrap();
        check_finite(&g).unwrap();
        let poisoned = g.map(&mut Poison);
        let err = check_finite(&poisoned).unwrap_err().to_string();
        assert!(err.contains("not finite") && err.contains('.'), "{err}");
    }

    struct CastAll(FloatDType);

    impl ModuleMapper for CastAll {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.cast(self.0), mapper)
        }
    }

    /// Puts one NaN into the first tensor.
    struct Poison;

    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            let nan = tensor.clone().div_scalar(0.0).mul_scalar(0.0);
            Param::from_mapped_value(id, nan, mapper)
        }
    }
}
