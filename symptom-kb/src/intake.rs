//! The pre-visit questionnaire (intake): a public JSON format that the diagnosis crate and
//! users write.
//!
//! ```json
//! {"patient": {"age_years": 52, "sex": "F", "handedness": "right", "location": {"lat": 37.57, "lon": 126.98}},
//!  "symptoms": [{"code": "HP:0001269", "side": "right"},
//!               {"code": "HP:0001123", "side": "left", "qualifier": "inferior quadrant"},
//!               {"text": "말이 잘 안 나와요"},
//!               {"text": "left-sided neglect"}]}
//! ```
//! Every field but `symptoms` is optional. `handedness` is `right|left|ambidextrous|unknown`;
//! `side` (of the body, ear or visual field) is `left|right|bilateral`; `qualifier` is free
//! text ("superior"/"upper", "inferior"/"lower", 위쪽/아래쪽 are understood). A symptom gives
//! a `code`, a `text`, or both. Unknown fields are errors, so typos do not pass silently.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lexicon::Side;

/// Which hand the patient writes with (decides the language-dominant hemisphere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Handedness {
    /// ≈96 % left-hemisphere dominant for language.
    Right,
    /// ≈70 % left-dominant, ≈15 % right, ≈15 % bilateral.
    Left,
    /// Treated like left-handed.
    Ambidextrous,
    /// Not asked; right-handed is assumed (the majority) with less certainty.
    #[default]
    Unknown,
}

/// A point on Earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// Who the patient is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patient {
    /// Age in years.
    #[serde(default)]
    pub age_years: Option<f64>,
    /// Sex as given.
    #[serde(default)]
    pub sex: Option<String>,
    /// Handedness.
    #[serde(default)]
    pub handedness: Handedness,
    /// Where the patient is (for distances to hospitals).
    #[serde(default)]
    pub location: Option<Location>,
}

/// One reported symptom.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSymptom {
    /// An HPO or local code.
    #[serde(default)]
    pub code: Option<String>,
    /// Free text (Korean or English).
    #[serde(default)]
    pub text: Option<String>,
    /// Side of the body, ear or visual field.
    #[serde(default)]
    pub side: Option<Side>,
    /// Free-text qualifier (visual-field quadrant).
    #[serde(default)]
    pub qualifier: Option<String>,
}

/// A questionnaire.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    /// The patient.
    #[serde(default)]
    pub patient: Patient,
    /// The symptoms.
    pub symptoms: Vec<IntakeSymptom>,
}

impl Intake {
    /// Parses and checks an intake document.
    ///
    /// # Errors
    /// [`Error::Intake`] with the line and column of a JSON error (unknown fields, wrong
    /// types, bad `side`/`handedness` values) or naming `symptoms[n]` when an entry has
    /// neither code nor text, or `patient.location` when it is not a valid point.
    pub fn from_json(text: &str) -> Result<Intake> {
        let intake: Intake = serde_json::from_str(text).map_err(|e| Error::Intake {
            location: format!("line {} column {}", e.line(), e.column()),
            problem: e.to_string(),
        })?;
        intake.check()?;
        Ok(intake)
    }

    /// Checks the fields serde cannot.
    ///
    /// # Errors
    /// [`Error::Intake`] naming the field.
    pub fn check(&self) -> Result<()> {
        for (n, s) in self.symptoms.iter().enumerate() {
            let empty = |o: &Option<String>| o.as_deref().is_none_or(|t| t.trim().is_empty());
            if empty(&s.code) && empty(&s.text) {
                return Err(Error::Intake {
                    location: format!("symptoms[{n}]"),
                    problem: "needs a \"code\" or a \"text\"".into(),
                });
            }
        }
        if let Some(l) = self.patient.location {
            if !((-90.0..=90.0).contains(&l.lat) && (-180.0..=180.0).contains(&l.lon)) {
                return Err(Error::Intake {
                    location: "patient.location".into(),
                    problem: format!("({}, {}) is not a latitude/longitude", l.lat, l.lon),
                });
            }
        }
        if let Some(a) = self.patient.age_years {
            if !(a.is_finite() && (0.0..=130.0).contains(&a)) {
                return Err(Error::Intake {
                    location: "patient.age_years".into(),
                    problem: format!("{a} is not an age"),
                });
            }
        }
        Ok(())
    }
}
