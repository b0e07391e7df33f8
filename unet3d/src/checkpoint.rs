//! Checkpoints: weights as safetensors plus a JSON with everything needed to use them —
//! model config, label scheme, channel order, preprocessing, sliding-window settings — and
//! the training metadata (epoch, best score, seed, time, history).
//!
//! A model folder holds `last.json` and `best.json`, each naming its own weight file
//! (`last-e0007.safetensors`, `best-e0005.safetensors`, and for `last` the optimiser state
//! `last-e0007.optimizer.safetensors`). Weight files are written first, each atomically,
//! then the JSON (also atomically) — the JSON is the commit point, so a training run killed
//! at any moment leaves the previous checkpoint whole and readable. Files no JSON names
//! any more are removed afterwards.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use brats_io::{LabelScheme, PreprocessConfig};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::infer::{PostprocessConfig, SlidingWindowConfig};
use crate::model::UNet3dConfig;
use brats_io::atomic_write_bytes;

/// The format tag written in every checkpoint JSON.
pub const FORMAT: &str = "unet3d-checkpoint/1";

/// The input channel order this crate's data pipeline produces (`Case::images`).
pub const CHANNELS: [&str; 4] = ["FLAIR", "T1", "T1ce", "T2"];

/// Which checkpoint of a model folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The best validation score (falls back to `last` when there is none).
    Best,
    /// The end of the latest completed epoch.
    Last,
}

impl Which {
    fn stem(self) -> &'static str {
        match self {
            Which::Best => "best",
            Which::Last => "last",
        }
    }
}

/// One row of the training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Iterations done so far in the run.
    pub iteration: u64,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Learning rate at the epoch's last iteration.
    pub lr: f64,
    /// Validation Dice of WT, TC, ET (means over the validation cases), when validated.
    pub val_dice: Option<[f64; 3]>,
    /// The same means per group of validation cases (for synthetic validation: `realistic`
    /// and `random` contrasts), in the groups' name order; empty when no case has a group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub val_groups: Vec<GroupDice>,
    /// Seconds of training so far (across resumes).
    pub elapsed_s: f64,
}

/// Validation Dice of one group of validation cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDice {
    /// The group ([`crate::train::TrainingCase::group`]).
    pub group: String,
    /// Its number of cases.
    pub cases: usize,
    /// Mean Dice of WT, TC, ET over them.
    pub dice: [f64; 3],
}

/// What a checkpoint JSON holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`FORMAT`].
    pub format: String,
    /// The weight file, relative to the model folder.
    pub weights: String,
    /// The optimiser state file (for `last`), relative to the model folder.
    pub optimizer: Option<String>,
    /// The network.
    pub model: UNet3dConfig,
    /// The label scheme of the training data and of predicted maps.
    pub scheme: LabelScheme,
    /// Input channel names in order.
    pub channels: Vec<String>,
    /// Preprocessing used in training; inference must use the same.
    pub preprocess: PreprocessConfig,
    /// Sliding-window settings used for validation (the inference default).
    pub window: SlidingWindowConfig,
    /// Post-processing recommended for inference.
    #[serde(default)]
    pub postprocess: PostprocessConfig,
    /// Epochs completed.
    pub epoch: usize,
    /// Iterations completed.
    pub iteration: u64,
    /// Mean validation Dice (WT, TC, ET) of this checkpoint, if validated.
    pub score: Option<f64>,
    /// Best score so far in the run and its epoch.
    pub best_score: Option<f64>,
    /// Epoch of `best_score`.
    pub best_epoch: Option<usize>,
    /// The run's seed.
    pub seed: u64,
    /// Seconds of training so far.
    pub elapsed_s: f64,
    /// Unix time of saving.
    pub saved_at_unix_s: u64,
    /// The full training configuration (JSON), to check a resume against.
    pub train_config: serde_json::Value,
    /// History up to this checkpoint.
    pub history: Vec<EpochRecord>,
}

/// Serialises named tensors to safetensors bytes.
pub(crate) fn safetensors_bytes(tensors: &[(String, Tensor)], path: &Path) -> Result<Vec<u8>> {
    let data: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    safetensors::tensor::serialize(data, None).map_err(|e| Error::File {
        path: path.to_path_buf(),
        message: format!("cannot serialise tensors: {e}"),
    })
}

/// Writes named tensors as a safetensors file, atomically.
///
/// # Errors
/// [`Error::File`] / [`Error::Io`] naming the file.
pub fn save_tensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let bytes = safetensors_bytes(tensors, path)?;
    Ok(atomic_write_bytes(path, &bytes)?)
}

/// Reads a safetensors file.
///
/// # Errors
/// [`Error::File`] naming the file.
pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device).map_err(|e| Error::File {
        path: path.to_path_buf(),
        message: format!("not a readable safetensors file: {e}"),
    })
}

/// Reads `best.json` or `last.json` of a model folder (`Best` falls back to `last`).
///
/// # Errors
/// [`Error::File`] when neither exists or the JSON is not a checkpoint; [`Error::Config`]
/// when its model config is invalid.
pub fn read_meta(dir: &Path, which: Which) -> Result<(PathBuf, CheckpointMeta)> {
    let mut path = dir.join(format!("{}.json", which.stem()));
    if which == Which::Best && !path.exists() {
        path = dir.join("last.json");
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::File {
        path: path.clone(),
        message: format!(
            "cannot read the checkpoint ({e}); is this a model folder written by `train`?"
        ),
    })?;
    let meta: CheckpointMeta = serde_json::from_str(&text).map_err(|e| Error::File {
        path: path.clone(),
        message: format!("not a checkpoint JSON: {e}"),
    })?;
    if meta.format != FORMAT {
        return Err(Error::File {
            path,
            message: format!("format {:?}, expected {FORMAT:?}", meta.format),
        });
    }
    meta.model.clone().check()?;
    meta.postprocess.check().map_err(|e| Error::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok((path, meta))
}

/// Writes a checkpoint: its tensor files first, then the JSON, then removes files of the
/// same kind (`{stem}-e*.safetensors`) that the JSON no longer names.
pub(crate) fn write_checkpoint(
    dir: &Path,
    which: Which,
    meta: &CheckpointMeta,
    weights: &[(String, Tensor)],
    optimizer: Option<&[(String, Tensor)]>,
) -> Result<()> {
    save_tensors(weights, &dir.join(&meta.weights))?;
    if let (Some(state), Some(name)) = (optimizer, &meta.optimizer) {
        save_tensors(state, &dir.join(name))?;
    }
    let json_path = dir.join(format!("{}.json", which.stem()));
    let text = serde_json::to_string_pretty(meta).map_err(|e| Error::File {
        path: json_path.clone(),
        message: e.to_string(),
    })?;
    atomic_write_bytes(&json_path, text.as_bytes())?;
    let keep: Vec<&str> = std::iter::once(meta.weights.as_str())
        .chain(meta.optimizer.as_deref())
        .collect();
    let prefix = format!("{}-e", which.stem());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix)
                && name.ends_with(".safetensors")
                && !keep.contains(&name.as_str())
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// What an exported model applies by default, over the training run's own settings
/// ([`export`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExportSettings {
    /// Store the weights as IEEE half precision (half the size; [`crate::UNet3d::load`]
    /// widens them to f32, so only the stored values are rounded).
    pub half: bool,
    /// Replaces the checkpoint's post-processing (for example thresholds chosen with
    /// [`crate::infer::Calibration`]).
    pub postprocess: Option<PostprocessConfig>,
    /// Replaces the checkpoint's `window.mirror_tta`: whether inference averages the eight
    /// mirrored predictions of every window by default.
    pub mirror_tta: Option<bool>,
    /// Replaces the checkpoint's `preprocess.orientation`: the storage order every case is
    /// brought into (losslessly) before the network sees it, e.g. that of the training data.
    pub orientation: Option<brats_io::Orientation>,
}

/// Copies checkpoint `which` of the model folder `src` into `dst` as a model to ship:
/// `best.json` (the same metadata, without the optimiser, with `settings` applied) and
/// `model.safetensors`.
///
/// # Errors
/// As [`read_meta`] and [`load_tensors`]; file errors naming the file written.
pub fn export(src: &Path, which: Which, dst: &Path, settings: &ExportSettings) -> Result<PathBuf> {
    let (_, mut meta) = read_meta(src, which)?;
    if let Some(p) = settings.postprocess {
        meta.postprocess = p;
    }
    if let Some(tta) = settings.mirror_tta {
        meta.window.mirror_tta = tta;
    }
    if let Some(o) = settings.orientation {
        meta.preprocess.orientation = Some(o);
    }
    let tensors = load_tensors(&src.join(&meta.weights), &Device::Cpu)?;
    let mut named: Vec<(String, Tensor)> = tensors.into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    if settings.half {
        for (_, t) in named.iter_mut() {
            *t = t.to_dtype(candle_core::DType::F16)?;
        }
    }
    std::fs::create_dir_all(dst).map_err(|e| Error::File {
        path: dst.to_path_buf(),
        message: format!("cannot create the model folder: {e}"),
    })?;
    meta.weights = "model.safetensors".into();
    meta.optimizer = None;
    save_tensors(&named, &dst.join(&meta.weights))?;
    let json_path = dst.join("best.json");
    let text = serde_json::to_string_pretty(&meta).map_err(|e| Error::File {
        path: json_path.clone(),
        message: e.to_string(),
    })?;
    atomic_write_bytes(&json_path, text.as_bytes())?;
    Ok(json_path)
}
