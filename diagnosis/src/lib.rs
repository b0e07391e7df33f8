//! # diagnosis — where the tumour is, whether the symptoms agree, where to be treated
//!
//! ```text
//! case + mask (from unet3d or a file) ─ atlas (built-in or yours) ─ localise → TumourFinding
//! intake (Korean/English) ─ symptom-kb ─ suspect → Suspicion
//! TumourFinding + Suspicion ─ cross_check → verdict, region/hemisphere match, evidence
//! confirmed site ─ refer → departments, capabilities, hospitals
//! everything ─ Report → report.json / report.md / report.html + overlay PNGs
//! ```
//! [`Diagnoser`] composes the chain. Every report says it is **decision support, not a
//! diagnosis**, and sample hospital data is labelled as such.
//!
//! Left and right always come from the images' affines (RAS world coordinates), never
//! from array indices — see [`localize`] and [`overlay`].
//!
//! A stated site and a Korean intake → verdict, referral and the report files:
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use diagnosis::{parse_location, Diagnoser, Site, Verdict};
//! use symptom_kb::{Intake, KnowledgeBase};
//!
//! let dir = tempfile::tempdir()?;
//! let kb = KnowledgeBase::open(dir.path().join("kb"))?; // the default content
//! let intake = Intake::from_json(r#"{"symptoms": [{"text": "왼쪽 팔다리에 힘이 빠져요"}]}"#)?;
//! let (region, side) = parse_location(&kb, "frontal_lobe@right")?;
//! let mut d = Diagnoser::new(&kb).diagnose(Site::Location { region: &region, hemisphere: side }, &intake)?;
//! assert_eq!(d.report.verdict, Verdict::Concordant); // left weakness, right frontal lobe
//! let files = d.write(&dir.path().join("report"))?;
//! assert!(files.html.exists() && files.json.exists());
//! # Ok(()) }
//! ```
//! With images, `Site::Mask { case, mask, scheme }` localises a label map on a registered
//! atlas, and [`Diagnoser::segment_and_diagnose`] segments the case first.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod atlas;
pub mod crosscheck;
pub mod diagnoser;
pub mod encode;
pub mod error;
pub mod localize;
pub mod overlay;
pub mod referral;
pub mod register;
pub mod report;
pub mod urgency;
pub mod viewer;

pub use atlas::{builtin_on_grid, Atlas, AtlasEntry, GridAtlas};
pub use crosscheck::{cross_check, CrossCheck, Stance, Verdict};
pub use diagnoser::{parse_location, Diagnoser, Diagnosis, Site};
pub use error::{Error, Result};
pub use localize::{localise, Lesion, RegionOverlap, TumourFinding, MIN_LESION_CM3};
pub use referral::{refer, Referral};
pub use report::{Report, DISCLAIMER, SCHEMA};
pub use urgency::{triage, Triage, Urgency};
pub use viewer::ViewerData;
