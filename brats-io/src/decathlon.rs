//! The Medical Segmentation Decathlon layout (Task01_BrainTumour, BraTS 2016–2017 cases):
//! one 4D NIfTI per case holding the four modalities, its labels in a sibling folder under
//! the same file name, and `dataset.json` naming the channels and the labels.
//!
//! ```text
//! Task01_BrainTumour/
//!   dataset.json               "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}
//!                              "labels": {"0": "background", "1": "edema",
//!                                         "2": "non-enhancing tumor", "3": "enhancing tumour"}
//!   imagesTr/BRATS_001.nii.gz  240 × 240 × 155 × 4
//!   labelsTr/BRATS_001.nii.gz  240 × 240 × 155, values 0–3
//!   imagesTs/BRATS_485.nii.gz  (no labels)
//! ```
//!
//! The labels are **not** BraTS's: 1 is edema and 2 the non-enhancing/necrotic core
//! ([`LabelScheme::decathlon`]); read as BraTS 2023 (1 NETC, 2 SNFH, 3 ET) they would swap
//! core and edema without any error, so the scheme goes with the layout
//! ([`CasePaths::scheme`](crate::CasePaths::scheme)). The channels and the labels are taken
//! from `dataset.json` (in the dataset folder above `imagesTr`, or next to the image); without
//! one, the channels are taken in the Decathlon's order, which is this workspace's (FLAIR,
//! T1, T1ce, T2), and the labels as the Decathlon's. Files whose name starts with `.` (the
//! `._BRATS_001.nii.gz` resource forks a macOS archive leaves) are not cases.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use brats_io::decathlon::DatasetJson;
//! use brats_io::Compartment;
//! let spec = DatasetJson::parse(
//!     r#"{"modality": {"0": "T1w", "1": "t1gd", "2": "T2w", "3": "FLAIR"},
//!         "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}}"#,
//!     "dataset.json".as_ref(),
//! )?;
//! assert_eq!(spec.frames, [3, 0, 1, 2]); // FLAIR is the file's fourth volume
//! assert_eq!(spec.scheme.value_of(Compartment::Edema), 1);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{create_dirs, image_names, to_i16, write_json, write_labels_in, write_truth};
use crate::labels::{Compartment, LabelDef, LabelScheme, TumourRegion};

/// What a Decathlon `dataset.json` says about a dataset's images and labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetJson {
    /// For FLAIR, T1, T1ce and T2 (in that order), their channel: the volume of the 4D file
    /// that holds it (Decathlon), or the `_000N` file (nnU-Net, [`crate::nnunet`]).
    pub frames: [usize; 4],
    /// The labels of the dataset's label maps.
    pub scheme: LabelScheme,
    /// The file it was read from; `None` when there was none and the Decathlon's order and
    /// labels are assumed.
    pub source: Option<PathBuf>,
    /// The channel names as given (`modality`, or nnU-Net v2's `channel_names`); `None`
    /// when the file gives none.
    pub channels: Option<BTreeMap<usize, String>>,
}

impl Default for DatasetJson {
    /// The Decathlon's Task01: channels FLAIR, T1w, t1gd, T2w; labels 1 edema, 2
    /// non-enhancing tumour, 3 enhancing tumour.
    fn default() -> Self {
        DatasetJson {
            frames: [0, 1, 2, 3],
            scheme: LabelScheme::decathlon(),
            source: None,
            channels: None,
        }
    }
}

/// The modalities in channel order (this workspace's and the Decathlon's): FLAIR, T1, T1ce,
/// T2, as `crate::Modality::name` spells them.
const CHANNELS: [&str; 4] = ["flair", "t1", "t1ce", "t2"];

/// A channel name of `dataset.json` → its channel in FLAIR, T1, T1ce, T2 order (case and
/// punctuation ignored).
fn channel_of(name: &str) -> Option<usize> {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    match n.as_str() {
        "flair" | "t2flair" | "t2f" => Some(0),
        "t1" | "t1w" | "t1n" | "t1native" | "t1pre" => Some(1),
        "t1gd" | "t1ce" | "t1c" | "t1post" | "t1contrast" | "t1wce" | "t1gad" => Some(2),
        "t2" | "t2w" => Some(3),
        _ => None,
    }
}

/// A label or region name of `dataset.json`, lower-cased, to place by meaning.
struct Name(String);

impl Name {
    fn new(name: &str) -> Name {
        Name(name.to_ascii_lowercase())
    }

    /// Whether `word` is one of its words (split at anything not a letter or a digit).
    fn has(&self, word: &str) -> bool {
        self.0
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w == word)
    }

    fn contains(&self, part: &str) -> bool {
        self.0.contains(part)
    }

    /// "non-enhancing", "nonenhancing", "non enhancing tumour".
    fn non_enhancing(&self) -> bool {
        ["non-enhanc", "nonenhanc", "non enhanc"]
            .iter()
            .any(|p| self.contains(p))
    }
}

/// What a label of `dataset.json` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    Background,
    Tumour(Compartment),
    /// Labelled but no tumour: BraTS 2024's resection cavity.
    NonTumour,
}

/// A label name of `dataset.json` → what it is (`None`: a name it cannot place).
fn label_of(name: &str) -> Option<Placed> {
    let n = Name::new(name);
    if n.has("background") {
        Some(Placed::Background)
    } else if n.contains("resection") || n.contains("cavity") || n.has("rc") {
        Some(Placed::NonTumour)
    } else if n.contains("edema") || n.contains("oedema") || n.has("ed") || n.has("snfh") {
        Some(Placed::Tumour(Compartment::Edema))
    } else if n.non_enhancing()
        || n.contains("necro")
        || n.has("ncr")
        || n.has("net")
        || n.has("netc")
    {
        Some(Placed::Tumour(Compartment::Core))
    } else if n.contains("enhanc") || n.has("et") {
        Some(Placed::Tumour(Compartment::Enhancing))
    } else {
        None
    }
}

/// The `{"0": name, …}` object `field` of `json`, as index → name.
fn indexed_names(
    json: &serde_json::Value,
    field: &str,
    path: &Path,
) -> Result<Option<BTreeMap<usize, String>>> {
    let bad = |reason: String| Error::config(format!("{}: {field}", path.display()), reason);
    let Some(v) = json.get(field) else {
        return Ok(None);
    };
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("expected an object {{\"0\": name, …}}, got {v}")))?;
    let mut out = BTreeMap::new();
    for (k, name) in obj {
        let i: usize = k.trim().parse().map_err(|_| {
            bad(format!(
                "expected keys that are numbers (\"0\", \"1\", …), got {k:?}"
            ))
        })?;
        let name = name
            .as_str()
            .ok_or_else(|| bad(format!("expected a name for {k:?}, got {name}")))?;
        out.insert(i, name.to_string());
    }
    Ok(Some(out))
}

/// One entry of `labels`: its name and the values it covers.
struct LabelEntry {
    name: String,
    values: Vec<u64>,
    /// Given as a list (`"tumor core": [2, 3]`): an nnU-Net region.
    listed: bool,
}

/// The `labels` object of `json` in either form: the Decathlon's and nnU-Net v1's
/// `{"1": "edema", …}` (value → name), or nnU-Net v2's `{"edema": 1, …}` (name → value) and
/// `{"whole tumor": [1, 2, 3], …}` (name → the values of a region).
fn label_entries(json: &serde_json::Value, path: &Path) -> Result<Option<Vec<LabelEntry>>> {
    let bad = |reason: String| Error::config(format!("{}: labels", path.display()), reason);
    let Some(v) = json.get("labels") else {
        return Ok(None);
    };
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "expected an object ({{\"1\": \"edema\", …}} or {{\"edema\": 1, …}}), got {v}"
        ))
    })?;
    let value_to_name = obj
        .iter()
        .all(|(k, name)| k.trim().parse::<u64>().is_ok() && name.is_string());
    if value_to_name {
        return Ok(indexed_names(json, "labels", path)?.map(|names| {
            names
                .into_iter()
                .map(|(value, name)| LabelEntry {
                    name,
                    values: vec![value as u64],
                    listed: false,
                })
                .collect()
        }));
    }
    let mut out = Vec::new();
    for (name, value) in obj {
        let expected = || {
            bad(format!(
                "{name:?}: {value} is not a label value (a whole number) nor a list of them; expected {{\"1\": \"edema\", …}} (Decathlon, nnU-Net v1) or {{\"edema\": 1, …}} / {{\"whole tumor\": [1, 2, 3], …}} (nnU-Net v2)"
            ))
        };
        let (values, listed) = match value {
            serde_json::Value::Array(items) => (
                items
                    .iter()
                    .map(serde_json::Value::as_u64)
                    .collect::<Option<Vec<u64>>>()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(expected)?,
                true,
            ),
            other => (vec![other.as_u64().ok_or_else(expected)?], false),
        };
        out.push(LabelEntry {
            name: name.clone(),
            values,
            listed,
        });
    }
    Ok(Some(out))
}

/// An nnU-Net region's name (`"whole tumor"`, `"tumor core"`, `"enhancing tumor"`, or WT /
/// TC / ET) → the region.
fn region_of(name: &str) -> Option<TumourRegion> {
    let n = Name::new(name);
    if n.non_enhancing() {
        None
    } else if n.has("whole") || n.has("wt") {
        Some(TumourRegion::Wt)
    } else if n.contains("enhanc") || n.has("et") {
        Some(TumourRegion::Et)
    } else if n.has("core") || n.has("tc") {
        Some(TumourRegion::Tc)
    } else {
        None
    }
}

/// The tumour labels of region-based `labels` (nnU-Net's `"whole tumor": [1, 2, 3]`,
/// `"tumor core": [2, 3]`, `"enhancing tumor": [3]`): each value is the compartment whose
/// regions are exactly the regions listing it (in WT only: edema; in WT and TC: core; in
/// all three: enhancing).
fn labels_of_regions(entries: &[&LabelEntry], field: &str) -> Result<Vec<LabelDef>> {
    let mut regions: Vec<(TumourRegion, &[u64])> = Vec::new();
    for e in entries {
        if label_of(&e.name) == Some(Placed::Background) {
            if e.values != [0] {
                return Err(Error::config(
                    field,
                    format!("background must be 0, got {:?}", e.values),
                ));
            }
            continue;
        }
        let region = region_of(&e.name).ok_or_else(|| {
            Error::config(
                field,
                format!(
                    "{:?} is not a region: with regions (a label given as a list of values), every label must be whole tumor, tumor core or enhancing tumor",
                    e.name
                ),
            )
        })?;
        if regions.iter().any(|(r, _)| *r == region) {
            return Err(Error::config(field, format!("two {region} regions")));
        }
        regions.push((region, &e.values));
    }
    let mut values: Vec<u64> = regions
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    values.sort_unstable();
    values.dedup();
    let mut defs = Vec::new();
    for value in values {
        let listed_in: Vec<TumourRegion> = regions
            .iter()
            .filter(|(_, v)| v.contains(&value))
            .map(|(r, _)| *r)
            .collect();
        let fits: Vec<Compartment> = [
            Compartment::Core,
            Compartment::Edema,
            Compartment::Enhancing,
        ]
        .into_iter()
        .filter(|c| {
            regions
                .iter()
                .all(|(r, _)| c.in_region(*r) == listed_in.contains(r))
        })
        .collect();
        let compartment = match fits.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::config(
                    field,
                    format!("value {value} is in {listed_in:?} only, which no tumour label is (the regions must nest: WT ⊇ TC ⊇ ET)"),
                ))
            }
            _ => {
                return Err(Error::config(
                    field,
                    format!("value {value}: the regions given ({:?}) do not tell whether it is core, edema or enhancing", regions.iter().map(|(r, _)| *r).collect::<Vec<_>>()),
                ))
            }
        };
        let value = u8::try_from(value).map_err(|_| {
            Error::config(
                field,
                format!("label {value} does not fit a uint8 label map"),
            )
        })?;
        let name = match compartment {
            Compartment::Core => "NET",
            Compartment::Edema => "ED",
            Compartment::Enhancing => "ET",
        };
        defs.push(LabelDef {
            value,
            name: name.to_string(),
            compartment,
        });
    }
    Ok(defs)
}

impl DatasetJson {
    /// Reads a Decathlon `dataset.json`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Json`] when it is not JSON; as
    /// [`DatasetJson::parse`].
    pub fn read(path: &Path) -> Result<DatasetJson> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        DatasetJson::parse(&text, path)
    }

    /// Parses the text of a Decathlon `dataset.json` read from `path` (named in errors):
    /// `modality` (index → FLAIR / T1w / t1gd / T2w, or BraTS's names) and `labels` (value →
    /// name: background, edema, non-enhancing tumour or necrosis, enhancing tumour). A field
    /// that is absent keeps the Decathlon's default.
    ///
    /// # Errors
    /// [`Error::Json`] when it is not JSON; [`Error::Config`] naming the file and field for a
    /// channel or label it cannot place, a modality missing or given twice, or labels that
    /// do not make one core, one edema and one enhancing label.
    pub fn parse(text: &str, path: &Path) -> Result<DatasetJson> {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::Json {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut spec = DatasetJson {
            source: Some(path.to_path_buf()),
            ..DatasetJson::default()
        };
        let field = |f: &str| format!("{}: {f}", path.display());
        // nnU-Net v2 calls it channel_names; the Decathlon and nnU-Net v1, modality.
        let channel_field = if json.get("channel_names").is_some() {
            "channel_names"
        } else {
            "modality"
        };
        if let Some(ending) = json.get("file_ending") {
            if !matches!(ending.as_str(), Some(".nii.gz" | ".nii")) {
                return Err(Error::config(
                    field("file_ending"),
                    format!("{ending}: only NIfTI (\".nii.gz\" or \".nii\") is read"),
                ));
            }
        }
        if let Some(channels) = indexed_names(&json, channel_field, path)? {
            let mut frames: [Option<usize>; 4] = [None; 4];
            for (&i, name) in &channels {
                let m = channel_of(name).ok_or_else(|| {
                    Error::config(
                        field(channel_field),
                        format!("channel {i} is {name:?}: expected FLAIR, T1w, t1gd (T1ce) or T2w"),
                    )
                })?;
                if let Some(j) = frames[m] {
                    return Err(Error::config(
                        field(channel_field),
                        format!("{} is both channel {j} and channel {i}", CHANNELS[m]),
                    ));
                }
                frames[m] = Some(i);
            }
            for (m, name) in CHANNELS.iter().enumerate() {
                spec.frames[m] = frames[m].ok_or_else(|| {
                    Error::config(
                        field(channel_field),
                        format!("no {name} channel among {channels:?}"),
                    )
                })?;
            }
            spec.channels = Some(channels);
        }
        if let Some(entries) = label_entries(&json, path)? {
            let region_based =
                json.get("regions_class_order").is_some() || entries.iter().any(|e| e.listed);
            // With regions, every label is a region but a resection cavity given as one value.
            let (by_value, by_region): (Vec<&LabelEntry>, Vec<&LabelEntry>) =
                entries.iter().partition(|e| {
                    !region_based || (label_of(&e.name) == Some(Placed::NonTumour) && !e.listed)
                });
            let mut defs = if region_based {
                labels_of_regions(&by_region, &field("labels"))?
            } else {
                Vec::new()
            };
            let mut non_tumour = Vec::new();
            for e in by_value {
                let (name, value) = (&e.name, e.values[0]);
                let placed = label_of(name).ok_or_else(|| {
                    Error::config(
                        field("labels"),
                        format!(
                            "label {value} is {name:?}: expected background, edema, non-enhancing tumour (or necrosis), enhancing tumour or resection cavity"
                        ),
                    )
                })?;
                let value = u8::try_from(value).map_err(|_| {
                    Error::config(
                        field("labels"),
                        format!("label {value} ({name:?}) does not fit a uint8 label map"),
                    )
                })?;
                match placed {
                    Placed::Background if value == 0 => {}
                    Placed::Background => {
                        return Err(Error::config(
                            field("labels"),
                            format!("background must be 0, got {value}"),
                        ))
                    }
                    Placed::NonTumour => non_tumour.push((value, name.clone())),
                    Placed::Tumour(compartment) => defs.push(LabelDef {
                        value,
                        name: name.clone(),
                        compartment,
                    }),
                }
            }
            // Class order as the presets: core, edema, enhancing.
            defs.sort_by_key(|d| match d.compartment {
                Compartment::Core => 0,
                Compartment::Edema => 1,
                Compartment::Enhancing => 2,
            });
            let given: Vec<String> = entries
                .iter()
                .map(|e| format!("{:?}: {:?}", e.name, e.values))
                .collect();
            let bad = |e: Error| {
                Error::config(
                    field("labels"),
                    format!("{e} (labels {})", given.join(", ")),
                )
            };
            let mut scheme = LabelScheme::new("decathlon", defs).map_err(bad)?;
            for (value, name) in non_tumour {
                scheme = scheme.with_non_tumour(value, name).map_err(bad)?;
            }
            // Labels that mean what a preset's do are that preset (the Task01 labels under
            // their own names stay NET, ED, ET; nnU-Net's BraTS 2023 and 2024 conversions
            // are BraTS 2023's and 2024's).
            spec.scheme = [
                LabelScheme::decathlon(),
                LabelScheme::brats2023(),
                LabelScheme::brats2024(),
                LabelScheme::brats2021(),
            ]
            .into_iter()
            .find(|p| p.meaning() == scheme.meaning())
            .unwrap_or(scheme);
        }
        Ok(spec)
    }

    /// The `dataset.json` that describes the 4D image `image`: in the folder above
    /// `imagesTr`/`imagesTs`, else next to it; the Decathlon's default when there is none.
    ///
    /// # Errors
    /// As [`DatasetJson::read`].
    pub fn for_image(image: &Path) -> Result<DatasetJson> {
        dataset_json_of(image).map_or_else(|| Ok(DatasetJson::default()), |j| DatasetJson::read(&j))
    }
}

/// The `dataset.json` that describes `image`: in the folder above its own, else beside it.
pub(crate) fn dataset_json_of(image: &Path) -> Option<PathBuf> {
    let dir = image.parent().unwrap_or(Path::new("."));
    [
        dir.parent().map(|p| p.join("dataset.json")),
        Some(dir.join("dataset.json")),
    ]
    .into_iter()
    .flatten()
    .find(|j| j.is_file())
}

/// Whether `path` is a Decathlon case file rather than any 4D image (a probability map, a
/// time series): it lies in an `images*` folder (`imagesTr`, `imagesTs`), or a
/// `dataset.json` describes it ([`DatasetJson::for_image`]'s places).
pub fn is_case_file(path: &Path) -> bool {
    let dir = path.parent().unwrap_or(Path::new("."));
    let in_images = dir
        .file_name()
        .and_then(|d| d.to_str())
        .is_some_and(|d| d.starts_with("images"));
    path.is_file() && (in_images || dataset_json_of(path).is_some())
}

/// Writes one case in the Decathlon's layout under the dataset folder `root`:
/// `imagesTr/<id>.nii.gz` (the four images as one int16 4D file, FLAIR, T1w, t1gd, T2w),
/// `labelsTr/<id>.nii.gz` (`seg`, given in `scheme`, written in the Decathlon's labels),
/// `truth/<id>.json` (`truth`), and `dataset.json` listing every image of `imagesTr`
/// (rewritten each time, so that cases written one by one make one dataset). Returns the
/// image's path. Each file is written to a temporary file, then renamed.
///
/// # Errors
/// [`Error::Io`] / [`Error::Json`] naming the file that could not be written;
/// [`Error::UnexpectedLabels`] when `seg` holds a value outside `scheme`.
pub fn write_case<T: Serialize>(
    root: &Path,
    id: &str,
    images: &[crate::Volume<f32>; 4],
    seg: &crate::Volume<u8>,
    scheme: &LabelScheme,
    truth: &T,
) -> Result<PathBuf> {
    let dirs = create_dirs(root, ["imagesTr", "labelsTr", "truth"])?;
    let file = format!("{id}.nii.gz");
    let as_i16: Vec<crate::Volume<i16>> = images.iter().map(to_i16).collect();
    let image = dirs[0].join(&file);
    crate::NiftiWriter::new().write_frames(&image, &as_i16)?;
    write_labels_in(
        &dirs[1].join(&file),
        seg,
        scheme,
        &LabelScheme::decathlon(),
        id,
    )?;
    write_truth(root, id, truth)?;
    let names = image_names(&dirs[0])?;
    let training: Vec<_> = names
        .iter()
        .map(|name| {
            serde_json::json!({
                "image": format!("./imagesTr/{name}"),
                "label": format!("./labelsTr/{name}"),
            })
        })
        .collect();
    let dataset = serde_json::json!({
        "name": "BRATS",
        "description": "Synthetic brain-tumour cases (brain-tumour-seg's generator) in the Medical Segmentation Decathlon's Task01 layout",
        "tensorImageSize": "4D",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
        "numTraining": training.len(),
        "numTest": 0,
        "training": training,
        "test": [],
    });
    write_json(&root.join("dataset.json"), &dataset)?;
    Ok(image)
}
