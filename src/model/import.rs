//! Import of PyTorch-trained weights (`.safetensors` or `.pth` state dicts) by key remapping.
//!
//! Each network lists its PyTorch state-dict prefixes next to its burn module paths
//! (`torch_names`); the import turns that table into burn-store's regex key remapping, behind an
//! optional prefix (e.g. `G_AB.` when one file holds several networks).

use std::path::Path;

use burn::store::{KeyRemapper, ModuleSnapshot, PytorchStore, SafetensorsStore};

use super::{PaperDiscriminator, PaperGenerator, PatchDiscriminator, UNetGenerator};
use crate::error::{Error, Result};

/// A network whose parameters can be named as in the PyTorch reference.
pub trait TorchImport: ModuleSnapshot {
    /// (PyTorch state-dict prefix, burn module path prefix) for every parameterised layer.
    fn torch_names(&self) -> Vec<(String, String)>;
}

impl TorchImport for UNetGenerator {
    fn torch_names(&self) -> Vec<(String, String)> {
        UNetGenerator::torch_names(self)
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
fn remapper<M: TorchImport>(module: &M, prefix: &str) -> std::result::Result<KeyRemapper, String> {
    let mut patterns = Vec::new();
    if !prefix.is_empty() {
        patterns.push((format!("^{}", regex_escape(prefix)), String::new()));
    }
    for (torch, burn) in module.torch_names() {
        patterns.push((format!("^{}", regex_escape(&torch)), burn));
    }
    KeyRemapper::from_pattern_iter(patterns).map_err(|e| e.to_string())
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
/// hold several networks, inputs or running-statistic counters).
pub fn load_torch_weights<M: TorchImport>(module: &mut M, path: &Path, prefix: &str) -> Result<()> {
    let fail = |reason: String| Error::Weights {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let remap = remapper(module, prefix).map_err(fail)?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let result = if extension == "safetensors" {
        let mut store = SafetensorsStore::from_file(path).remap(remap);
        module.load_from(&mut store).map_err(|e| e.to_string())
    } else {
        let mut store = PytorchStore::from_file(path).remap(remap);
        module.load_from(&mut store).map_err(|e| e.to_string())
    };
    let applied = result.map_err(fail)?;
    if !applied.errors.is_empty() {
        return Err(fail(format!("{:?}", applied.errors)));
    }
    if applied.applied.is_empty() {
        return Err(fail(format!(
            "no tensor under the prefix `{prefix}` fits the network"
        )));
    }
    Ok(())
}

fn load_generator(g: &mut super::Generator, path: &Path, prefix: &str) -> Result<()> {
    match g {
        super::Generator::UNet(n) => load_torch_weights(n, path, prefix),
        super::Generator::Paper(n) => load_torch_weights(n, path, prefix),
    }
}

fn load_discriminator(d: &mut super::Discriminator, path: &Path, prefix: &str) -> Result<()> {
    match d {
        super::Discriminator::Patch(n) => load_torch_weights(n, path, prefix),
        super::Discriminator::Paper(n) => load_torch_weights(n, path, prefix),
    }
}

/// Networks of `config` with the PyTorch weights of `path`, stored under the prefixes `G_AB.`,
/// `G_BA.`, `D_A.` and `D_B.` (as [`export_torch`](super::export_torch) writes them). The
/// generators must be there; discriminators missing from the file keep their fresh
/// initialisation. Returns whether the discriminators were imported.
pub fn import_torch(
    config: &super::ModelConfig,
    path: &Path,
    device: &burn::tensor::Device,
) -> Result<(super::Generators, super::Discriminators, bool)> {
    let mut generators = config.init_generators(device)?;
    load_generator(&mut generators.g_ab, path, "G_AB.")?;
    load_generator(&mut generators.g_ba, path, "G_BA.")?;
    let mut discriminators = config.init_discriminators(device)?;
    let imported = load_discriminator(&mut discriminators.d_a, path, "D_A.")
        .and_then(|()| load_discriminator(&mut discriminators.d_b, path, "D_B."))
        .is_ok();
    if !imported {
        discriminators = config.init_discriminators(device)?;
    }
    Ok((generators, discriminators, imported))
}
