//! NIfTI-1 reading and writing (`.nii`, `.nii.gz`).
//!
//! The header is parsed by the `nifti` crate; the voxel bytes are read here in one piece so
//! that the allocation is checked against the header *before* it happens and the conversion
//! to `f32` runs in parallel. Voxels stay in on-disk order: `[k][j][i]` C-contiguous.
//!
//! ```no_run
//! use brats_io::{NiftiReader, NiftiWriter};
//! # fn main() -> brats_io::Result<()> {
//! let flair = NiftiReader::new().read_f32("BraTS2021_00000_flair.nii.gz")?;
//! println!("{:?} {}", flair.geometry().dim(), flair.geometry().orientation());
//! let mask = flair.map(|v| u8::from(*v > 100.0));
//! NiftiWriter::new().write("mask.nii.gz", &mask)?; // same header and affine as FLAIR
//! # Ok(()) }
//! ```
//!
//! One file a job: [`header`] (the 348-byte header, datatypes, what a header says),
//! [`affine`] (sform/qform → RAS millimetres and back), [`read`] (the checked,
//! streaming reader), [`write`](mod@write) (the writer that keeps the source header).

pub mod affine;
pub mod header;
pub mod read;
pub mod write;

pub use header::{Datatype, HeaderFields, NiftiInfo};
pub use read::{NiftiReader, NonFinite};
pub use write::{NiftiWriter, WritableVoxel};
