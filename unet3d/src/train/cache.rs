//! Plan and prepare once, on disk (as nnU-Net does): [`prepare`] scans a BraTS folder in
//! parallel, records a dataset fingerprint, proposes a target spacing and patch size for a
//! memory budget, and writes every preprocessed case to a cache folder as one flat file
//! that can be memory-mapped ([`CaseFile`]). It is resumable — a case whose file is there
//! and valid for this preprocessing is not redone — and a bad case (missing modality,
//! mismatched grids, labels outside the scheme, an unreadable file) is reported in
//! `fingerprint.json` and skipped, never silently dropped. Files are written to a temporary
//! name and renamed, so an interrupted or failed run leaves only whole files.
//!
//! Case file layout (`<id>.btscase`, little-endian): the magic `BTSCASE1`, a `u64` header
//! length, the JSON [`CaseHeader`], zero padding to a multiple of 64 bytes, then the image
//! `[4, D, H, W]` as `f32`, the classes `[D, H, W]` as `u8`, and the tumour-voxel index (the
//! flat `[D, H, W]` offsets of every non-background class) as `u32`.

use std::io::Write;
use std::path::{Path, PathBuf};

use brats_io::progress::Progress;
use brats_io::{find_case, NiftiReader, PatchSource, PreprocessConfig, Resample};
use ndarray::{Array3, Array4};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::data::{prepare_case, Split, TrainData, TrainingCase};
use crate::error::{Error, Result};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"BTSCASE1";
/// File extension of a cached case.
pub const EXTENSION: &str = "btscase";

/// What a cached case file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseHeader {
    /// Case id.
    pub id: String,
    /// Image shape `[4, D, H, W]`.
    pub shape: [usize; 4],
    /// Number of tumour voxels in the index.
    pub tumour_voxels: usize,
    /// The preprocessing that made it (a case is redone when this differs).
    pub preprocess: PreprocessConfig,
    /// The label scheme's name.
    pub scheme: String,
    /// Byte offset of the image data (a multiple of 64).
    pub data_offset: usize,
}

/// A cached case: its header and where it lies.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFile {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: CaseHeader,
}

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::File {
        path: path.to_path_buf(),
        message: what.into(),
    }
}

impl CaseFile {
    /// Writes `case` into `dir` (temporary file, then rename).
    ///
    /// # Errors
    /// [`Error::File`] naming the file when it cannot be written (a full disk, a read-only
    /// folder); nothing is left under its name then.
    pub fn write(
        dir: &Path,
        case: &TrainingCase,
        preprocess: &PreprocessConfig,
        scheme: &str,
    ) -> Result<CaseFile> {
        let path = dir.join(format!("{}.{EXTENSION}", case.id));
        let tumour: Vec<u32> = case
            .classes
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0)
            .map(|(i, _)| i as u32)
            .collect();
        let s = case.image.shape();
        let mut header = CaseHeader {
            id: case.id.clone(),
            shape: [s[0], s[1], s[2], s[3]],
            tumour_voxels: tumour.len(),
            preprocess: *preprocess,
            scheme: scheme.to_string(),
            data_offset: 0,
        };
        // The offset depends on the header's length, which depends on the offset's digits.
        for _ in 0..3 {
            let len = serde_json::to_vec(&header)
                .map_err(|e| bad(&path, e.to_string()))?
                .len();
            header.data_offset = (16 + len).div_ceil(64) * 64;
        }
        let json = serde_json::to_vec(&header).map_err(|e| bad(&path, e.to_string()))?;
        let offset = header.data_offset;
        if 16 + json.len() > offset {
            return Err(bad(&path, "case header does not fit its own offset"));
        }
        let classes = case.classes.as_standard_layout();
        let class_bytes = classes.as_slice().unwrap_or_default();
        brats_io::atomic_write(&path, |w| {
            w.write_all(MAGIC)?;
            w.write_all(&(json.len() as u64).to_le_bytes())?;
            w.write_all(&json)?;
            w.write_all(&vec![0u8; offset - 16 - json.len()])?;
            for v in case.image.iter() {
                w.write_all(&v.to_le_bytes())?;
            }
            w.write_all(class_bytes)?;
            for t in &tumour {
                w.write_all(&t.to_le_bytes())?;
            }
            Ok(())
        })
        .map_err(|e| bad(&path, format!("cannot write the cached case: {e}")))?;
        Ok(CaseFile { path, header })
    }

    /// Reads a case file's header and checks that the file is whole.
    ///
    /// # Errors
    /// [`Error::File`] naming the file: not a case file, a damaged header, or truncated.
    pub fn open(path: &Path) -> Result<CaseFile> {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| bad(path, e.to_string()))?;
        let mut head = [0u8; 16];
        f.read_exact(&mut head)
            .map_err(|_| bad(path, "shorter than a case file's header"))?;
        if &head[..8] != MAGIC {
            return Err(bad(path, "not a cached case (magic BTSCASE1 missing)"));
        }
        let len = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default()) as usize;
        if len > 1 << 20 {
            return Err(bad(path, format!("header length {len} is not plausible")));
        }
        let mut json = vec![0u8; len];
        f.read_exact(&mut json)
            .map_err(|_| bad(path, "truncated inside the header"))?;
        let header: CaseHeader =
            serde_json::from_slice(&json).map_err(|e| bad(path, format!("damaged header: {e}")))?;
        let [c, d, h, w] = header.shape;
        let n = d * h * w;
        let expected = header.data_offset + c * n * 4 + n + header.tumour_voxels * 4;
        let actual = f.metadata().map_err(|e| bad(path, e.to_string()))?.len() as usize;
        if actual != expected || c != 4 {
            return Err(bad(
                path,
                format!("{actual} bytes, expected {expected} for a [4, {d}, {h}, {w}] case: truncated or damaged"),
            ));
        }
        Ok(CaseFile {
            path: path.to_path_buf(),
            header,
        })
    }

    /// Loads the whole case into memory.
    ///
    /// # Errors
    /// As [`CaseFile::open`], and read errors naming the file.
    pub fn load(&self) -> Result<TrainingCase> {
        let bytes = std::fs::read(&self.path).map_err(|e| bad(&self.path, e.to_string()))?;
        let [c, d, h, w] = self.header.shape;
        let n = d * h * w;
        let at = self.header.data_offset;
        let image: Vec<f32> = bytes[at..at + c * n * 4]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let classes = bytes[at + c * n * 4..at + c * n * 4 + n].to_vec();
        Ok(TrainingCase {
            id: self.header.id.clone(),
            image: Array4::from_shape_vec((c, d, h, w), image)
                .map_err(|e| bad(&self.path, e.to_string()))?,
            classes: Array3::from_shape_vec((d, h, w), classes)
                .map_err(|e| bad(&self.path, e.to_string()))?,
            group: None,
        })
    }
}

impl CaseFile {
    /// A patch source that reads each patch from this file when it is drawn (nothing of
    /// the case is held in memory but its tumour index).
    ///
    /// # Errors
    /// [`Error::File`] naming the file when it cannot be read.
    pub fn patch_source(&self) -> Result<PatchSource> {
        use std::io::{Read, Seek, SeekFrom};
        let [c, d, h, w] = self.header.shape;
        let n = d * h * w;
        let image_offset = self.header.data_offset as u64;
        let seg_offset = image_offset + (c * n * 4) as u64;
        let mut f = std::fs::File::open(&self.path).map_err(|e| bad(&self.path, e.to_string()))?;
        let mut bytes = vec![0u8; self.header.tumour_voxels * 4];
        f.seek(SeekFrom::Start(seg_offset + n as u64))
            .and_then(|_| f.read_exact(&mut bytes))
            .map_err(|e| bad(&self.path, format!("reading the tumour index: {e}")))?;
        let tumour: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(PatchSource::from_flat_file(
            &self.path,
            image_offset,
            seg_offset,
            c,
            [d, h, w],
            &tumour,
        )?)
    }
}

/// Splits a cache's cases into training and validation exactly as
/// [`TrainData::from_folder`](super::TrainData::from_folder) splits a folder (same shuffle
/// for the same seed), and checks they were prepared with `cfg`'s preprocessing and scheme.
///
/// # Errors
/// [`Error::Config`] for cases prepared otherwise, a bad split, or no training case with
/// tumour.
pub fn split(
    files: Vec<CaseFile>,
    split: &Split,
    cfg: &TrainConfig,
    cache: &Path,
) -> Result<(Vec<CaseFile>, Vec<CaseFile>)> {
    for f in &files {
        if f.header.preprocess != cfg.preprocess || f.header.scheme != cfg.scheme.name() {
            return Err(Error::config(
                "cache",
                format!(
                    "{} was prepared with other preprocessing or another label scheme ({}); run prepare again with this configuration",
                    f.path.display(),
                    f.header.scheme
                ),
            ));
        }
    }
    let (train, validation) =
        super::data::split_cases(files, |f| f.header.id.as_str(), split, cfg.seed, cache)?;
    if !train.iter().any(|f| f.header.tumour_voxels > 0) {
        return Err(Error::config(
            "cache",
            format!(
                "none of the {} training cases holds any tumour voxel",
                train.len()
            ),
        ));
    }
    Ok((train, validation))
}

impl TrainData {
    /// Loads the cases of a cache folder made by [`prepare`] with this
    /// configuration's preprocessing and label scheme.
    ///
    /// # Errors
    /// [`Error::File`] naming a damaged case file or an empty cache; [`Error::Config`] when
    /// a case was prepared with other preprocessing or another scheme (prepare again), or
    /// as [`TrainData::from_folder`] for the split.
    pub fn from_cache(
        cache: &Path,
        rule: &Split,
        cfg: &TrainConfig,
        progress: &dyn Progress,
    ) -> Result<TrainData> {
        let (train, validation) = split(list(cache)?, rule, cfg, cache)?;
        progress.start("loading cache", (train.len() + validation.len()) as u64);
        let load = |files: Vec<CaseFile>| -> Result<Vec<TrainingCase>> {
            files
                .iter()
                .map(|f| {
                    let c = f.load();
                    progress.advance(1);
                    c
                })
                .collect()
        };
        let data = TrainData {
            train: load(train)?,
            validation: load(validation)?,
        };
        progress.finish();
        data.check()?;
        Ok(data)
    }
}

/// One case's entry in the fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFingerprint {
    /// Case id.
    pub id: String,
    /// Source grid `(i, j, k)`.
    pub shape: [usize; 3],
    /// Source voxel size, mm.
    pub spacing: [f64; 3],
    /// Mean and standard deviation of each modality on brain (non-zero) voxels.
    pub intensity: [[f64; 2]; 4],
    /// Voxels per label value of the segmentation.
    pub labels: std::collections::BTreeMap<u8, usize>,
}

/// A case that could not be prepared, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The case folder.
    pub case: String,
    /// The error, naming the file.
    pub reason: String,
}

/// The proposal for training from this cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Median source spacing, mm `(i, j, k)`.
    pub median_spacing: [f64; 3],
    /// Target spacing of the cache, mm (the preprocessing's, else the median).
    pub target_spacing: [f64; 3],
    /// Median preprocessed shape `[D, H, W]`.
    pub median_shape: [usize; 3],
    /// Proposed patch edge (a multiple of 16, within the median shape and the budget).
    pub patch: usize,
    /// Memory budget, GB.
    pub memory_budget_gb: f64,
    /// How the patch was sized.
    pub rule: String,
}

/// What [`prepare`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Cases written now.
    pub written: usize,
    /// Cases already in the cache and valid (a resumed run).
    pub reused: usize,
    /// Every prepared case.
    pub cases: Vec<CaseFingerprint>,
    /// Cases skipped, and why.
    pub skipped: Vec<Skipped>,
    /// Label frequencies over all prepared cases.
    pub label_voxels: std::collections::BTreeMap<u8, usize>,
    /// The proposal.
    pub plan: Plan,
}

/// Training memory per patch voxel at batch 1, bytes — measured on this project's fast
/// network (widths 8–128, deep supervision, fused kernels): about 2.6 kB per voxel.
const BYTES_PER_PATCH_VOXEL: f64 = 2600.0;

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Prepares every case folder of `data` into `cache` with `cfg`'s preprocessing and label
/// scheme; writes `fingerprint.json` there and returns it. `memory_budget_gb` sizes the
/// proposed patch.
///
/// # Errors
/// [`Error::File`] when `data` cannot be listed or `cache` cannot be created or written
/// (the cases written before stay valid); [`Error::Config`] when no case could be prepared.
pub fn prepare(
    data: &Path,
    cache: &Path,
    cfg: &TrainConfig,
    memory_budget_gb: f64,
    progress: &dyn Progress,
) -> Result<Fingerprint> {
    // Case folders, or 4D case files (the Decathlon's imagesTr).
    let dirs: Vec<PathBuf> =
        brats_io::case_sources(data).map_err(|e| bad(data, format!("cannot list: {e}")))?;
    if dirs.is_empty() {
        return Err(Error::config(
            "data",
            format!("{}: no case folder", data.display()),
        ));
    }
    std::fs::create_dir_all(cache)
        .map_err(|e| bad(cache, format!("cannot create the cache folder: {e}")))?;
    let scheme = cfg.scheme.name().to_string();
    progress.start("prepare", dirs.len() as u64);
    let results: Vec<std::result::Result<Prepared, Skipped>> = dirs
        .par_iter()
        .map(|dir| {
            let r = prepare_one(dir, cache, cfg, &scheme);
            progress.advance(1);
            r.map_err(|e| Skipped {
                case: dir.display().to_string(),
                reason: e.to_string(),
            })
        })
        .collect();
    progress.finish();
    let mut fp = Fingerprint {
        written: 0,
        reused: 0,
        cases: Vec::new(),
        skipped: Vec::new(),
        label_voxels: Default::default(),
        plan: Plan {
            median_spacing: [f64::NAN; 3],
            target_spacing: [f64::NAN; 3],
            median_shape: [0; 3],
            patch: 0,
            memory_budget_gb,
            rule: String::new(),
        },
    };
    let mut shapes = Vec::new();
    for r in results {
        match r {
            Ok((c, reused, shape)) => {
                if reused {
                    fp.reused += 1;
                } else {
                    fp.written += 1;
                }
                for (&k, &v) in &c.labels {
                    *fp.label_voxels.entry(k).or_insert(0) += v;
                }
                shapes.push(shape);
                fp.cases.push(c);
            }
            Err(s) => fp.skipped.push(s),
        }
    }
    if fp.cases.is_empty() {
        return Err(Error::config(
            "data",
            format!(
                "no case of {} could be prepared; first problem: {}",
                data.display(),
                fp.skipped.first().map_or("-", |s| s.reason.as_str())
            ),
        ));
    }
    let median_spacing = [0, 1, 2].map(|a| median(fp.cases.iter().map(|c| c.spacing[a]).collect()));
    let median_shape =
        [0, 1, 2].map(|a| median(shapes.iter().map(|s| s[a] as f64).collect()) as usize);
    let target_spacing = match cfg.preprocess.resample {
        Resample::Spacing(s) => s,
        _ => median_spacing,
    };
    let budget_voxels =
        memory_budget_gb * 1e9 / BYTES_PER_PATCH_VOXEL / cfg.batch_size.max(1) as f64;
    let mut patch = 16;
    while patch + 16 <= *median_shape.iter().min().unwrap_or(&16)
        && ((patch + 16) as f64).powi(3) <= budget_voxels
    {
        patch += 16;
    }
    fp.plan = Plan {
        median_spacing,
        target_spacing,
        median_shape,
        patch,
        memory_budget_gb,
        rule: format!(
            "largest multiple of 16 within the median preprocessed shape whose training memory at batch {} \
             (about {:.1} kB per patch voxel, measured on the fast network) fits the budget",
            cfg.batch_size,
            BYTES_PER_PATCH_VOXEL / 1000.0
        ),
    };
    let json = serde_json::to_vec_pretty(&fp).map_err(|e| bad(cache, e.to_string()))?;
    brats_io::atomic_write_bytes(&cache.join("fingerprint.json"), &json)
        .map_err(|e| bad(&cache.join("fingerprint.json"), e.to_string()))?;
    Ok(fp)
}

/// A prepared case: its fingerprint, whether the cached file was reused, its cached shape.
type Prepared = (CaseFingerprint, bool, [usize; 3]);

/// One case: reuse a valid cached file, else load, check, preprocess and write it.
fn prepare_one(dir: &Path, cache: &Path, cfg: &TrainConfig, scheme: &str) -> Result<Prepared> {
    let paths = find_case(dir)?;
    let case = paths.load(&NiftiReader::new())?;
    let seg = case.seg.as_ref().ok_or_else(|| {
        Error::config(
            "data",
            format!("case {} in {} has no segmentation", case.id, dir.display()),
        )
    })?;
    let seg = &*super::data::seg_in_scheme(&case, seg, &cfg.scheme)?;
    let g = case.geometry();
    let intensity = [0, 1, 2, 3].map(|m| {
        let brain = || {
            case.images[m]
                .data()
                .iter()
                .filter(|&&x| x != 0.0 && x.is_finite())
                .map(|&x| f64::from(x))
        };
        let n = brain().count().max(1) as f64;
        let mean = brain().sum::<f64>() / n;
        [
            mean,
            (brain().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt(),
        ]
    });
    let labels = brats_io::LabelScheme::counts(seg.data());
    let fingerprint = CaseFingerprint {
        id: case.id.clone(),
        shape: g.dim(),
        spacing: g.spacing(),
        intensity,
        labels,
    };
    let file = cache.join(format!("{}.{EXTENSION}", case.id));
    if let Ok(existing) = CaseFile::open(&file) {
        if existing.header.preprocess == cfg.preprocess && existing.header.scheme == scheme {
            let [_, d, h, w] = existing.header.shape;
            return Ok((fingerprint, true, [d, h, w]));
        }
    }
    let prepared = prepare_case(&case.id, &case.images, seg, &cfg.scheme, &cfg.preprocess)?;
    let written = CaseFile::write(cache, &prepared, &cfg.preprocess, scheme)?;
    let [_, d, h, w] = written.header.shape;
    Ok((fingerprint, false, [d, h, w]))
}

/// Every valid case file of a cache folder, sorted by id.
///
/// # Errors
/// [`Error::File`] when the folder cannot be listed or holds no case; a damaged case file
/// is an error naming it.
pub fn list(cache: &Path) -> Result<Vec<CaseFile>> {
    let entries = std::fs::read_dir(cache).map_err(|e| bad(cache, format!("cannot list: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == EXTENSION))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(bad(cache, "no cached case (run prepare first)"));
    }
    files.iter().map(|p| CaseFile::open(p)).collect()
}
