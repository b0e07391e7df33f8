//! Brain-tumour MRI segmentation with a clinical cross-check, as one dependency.
//!
//! This package re-exports the workspace's crates under short names:
//!
//! | module | crate | what it owns |
//! |---|---|---|
//! | [`io`] | `brats-io` | NIfTI in and out, BraTS cases, label schemes, preprocessing and its inverse, patches, phantoms |
//! | [`metrics`] | `brats-metrics` | Dice, IoU, HD95 and the training losses |
//! | [`unet3d`] | `unet3d` | the 3D U-Net on candle |
//! | [`kb`] | `symptom-kb` | the symptom → brain-region knowledge base |
//! | [`diagnosis`] | `diagnosis` | localisation, cross-check, referral and reports |
//!
//! Everything here is decision support, not a diagnosis.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use brats_io as io;
pub use brats_metrics as metrics;
pub use diagnosis;
pub use symptom_kb as kb;
pub use unet3d;
