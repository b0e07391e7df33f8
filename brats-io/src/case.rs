//! BraTS-layout cases: find the four modalities (and the optional segmentation) in a folder,
//! list the cases of a dataset, load a case and check that its volumes share one grid.
//!
//! | modality | BraTS 2017–2021 suffix | BraTS 2023+ suffix |
//! |---|---|---|
//! | FLAIR | `_flair` | `-t2f` |
//! | T1 | `_t1` | `-t1n` |
//! | T1ce | `_t1ce` (also `_t1gd`, `_t1c`) | `-t1c` |
//! | T2 | `_t2` | `-t2w` |
//! | segmentation | `_seg` (also `_segm`, `_tumor_segmentation`) | `-seg` |
//!
//! Each suffix is followed by `.nii.gz` or `.nii`, and is matched whatever its case. The
//! other spellings are those of two public collections of real gliomas distributed in BraTS
//! 2021's form, with its labels (1/2/4): UPenn-GBM (`ID_FLAIR`, `ID_T1`, `ID_T1GD`,
//! `ID_T2`, `ID_segm`) and UCSF-PDGM (`ID_FLAIR`, `ID_T1`, `ID_T1c`, `ID_T2`,
//! `ID_tumor_segmentation`; its `_bias` copies and other series are left alone). Where
//! several files look like a segmentation, the one named after the case's id is taken
//! (UPenn-GBM's `ID_segm` over its `ID_automated_approx_segm`). Channel order everywhere in this
//! workspace is FLAIR, T1, T1ce, T2. A case may also be one 4D file holding the four
//! (the Medical Segmentation Decathlon's layout, [`crate::decathlon`]): give the file instead
//! of a folder. Hidden files (`.x`, and the `._x.nii.gz` a macOS archive leaves) are skipped.
//!
//! ```no_run
//! use brats_io::{find_case, NiftiReader};
//! # fn main() -> brats_io::Result<()> {
//! let paths = find_case("BraTS2021_00000")?;
//! let case = paths.load(&NiftiReader::new())?;
//! println!("{} {:?} seg: {}", case.id, case.geometry().dim(), case.seg.is_some());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::nifti_stem;
use crate::nifti::NiftiReader;
use crate::volume::{Geometry, Volume, AFFINE_TOLERANCE};

/// An MRI sequence of a BraTS case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// T2 fluid-attenuated inversion recovery (`_flair`, `-t2f`).
    Flair,
    /// Native T1 (`_t1`, `-t1n`).
    T1,
    /// Contrast-enhanced T1 (`_t1ce`, `-t1c`; read also as `_t1gd`, `_t1c`).
    T1ce,
    /// T2 (`_t2`, `-t2w`).
    T2,
}

impl Modality {
    /// The channel order used everywhere: FLAIR, T1, T1ce, T2.
    pub const ALL: [Modality; 4] = [Modality::Flair, Modality::T1, Modality::T1ce, Modality::T2];

    /// The channel index in [`Modality::ALL`] order (FLAIR 0, T1 1, T1ce 2, T2 3).
    pub fn channel(self) -> usize {
        self as usize
    }

    /// Lower-case name (`"flair"`, `"t1"`, `"t1ce"`, `"t2"`).
    pub fn name(self) -> &'static str {
        match self {
            Modality::Flair => "flair",
            Modality::T1 => "t1",
            Modality::T1ce => "t1ce",
            Modality::T2 => "t2",
        }
    }

    /// The file-name suffix (without extension) under a naming convention, the one files
    /// are written with: the first of [`Modality::spellings`] (none for the Decathlon's one
    /// 4D file, nor for nnU-Net's, whose `_000N` is the dataset's choice).
    pub fn suffix(self, naming: Naming) -> &'static str {
        self.spellings(naming).first().copied().unwrap_or_default()
    }

    /// Every suffix a case folder's file of this modality may end in under `naming`
    /// (compared whatever the case): BraTS's own first ([`Modality::suffix`]), then the spellings of
    /// collections that follow BraTS 2021's convention (UPenn-GBM's `_T1GD`, UCSF-PDGM's
    /// `_T1c`). None for the Decathlon's and nnU-Net's layouts, whose `dataset.json` says.
    pub fn spellings(self, naming: Naming) -> &'static [&'static str] {
        match (naming, self) {
            (Naming::Decathlon | Naming::NnUnet, _) => &[],
            (Naming::Brats2021, Modality::Flair) => &["_flair"],
            (Naming::Brats2021, Modality::T1) => &["_t1"],
            (Naming::Brats2021, Modality::T1ce) => &["_t1ce", "_t1gd", "_t1c"],
            (Naming::Brats2021, Modality::T2) => &["_t2"],
            (Naming::Brats2023, Modality::Flair) => &["-t2f"],
            (Naming::Brats2023, Modality::T1) => &["-t1n"],
            (Naming::Brats2023, Modality::T1ce) => &["-t1c"],
            (Naming::Brats2023, Modality::T2) => &["-t2w"],
        }
    }
}

/// The case id of a segmentation file's name without `.nii[.gz]`, when it ends in one of
/// the segmentation suffixes of BraTS's namings ([`Naming::seg_spellings`], whatever the
/// case): `"BraTS2021_00000_seg"` → `"BraTS2021_00000"`, `"BraTS-GLI-00001-000-seg"` →
/// `"BraTS-GLI-00001-000"`, UPenn-GBM's `"UPENN-GBM-00001_11_segm"` → `"UPENN-GBM-00001_11"`.
pub fn seg_case_id(stem: &str) -> Option<&str> {
    [Naming::Brats2021, Naming::Brats2023]
        .iter()
        .find_map(|n| id_before(stem, n.seg_spellings()))
}

/// The case's id when `stem` ends in one of `spellings`, compared whatever the case
/// (`"UPENN-GBM-00001_11_T1GD"` with `_t1gd` → `"UPENN-GBM-00001_11"`).
fn id_before<'a>(stem: &'a str, spellings: &[&str]) -> Option<&'a str> {
    spellings.iter().find_map(|s| {
        let cut = stem.len().checked_sub(s.len())?;
        (stem.is_char_boundary(cut) && stem[cut..].eq_ignore_ascii_case(s)).then(|| &stem[..cut])
    })
}

/// A file-naming convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// `ID_flair.nii.gz`, `ID_t1.nii.gz`, `ID_t1ce.nii.gz`, `ID_t2.nii.gz`, `ID_seg.nii.gz`.
    Brats2021,
    /// `ID-t2f.nii.gz`, `ID-t1n.nii.gz`, `ID-t1c.nii.gz`, `ID-t2w.nii.gz`, `ID-seg.nii.gz`.
    Brats2023,
    /// The Medical Segmentation Decathlon's: `imagesTr/ID.nii.gz` (one 4D file, channels as
    /// `dataset.json` says) and `labelsTr/ID.nii.gz` ([`crate::decathlon`]).
    Decathlon,
    /// nnU-Net's raw data: `imagesTr/ID_0000.nii.gz` … `ID_0003.nii.gz` (one file per
    /// channel, which is which as `dataset.json` says) and `labelsTr/ID.nii.gz`
    /// ([`crate::nnunet`]).
    NnUnet,
}

impl Naming {
    /// The segmentation suffix files are written with: the first of
    /// [`Naming::seg_spellings`] (none for the Decathlon's and nnU-Net's layouts).
    pub fn seg_suffix(self) -> &'static str {
        self.seg_spellings().first().copied().unwrap_or_default()
    }

    /// Every suffix a case folder's segmentation may end in (compared whatever the case):
    /// BraTS's own first ([`Naming::seg_suffix`]), then UPenn-GBM's `_segm` and UCSF-PDGM's
    /// `_tumor_segmentation` under BraTS 2021's naming.
    pub fn seg_spellings(self) -> &'static [&'static str] {
        match self {
            Naming::Brats2021 => &["_seg", "_segm", "_tumor_segmentation"],
            Naming::Brats2023 => &["-seg"],
            Naming::Decathlon | Naming::NnUnet => &[],
        }
    }

    /// The label scheme that goes with this naming: BraTS 2021's files hold labels 1/2/4,
    /// BraTS 2023's 1/2/3, the Decathlon's 1 edema / 2 core / 3 enhancing, and so do
    /// nnU-Net's own BraTS conversions (Dataset001, Dataset137), unless the `dataset.json`
    /// says otherwise: [`CasePaths::scheme`].
    pub fn scheme(self) -> crate::LabelScheme {
        match self {
            Naming::Brats2021 => crate::LabelScheme::brats2021(),
            Naming::Brats2023 => crate::LabelScheme::brats2023(),
            Naming::Decathlon | Naming::NnUnet => crate::LabelScheme::decathlon(),
        }
    }
}

/// The files of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasePaths {
    /// Case id: the file names' common prefix (e.g. `BraTS2021_00000`).
    pub id: String,
    /// The folder.
    pub dir: PathBuf,
    /// Naming convention found.
    pub naming: Naming,
    /// FLAIR, T1, T1ce, T2 (for a 4D file, the same file four times).
    pub images: [PathBuf; 4],
    /// The ground-truth segmentation, when present.
    pub seg: Option<PathBuf>,
    /// For the Decathlon's and nnU-Net's layouts, what the dataset's `dataset.json` says:
    /// which volume (or channel file) is which modality, and what the labels mean.
    pub dataset: Option<crate::decathlon::DatasetJson>,
}

fn nifti_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        if let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !crate::files::is_hidden(n))
            .and_then(nifti_stem)
        {
            out.push((stem.to_string(), path));
        }
    }
    out.sort();
    Ok(out)
}

/// Finds the modalities and the optional segmentation in a case folder, or, given a 4D
/// NIfTI file, the Decathlon case it is ([`crate::decathlon`]: channels and labels from
/// `dataset.json`, the segmentation in the sibling `labels*` folder), or, given an nnU-Net
/// case's prefix (`imagesTr/X` for `imagesTr/X_0000.nii.gz` …) or one of its channel files,
/// that case ([`crate::nnunet`]).
///
/// # Errors
/// [`Error::Io`] when the folder cannot be read; [`Error::CaseLayout`] when a modality is
/// missing, found twice, or the two naming conventions are mixed, or the file given is not
/// a NIfTI file; [`Error::Config`] for a `dataset.json` that does not say which volume is
/// which modality or what the labels are.
pub fn find_case(dir: impl AsRef<Path>) -> Result<CasePaths> {
    let dir = dir.as_ref();
    if let Some(prefix) = crate::nnunet::case_prefix(dir) {
        return find_split(&prefix);
    }
    if dir.is_file() {
        return find_stacked(dir);
    }
    let files = nifti_files(dir)?;
    let layout = |problem: String| Error::CaseLayout {
        dir: dir.to_path_buf(),
        problem,
    };
    let mut best: Option<(Naming, usize)> = None;
    for naming in [Naming::Brats2021, Naming::Brats2023] {
        let n = Modality::ALL
            .iter()
            .filter(|m| {
                files
                    .iter()
                    .any(|(s, _)| id_before(s, m.spellings(naming)).is_some())
            })
            .count();
        if n > 0 && best.is_none_or(|(_, b)| n > b) {
            best = Some((naming, n));
        }
    }
    let Some((naming, _)) = best else {
        return Err(layout(format!(
            "no BraTS modality files (*_flair/_t1/_t1ce/_t2, T1ce also _t1gd or _t1c, or *-t2f/-t1n/-t1c/-t2w .nii[.gz], any case) among {} NIfTI file(s)",
            files.len()
        )));
    };
    let mut images: Vec<PathBuf> = Vec::with_capacity(4);
    let mut id: Option<String> = None;
    for m in Modality::ALL {
        let spellings = m.spellings(naming);
        let hits: Vec<(&str, &PathBuf)> = files
            .iter()
            .filter_map(|(s, p)| Some((id_before(s, spellings)?, p)))
            .collect();
        match hits.as_slice() {
            [] => {
                let suffix = spellings.join(" or ");
                return Err(layout(format!(
                    "missing modality {} (a file ending in {suffix}, then .nii.gz or .nii)",
                    m.name()
                )));
            }
            [(this_id, path)] => {
                match &id {
                    Some(prev) if prev != this_id => {
                        return Err(layout(format!(
                            "files of two cases mixed: {prev:?} and {this_id:?}"
                        )))
                    }
                    _ => id = Some(this_id.to_string()),
                }
                images.push((*path).clone());
            }
            many => {
                return Err(layout(format!(
                    "modality {} found {} times: {}",
                    m.name(),
                    many.len(),
                    listed(many)
                )))
            }
        }
    }
    let id = id.unwrap_or_default();
    // Every file that looks like a segmentation; of several, the one named after the case.
    let found: Vec<(&str, &PathBuf)> = files
        .iter()
        .filter_map(|(s, p)| Some((id_before(s, naming.seg_spellings())?, p)))
        .collect();
    let seg = match found.as_slice() {
        [] => None,
        [(_, p)] => Some((*p).clone()),
        many => match many.iter().filter(|(seg_id, _)| *seg_id == id).collect::<Vec<_>>()[..] {
            [(_, p)] => Some((*p).clone()),
            ref named => {
                return Err(layout(format!(
                    "{} segmentation files and {} of them named after the case {id:?} (one is needed): {}",
                    many.len(),
                    named.len(),
                    listed(many)
                )))
            }
        },
    };
    let images: [PathBuf; 4] = images
        .try_into()
        .map_err(|_| layout("internal: expected four modalities".into()))?;
    Ok(CasePaths {
        id,
        dir: dir.to_path_buf(),
        naming,
        images,
        seg,
        dataset: None,
    })
}

/// The paths of `(id, path)` pairs, comma-separated, for an error.
fn listed(files: &[(&str, &PathBuf)]) -> String {
    files
        .iter()
        .map(|(_, p)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first of the files `names` in the labels folder beside the images folder `dir`
/// (`imagesTr` → `labelsTr`, `imagesTs` → `labelsTs`) that exists.
fn sibling_labels(dir: &Path, names: &[String]) -> Option<PathBuf> {
    let split = dir.file_name()?.to_str()?.strip_prefix("images")?;
    let labels = dir.with_file_name(format!("labels{split}"));
    names.iter().map(|n| labels.join(n)).find(|p| p.is_file())
}

/// The case of a 4D image file: its id is the file name without `.nii[.gz]`; its labels, if
/// any, are the file of the same name in the sibling `labels*` folder (`imagesTr/X.nii.gz`
/// → `labelsTr/X.nii.gz`).
///
/// # Errors
/// [`Error::CaseLayout`] when the file is not a NIfTI file or is hidden; as
/// [`crate::decathlon::DatasetJson::for_image`].
fn find_stacked(file: &Path) -> Result<CasePaths> {
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let layout = |problem: String| Error::CaseLayout {
        dir: file.to_path_buf(),
        problem,
    };
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| layout("not a file name".into()))?;
    if crate::files::is_hidden(name) {
        return Err(layout(
            "a hidden file (a name starting with '.', such as the ._ resource forks of a macOS archive), not a case".into(),
        ));
    }
    let id = nifti_stem(name)
        .ok_or_else(|| {
            layout("a case is a folder (BraTS) or a 4D .nii/.nii.gz file (Decathlon)".into())
        })?
        .to_string();
    let seg = sibling_labels(&dir, &[name.to_string()]);
    let spec = crate::decathlon::DatasetJson::for_image(file)?;
    Ok(CasePaths {
        id,
        dir,
        naming: Naming::Decathlon,
        images: std::array::from_fn(|_| file.to_path_buf()),
        seg,
        dataset: Some(spec),
    })
}

/// The case whose files start with `prefix` (`imagesTr/X` → `imagesTr/X_0000.nii.gz` …):
/// which file is which modality from `dataset.json` (in the folder above `imagesTr`, or
/// beside the files), the labels `labelsTr/X.nii.gz` when present.
///
/// # Errors
/// [`Error::CaseLayout`] when there is no `dataset.json`, or it names no channels, or a
/// channel's file is missing; as [`crate::decathlon::DatasetJson::read`].
fn find_split(prefix: &Path) -> Result<CasePaths> {
    let layout = |problem: String| Error::CaseLayout {
        dir: prefix.to_path_buf(),
        problem,
    };
    let id = prefix
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| layout("not a case name".into()))?
        .to_string();
    let first = crate::nnunet::channel_path(prefix, 0)
        .ok_or_else(|| layout(format!("no channel file {id}_0000.nii.gz")))?;
    let json = crate::decathlon::dataset_json_of(&first).ok_or_else(|| {
        layout(
            "nnU-Net channel files (_0000 … _0003) but no dataset.json above or beside them: its channel_names must say which is which".into(),
        )
    })?;
    let spec = crate::decathlon::DatasetJson::read(&json)?;
    if spec.channels.is_none() {
        return Err(Error::config(
            format!("{}: channel_names", json.display()),
            "missing: an nnU-Net dataset.json must name its channels (channel_names, or modality in nnU-Net v1)",
        ));
    }
    let mut images = Vec::with_capacity(4);
    for (m, &channel) in spec.frames.iter().enumerate() {
        images.push(crate::nnunet::channel_path(prefix, channel).ok_or_else(|| {
            layout(format!(
                "missing {id}_{channel:04}.nii.gz, the {} channel by {}",
                crate::Modality::ALL[m].name(),
                json.display()
            ))
        })?);
    }
    let dir = prefix.parent().unwrap_or(Path::new(".")).to_path_buf();
    let seg = sibling_labels(&dir, &[format!("{id}.nii.gz"), format!("{id}.nii")]);
    let images: [PathBuf; 4] = images
        .try_into()
        .map_err(|_| layout("internal: expected four channels".into()))?;
    Ok(CasePaths {
        id,
        dir,
        naming: Naming::NnUnet,
        images,
        seg,
        dataset: Some(spec),
    })
}

/// Where the cases of a dataset folder are, without reading them, sorted by name: every
/// sub-folder holding NIfTI files (BraTS), every nnU-Net case among the folder's files (as
/// its prefix, `imagesTr/X` for `X_0000.nii.gz` … `X_0003.nii.gz`), and every other NIfTI
/// file in the folder itself (a 4D file per case, as in the Decathlon's `imagesTr`). A
/// Decathlon or nnU-Net dataset folder (one holding `imagesTr`) gives the cases of
/// `imagesTr`, the ones with labels.
///
/// # Errors
/// [`Error::Io`] when a folder cannot be read.
pub fn case_sources(dataset: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let mut dataset = dataset.as_ref().to_path_buf();
    if dataset.join("imagesTr").is_dir() {
        dataset = dataset.join("imagesTr");
    }
    let entries = std::fs::read_dir(&dataset).map_err(|e| Error::io(&dataset, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(&dataset, e))?.path();
        if path.is_dir() && !nifti_files(&path)?.is_empty() {
            out.push(path);
        }
    }
    let files = crate::files::image_names(&dataset)?;
    let split = crate::nnunet::cases_among(&files);
    for name in files {
        match crate::nnunet::channel_file(&name) {
            // `split` is sorted (cases_among's ids come from a BTreeMap).
            Some((id, _)) if split.binary_search_by(|s| s.as_str().cmp(id)).is_ok() => {}
            _ => out.push(dataset.join(name)),
        }
    }
    out.extend(split.iter().map(|id| dataset.join(id)));
    out.sort();
    Ok(out)
}

/// The cases of a dataset folder ([`case_sources`]), each found with [`find_case`].
///
/// # Errors
/// [`Error::Io`] when the folder cannot be read; the first sub-folder that holds NIfTI files
/// but is not a valid case gives its [`Error::CaseLayout`].
pub fn list_cases(dataset: impl AsRef<Path>) -> Result<Vec<CasePaths>> {
    case_sources(dataset)?.iter().map(find_case).collect()
}

/// A loaded case: four co-registered images and the optional ground truth.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case id.
    pub id: String,
    /// FLAIR, T1, T1ce, T2 as `f32`, each of array shape `[k, j, i]`.
    pub images: [Volume<f32>; 4],
    /// Ground-truth label values (not yet checked against a scheme).
    pub seg: Option<Volume<u8>>,
    /// What `seg`'s values mean when the layout says so (a Decathlon or nnU-Net case's
    /// labels, from its `dataset.json`: 1 edema, 2 core, 3 enhancing, which would read as
    /// BraTS 2023's with core and edema swapped; a BraTS 2023+ folder's, BraTS 2024's, whose
    /// 4 is the resection cavity and not BraTS 2021's enhancing tumour); `None` for BraTS
    /// 2021 folders, whose values tell their scheme (1/2/4 or 1/2/3).
    pub seg_scheme: Option<crate::LabelScheme>,
}

impl Case {
    /// A case from its four images (FLAIR, T1, T1ce, T2) and optional ground truth, whose
    /// values tell their scheme (BraTS 2021's 1/2/4 or 2023's 1/2/3): no `seg_scheme`.
    pub fn new(id: impl Into<String>, images: [Volume<f32>; 4], seg: Option<Volume<u8>>) -> Case {
        Case {
            id: id.into(),
            images,
            seg,
            seg_scheme: None,
        }
    }

    /// The case with what its ground truth's values mean ([`Case::seg_scheme`]).
    pub fn with_seg_scheme(mut self, scheme: crate::LabelScheme) -> Case {
        self.seg_scheme = Some(scheme);
        self
    }

    /// The shared grid (the FLAIR's, with its header).
    pub fn geometry(&self) -> &Geometry {
        self.images[0].geometry()
    }

    /// The image of one modality.
    pub fn image(&self, m: Modality) -> &Volume<f32> {
        &self.images[m.channel()]
    }
}

impl CasePaths {
    /// Loads the four images (in parallel) and the segmentation, and checks that they share
    /// one grid: same dims and affines within [`AFFINE_TOLERANCE`].
    ///
    /// # Errors
    /// Any reading error, naming its file; [`Error::GridMismatch`] naming the two files and
    /// what differs.
    pub fn load(&self, reader: &NiftiReader) -> Result<Case> {
        if self.naming == Naming::Decathlon {
            let default = crate::decathlon::DatasetJson::default();
            return self.load_stacked(reader, self.dataset.as_ref().unwrap_or(&default));
        }
        let results: Vec<Result<Volume<f32>>> =
            self.images.par_iter().map(|p| reader.read_f32(p)).collect();
        let mut images = Vec::with_capacity(4);
        for r in results {
            images.push(r?);
        }
        let seg = self
            .seg
            .as_ref()
            .map(|p| reader.read_labels(p))
            .transpose()?;
        let reference = images[0].geometry();
        for (i, img) in images.iter().enumerate().skip(1) {
            check_same_grid(&self.images[0], reference, &self.images[i], img.geometry())?;
        }
        if let (Some(seg), Some(path)) = (&seg, &self.seg) {
            check_same_grid(&self.images[0], reference, path, seg.geometry())?;
        }
        let images: [Volume<f32>; 4] = images.try_into().map_err(|_| Error::CaseLayout {
            dir: self.dir.clone(),
            problem: "internal: expected four images".into(),
        })?;
        Ok(Case {
            id: self.id.clone(),
            images,
            seg_scheme: seg.as_ref().and_then(|_| self.seg_scheme()),
            seg,
        })
    }

    /// What the values of the case's segmentation mean when its layout says so (the loaded
    /// [`Case::seg_scheme`]): the
    /// `dataset.json`'s labels (Decathlon, nnU-Net); for BraTS 2023+ naming, BraTS 2024's,
    /// which read 2023's maps and the resection cavity (4) of 2024's post-treatment cases as
    /// no tumour (guessed from the values, a 2024 case without enhancing tumour would read
    /// as BraTS 2021's, its cavity as enhancing tumour); `None` for BraTS 2021 naming, whose
    /// values tell their scheme.
    pub fn seg_scheme(&self) -> Option<crate::LabelScheme> {
        match (&self.dataset, self.naming) {
            (Some(d), _) => Some(d.scheme.clone()),
            (None, Naming::Brats2023) => Some(crate::LabelScheme::brats2024()),
            (None, _) => None,
        }
    }

    /// The labels of the case's segmentation: its `dataset.json`'s for a Decathlon or
    /// nnU-Net case, else its naming's ([`Naming::scheme`]).
    pub fn scheme(&self) -> crate::LabelScheme {
        self.dataset
            .as_ref()
            .map_or_else(|| self.naming.scheme(), |s| s.scheme.clone())
    }

    /// One 4D file: the volumes `spec` names, in FLAIR, T1, T1ce, T2 order.
    fn load_stacked(
        &self,
        reader: &NiftiReader,
        spec: &crate::decathlon::DatasetJson,
    ) -> Result<Case> {
        let path = &self.images[0];
        let frames = reader.read_frames_f32(path)?;
        let need = spec.frames.iter().max().map_or(4, |m| m + 1);
        let expected = if spec.source.is_some() { need } else { 4 };
        if frames.len() < need || (spec.source.is_none() && frames.len() != 4) {
            return Err(Error::CaseLayout {
                dir: path.clone(),
                problem: format!(
                    "{} volume(s) along the 4th axis; {expected} expected ({})",
                    frames.len(),
                    spec.source.as_ref().map_or_else(
                        || "FLAIR, T1, T1ce, T2: the Decathlon's order, no dataset.json found"
                            .to_string(),
                        |s| format!("as {} says", s.display())
                    )
                ),
            });
        }
        let mut frames: Vec<Option<Volume<f32>>> = frames.into_iter().map(Some).collect();
        let images: Vec<Volume<f32>> = spec
            .frames
            .iter()
            .filter_map(|&f| frames.get_mut(f).and_then(Option::take))
            .collect();
        let images: [Volume<f32>; 4] = images.try_into().map_err(|_| Error::CaseLayout {
            dir: path.clone(),
            problem: format!("volumes {:?} are not four different ones", spec.frames),
        })?;
        let seg = self
            .seg
            .as_ref()
            .map(|p| reader.read_labels(p))
            .transpose()?;
        if let (Some(seg), Some(p)) = (&seg, &self.seg) {
            check_same_grid(path, images[0].geometry(), p, seg.geometry())?;
        }
        Ok(Case {
            id: self.id.clone(),
            images,
            seg_scheme: seg.as_ref().map(|_| spec.scheme.clone()),
            seg,
        })
    }

    /// Reads only the headers and lists every way the case's files disagree (dims, spacing
    /// or affine beyond [`AFFINE_TOLERANCE`]); empty when consistent.
    ///
    /// # Errors
    /// Header reading errors, naming the file.
    pub fn consistency_problems(&self, reader: &NiftiReader) -> Result<Vec<String>> {
        if self.naming == Naming::Decathlon {
            // One 4D file: its volumes share its grid; only the labels can differ.
            let image = reader.read_frames_info(&self.images[0])?;
            let mut problems = Vec::new();
            if let Some(seg) = &self.seg {
                let info = reader.read_info(seg)?;
                if let Err(e) =
                    check_same_grid(&self.images[0], &image.geometry, seg, &info.geometry)
                {
                    problems.push(e.to_string());
                }
            }
            return Ok(problems);
        }
        let mut all: Vec<&PathBuf> = self.images.iter().collect();
        all.extend(self.seg.iter());
        let infos = all
            .iter()
            .map(|p| reader.read_info(p))
            .collect::<Result<Vec<_>>>()?;
        let mut problems = Vec::new();
        for (p, info) in all.iter().zip(&infos).skip(1) {
            if let Err(e) = check_same_grid(all[0], &infos[0].geometry, p, &info.geometry) {
                problems.push(e.to_string());
            }
        }
        Ok(problems)
    }
}

/// Checks that two grids match (dims equal, affines within [`AFFINE_TOLERANCE`]).
///
/// # Errors
/// [`Error::GridMismatch`] naming both files and what differs.
pub fn check_same_grid(a_path: &Path, a: &Geometry, b_path: &Path, b: &Geometry) -> Result<()> {
    let what = format!("{} vs {}", a_path.display(), b_path.display());
    if a.dim() != b.dim() {
        return Err(Error::GridMismatch {
            what,
            detail: format!("dims differ: {:?} vs {:?}", a.dim(), b.dim()),
        });
    }
    let diff = a.max_affine_difference(b);
    if diff > AFFINE_TOLERANCE {
        return Err(Error::GridMismatch {
            what,
            detail: format!(
                "affines differ by up to {diff:.4} (tolerance {AFFINE_TOLERANCE}): {:?} vs {:?}",
                a.affine(),
                b.affine()
            ),
        });
    }
    Ok(())
}
