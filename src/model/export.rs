//! Export of the four networks as one safetensors file with the PyTorch reference's names
//! (`G_AB.down1.model.0.weight`, ...), loadable into `discogan_torch.py`'s modules.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::ModuleSnapshot;
use safetensors::{Dtype, tensor::TensorView};

use super::{Discriminator, Generator};
use crate::error::{Error, Result};

/// The PyTorch name table of a generator.
pub fn generator_torch_names(g: &Generator) -> Vec<(String, String)> {
    match g {
        Generator::UNet(n) => n.torch_names(),
        Generator::ResNet(n) => n.torch_names(),
        Generator::Paper(n) => n.torch_names(),
    }
}

/// The PyTorch name table of a discriminator.
pub fn discriminator_torch_names(d: &Discriminator) -> Vec<(String, String)> {
    match d {
        Discriminator::Patch(n) => n.torch_names(),
        Discriminator::Paper(n) => n.torch_names(),
    }
}

/// Every tensor of `module` under its PyTorch name, behind `prefix`.
fn torch_tensors<M: ModuleSnapshot>(
    module: &M,
    names: &[(String, String)],
    prefix: &str,
    out: &mut BTreeMap<String, (Vec<usize>, Vec<u8>)>,
) -> Result<()> {
    // Enum variants are left out of the paths: the tables name the concrete networks.
    for tensor in module.collect(None, None, true) {
        let (torch, burn) = names
            .iter()
            .find(|(_, burn)| tensor.name.starts_with(burn.as_str()))
            .ok_or_else(|| {
                Error::config("export", format!("no PyTorch name for {}", tensor.name))
            })?;
        let name = format!("{prefix}{torch}{}", &tensor.name[burn.len()..]);
        let shape = tensor.shape.iter().copied().collect::<Vec<_>>();
        let bytes = tensor
            .to_bytes()
            .map_err(|e| Error::config("export", format!("{}: {e:?}", tensor.name)))?
            .to_vec();
        out.insert(name, (shape, bytes));
    }
    Ok(())
}

/// Writes G_AB, G_BA, D_A and D_B to `path` under PyTorch names (float32), as safetensors:
/// `path` must end in `.safetensors` (a `.pth` name would promise a pickle) and must not be a
/// folder. The file appears whole or not at all.
pub fn export_torch(
    generators: &super::Generators,
    discriminators: &super::Discriminators,
    path: &Path,
) -> Result<()> {
    if !super::weights::is_safetensors(path) {
        return Err(Error::weights(
            path,
            "export writes safetensors: name the file *.safetensors (PyTorch reads it with \
             safetensors.torch.load_file)",
        ));
    }
    if path.is_dir() {
        return Err(Error::weights(path, "is a folder; name the file to write"));
    }
    let mut tensors = BTreeMap::new();
    for (prefix, g) in [("G_AB.", &generators.g_ab), ("G_BA.", &generators.g_ba)] {
        torch_tensors(g, &generator_torch_names(g), prefix, &mut tensors)?;
    }
    for (prefix, d) in [("D_A.", &discriminators.d_a), ("D_B.", &discriminators.d_b)] {
        torch_tensors(d, &discriminator_torch_names(d), prefix, &mut tensors)?;
    }
    let views = tensors
        .iter()
        .map(|(name, (shape, bytes))| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| Error::config("export", format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| Error::weights_from(path, "cannot serialise the tensors", e))?;
    crate::atomic::write_atomic(path, &bytes)
}
