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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod content;
pub mod error;
pub mod import;
pub mod intake;
pub mod lexicon;
pub mod model;
pub mod query;
pub mod store;
pub mod text;

pub use content::{Content, SCHEMA_VERSION};

/// Where a knowledge base lives when the caller names no folder: `$BTS_KB_DIR` if set, else
/// `$XDG_DATA_HOME/brain-tumour-seg/kb`, else `$HOME/.local/share/brain-tumour-seg/kb`, else
/// `./brain-tumour-seg-kb`. [`KnowledgeBase::open`] creates it (with the default content) on
/// first use.
pub fn default_db_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("BTS_KB_DIR") {
        return d;
    }
    if let Some(d) = env("XDG_DATA_HOME") {
        return d.join("brain-tumour-seg").join("kb");
    }
    if let Some(h) = env("HOME") {
        return h.join(".local/share/brain-tumour-seg/kb");
    }
    PathBuf::from("brain-tumour-seg-kb")
}
pub use error::{Error, Result};
pub use intake::{Handedness, Intake, IntakeSymptom, Location, Patient};
pub use lexicon::{Lookup, MatchKind, Side, TextMatch};
pub use model::{
    BrainRegion, Capability, Category, Department, Hemisphere, Hospital, Laterality, Localising,
    Qualifier, Rule, Strength, Symptom,
};
pub use query::{HospitalMatch, KnowledgeBase, ReferralQuery, Suspected, Suspicion};
pub use store::Store;
