//! # brats-io — MRI in and out for brain-tumour segmentation
//!
//! Everything in this workspace reads and writes MRI through this crate.
//!
//! **Start here** — a synthetic case written in BraTS layout, found and loaded back, with
//! its labels counted:
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use brats_io::phantom::PhantomConfig;
//! use brats_io::{find_case, LabelScheme, Naming, NiftiReader};
//!
//! let dir = tempfile::tempdir()?;
//! let phantom = PhantomConfig { shape: [64, 64, 40], ..Default::default() }.check()?.generate(3)?;
//! let folder = phantom.write(dir.path(), Naming::Brats2021)?;
//! let case = find_case(&folder)?.load(&NiftiReader::new())?;
//! assert_eq!(case.geometry().dim(), [64, 64, 40]);
//! assert_eq!(case.geometry().orientation(), "LPS"); // BraTS's own storage order
//! let seg = case.seg.as_ref().ok_or("the phantom writes its segmentation")?;
//! let labels = LabelScheme::counts(seg.data());
//! assert!(labels.keys().all(|v| [0, 1, 2, 4].contains(v)));
//! # Ok(()) }
//! ```
//!
//! A tour:
//!
//! **Read a NIfTI file** (`.nii` or `.nii.gz`, any common datatype, `scl_slope`/`scl_inter`
//! applied). Voxels are C-contiguous `[k][j][i]` (on-disk order); the affine maps voxels to
//! RAS world millimetres:
//! ```no_run
//! # fn main() -> brats_io::Result<()> {
//! let t1 = brats_io::NiftiReader::new().read_f32("case_t1.nii.gz")?;
//! let g = t1.geometry();
//! println!("dim (i,j,k) {:?}, spacing {:?} mm, {}", g.dim(), g.spacing(), g.orientation());
//! println!("voxel (0,0,0) is at {:?} mm", g.voxel_to_world([0.0, 0.0, 0.0]));
//! # Ok(()) }
//! ```
//! **Write a mask with the input's header** (temp file + rename, gz by extension):
//! ```no_run
//! # fn main() -> brats_io::Result<()> {
//! # let t1 = brats_io::NiftiReader::new().read_f32("case_t1.nii.gz")?;
//! let mask = t1.map(|v| u8::from(*v > 0.0));
//! brats_io::NiftiWriter::new().write("mask.nii.gz", &mask)?;
//! # Ok(()) }
//! ```
//! **Load a BraTS case** (2017–2021 or 2023+ naming) and check its grids agree:
//! ```no_run
//! # fn main() -> brats_io::Result<()> {
//! let case = brats_io::find_case("BraTS2021_00000")?.load(&brats_io::NiftiReader::new())?;
//! # Ok(()) }
//! ```
//! **Labels as data** — [`LabelScheme::brats2021`] {1 NCR, 2 ED, 4 ET} and
//! [`LabelScheme::brats2023`] {1 NETC, 2 SNFH, 3 ET}, regions WT ⊇ TC ⊇ ET; an unexpected
//! label is an error that lists the values and their counts.
//!
//! **Preprocess and undo it** — [`PreprocessConfig`]: crop to the brain, z-score on brain
//! voxels, optional clipping and resampling, pad to a multiple of 16; the
//! [`PreprocessRecord`] restores a predicted label map onto the original grid.
//!
//! **Train on patches** — [`PatchSampler`] draws patches with a share forced onto tumour,
//! with flips and intensity augmentation, all from one seed.
//!
//! **Make test data** — [`phantom::PhantomConfig`] generates BraTS-like synthetic cases
//! (four modalities, labels, ground-truth facts) deterministically from a seed.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod atomic;
pub mod case;
pub mod components;
pub mod dataset;
pub mod decathlon;
pub mod error;
mod files;
pub mod inspect;
pub mod labels;
pub mod nifti;
pub mod nnunet;
pub mod phantom;
pub mod preprocess;
pub mod progress;
pub mod quality;
pub mod render;
pub mod synth;
pub mod table;
pub mod volume;

pub use atomic::{atomic_write, atomic_write_bytes};
pub use case::{
    case_sources, check_same_grid, find_case, list_cases, seg_case_id, Case, CasePaths, Modality,
    Naming,
};
pub use dataset::{CheckedPatchConfig, Patch, PatchConfig, PatchSampler, PatchSource};
pub use error::{Error, Result};
pub use labels::{Compartment, LabelDef, LabelScheme, TumourRegion};
pub use nifti::{Datatype, HeaderFields, NiftiInfo, NiftiReader, NiftiWriter, NonFinite};
pub use preprocess::orient::{Orientation, Reorientation};
pub use preprocess::{
    CheckedPreprocess, PreprocessConfig, PreprocessRecord, Preprocessed, Resample,
};
pub use volume::{Geometry, Volume, AFFINE_TOLERANCE};
