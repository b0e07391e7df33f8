//! nnU-Net's raw-data layout (`nnUNet_raw/Dataset137_BraTS2021`, nnU-Net v1's
//! `nnUNet_raw_data/Task001_BrainTumour`): one 3D file per channel, named by the case and the
//! channel's four-digit index, the labels in a sibling folder under the case's name, and
//! `dataset.json` saying which channel is which and what the labels are.
//!
//! ```text
//! Dataset137_BraTS2021/
//!   dataset.json                       "channel_names": {"0": "T1", "1": "T1ce", "2": "T2", "3": "Flair"}
//!                                      "labels": {"background": 0, "whole tumor": [1, 2, 3],
//!                                                 "tumor core": [2, 3], "enhancing tumor": [3]}
//!                                      "regions_class_order": [1, 2, 3], "file_ending": ".nii.gz"
//!   imagesTr/BraTS2021_00000_0000.nii.gz   T1 (channel 0)
//!   imagesTr/BraTS2021_00000_0001.nii.gz   T1ce … _0003 FLAIR
//!   labelsTr/BraTS2021_00000.nii.gz        values 0–3
//! ```
//!
//! The channel order is the dataset's own (Dataset137 puts FLAIR last, Dataset001 first), so
//! a case is read only with its `dataset.json` ([`DatasetJson`]: v1's `modality` or v2's
//! `channel_names`; labels as value → name, name → value, or regions). nnU-Net's BraTS
//! conversions store 1 edema, 2 necrotic/non-enhancing core, 3 enhancing — the Decathlon's
//! values, not BraTS 2023's — and say so as regions: a value listed in WT only is edema, in
//! WT and TC the core, in all three enhancing.
//!
//! A case is named by its path without the channel suffix (`imagesTr/BraTS2021_00000`) or
//! by any of its channel files; [`crate::find_case`] takes either and reads the
//! `dataset.json`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::files::{
    create_dirs, image_names, is_hidden, nifti_stem, to_i16, write_json, write_labels_in,
    write_truth,
};
use crate::labels::LabelScheme;

/// `ID_0003.nii.gz` → `("ID", 3)`: the case and channel of a file named as nnU-Net's channel
/// files are (`None` for other names).
pub fn channel_file(name: &str) -> Option<(&str, usize)> {
    let (id, channel) = nifti_stem(name)?.rsplit_once('_')?;
    if id.is_empty() || channel.len() != 4 || !channel.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id, channel.parse().ok()?))
}

/// The channel file `<prefix>_<channel:04>.nii.gz` (or `.nii`) that exists.
pub(crate) fn channel_path(prefix: &Path, channel: usize) -> Option<PathBuf> {
    let name = prefix.file_name()?.to_str()?;
    [".nii.gz", ".nii"]
        .iter()
        .map(|ext| prefix.with_file_name(format!("{name}_{channel:04}{ext}")))
        .find(|p| p.is_file())
}

/// The case prefix `path` stands for, when it is one: a channel file whose case has files for
/// channels 0–3 and no fifth (`imagesTr/X_0002.nii.gz` → `imagesTr/X`), or a path that is
/// no file but has them (`imagesTr/X`).
pub fn case_prefix(path: &Path) -> Option<PathBuf> {
    let prefix = match path.file_name().and_then(|n| n.to_str()) {
        Some(name) if path.is_file() => path.with_file_name(channel_file(name)?.0),
        Some(name) if !path.exists() && !is_hidden(name) => path.to_path_buf(),
        _ => return None,
    };
    ((0..4).all(|c| channel_path(&prefix, c).is_some()) && channel_path(&prefix, 4).is_none())
        .then_some(prefix)
}

/// The nnU-Net cases among the NIfTI files `names` of one folder: the ids with files for
/// channels 0–3 and no others (a folder of 4D files named `X_0000`, `X_0001`, … is not one).
pub(crate) fn cases_among(names: &[String]) -> Vec<String> {
    let mut channels: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (id, channel) in names.iter().filter_map(|n| channel_file(n)) {
        channels.entry(id).or_default().push(channel);
    }
    channels
        .into_iter()
        .filter(|(_, c)| {
            let mut c = c.clone();
            c.sort_unstable();
            c == [0, 1, 2, 3]
        })
        .map(|(id, _)| id.to_string())
        .collect()
}

/// Writes one case in nnU-Net's raw layout as nnU-Net's own BraTS 2021 conversion
/// (Dataset137) does, under the dataset folder `root`: `imagesTr/<id>_0000.nii.gz` …
/// `_0003` (T1, T1ce, T2, FLAIR as int16: FLAIR last, unlike this workspace's order),
/// `labelsTr/<id>.nii.gz` (`seg`, given in `scheme`, written as 1 edema, 2 core, 3
/// enhancing), `truth/<id>.json` and a v2 `dataset.json` with region labels, rewritten each
/// time to count every case. Returns the case's prefix (`imagesTr/<id>`). Each file is
/// written to a temporary file, then renamed.
///
/// # Errors
/// [`Error::Io`] / [`Error::Json`] naming the file that could not be written;
/// [`Error::UnexpectedLabels`] when `seg` holds a value outside `scheme`.
pub fn write_case<T: Serialize>(
    root: &Path,
    id: &str,
    images: &[crate::Volume<f32>; 4],
    seg: &crate::Volume<u8>,
    scheme: &LabelScheme,
    truth: &T,
) -> Result<PathBuf> {
    let dirs = create_dirs(root, ["imagesTr", "labelsTr", "truth"])?;
    let writer = crate::NiftiWriter::new();
    // Dataset137's channel order: T1, T1ce, T2, FLAIR (this workspace's 1, 2, 3, 0).
    [1usize, 2, 3, 0]
        .par_iter()
        .enumerate()
        .map(|(channel, &m)| {
            writer.write(
                dirs[0].join(format!("{id}_{channel:04}.nii.gz")),
                &to_i16(&images[m]),
            )
        })
        .collect::<Result<Vec<()>>>()?;
    write_labels_in(
        &dirs[1].join(format!("{id}.nii.gz")),
        seg,
        scheme,
        &LabelScheme::decathlon(),
        id,
    )?;
    write_truth(root, id, truth)?;
    let cases = cases_among(&image_names(&dirs[0])?);
    let dataset = serde_json::json!({
        "name": "BraTS-synthetic",
        "description": "Synthetic brain-tumour cases (brain-tumour-seg's generator) in nnU-Net's raw layout, as its Dataset137_BraTS2021",
        "channel_names": {"0": "T1", "1": "T1ce", "2": "T2", "3": "Flair"},
        "labels": {
            "background": 0,
            "whole tumor": [1, 2, 3],
            "tumor core": [2, 3],
            "enhancing tumor": [3],
        },
        "regions_class_order": [1, 2, 3],
        "numTraining": cases.len(),
        "file_ending": ".nii.gz",
    });
    write_json(&root.join("dataset.json"), &dataset)?;
    Ok(dirs[0].join(id))
}
