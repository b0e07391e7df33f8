//! File names and small writers shared by the dataset layouts (BraTS folders, the
//! Decathlon's and nnU-Net's): what counts as a NIfTI file or a hidden one, and the
//! temporary-file-then-rename JSON writers of a dataset's side files.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::labels::LabelScheme;
use crate::volume::Volume;

/// The stem of a NIfTI file name (`.nii` or `.nii.gz` removed), or `None` for other files.
pub(crate) fn nifti_stem(name: &str) -> Option<&str> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".nii.gz") {
        Some(&name[..name.len() - 7])
    } else if lower.ends_with(".nii") {
        Some(&name[..name.len() - 4])
    } else {
        None
    }
}

/// Whether `name` is a file name to skip: hidden, or a macOS resource fork (`._X.nii.gz`).
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// An image as the int16 a dataset stores it in (clamped to int16's range).
pub(crate) fn to_i16(image: &Volume<f32>) -> Volume<i16> {
    image.map(|x| x.clamp(i16::MIN as f32, i16::MAX as f32) as i16)
}

/// Writes the label map `seg`, given in `from`, to `path` in `to`'s labels.
///
/// # Errors
/// [`Error::UnexpectedLabels`] (naming `id`) when `seg` holds a value outside `from`;
/// writing errors naming `path`.
pub(crate) fn write_labels_in(
    path: &Path,
    seg: &Volume<u8>,
    from: &LabelScheme,
    to: &LabelScheme,
    id: &str,
) -> Result<()> {
    let labels = from.convert(seg.data(), to, id)?;
    crate::NiftiWriter::new().write(path, &Volume::new(labels, seg.geometry().clone())?)
}

/// Creates the folders `names` under `root`; returns their paths.
pub(crate) fn create_dirs<const N: usize>(root: &Path, names: [&str; N]) -> Result<[PathBuf; N]> {
    let dirs = names.map(|d| root.join(d));
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    Ok(dirs)
}

/// Writes `value` as pretty JSON to `path` (a temporary file, then renamed).
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    crate::atomic_write(path, |w| std::io::Write::write_all(w, &bytes))
}

/// Writes a case's ground truth to `root/truth/<id>.json`.
pub(crate) fn write_truth<T: Serialize>(root: &Path, id: &str, truth: &T) -> Result<()> {
    let path = root.join("truth").join(format!("{id}.json"));
    let value = serde_json::to_value(truth).map_err(|e| Error::Json {
        path: path.clone(),
        source: e,
    })?;
    write_json(&path, &value)
}

/// The NIfTI files of `dir` (hidden ones skipped), by name.
pub(crate) fn image_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if let Some(name) = entry.file_name().to_str() {
            if !is_hidden(name) && nifti_stem(name).is_some() {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}
