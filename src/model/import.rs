//! Import of PyTorch-trained weights (`.safetensors` or `.pth` state dicts) by key remapping.
//!
//! Each network lists its PyTorch state-dict prefixes next to its burn module paths
//! (`torch_names`); the import turns that table into burn-store's regex key remapping, behind an
//! optional prefix (e.g. `G_AB.` when one file holds several networks).

use std::path::Path;

use burn::store::{KeyRemapper, ModuleSnapshot, PytorchStore, SafetensorsStore};

use super::weights::{Converted, check_finite, is_safetensors, to_networks_type};
use super::{
    PaperDiscriminator, PaperGenerator, PatchDiscriminator, ResNetGenerator, UNetGenerator,
};
use crate::error::{Error, Result};

/// A network whose parameters can be named as in the PyTorch reference.
pub trait TorchImport: ModuleSnapshot + burn::module::Module {
    /// (PyTorch state-dict prefix, burn module path prefix) for every parameterised layer.
    fn torch_names(&self) -> Vec<(String, String)>;
}

impl TorchImport for UNetGenerator {
    fn torch_names(&self) -> Vec<(String, String)> {
        UNetGenerator::torch_names(self)
    }
}

impl TorchImport for ResNetGenerator {
    fn torch_names(&self) -> Vec<(String, String)> {
        ResNetGenerator::torch_names(self)
    }
}

impl TorchImport for PatchDiscriminator {
    fn torch_names(&self) -> Vec<(String, String)> {
        PatchDiscriminator::torch_names(self)
    }
}

impl TorchImport for PaperGenerator {
    fn torch_names(&self) -> Vec<(String, String)> {
        PaperGenerator::torch_names(self)
    }
}

impl TorchImport for PaperDiscriminator {
    fn torch_names(&self) -> Vec<(String, String)> {
        PaperDiscriminator::torch_names(self)
    }
}

/// The key remapping from PyTorch names (behind `prefix`) to `module`'s paths.
fn remapper<M: TorchImport>(module: &M, prefix: &str, path: &Path) -> Result<KeyRemapper> {
    let mut patterns = Vec::new();
    if !prefix.is_empty() {
        patterns.push((format!("^{}", regex_escape(prefix)), String::new()));
    }
    for (torch, burn) in module.torch_names() {
        patterns.push((format!("^{}", regex_escape(&torch)), burn));
    }
    // (burn-store's regex has no `std::error::Error` implementation to keep as a source.)
    KeyRemapper::from_pattern_iter(patterns)
        .map_err(|e| Error::weights(path, format!("the names under `{prefix}`: {e}")))
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Loads the PyTorch weights stored under `prefix` in `path` into `module`.
///
/// `.safetensors` files and PyTorch pickles (`.pth`, `.pt`, `.bin`) are read. Every parameter of
/// `module` must be present with its shape; extra tensors in the file are ignored (a file may
/// hold several networks, inputs or running-statistic counters). Tensors stored in another
/// float type (f16, bf16, f64) are converted to f32, and a value that is not finite is an
/// error naming its tensor. Returns what was converted.
pub fn load_torch_weights<M: TorchImport>(
    module: &mut M,
    path: &Path,
    prefix: &str,
) -> Result<Converted> {
    if !path.is_file() {
        return Err(Error::weights(path, "no such file"));
    }
    let remap = remapper(module, prefix, path)?;
    let reading = format!("cannot read the tensors under `{prefix}`");
    let applied = if is_safetensors(path) {
        let mut store = SafetensorsStore::from_file(path).remap(remap);
        module
            .load_from(&mut store)
            .map_err(|e| Error::weights_from(path, reading, e))?
    } else {
        let mut store = PytorchStore::from_file(path).remap(remap);
        module
            .load_from(&mut store)
            .map_err(|e| Error::weights_from(path, reading, e))?
    };
    if !applied.errors.is_empty() {
        let errors: Vec<String> = applied.errors.iter().map(ToString::to_string).collect();
        return Err(Error::weights(path, errors.join("; ")));
    }
    if applied.applied.is_empty() {
        return Err(Error::weights(
            path,
            format!("no tensor under the prefix `{prefix}` fits the network"),
        ));
    }
    let (converted, conversions) = to_networks_type(module.clone());
    check_finite(&converted)
        .map_err(|problem| Error::weights(path, format!("{prefix}{problem}")))?;
    *module = converted;
    Ok(conversions)
}

/// Whether the weights file `path` holds any tensor whose name starts with `prefix`.
fn has_prefix(path: &Path, prefix: &str) -> Result<bool> {
    use burn::store::ModuleStore;
    let listing = "cannot list the tensors";
    let keys = if is_safetensors(path) {
        SafetensorsStore::from_file(path)
            .keys()
            .map_err(|e| Error::weights_from(path, listing, e))?
    } else {
        PytorchStore::from_file(path)
            .keys()
            .map_err(|e| Error::weights_from(path, listing, e))?
    };
    Ok(keys.iter().any(|k| k.starts_with(prefix)))
}

fn load_generator(g: &mut super::Generator, path: &Path, prefix: &str) -> Result<Converted> {
    match g {
        super::Generator::UNet(n) => load_torch_weights(n, path, prefix),
        super::Generator::ResNet(n) => load_torch_weights(n, path, prefix),
        super::Generator::Paper(n) => load_torch_weights(n, path, prefix),
    }
}

fn load_discriminator(
    d: &mut super::Discriminator,
    path: &Path,
    prefix: &str,
) -> Result<Converted> {
    match d {
        super::Discriminator::Patch(n) => load_torch_weights(n, path, prefix),
        super::Discriminator::Paper(n) => load_torch_weights(n, path, prefix),
    }
}

/// Networks of `config` with the PyTorch weights of `path`, stored under the prefixes `G_AB.`,
/// `G_BA.`, `D_A.` and `D_B.` (as [`export_torch`](super::export_torch) writes them). The
/// generators must be there; discriminators missing from the file keep their fresh
/// initialisation.
pub fn import_torch(
    config: &super::ModelConfig,
    path: &Path,
    device: &burn::tensor::Device,
) -> Result<Imported> {
    let mut generators = config.init_generators(device)?;
    let mut converted = load_generator(&mut generators.g_ab, path, "G_AB.")?;
    converted.add(load_generator(&mut generators.g_ba, path, "G_BA.")?);
    let mut discriminators = config.init_discriminators(device)?;
    // Absent discriminators are initialised afresh; present ones must load (a bad one is an
    // error, not silently replaced).
    let with_discriminators = has_prefix(path, "D_A.")? || has_prefix(path, "D_B.")?;
    if with_discriminators {
        converted.add(load_discriminator(&mut discriminators.d_a, path, "D_A.")?);
        converted.add(load_discriminator(&mut discriminators.d_b, path, "D_B.")?);
    }
    Ok(Imported {
        generators,
        discriminators,
        with_discriminators,
        converted,
    })
}

/// The networks [`import_torch`] read.
pub struct Imported {
    /// G_AB and G_BA.
    pub generators: super::Generators,
    /// D_A and D_B: from the file, or fresh when it has none.
    pub discriminators: super::Discriminators,
    /// Whether the discriminators came from the file.
    pub with_discriminators: bool,
    /// Tensors converted to f32 from another float type.
    pub converted: Converted,
}
