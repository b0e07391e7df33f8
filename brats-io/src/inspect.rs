//! Summaries of a NIfTI file or a case folder — what the `inspect` example prints.
//!
//! ```no_run
//! # fn main() -> brats_io::Result<()> {
//! let s = brats_io::inspect::summarize_file("BraTS2021_00000_seg.nii.gz")?;
//! println!("{} {:?} {:?}", s.orientation, s.shape, s.labels);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::case::{find_case, Modality, Naming};
use crate::error::Result;
use crate::labels::LabelScheme;
use crate::nifti::{NiftiReader, NonFinite};
use crate::quality::InputCheck;

/// What one NIfTI file holds. Statistics are over the values after scaling; NaN/Inf voxels
/// are counted in `non_finite` and left out of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    /// Dims in NIfTI `(i, j, k)` order.
    pub shape: [usize; 3],
    /// On-disk datatype name (`"int16"`, …).
    pub datatype: String,
    /// Voxel size in mm along `(i, j, k)`.
    pub spacing: [f64; 3],
    /// Voxel → RAS mm affine, row-major.
    pub affine: [[f64; 4]; 4],
    /// `"sform"`, `"qform"` or `"spacing"`.
    pub affine_source: String,
    /// Orientation code, e.g. `"LPS"`.
    pub orientation: String,
    /// Stored scaling.
    pub scl_slope: f32,
    /// Stored scaling.
    pub scl_inter: f32,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean over all (finite) voxels.
    pub mean: f64,
    /// Population standard deviation over all (finite) voxels.
    pub std: f64,
    /// Mean over non-zero voxels (`null` when there are none).
    pub nonzero_mean: Option<f64>,
    /// Standard deviation over non-zero voxels (`null` when there are none).
    pub nonzero_std: Option<f64>,
    /// Voxels that were NaN or ±Inf.
    pub non_finite: usize,
    /// For integer datatypes whose scaling keeps values whole: voxel count per value (JSON
    /// keys are the values as strings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<i64, usize>>,
    /// How many 3D volumes the file holds along its fourth axis (1 for a 3D image); the
    /// statistics are over all of them.
    #[serde(default = "one")]
    pub frames: usize,
}

fn one() -> usize {
    1
}

/// Summarises one file: a 3D image, or every volume of a 4D one (probability maps, a time
/// series).
///
/// # Errors
/// Any reading error of [`NiftiReader::read_frames_f32`] except non-finite voxels, which are
/// counted.
pub fn summarize_file(path: impl AsRef<Path>) -> Result<FileSummary> {
    let path = path.as_ref();
    let reader = NiftiReader::new();
    let info = reader.read_frames_info(path)?;
    let (frames, non_finite) = match reader.read_frames_f32(path) {
        Err(crate::Error::NonFinite { count, .. }) => (
            reader
                .non_finite(NonFinite::ReplaceWithZero)
                .read_frames_f32(path)?,
            count,
        ),
        other => (other?, 0),
    };
    let values = frames.iter().flat_map(|f| f.as_slice().iter().copied());
    Ok(summary_of(
        &info,
        &frames[0],
        values,
        frames.len(),
        non_finite,
    ))
}

/// [`summarize_file`] of a 3D image, and the volume it read (non-finite voxels as zero).
fn read_and_summarize(path: &Path) -> Result<(FileSummary, crate::Volume<f32>)> {
    let reader = NiftiReader::new();
    let info = reader.read_info(path)?;
    let (vol, non_finite) = match reader.read_f32(path) {
        Err(crate::Error::NonFinite { count, .. }) => (
            reader
                .clone()
                .non_finite(NonFinite::ReplaceWithZero)
                .read_f32(path)?,
            count,
        ),
        other => (other?, 0),
    };
    let summary = summary_of(&info, &vol, vol.as_slice().iter().copied(), 1, non_finite);
    Ok((summary, vol))
}

/// The summary of the values of `frames` volumes on `first`'s grid.
fn summary_of(
    info: &crate::NiftiInfo,
    first: &crate::Volume<f32>,
    values: impl Iterator<Item = f32> + Clone,
    frames: usize,
    non_finite: usize,
) -> FileSummary {
    let g = first.geometry();
    let (mut n, mut sum, mut sq) = (0usize, 0f64, 0f64);
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut nz, mut nz_sum, mut nz_sq) = (0usize, 0f64, 0f64);
    for v in values.clone() {
        let v = f64::from(v);
        n += 1;
        sum += v;
        sq += v * v;
        min = min.min(v);
        max = max.max(v);
        if v != 0.0 {
            nz += 1;
            nz_sum += v;
            nz_sq += v * v;
        }
    }
    let mean = sum / n as f64;
    let std = (sq / n as f64 - mean * mean).max(0.0).sqrt();
    let nonzero_mean = (nz > 0).then(|| nz_sum / nz as f64);
    let nonzero_std = nonzero_mean.map(|m| (nz_sq / nz as f64 - m * m).max(0.0).sqrt());
    // Integer voxels scaled to fractions (a probability map stored as uint8 / 255) are
    // not labels.
    let (slope, inter) = (info.scl_slope, info.scl_inter);
    let scaled = slope != 0.0 && slope.is_finite() && inter.is_finite();
    let whole_values = !scaled || (slope.fract() == 0.0 && inter.fract() == 0.0);
    let labels = (info.datatype.is_integer() && whole_values).then(|| {
        let mut counts = BTreeMap::<i64, usize>::new();
        for v in values {
            *counts.entry(v.round() as i64).or_default() += 1;
        }
        counts
    });
    FileSummary {
        shape: g.dim(),
        datatype: info.datatype.name().to_string(),
        spacing: g.spacing(),
        affine: g.affine(),
        affine_source: info.affine_source.to_string(),
        orientation: g.orientation(),
        scl_slope: info.scl_slope,
        scl_inter: info.scl_inter,
        min,
        max,
        mean,
        std,
        nonzero_mean,
        nonzero_std,
        non_finite,
        labels,
        frames,
    }
}

/// What a case folder holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Case id.
    pub id: String,
    /// Naming convention found.
    pub naming: Naming,
    /// One summary per file: `flair`, `t1`, `t1ce`, `t2` and `seg` when present.
    #[serde(flatten)]
    pub files: BTreeMap<String, FileSummary>,
    /// True when all files share one grid and the seg fits a known label scheme.
    pub consistent: bool,
    /// Every disagreement found.
    pub problems: Vec<String>,
    /// The four images' input checks ([`InputCheck`]: brain volume, whether FLAIR and T2
    /// look swapped, how far each image lies from the others); `null` when their grids
    /// differ.
    pub input: Option<InputCheck>,
    /// What the input checks found ([`InputCheck::warnings`]): the files agree with each
    /// other, but a model trained on skull-stripped, correctly labelled BraTS scans would
    /// misread them.
    pub warnings: Vec<String>,
}

/// Summarises a case folder: each file, then the cross-file checks (dims and affines within
/// [`crate::AFFINE_TOLERANCE`]; the seg's values against BraTS 2021 and 2023), then the
/// [`InputCheck`] of the four images.
///
/// # Errors
/// [`crate::Error::CaseLayout`] when the folder is not a case; reading errors naming the file.
pub fn summarize_case(dir: impl AsRef<Path>) -> Result<CaseSummary> {
    let case = find_case(dir)?;
    let (summaries, images): (Vec<_>, Vec<_>) = if case.naming == crate::Naming::Decathlon {
        // One 4D file: each modality is one of its volumes.
        let reader = NiftiReader::new();
        let info = reader.read_frames_info(&case.images[0])?;
        // Without the seg: it is summarised and checked below.
        let images_only = crate::CasePaths {
            seg: None,
            ..case.clone()
        };
        images_only
            .load(&reader)?
            .images
            .into_iter()
            .map(|v| (summary_of(&info, &v, v.as_slice().iter().copied(), 1, 0), v))
            .unzip()
    } else {
        case.images
            .par_iter()
            .map(|p| read_and_summarize(p))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip()
    };
    let mut files: BTreeMap<String, FileSummary> = Modality::ALL
        .iter()
        .map(|m| m.name().to_string())
        .zip(summaries)
        .collect();
    let reader = NiftiReader::new();
    let mut problems = case.consistency_problems(&reader)?;
    if let Some(seg) = &case.seg {
        files.insert("seg".to_string(), summarize_file(seg)?);
        match reader.read_labels(seg) {
            Ok(labels) => {
                if let Some(own) = case.seg_scheme() {
                    // The labels' meaning is the layout's (the dataset's, or BraTS 2023+
                    // naming's: 2023's labels, or 2024's with the resection cavity): check
                    // against it alone.
                    if let Err(e) = own.check(labels.data(), &seg.display().to_string()) {
                        problems.push(e.to_string());
                    }
                } else {
                    let fits = [LabelScheme::brats2021(), LabelScheme::brats2023()]
                        .iter()
                        .any(|s| s.check(labels.data(), "seg").is_ok());
                    if !fits {
                        problems.push(format!(
                            "{}: label values {:?} fit neither brats2021 {{1,2,4}} nor brats2023 {{1,2,3}}",
                            seg.display(),
                            LabelScheme::counts(labels.data()).keys().collect::<Vec<_>>()
                        ));
                    }
                }
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    // Images of different sizes are already a problem above; nothing to check then.
    let input = InputCheck::of(&images).ok();
    Ok(CaseSummary {
        id: case.id,
        naming: case.naming,
        files,
        consistent: problems.is_empty(),
        problems,
        input,
        warnings: input.map(|c| c.warnings()).unwrap_or_default(),
    })
}
