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
//! Everything here is decision support, not a diagnosis. The `bts` command line (this
//! package's binary) drives all of it; from Rust, one case end to end — a synthetic case,
//! its truth taken as the mask, scored and cross-checked with a Korean intake:
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use brain_tumour_seg::{diagnosis, io, kb, metrics};
//!
//! let dir = tempfile::tempdir()?;
//! let p = io::phantom::PhantomConfig { shape: [96, 96, 64], ..Default::default() }.check()?.generate(2002)?;
//! let scheme = io::LabelScheme::brats2021();
//! let dice = metrics::brats::region_dice(p.seg.data().view(), p.seg.data().view(), &scheme)?;
//! assert_eq!(dice, [1.0, 1.0, 1.0]);
//!
//! let case = io::Case::new("demo", p.images, Some(p.seg));
//! let kb = kb::KnowledgeBase::open(dir.path().join("kb"))?;
//! let intake = kb::Intake::from_json(r#"{"symptoms": [{"text": "두통이 심해요"}]}"#)?;
//! let mask = case.seg.as_ref().unwrap();
//! let d = diagnosis::Diagnoser::new(&kb)
//!     .diagnose(diagnosis::Site::Mask { case: &case, mask, scheme: &scheme }, &intake)?;
//! assert!(d.report.tumour.found);
//! println!("{} — {}", d.report.verdict.name(), d.report.tumour.primary_region.unwrap_or_default());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use brats_io as io;
pub use brats_metrics as metrics;
pub use diagnosis;
pub use symptom_kb as kb;
pub use unet3d;
