//! Writing files so that a crash at any moment leaves either the old contents or the new ones,
//! never a mix or an empty file: write a temporary file beside the target, flush it to disk,
//! rename it over the target, and flush the folder so the rename itself is durable.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a test may crash the process (`FAILPOINTS=NAME=return`), in builds with the
/// `failpoints` feature (which `cargo test` turns on); nothing in other builds. The exit code
/// is [`CRASH_EXIT_CODE`].
macro_rules! crash_point {
    ($name:expr) => {
        fail::fail_point!($name, |_| {
            std::process::exit($crate::atomic::CRASH_EXIT_CODE)
        })
    };
}
pub(crate) use crash_point;

/// The exit code of a process crashed on purpose at a crash point.
pub const CRASH_EXIT_CODE: i32 = 86;

/// The temporary name `path` is written under: hidden, in the same folder (a rename across
/// file systems would not be atomic), and marked with the writer's process id.
pub(crate) fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Whether `name` is a temporary name given by [`temporary_name`].
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".partial-")
}

/// Replaces `path` with `bytes` atomically (see the module's documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_via(path, &temporary_name(path), bytes)
}

/// [`write_atomic`] through the temporary file `tmp` (in `path`'s folder, named so that
/// [`is_temporary`] knows it): for targets whose readers would take a file named after them for
/// one of theirs (TensorBoard reads every file with `tfevents` in its name).
pub(crate) fn write_atomic_via(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp.to_path_buf();
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    crash_point!("atomic::before_rename");
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_parent(path);
    Ok(())
}

/// Writes `image` as a PNG file at `path`, atomically.
pub fn write_png(path: &Path, image: &image::DynamicImage) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::Data {
            path: path.to_path_buf(),
            reason: format!("cannot encode as PNG: {e}"),
        })?;
    write_atomic(path, bytes.get_ref())
}

/// Makes a rename inside `path`'s folder durable. Best effort: some file systems cannot sync a
/// folder, and the rename has already happened.
pub(crate) fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        sync_dir(parent);
    }
}

/// Flushes the folder `dir` (its entries) to disk; best effort, as [`sync_parent`].
pub(crate) fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target is left");
    }

    #[test]
    fn a_failed_write_keeps_the_old_contents() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a folder: the rename fails, after the temporary file was written.
        let path = dir.path().join("taken");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), "kept").unwrap();
        let err = write_atomic(&path, b"new").unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
        assert_eq!(fs::read_to_string(path.join("inside")).unwrap(), "kept");
        assert!(
            !temporary_name(&path).exists(),
            "the temporary file is removed"
        );
    }

    #[test]
    fn temporary_names_are_recognised() {
        let tmp = temporary_name(Path::new("run/config.toml"));
        let name = tmp.file_name().unwrap().to_str().unwrap();
        assert!(is_temporary(name), "{name}");
        assert!(!is_temporary("config.toml"));
        assert!(!is_temporary("iter-000000004"));
    }
}
