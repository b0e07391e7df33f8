//! The whole content of a knowledge base as one value: what `init` loads, what `export`
//! writes and what `import` reads (JSON), validated completely before anything is stored.

use std::collections::{BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{BrainRegion, Department, Hospital, Rule, Symptom};

/// The storage/content schema this library reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The built-in default content (`content/default.json`).
const DEFAULT_JSON: &str = include_str!("../content/default.json");

/// Everything in a knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Schema of this document ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of the content itself (`2026.11.1`).
    pub content_version: String,
    /// Where the facts come from.
    pub sources: String,
    /// Symptoms.
    pub symptoms: Vec<Symptom>,
    /// Regions.
    pub regions: Vec<BrainRegion>,
    /// Symptom → region rules.
    pub rules: Vec<Rule>,
    /// Departments.
    pub departments: Vec<Department>,
    /// Hospitals.
    pub hospitals: Vec<Hospital>,
}

impl Content {
    /// The built-in content: symptoms with verified HPO ids and Korean/English labels and lay
    /// synonyms, the regions, every rule of the domain reference, departments and a **sample**
    /// hospital directory (invented names; not claims about real hospitals).
    ///
    /// # Errors
    /// Only if the embedded file were malformed (a test guards it).
    pub fn default_content() -> Result<Content> {
        let c: Content = serde_json::from_str(DEFAULT_JSON)
            .map_err(|e| Error::record("content/default.json", e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Parses and validates a JSON document.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] naming the line/column of a syntax error or the record and
    /// field of an invalid value.
    pub fn from_json(text: &str, origin: &str) -> Result<Content> {
        let c: Content = serde_json::from_str(text).map_err(|e| {
            Error::record(
                format!("{origin} line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Checks every record and every reference; the first problem is returned, naming the
    /// record and field.
    ///
    /// # Errors
    /// [`Error::InvalidRecord`].
    pub fn validate(&self) -> Result<()> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(Error::record(
                "schema_version",
                format!("is {}, expected {SCHEMA_VERSION}", self.schema_version),
            ));
        }
        let mut codes = HashSet::new();
        for (n, s) in self.symptoms.iter().enumerate() {
            let at = |f: &str| format!("symptoms[{n}].{f}");
            if !valid_symptom_code(&s.code) {
                return Err(Error::record(
                    at("code"),
                    format!(
                        "{:?} is neither an HPO id (HP:nnnnnnn) nor a local code (X-NAME)",
                        s.code
                    ),
                ));
            }
            if !codes.insert(s.code.as_str()) {
                return Err(Error::record(
                    at("code"),
                    format!("{:?} appears twice", s.code),
                ));
            }
            if s.label_en.trim().is_empty() || s.label_ko.trim().is_empty() {
                return Err(Error::record(
                    at("label_en/label_ko"),
                    "labels must not be empty",
                ));
            }
        }
        let mut regions = HashSet::new();
        for (n, r) in self.regions.iter().enumerate() {
            let at = |f: &str| format!("regions[{n}].{f}");
            if r.id.is_empty()
                || !r
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            {
                return Err(Error::record(
                    at("id"),
                    format!("{:?} is not a snake_case id", r.id),
                ));
            }
            if !regions.insert(r.id.as_str()) {
                return Err(Error::record(at("id"), format!("{:?} appears twice", r.id)));
            }
            if let Some(u) = &r.uberon {
                if !(u.len() == 14
                    && u.starts_with("UBERON:")
                    && u[7..].chars().all(|c| c.is_ascii_digit()))
                {
                    return Err(Error::record(
                        at("uberon"),
                        format!("{u:?} is not UBERON:nnnnnnn"),
                    ));
                }
            }
        }
        for (n, r) in self.regions.iter().enumerate() {
            if let Some(p) = &r.parent {
                if !regions.contains(p.as_str()) || p == &r.id {
                    return Err(Error::record(
                        format!("regions[{n}].parent"),
                        format!("{p:?} is not another region"),
                    ));
                }
            }
        }
        for (n, r) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("rules[{n}].{f}");
            if r.rule.trim().is_empty() {
                return Err(Error::record(at("rule"), "rule id must not be empty"));
            }
            if !codes.contains(r.symptom.as_str()) {
                return Err(Error::record(
                    at("symptom"),
                    format!("{:?} is not a symptom", r.symptom),
                ));
            }
            if !regions.contains(r.region.as_str()) {
                return Err(Error::record(
                    at("region"),
                    format!("{:?} is not a region", r.region),
                ));
            }
        }
        let mut deps = HashSet::new();
        for (n, d) in self.departments.iter().enumerate() {
            if d.code.is_empty() || !deps.insert(d.code.as_str()) {
                return Err(Error::record(
                    format!("departments[{n}].code"),
                    format!("{:?} is empty or repeated", d.code),
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for (n, h) in self.hospitals.iter().enumerate() {
            check_hospital(h, &|f| format!("hospitals[{n}].{f}"), &deps, &regions)?;
            if !ids.insert(h.id.as_str()) {
                return Err(Error::record(
                    format!("hospitals[{n}].id"),
                    format!("{:?} appears twice", h.id),
                ));
            }
        }
        Ok(())
    }
}

/// Checks one hospital's fields and references; `at` turns a field name into a location.
pub(crate) fn check_hospital(
    h: &Hospital,
    at: &dyn Fn(&str) -> String,
    departments: &HashSet<&str>,
    regions: &HashSet<&str>,
) -> Result<()> {
    if h.id.trim().is_empty() {
        return Err(Error::record(at("id"), "must not be empty"));
    }
    if h.name_ko.trim().is_empty() && h.name_en.trim().is_empty() {
        return Err(Error::record(
            at("name_ko/name_en"),
            "at least one name is needed",
        ));
    }
    match (h.lat, h.lon) {
        (Some(lat), Some(lon)) => {
            if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                return Err(Error::record(at("lat"), format!("{lat} is not a latitude")));
            }
            if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
                return Err(Error::record(
                    at("lon"),
                    format!("{lon} is not a longitude"),
                ));
            }
        }
        (None, None) => {}
        _ => return Err(Error::record(at("lat/lon"), "give both or neither")),
    }
    for d in &h.departments {
        if !departments.contains(d.as_str()) {
            return Err(Error::record(
                at("departments"),
                format!("unknown department {d:?}"),
            ));
        }
    }
    for s in &h.sites {
        if !regions.contains(s.as_str()) {
            return Err(Error::record(at("sites"), format!("unknown region {s:?}")));
        }
    }
    Ok(())
}

fn valid_symptom_code(code: &str) -> bool {
    if let Some(d) = code.strip_prefix("HP:") {
        return d.len() == 7 && d.chars().all(|c| c.is_ascii_digit());
    }
    code.strip_prefix("X-").is_some_and(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
    })
}
