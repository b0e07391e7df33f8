//! Import and export: JSON for all content, CSV for hospitals.
//!
//! # Hospital CSV
//! UTF-8, a header row, RFC 4180 quoting (fields with commas, quotes or newlines in double
//! quotes, `""` for a quote). Columns, in any order (unknown columns are an error):
//!
//! | column | required | content |
//! |---|---|---|
//! | `id` | yes | unique id |
//! | `name_ko` | one of the names | Korean name |
//! | `name_en` | one of the names | English name |
//! | `address` | no | street address |
//! | `region` | no | province / city (시도) |
//! | `lat`, `lon` | no (both or neither) | WGS84 degrees |
//! | `departments` | no | department codes separated by `;` |
//! | `capabilities` | no | capability names separated by `;` (`awake_craniotomy`, `endoscopic_endonasal`, `radiosurgery`, `proton_therapy`, `paediatric_neurosurgery`, `epilepsy_surgery`, `neuro_ophthalmology`, `pituitary_centre`, `intraoperative_mri`, `skull_base_surgery`, `csf_diversion`) |
//! | `sites` | no | region ids separated by `;` (empty: treats every site) |
//! | `sample` | no | `true` for illustrative entries |
//!
//! Every row is validated (types, ranges, references to departments and regions, unique
//! ids) before anything is stored; the first bad field is reported as `FILE line N, column
//! NAME`, and the database is unchanged.

use std::collections::HashSet;
use std::path::Path;

use crate::content::{check_hospital, Content};
use crate::error::{Error, Result};
use crate::model::{Capability, Hospital};
use crate::query::KnowledgeBase;

/// The CSV columns, in export order.
pub const HOSPITAL_COLUMNS: [&str; 11] = [
    "id",
    "name_ko",
    "name_en",
    "address",
    "region",
    "lat",
    "lon",
    "departments",
    "capabilities",
    "sites",
    "sample",
];

/// Writes through `f` atomically with the workspace's one helper, [`brats_io::atomic_write`]
/// (a temporary file beside `path`, then a rename; nothing half written is left behind).
///
/// # Errors
/// [`Error::Io`] naming `path`.
fn write_atomically(
    path: &Path,
    f: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    brats_io::atomic_write(path, f).map_err(|e| match e {
        brats_io::Error::Io { path, source } => Error::Io { path, source },
        other => Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Splits CSV text into records of fields, each with its 1-based line number
/// ([`brats_io::table::read_csv`]).
///
/// # Errors
/// [`Error::InvalidRecord`] naming `origin line N`: a quoted field that is never closed,
/// text that is not valid CSV.
pub fn parse_csv(text: &str, origin: &str) -> Result<Vec<(usize, Vec<String>)>> {
    let rows = brats_io::table::read_csv(text)
        .map_err(|e| Error::record(format!("{origin} line {}", e.line), e.problem))?;
    Ok(rows.into_iter().map(|r| (r.line, r.fields)).collect())
}

/// Writes hospitals as CSV with [`HOSPITAL_COLUMNS`] (through the `csv` crate).
///
/// # Errors
/// Errors of `w`.
pub fn write_hospitals_csv(hospitals: &[Hospital], w: impl std::io::Write) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(HOSPITAL_COLUMNS)?;
    for h in hospitals {
        out.write_record([
            h.id.clone(),
            h.name_ko.clone(),
            h.name_en.clone(),
            h.address.clone(),
            h.region.clone(),
            h.lat.map(|v| v.to_string()).unwrap_or_default(),
            h.lon.map(|v| v.to_string()).unwrap_or_default(),
            h.departments.join(";"),
            h.capabilities
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(";"),
            h.sites.join(";"),
            h.sample.to_string(),
        ])?;
    }
    out.flush()
}

/// Parses hospitals from CSV and checks them against the departments and regions of
/// `content`.
///
/// # Errors
/// [`Error::InvalidRecord`] naming `origin line N, column NAME`.
pub fn hospitals_from_csv(text: &str, origin: &str, content: &Content) -> Result<Vec<Hospital>> {
    let records = parse_csv(text, origin)?;
    let Some((_, header)) = records.first() else {
        return Err(Error::record(
            format!("{origin} line 1"),
            "empty file (a header row is required)",
        ));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for h in &header {
        if !HOSPITAL_COLUMNS.contains(&h.as_str()) {
            return Err(Error::record(
                format!("{origin} line 1"),
                format!(
                    "unknown column {h:?} (expected some of {})",
                    HOSPITAL_COLUMNS.join(", ")
                ),
            ));
        }
    }
    if !header.iter().any(|h| h == "id") {
        return Err(Error::record(
            format!("{origin} line 1"),
            "column \"id\" is required",
        ));
    }
    let deps: HashSet<&str> = content
        .departments
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    let regions: HashSet<&str> = content.regions.iter().map(|r| r.id.as_str()).collect();
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(records.len().saturating_sub(1));
    for (line, rec) in records.iter().skip(1) {
        let at = |col: &str| format!("{origin} line {line}, column {col}");
        if rec.len() != header.len() {
            return Err(Error::record(
                format!("{origin} line {line}"),
                format!("{} fields, the header has {}", rec.len(), header.len()),
            ));
        }
        let get = |col: &str| {
            header
                .iter()
                .position(|h| h == col)
                .map(|i| rec[i].clone())
                .unwrap_or_default()
        };
        let list = |col: &str| -> Vec<String> {
            get(col)
                .split(';')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        };
        let num = |col: &str| -> Result<Option<f64>> {
            let v = get(col).trim().to_string();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<f64>()
                .map(Some)
                .map_err(|_| Error::record(at(col), format!("{v:?} is not a number")))
        };
        let mut capabilities = Vec::new();
        for c in list("capabilities") {
            let cap: Capability = serde_json::from_value(serde_json::Value::String(c.clone()))
                .map_err(|_| {
                    Error::record(at("capabilities"), format!("unknown capability {c:?}"))
                })?;
            capabilities.push(cap);
        }
        let sample = match get("sample").trim().to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            other => {
                return Err(Error::record(
                    at("sample"),
                    format!("{other:?} is not true/false"),
                ))
            }
        };
        let h = Hospital {
            id: get("id"),
            name_ko: get("name_ko"),
            name_en: get("name_en"),
            address: get("address"),
            region: get("region"),
            lat: num("lat")?,
            lon: num("lon")?,
            departments: list("departments"),
            capabilities,
            sites: list("sites"),
            sample,
        };
        check_hospital(&h, &at, &deps, &regions)?;
        if !ids.insert(h.id.clone()) {
            return Err(Error::record(at("id"), format!("{:?} appears twice", h.id)));
        }
        out.push(h);
    }
    Ok(out)
}

impl KnowledgeBase {
    /// Imports a file: `.csv` replaces the hospitals, anything else is read as a whole-content
    /// JSON document. Validated completely first; all or nothing.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidRecord`] naming line/field (the database is
    /// unchanged); [`Error::Storage`].
    pub fn import(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = read(path)?;
        let origin = path.display().to_string();
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let content = if is_csv {
            let mut c = self.store().content()?;
            c.hospitals = hospitals_from_csv(&text, &origin, &c)?;
            c
        } else {
            Content::from_json(&text, &origin)?
        };
        self.replace(&content)
    }

    /// Exports to a file: `.csv` writes the hospitals, anything else the whole content as
    /// JSON. Written atomically.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Storage`].
    pub fn export(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let content = self.store().content()?;
        let is_csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if is_csv {
            write_atomically(path, |w| write_hospitals_csv(&content.hospitals, w))
        } else {
            write_atomically(path, |w| {
                serde_json::to_writer_pretty(&mut *w, &content)?;
                Ok(())
            })
        }
    }
}
