//! Training: a checked [`TrainConfig`], data from a BraTS-layout folder or generated
//! phantoms ([`TrainData`]), and the [`Trainer`] loop — Dice + focal loss, Adam/AdamW with a
//! poly or cosine schedule, seeded patches and dropout, validation on whole cases through
//! the sliding-window inferer, checkpoints (best and last, atomic) and resume, history as
//! CSV/JSON/PNG.
//!
//! # Reproducibility
//! On the CPU a run is a function of the seed and the thread count: weights come from
//! [`UNet3d::init_tensors`], epoch `e` draws its patches from a sampler seeded with
//! `(seed, e)`, iteration `i`'s dropout masks from `(seed, i)`, and every parallel sum in the
//! convolutions is split into fixed per-thread chunks. Checkpoints are taken at epoch ends
//! with the optimiser's moments, so a resumed run gives bit-identical weights to an
//! uninterrupted one. A `time_limit_s` makes the number of epochs depend on the clock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use brats_io::phantom::PhantomConfig;
use brats_io::render::{line_chart, Canvas, Rgb, Series};
use brats_io::{
    list_cases, LabelScheme, NiftiReader, PatchConfig, PatchSampler, PatchSource, PreprocessConfig,
    Region, Volume,
};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use indicatif::{ProgressBar, ProgressStyle};
use metrics::loss::{
    Activation, Background, DiceFocalConfig, DiceFocalLoss, DiceLossConfig, DiceReduction,
    FocalLossConfig, Target,
};
use metrics::EmptyPolicy;
use ndarray::{Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointMeta, EpochRecord, Which, CHANNELS, FORMAT};
use crate::error::{Error, Result};
use crate::infer::{sliding_window, PostprocessConfig, SlidingWindowConfig};
use crate::io::atomic_write_bytes;
use crate::model::{mix_seed, Mode, Output, UNet3d, UNet3dConfig};
use crate::optim::{Adam, AdamConfig};

/// Learning-rate schedule over the run's iterations (after the warm-up).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// Constant.
    Constant,
    /// `lr · (1 − t/T)^power` (nnU-Net: power 0.9).
    #[default]
    Poly,
    /// `min + (lr − min) · (1 + cos(π t/T))/2` with `min = lr/100`.
    Cosine,
}

/// Loss weights and shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    /// Weight of the soft Dice term.
    pub dice: f64,
    /// Weight of the focal term.
    pub focal: f64,
    /// Focal γ.
    pub focal_gamma: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights {
            dice: 1.0,
            focal: 1.0,
            focal_gamma: 2.0,
        }
    }
}

/// Augmentation switches (applied by the patch sampler).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Random flips of each axis (p = 0.5).
    pub flips: bool,
    /// Random per-channel intensity scale (±10 %) and shift (±0.1 SD).
    pub intensity: bool,
}

impl Default for Augment {
    fn default() -> Self {
        Augment {
            flips: true,
            intensity: true,
        }
    }
}

/// Everything a training run needs; [`TrainConfig::check`] validates it before any work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network.
    pub model: UNet3dConfig,
    /// Label scheme of the training segmentations (and of predicted maps).
    pub scheme: LabelScheme,
    /// Preprocessing, the same at training and inference time.
    pub preprocess: PreprocessConfig,
    /// Patch size `[D, H, W]`, multiples of 16.
    pub patch: [usize; 3],
    /// Patches per iteration.
    pub batch_size: usize,
    /// Epochs.
    pub epochs: usize,
    /// Iterations per epoch.
    pub iterations_per_epoch: usize,
    /// Optimiser.
    pub optimizer: AdamConfig,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Linear warm-up iterations at the start.
    pub warmup_iterations: usize,
    /// Loss weights.
    pub loss: LossWeights,
    /// Share of patches centred on tumour, in `[0, 1]`.
    pub foreground_share: f64,
    /// Augmentation.
    pub augment: Augment,
    /// Validate every this many epochs (and after the last); 0 never.
    pub validation_interval: usize,
    /// Sliding-window settings for validation (saved for inference).
    pub window: SlidingWindowConfig,
    /// Seed of everything random.
    pub seed: u64,
    /// Worker threads; 0 uses rayon's default (all cores).
    pub threads: usize,
    /// Stop after the epoch during which this many seconds have passed (None: no limit).
    pub time_limit_s: Option<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: UNet3dConfig::default(),
            scheme: LabelScheme::brats2021(),
            preprocess: PreprocessConfig::default(),
            patch: [128, 128, 128],
            batch_size: 2,
            epochs: 100,
            iterations_per_epoch: 250,
            optimizer: AdamConfig::default(),
            schedule: Schedule::Poly,
            warmup_iterations: 0,
            loss: LossWeights::default(),
            foreground_share: 1.0 / 3.0,
            augment: Augment::default(),
            validation_interval: 1,
            window: SlidingWindowConfig::default(),
            seed: 0,
            threads: 0,
            time_limit_s: None,
        }
    }
}

impl TrainConfig {
    /// Validates every field (and the nested model, preprocessing, optimiser, window).
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(&self) -> Result<()> {
        self.model.check()?;
        self.preprocess.check()?;
        self.optimizer.check()?;
        self.window.check()?;
        if self.model.in_channels != CHANNELS.len() {
            return Err(Error::config(
                "model.in_channels",
                format!(
                    "the data has 4 channels ({CHANNELS:?}), got {}",
                    self.model.in_channels
                ),
            ));
        }
        match self.model.final_activation {
            Output::Softmax if self.model.n_classes != self.scheme.n_classes() => {
                return Err(Error::config(
                    "model.n_classes",
                    format!(
                        "softmax output needs {} classes for label scheme {}, got {}",
                        self.scheme.n_classes(),
                        self.scheme.name(),
                        self.model.n_classes
                    ),
                ))
            }
            _ => {}
        }
        if self.patch.iter().any(|&p| p == 0 || p % 16 != 0) {
            return Err(Error::config(
                "patch",
                format!(
                    "every axis must be a positive multiple of 16, got {:?}",
                    self.patch
                ),
            ));
        }
        for (name, v) in [
            ("batch_size", self.batch_size),
            ("epochs", self.epochs),
            ("iterations_per_epoch", self.iterations_per_epoch),
        ] {
            if v == 0 {
                return Err(Error::config(name, "must be ≥ 1, got 0"));
            }
        }
        let l = self.loss;
        for (name, v) in [
            ("loss.dice", l.dice),
            ("loss.focal", l.focal),
            ("loss.focal_gamma", l.focal_gamma),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(
                    name,
                    format!("must be finite and ≥ 0, got {v}"),
                ));
            }
        }
        if l.dice + l.focal == 0.0 {
            return Err(Error::config("loss", "dice and focal weights are both 0"));
        }
        if !(0.0..=1.0).contains(&self.foreground_share) {
            return Err(Error::config(
                "foreground_share",
                format!("must be in [0, 1], got {}", self.foreground_share),
            ));
        }
        if let Some(t) = self.time_limit_s {
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::config(
                    "time_limit_s",
                    format!("must be finite and > 0, got {t}"),
                ));
            }
        }
        Ok(())
    }

    /// The learning rate at iteration `it` (0-based) of `total`.
    pub fn lr_at(&self, it: u64, total: u64) -> f64 {
        let lr = self.optimizer.lr;
        let w = self.warmup_iterations as u64;
        if it < w {
            return lr * (it + 1) as f64 / w as f64;
        }
        let t = (it - w) as f64 / (total.saturating_sub(w)).max(1) as f64;
        match self.schedule {
            Schedule::Constant => lr,
            Schedule::Poly => lr * (1.0 - t).max(0.0).powf(0.9),
            Schedule::Cosine => {
                let min = lr / 100.0;
                min + (lr - min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }

    /// The loss this configuration trains with: softmax Dice + softmax focal over all
    /// classes (background included: the focal term's only penalty for tumour predicted in
    /// healthy tissue comes from the background channel; batch Dice) for class output;
    /// sigmoid Dice + sigmoid focal for regions.
    ///
    /// # Errors
    /// [`Error::Metrics`] for invalid loss parameters.
    pub fn loss_fn(&self) -> Result<DiceFocalLoss> {
        let (activation, background) = match self.model.final_activation {
            Output::Softmax => (Activation::Softmax, Background::Include),
            Output::SigmoidRegions => (Activation::Sigmoid, Background::Include),
        };
        Ok(DiceFocalConfig {
            dice: DiceLossConfig {
                activation,
                background,
                reduction: DiceReduction::Batch,
                ..Default::default()
            },
            focal: FocalLossConfig {
                activation,
                gamma: self.loss.focal_gamma,
                ..Default::default()
            },
            lambda_dice: self.loss.dice,
            lambda_focal: self.loss.focal,
        }
        .check()?)
    }

    fn patch_config(&self) -> PatchConfig {
        PatchConfig {
            patch: self.patch,
            foreground_share: self.foreground_share,
            flip_probability: if self.augment.flips { 0.5 } else { 0.0 },
            intensity_scale: if self.augment.intensity { 0.1 } else { 0.0 },
            intensity_shift: if self.augment.intensity { 0.1 } else { 0.0 },
        }
    }

    /// The fields a resume must agree on (everything but epochs and the time limit).
    fn resume_key(&self) -> serde_json::Value {
        let mut c = self.clone();
        c.epochs = 0;
        c.time_limit_s = None;
        serde_json::to_value(c).unwrap_or_default()
    }
}

/// A preprocessed case ready for training or validation.
#[derive(Debug, Clone)]
pub struct TrainingCase {
    /// Case id.
    pub id: String,
    /// Preprocessed image `[4, D, H, W]`.
    pub image: Array4<f32>,
    /// Classes `[D, H, W]` (0 background, then the scheme's labels in order).
    pub classes: Array3<u8>,
}

/// How to split a folder into training and validation cases.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// This share of the cases (rounded, at least one when the share is > 0) goes to
    /// validation after a shuffle seeded by the config's seed.
    Fraction(f64),
    /// These case ids are the validation set.
    Ids(Vec<String>),
}

/// Training and validation cases.
#[derive(Debug, Clone, Default)]
pub struct TrainData {
    /// Training cases.
    pub train: Vec<TrainingCase>,
    /// Validation cases (may be empty: no validation).
    pub validation: Vec<TrainingCase>,
}

fn progress_bar(len: u64, show: bool, prefix: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} {elapsed_precise} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_prefix(prefix.to_string());
    pb
}

/// Preprocesses one case for training (`seg` must be in `scheme`).
///
/// # Errors
/// Preprocessing errors; [`Error::Io`] with the scheme's message when the seg holds a label
/// outside `scheme`.
pub fn prepare_case(
    id: &str,
    images: &[Volume<f32>],
    seg: &Volume<u8>,
    scheme: &LabelScheme,
    preprocess: &PreprocessConfig,
) -> Result<TrainingCase> {
    let pre = preprocess.check()?.apply(images, Some(seg))?;
    let seg = pre
        .seg
        .ok_or_else(|| Error::config("seg", "lost in preprocessing"))?;
    let classes = scheme.to_classes(&seg, &format!("segmentation of case {id}"))?;
    Ok(TrainingCase {
        id: id.to_string(),
        image: pre.image,
        classes,
    })
}

impl TrainData {
    /// Loads and preprocesses every case of a BraTS-layout folder (each must have a seg).
    ///
    /// # Errors
    /// Reading errors naming the file; [`Error::Config`] when the folder has no case, a case
    /// has no segmentation, a validation id is unknown, or no training case holds any tumour.
    pub fn from_folder(
        dir: &Path,
        split: &Split,
        cfg: &TrainConfig,
        show_progress: bool,
    ) -> Result<TrainData> {
        let mut cases = list_cases(dir)?;
        if cases.is_empty() {
            return Err(Error::config(
                "data",
                format!("{}: no BraTS case folder found", dir.display()),
            ));
        }
        let reader = NiftiReader::new();
        let pb = progress_bar(cases.len() as u64, show_progress, "loading");
        let mut prepared = Vec::with_capacity(cases.len());
        for c in cases.drain(..) {
            let case = c.load(&reader)?;
            let seg = case.seg.as_ref().ok_or_else(|| {
                Error::config(
                    "data",
                    format!(
                        "case {} in {} has no segmentation",
                        case.id,
                        c.dir.display()
                    ),
                )
            })?;
            prepared.push(prepare_case(
                &case.id,
                &case.images,
                seg,
                &cfg.scheme,
                &cfg.preprocess,
            )?);
            pb.inc(1);
        }
        pb.finish_and_clear();
        let data = match split {
            Split::Fraction(f) => {
                if !(0.0..1.0).contains(f) {
                    return Err(Error::config(
                        "validation fraction",
                        format!("must be in [0, 1), got {f}"),
                    ));
                }
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(cfg.seed, 77));
                for i in (1..prepared.len()).rev() {
                    prepared.swap(i, rng.random_range(0..=i));
                }
                let mut n_val = (prepared.len() as f64 * f).round() as usize;
                if *f > 0.0 {
                    n_val = n_val.max(1);
                }
                n_val = n_val.min(prepared.len().saturating_sub(1));
                let validation = prepared.split_off(prepared.len() - n_val);
                TrainData {
                    train: prepared,
                    validation,
                }
            }
            Split::Ids(ids) => {
                for id in ids {
                    if !prepared.iter().any(|c| &c.id == id) {
                        return Err(Error::config(
                            "validation ids",
                            format!("case {id:?} is not in {}", dir.display()),
                        ));
                    }
                }
                let (validation, train) = prepared.into_iter().partition(|c| ids.contains(&c.id));
                TrainData { train, validation }
            }
        };
        data.check()?;
        Ok(data)
    }

    /// Generates `n_train + n_val` phantoms in memory (case `n` from seed `seed + n`; the
    /// validation cases come last) and preprocesses them.
    ///
    /// # Errors
    /// Phantom or preprocessing configuration errors.
    pub fn phantoms(
        n_train: usize,
        n_val: usize,
        phantom: &PhantomConfig,
        seed: u64,
        cfg: &TrainConfig,
        show_progress: bool,
    ) -> Result<TrainData> {
        let gen = phantom.clone().check()?;
        let total = n_train + n_val;
        let pb = progress_bar(total as u64, show_progress, "phantoms");
        let prepared: Vec<Result<TrainingCase>> = (0..total)
            .into_par_iter()
            .map(|n| {
                let case = gen.generate(seed + n as u64)?;
                let c = prepare_case(
                    &case.truth.id,
                    &case.images,
                    &case.seg,
                    &phantom.scheme,
                    &cfg.preprocess,
                )?;
                pb.inc(1);
                Ok(c)
            })
            .collect();
        pb.finish_and_clear();
        let mut prepared = prepared.into_iter().collect::<Result<Vec<_>>>()?;
        if phantom.scheme != cfg.scheme {
            return Err(Error::config(
                "scheme",
                format!(
                    "the phantoms use {} but the model is trained for {}",
                    phantom.scheme.name(),
                    cfg.scheme.name()
                ),
            ));
        }
        let validation = prepared.split_off(n_train);
        let data = TrainData {
            train: prepared,
            validation,
        };
        data.check()?;
        Ok(data)
    }

    /// Checks that there is a training case and that some training case holds tumour.
    ///
    /// # Errors
    /// [`Error::Config`] otherwise.
    pub fn check(&self) -> Result<()> {
        if self.train.is_empty() {
            return Err(Error::config("data", "no training case"));
        }
        if !self.train.iter().any(|c| c.classes.iter().any(|&v| v != 0)) {
            return Err(Error::config(
                "data",
                format!(
                    "none of the {} training cases holds any tumour voxel: nothing to learn",
                    self.train.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The result of [`Trainer::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Epochs completed in the run (including those before a resume).
    pub epochs: usize,
    /// Iterations completed.
    pub iterations: u64,
    /// Best mean validation Dice and its epoch.
    pub best_score: Option<f64>,
    /// Epoch of the best score.
    pub best_epoch: Option<usize>,
    /// Validation Dice (WT, TC, ET) of the last validated epoch.
    pub last_val_dice: Option<[f64; 3]>,
    /// Seconds of training (across resumes).
    pub elapsed_s: f64,
    /// True when the time limit ended the run early.
    pub stopped_by_time_limit: bool,
}

/// Runs training into a model folder.
#[derive(Debug, Clone)]
pub struct Trainer {
    cfg: TrainConfig,
    out: PathBuf,
    progress: bool,
}

/// Named parameters in the config's order, as `Var`s.
fn vars_from(tensors: Vec<(String, Tensor)>) -> Result<Vec<(String, Var)>> {
    tensors
        .into_iter()
        .map(|(n, t)| Ok((n, Var::from_tensor(&t.to_dtype(DType::F32)?)?)))
        .collect()
}

fn net_from(cfg: &UNet3dConfig, vars: &[(String, Var)], dev: &Device) -> Result<UNet3d> {
    let map: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    UNet3d::new(cfg, VarBuilder::from_tensors(map, DType::F32, dev))
}

/// For every class index (0 background, then the scheme's labels in order) whether it
/// belongs to WT, TC and ET.
fn class_regions(scheme: &LabelScheme) -> [[bool; 3]; 256] {
    let mut table = [[false; 3]; 256];
    for (c, l) in scheme.labels().iter().enumerate() {
        for (i, r) in [Region::Wt, Region::Tc, Region::Et].into_iter().enumerate() {
            table[c + 1][i] = l.compartment.in_region(r);
        }
    }
    table
}

/// Per-region Dice (WT, TC, ET) of predicted and true class maps.
pub fn region_dice(
    pred: &Array3<u8>,
    truth: &Array3<u8>,
    scheme: &LabelScheme,
) -> Result<[f64; 3]> {
    let table = class_regions(scheme);
    let mut out = [0.0; 3];
    for (i, d) in out.iter_mut().enumerate() {
        let p = pred.mapv(|v| table[v as usize][i]);
        let t = truth.mapv(|v| table[v as usize][i]);
        *d = metrics::overlap::dice(p.view(), t.view(), EmptyPolicy::Brats2023)?;
    }
    Ok(out)
}

/// Class map from probabilities `[n_out, D, H, W]`: argmax for softmax; for region
/// sigmoids, thresholds at 0.5 with the inner region winning.
pub fn classes_from_probabilities(
    probs: &Array4<f32>,
    output: Output,
    scheme: &LabelScheme,
) -> Result<Array3<u8>> {
    let shape = [probs.shape()[1], probs.shape()[2], probs.shape()[3]];
    match output {
        Output::Softmax => {
            let mut best = Array3::<f32>::from_elem(shape, f32::NEG_INFINITY);
            let mut cls = Array3::<u8>::zeros(shape);
            for (c, ch) in probs.axis_iter(Axis(0)).enumerate() {
                ndarray::Zip::from(&mut best)
                    .and(&mut cls)
                    .and(&ch)
                    .for_each(|b, k, &p| {
                        if p > *b {
                            *b = p;
                            *k = c as u8;
                        }
                    });
            }
            Ok(cls)
        }
        Output::SigmoidRegions => {
            let m = |i: usize| probs.index_axis(Axis(0), i).mapv(|p| p > 0.5);
            let labels = scheme.from_regions(&m(0), &m(1), &m(2))?;
            Ok(scheme.to_classes(&labels, "region output")?)
        }
    }
}

impl Trainer {
    /// A trainer writing into `out` (created when missing).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid configuration.
    pub fn new(cfg: TrainConfig, out: impl Into<PathBuf>) -> Result<Trainer> {
        cfg.check()?;
        Ok(Trainer {
            cfg,
            out: out.into(),
            progress: true,
        })
    }

    /// Shows or hides the progress bars (shown by default; hidden anyway when stderr is not
    /// a terminal).
    pub fn show_progress(mut self, show: bool) -> Trainer {
        self.progress = show;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Trains on `data`; with `resume`, continues from the folder's `last` checkpoint
    /// (which must come from the same configuration, epochs and time limit aside).
    ///
    /// # Errors
    /// [`Error::Config`] for bad data or a mismatched resume; file errors naming the file.
    pub fn fit(&self, data: &TrainData, resume: bool) -> Result<TrainSummary> {
        data.check()?;
        std::fs::create_dir_all(&self.out).map_err(|e| Error::File {
            path: self.out.clone(),
            message: format!("cannot create the model folder: {e}"),
        })?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.cfg.threads)
            .build()
            .map_err(|e| Error::config("threads", e.to_string()))?;
        pool.install(|| self.fit_inner(data, resume))
    }

    fn fit_inner(&self, data: &TrainData, resume: bool) -> Result<TrainSummary> {
        let cfg = &self.cfg;
        let dev = Device::Cpu;
        let total = (cfg.epochs * cfg.iterations_per_epoch) as u64;
        let mut start_epoch = 0usize;
        let mut iteration = 0u64;
        let mut history: Vec<EpochRecord> = Vec::new();
        let (mut best_score, mut best_epoch) = (None::<f64>, None::<usize>);
        let mut elapsed_before = 0.0;
        let vars;
        let mut opt;
        if resume {
            let (path, meta) = checkpoint::read_meta(&self.out, Which::Last)?;
            let mut key = meta.train_config.clone();
            if let Some(o) = key.as_object_mut() {
                o.insert("epochs".into(), 0.into());
                o.insert("time_limit_s".into(), serde_json::Value::Null);
            }
            if key != cfg.resume_key() {
                return Err(Error::config(
                    "resume",
                    format!(
                        "{} was written with another training configuration; resume with the same settings (only epochs and the time limit may change)",
                        path.display()
                    ),
                ));
            }
            let weights = checkpoint::load_tensors(&self.out.join(&meta.weights), &dev)?;
            let mut named = Vec::new();
            for (name, shape) in cfg.model.parameter_shapes() {
                let t = weights.get(&name).ok_or_else(|| Error::Weight {
                    name: name.clone(),
                    problem: format!("missing from {}", meta.weights),
                })?;
                if t.dims() != shape.as_slice() {
                    return Err(Error::Weight {
                        name,
                        problem: format!("expected shape {shape:?}, found {:?}", t.dims()),
                    });
                }
                named.push((name, t.clone()));
            }
            vars = vars_from(named)?;
            opt = Adam::new(vars.clone(), cfg.optimizer)?;
            let opt_file = meta.optimizer.as_ref().ok_or_else(|| {
                Error::config(
                    "resume",
                    format!("{} has no optimiser state", path.display()),
                )
            })?;
            let state = checkpoint::load_tensors(&self.out.join(opt_file), &dev)?;
            opt.load_state(&state, meta.iteration)?;
            start_epoch = meta.epoch;
            iteration = meta.iteration;
            history = meta.history.clone();
            best_score = meta.best_score;
            best_epoch = meta.best_epoch;
            elapsed_before = meta.elapsed_s;
        } else {
            vars = vars_from(UNet3d::init_tensors(&cfg.model, cfg.seed, &dev)?)?;
            opt = Adam::new(vars.clone(), cfg.optimizer)?;
        }
        let net = net_from(&cfg.model, &vars, &dev)?;
        let loss_fn = cfg.loss_fn()?;
        let sources: Vec<PatchSource> = data
            .train
            .iter()
            .map(|c| PatchSource::new(c.image.clone(), c.classes.clone()))
            .collect::<brats_io::Result<_>>()?;
        let patch_cfg = cfg.patch_config().check()?;
        let started = Instant::now();
        let mut stopped_by_time = false;
        let mut last_val = history.iter().rev().find_map(|r| r.val_dice);
        for epoch in start_epoch..cfg.epochs {
            if let Some(limit) = cfg.time_limit_s {
                if elapsed_before + started.elapsed().as_secs_f64() >= limit {
                    stopped_by_time = true;
                    break;
                }
            }
            let mut sampler = PatchSampler::new(patch_cfg, mix_seed(cfg.seed, 1 + epoch as u64));
            let mut pick = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(
                cfg.seed,
                1_000_003 + epoch as u64,
            ));
            let pb = progress_bar(
                cfg.iterations_per_epoch as u64,
                self.progress,
                &format!("epoch {}/{}", epoch + 1, cfg.epochs),
            );
            let mut loss_sum = 0.0;
            let mut lr = cfg.optimizer.lr;
            for _ in 0..cfg.iterations_per_epoch {
                lr = cfg.lr_at(iteration, total);
                opt.set_lr(lr);
                let (x, target) = self.batch(&sources, &mut sampler, &mut pick, &dev)?;
                let outs = net.forward_all(
                    &x,
                    Mode::Train {
                        seed: mix_seed(cfg.seed, 0xD50 + iteration),
                    },
                )?;
                let loss = self.loss(&loss_fn, &outs, &target)?;
                let value = loss.to_scalar::<f32>()? as f64;
                if !value.is_finite() {
                    return Err(Error::config(
                        "optimizer.lr",
                        format!("the loss became {value} at iteration {iteration}; lower the learning rate"),
                    ));
                }
                opt.step(&loss.backward()?)?;
                loss_sum += value;
                iteration += 1;
                pb.set_message(format!("loss {value:.4} lr {lr:.2e}"));
                pb.inc(1);
            }
            pb.finish_and_clear();
            let epoch_no = epoch + 1;
            let validate = cfg.validation_interval > 0
                && !data.validation.is_empty()
                && (epoch_no % cfg.validation_interval == 0 || epoch_no == cfg.epochs);
            let val = if validate {
                Some(self.validate(&net, &data.validation, &dev)?)
            } else {
                None
            };
            let elapsed = elapsed_before + started.elapsed().as_secs_f64();
            let record = EpochRecord {
                epoch: epoch_no,
                iteration,
                train_loss: loss_sum / cfg.iterations_per_epoch as f64,
                lr,
                val_dice: val,
                elapsed_s: elapsed,
            };
            if self.progress {
                eprintln!("{}", describe(&record));
            }
            history.push(record);
            let score = val.map(|v| (v[0] + v[1] + v[2]) / 3.0);
            let improved = match (score, best_score) {
                (Some(s), Some(b)) => s > b,
                (Some(_), None) => true,
                (None, _) => data.validation.is_empty() || cfg.validation_interval == 0,
            };
            if improved {
                best_score = score.or(best_score);
                best_epoch = Some(epoch_no);
            }
            if val.is_some() {
                last_val = val;
            }
            let weights: Vec<(String, Tensor)> = vars
                .iter()
                .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
                .collect();
            let meta = |which: Which| CheckpointMeta {
                format: FORMAT.into(),
                weights: format!(
                    "{}-e{epoch_no:04}.safetensors",
                    if which == Which::Best { "best" } else { "last" }
                ),
                optimizer: (which == Which::Last)
                    .then(|| format!("last-e{epoch_no:04}.optimizer.safetensors")),
                model: cfg.model.clone(),
                scheme: cfg.scheme.clone(),
                channels: CHANNELS.iter().map(|s| s.to_string()).collect(),
                preprocess: cfg.preprocess,
                window: cfg.window,
                postprocess: PostprocessConfig::default(),
                epoch: epoch_no,
                iteration,
                score,
                best_score,
                best_epoch,
                seed: cfg.seed,
                elapsed_s: elapsed,
                saved_at_unix_s: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                train_config: serde_json::to_value(cfg).unwrap_or_default(),
                history: history.clone(),
            };
            if improved {
                checkpoint::write_checkpoint(
                    &self.out,
                    Which::Best,
                    &meta(Which::Best),
                    &weights,
                    None,
                )?;
            }
            checkpoint::write_checkpoint(
                &self.out,
                Which::Last,
                &meta(Which::Last),
                &weights,
                Some(&opt.state()),
            )?;
            write_history(&self.out, &history)?;
        }
        Ok(TrainSummary {
            epochs: history.last().map_or(0, |r| r.epoch),
            iterations: iteration,
            best_score,
            best_epoch,
            last_val_dice: last_val,
            elapsed_s: elapsed_before + started.elapsed().as_secs_f64(),
            stopped_by_time_limit: stopped_by_time,
        })
    }

    /// One batch: images `[B, 4, P…]` and the target (class indices, or region maps).
    fn batch(
        &self,
        sources: &[PatchSource],
        sampler: &mut PatchSampler,
        pick: &mut rand_chacha::ChaCha8Rng,
        dev: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let cfg = &self.cfg;
        let p = cfg.patch;
        let n = p[0] * p[1] * p[2];
        let mut xs = Vec::with_capacity(cfg.batch_size * 4 * n);
        let mut ys: Vec<u8> = Vec::with_capacity(cfg.batch_size * n);
        for _ in 0..cfg.batch_size {
            let src = &sources[pick.random_range(0..sources.len())];
            let patch = sampler.sample(src);
            xs.extend(patch.image.iter().copied());
            ys.extend(patch.seg.iter().copied());
        }
        let b = cfg.batch_size;
        let x = Tensor::from_vec(xs, (b, 4, p[0], p[1], p[2]), dev)?;
        let target = match cfg.model.final_activation {
            Output::Softmax => Tensor::from_vec(ys, (b, p[0], p[1], p[2]), dev)?,
            Output::SigmoidRegions => {
                let table = class_regions(&cfg.scheme);
                let mut t = vec![0f32; b * 3 * n];
                for bi in 0..b {
                    for v in 0..n {
                        let m = table[ys[bi * n + v] as usize];
                        for r in 0..3 {
                            t[(bi * 3 + r) * n + v] = f32::from(u8::from(m[r]));
                        }
                    }
                }
                Tensor::from_vec(t, (b, 3, p[0], p[1], p[2]), dev)?
            }
        };
        Ok((x, target))
    }

    /// Main loss plus deep-supervision losses (½-resolution head weight ½, ¼-resolution head
    /// weight ¼, normalised to sum 1) on targets
    /// subsampled to each head's resolution.
    fn loss(&self, loss_fn: &DiceFocalLoss, outs: &[Tensor], target: &Tensor) -> Result<Tensor> {
        // outs: main (full resolution), ds3 (¼), ds2 (½).
        let weights = [1.0, 0.25, 0.5];
        let norm: f64 = weights[..outs.len().min(3)].iter().sum();
        let mut total: Option<Tensor> = None;
        for (i, logits) in outs.iter().enumerate() {
            let stride = match i {
                0 => 1,
                1 => 4,
                _ => 2,
            };
            let w = weights[i.min(2)] / norm;
            let t = subsample(target, stride, self.cfg.model.final_activation)?;
            let l = match self.cfg.model.final_activation {
                Output::Softmax => loss_fn.forward(logits, Target::Indices(&t))?,
                Output::SigmoidRegions => loss_fn.forward(logits, Target::OneHot(&t))?,
            };
            let l = (l * w)?;
            total = Some(match total {
                None => l,
                Some(acc) => (acc + l)?,
            });
        }
        total.ok_or_else(|| Error::config("model", "the network produced no output"))
    }

    fn validate(&self, net: &UNet3d, cases: &[TrainingCase], dev: &Device) -> Result<[f64; 3]> {
        let pb = progress_bar(cases.len() as u64, self.progress, "validate");
        let mut sum = [0.0; 3];
        for c in cases {
            let probs = sliding_window(net, c.image.view(), &self.cfg.window, dev, None)?;
            let pred = classes_from_probabilities(
                &probs,
                self.cfg.model.final_activation,
                &self.cfg.scheme,
            )?;
            let d = region_dice(&pred, &c.classes, &self.cfg.scheme)?;
            for i in 0..3 {
                sum[i] += d[i];
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        Ok(sum.map(|s| s / cases.len() as f64))
    }
}

/// Every `stride`-th voxel of a target (indices `[B, D, H, W]` or maps `[B, C, D, H, W]`).
fn subsample(t: &Tensor, stride: usize, output: Output) -> Result<Tensor> {
    if stride == 1 {
        return Ok(t.clone());
    }
    let first = match output {
        Output::Softmax => 1,
        Output::SigmoidRegions => 2,
    };
    let mut t = t.clone();
    for axis in first..first + 3 {
        let n = t.dims()[axis];
        let idx: Vec<u32> = (0..n as u32).step_by(stride).collect();
        let idx = Tensor::from_vec(idx.clone(), idx.len(), t.device())?;
        t = t.contiguous()?.index_select(&idx, axis)?;
    }
    Ok(t)
}

fn describe(r: &EpochRecord) -> String {
    let val = r.val_dice.map_or(String::new(), |v| {
        format!("  val Dice WT {:.3} TC {:.3} ET {:.3}", v[0], v[1], v[2])
    });
    format!(
        "epoch {:>3}  loss {:.4}  lr {:.2e}  {:.0} s{val}",
        r.epoch, r.train_loss, r.lr, r.elapsed_s
    )
}

/// Writes `history.csv`, `history.json` and `history.png` (loss and validation Dice per
/// epoch) into `dir`, each atomically.
///
/// # Errors
/// File errors naming the file.
pub fn write_history(dir: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut csv = String::from(
        "epoch,iteration,train_loss,lr,val_dice_wt,val_dice_tc,val_dice_et,elapsed_s\n",
    );
    for r in history {
        let v = r
            .val_dice
            .map_or([String::new(), String::new(), String::new()], |v| {
                v.map(|x| format!("{x:.6}"))
            });
        csv.push_str(&format!(
            "{},{},{:.6},{:.6e},{},{},{},{:.1}\n",
            r.epoch, r.iteration, r.train_loss, r.lr, v[0], v[1], v[2], r.elapsed_s
        ));
    }
    atomic_write_bytes(&dir.join("history.csv"), csv.as_bytes())?;
    let json = serde_json::to_string_pretty(history).map_err(|e| Error::File {
        path: dir.join("history.json"),
        message: e.to_string(),
    })?;
    atomic_write_bytes(&dir.join("history.json"), json.as_bytes())?;
    let loss = line_chart(
        "training loss",
        "epoch",
        &[Series {
            label: "loss",
            colour: Rgb(31, 119, 180),
            points: history
                .iter()
                .map(|r| (r.epoch as f64, r.train_loss))
                .collect(),
        }],
        None,
        (640, 260),
    );
    let colours = [Rgb(44, 160, 44), Rgb(255, 127, 14), Rgb(214, 39, 40)];
    let dice_series: Vec<Series<'_>> = ["WT", "TC", "ET"]
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            label: name,
            colour: colours[i],
            points: history
                .iter()
                .filter_map(|r| r.val_dice.map(|v| (r.epoch as f64, v[i])))
                .collect(),
        })
        .collect();
    let dice = line_chart(
        "validation Dice",
        "epoch",
        &dice_series,
        Some((0.0, 1.0)),
        (640, 260),
    );
    let mut c = Canvas::new(640, 520, Rgb::WHITE);
    c.blit(&loss, 0, 0);
    c.blit(&dice, 0, 260);
    c.write_png(dir.join("history.png"))?;
    Ok(())
}
