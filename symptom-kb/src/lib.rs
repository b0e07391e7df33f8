//! # symptom-kb — symptoms → suspected brain regions → hospitals
//!
//! An embedded [sled](https://docs.rs/sled) knowledge base: symptoms (HPO-coded, Korean and
//! English labels and lay phrasings), brain regions (UBERON ids, a hierarchy), symptom →
//! region rules with laterality and strength (from the domain reference's rule table), and
//! a **sample** hospital directory. Decision support, not a diagnosis.
//!
//! ```
//! use symptom_kb::{Intake, KnowledgeBase};
//! # fn main() -> symptom_kb::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let kb = KnowledgeBase::open(dir.path())?; // stores the default content on first use
//! let intake = Intake::from_json(r#"{"patient": {"handedness": "right"},
//!     "symptoms": [{"code": "HP:0001269", "side": "right"}, {"text": "말이 잘 안 나와요"}]}"#)?;
//! let s = kb.suspect(&intake)?;
//! let top = &s.suspected[0];
//! assert_eq!((top.region.as_str(), top.hemisphere.map(|h| h.name())), ("frontal_lobe", Some("left")));
//! # Ok(()) }
//! ```

pub mod content;
pub mod error;
pub mod import;
pub mod intake;
pub mod lexicon;
pub mod model;
pub mod query;
pub mod store;

pub use content::{Content, SCHEMA_VERSION};
pub use error::{Error, Result};
pub use intake::{Handedness, Intake, IntakeSymptom, Location, Patient};
pub use lexicon::{Lookup, MatchKind, Side, TextMatch};
pub use model::{
    Capability, Category, Department, Hemisphere, Hospital, Laterality, Localising, Qualifier,
    Region, Rule, Strength, Symptom,
};
pub use query::{KnowledgeBase, Referral, ReferralQuery, Suspected, Suspicion};
pub use store::Store;
