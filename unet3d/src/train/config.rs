//! The training configuration: every field, its check, the learning-rate schedule and the
//! loss it implies.

use brats_io::synth::SynthConfig;
use brats_io::{LabelScheme, PatchConfig, PreprocessConfig};
use brats_metrics::loss::{
    Background, DiceFocalConfig, DiceFocalLoss, DiceLossConfig, DiceReduction, FocalLossConfig,
    Probabilities,
};
use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::checkpoint::CHANNELS;
use crate::error::{Error, Result};
use crate::infer::{CheckedWindow, SlidingWindowConfig};
use crate::model::{mix_seed, CheckedUNet3dConfig, Output, UNet3dConfig};
use crate::optim::{AdamConfig, CheckedAdamConfig};

/// Where the work runs. Serialised as `"cpu"`, `{"cuda": N}` or `"metal"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSpec {
    /// The CPU (the fast custom kernels).
    #[default]
    Cpu,
    /// CUDA device `N` (needs candle built with CUDA).
    Cuda(usize),
    /// The Metal device (needs candle built with Metal).
    Metal,
}

impl DeviceSpec {
    /// The candle device.
    ///
    /// # Errors
    /// [`Error::Config`] naming `device` when candle was built without that backend or the
    /// device cannot be opened.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => {
                Device::new_cuda(n).map_err(|e| Error::config("device", format!("cuda:{n}: {e}")))
            }
            DeviceSpec::Metal => {
                Device::new_metal(0).map_err(|e| Error::config("device", format!("metal: {e}")))
            }
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;

    /// `cpu`, `cuda` (= `cuda:0`), `cuda:N` or `metal`.
    fn from_str(s: &str) -> Result<DeviceSpec> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            "metal" => Ok(DeviceSpec::Metal),
            _ => t
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    Error::config(
                        "device",
                        format!("{s:?}: expected cpu, cuda, cuda:N or metal"),
                    )
                }),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Metal => write!(f, "metal"),
        }
    }
}

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
    /// Soft Dice over the whole batch (nnU-Net's batch Dice; the default) instead of per
    /// sample. Data-parallel training equals single-rank training exactly only per sample
    /// (see [`super::dist`]).
    #[serde(default = "yes")]
    pub batch_dice: bool,
}

fn yes() -> bool {
    true
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights {
            dice: 1.0,
            focal: 1.0,
            focal_gamma: 2.0,
            batch_dice: true,
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
    /// Patch size `[D, H, W]`, multiples of the network's divisor (16 for five levels).
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
    /// Where training runs (CPU by default).
    #[serde(default)]
    pub device: DeviceSpec,
    /// Train on an endless stream of synthetic cases (see [`super::stream`];
    /// [`crate::train::Trainer::fit_synthetic`]) instead of fixed data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<StreamConfig>,
    /// Fine-tune: start from the weights of this model folder's best checkpoint (with a
    /// fresh optimiser and schedule) instead of a random initialisation. Its network and
    /// label scheme must equal this configuration's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<std::path::PathBuf>,
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
            device: DeviceSpec::Cpu,
            synthetic: None,
            init: None,
        }
    }
}

impl TrainConfig {
    /// Validates every field (and the nested model, preprocessing, optimiser, window).
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(self) -> Result<CheckedTrainConfig> {
        let model = self.model.clone().check()?;
        self.preprocess.check()?;
        let optimizer = self.optimizer.check()?;
        let divisor = self.model.divisor();
        let window = self.window.check_divisor(divisor)?;
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
        if self.patch.iter().any(|&p| p == 0 || p % divisor != 0) {
            return Err(Error::config(
                "patch",
                format!(
                    "every axis must be a positive multiple of {divisor}, got {:?}",
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
        if let Some(s) = &self.synthetic {
            s.check(&self.scheme)?;
        }
        if let Some(t) = self.time_limit_s {
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::config(
                    "time_limit_s",
                    format!("must be finite and > 0, got {t}"),
                ));
            }
        }
        Ok(CheckedTrainConfig {
            cfg: self,
            model,
            optimizer,
            window,
        })
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
            Output::Softmax => (Probabilities::Softmax, Background::Include),
            Output::SigmoidRegions => (Probabilities::Sigmoid, Background::Include),
        };
        Ok(DiceFocalConfig {
            dice: DiceLossConfig {
                activation,
                background,
                reduction: if self.loss.batch_dice {
                    DiceReduction::Batch
                } else {
                    DiceReduction::PerSample
                },
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

    pub(crate) fn patch_config(&self) -> PatchConfig {
        PatchConfig {
            patch: self.patch,
            foreground_share: self.foreground_share,
            flip_probability: if self.augment.flips { 0.5 } else { 0.0 },
            intensity_scale: if self.augment.intensity { 0.1 } else { 0.0 },
            intensity_shift: if self.augment.intensity { 0.1 } else { 0.0 },
        }
    }

    /// The fields a resume must agree on (everything but epochs, the time limit and the
    /// device).
    pub(crate) fn resume_key(&self) -> serde_json::Value {
        let mut c = self.clone();
        c.epochs = 0;
        c.time_limit_s = None;
        let mut key = serde_json::to_value(c).unwrap_or_default();
        if let Some(o) = key.as_object_mut() {
            // A run may move between devices.
            o.remove("device");
        }
        key
    }
}

/// A validated [`TrainConfig`]: what the [`crate::train::Trainer`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedTrainConfig {
    cfg: TrainConfig,
    model: CheckedUNet3dConfig,
    optimizer: CheckedAdamConfig,
    window: CheckedWindow,
}

impl CheckedTrainConfig {
    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The checked network settings.
    pub fn checked_model(&self) -> &CheckedUNet3dConfig {
        &self.model
    }

    /// The checked optimiser settings.
    pub fn checked_optimizer(&self) -> CheckedAdamConfig {
        self.optimizer
    }

    /// The checked validation window (its sides fit the network's divisor).
    pub fn checked_window(&self) -> CheckedWindow {
        self.window
    }
}

impl std::ops::Deref for CheckedTrainConfig {
    type Target = TrainConfig;

    fn deref(&self) -> &TrainConfig {
        &self.cfg
    }
}

/// Settings of the synthetic stream ([`super::stream`]; part of [`TrainConfig`], so a resume
/// must agree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// Cases held in memory at once (default 24).
    pub pool: usize,
    /// Cases replaced after every epoch (default 4).
    pub refresh: usize,
    /// Seed of the case seeds (default 0); validation cases use another stream.
    pub seed: u64,
    /// The generator (its label scheme must be the training's).
    pub synth: SynthConfig,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            pool: 24,
            refresh: 4,
            seed: 0,
            synth: SynthConfig::default(),
        }
    }
}

impl StreamConfig {
    /// The generator seed of training case `n`.
    pub fn case_seed(&self, n: u64) -> u64 {
        mix_seed(self.seed, n)
    }

    /// The generator seed of validation case `n` (a stream disjoint from training's).
    pub fn validation_seed(&self, n: u64) -> u64 {
        mix_seed(self.seed ^ 0x7A11_DA7E, n)
    }

    /// Checks the sizes.
    ///
    /// # Errors
    /// [`Error::Config`] naming `synthetic.pool` or `synthetic.refresh`.
    pub(crate) fn check(&self, scheme: &LabelScheme) -> Result<()> {
        if self.pool == 0 {
            return Err(Error::config("synthetic.pool", "must be ≥ 1, got 0"));
        }
        if self.refresh > self.pool {
            return Err(Error::config(
                "synthetic.refresh",
                format!("must be ≤ pool ({}), got {}", self.pool, self.refresh),
            ));
        }
        if &self.synth.scheme != scheme {
            return Err(Error::config(
                "synthetic.synth.scheme",
                format!(
                    "the generator writes {} labels but the model is trained for {}",
                    self.synth.scheme.name(),
                    scheme.name()
                ),
            ));
        }
        Ok(())
    }

    /// Number of cases that have arrived by the start of `epoch`.
    pub(crate) fn arrived(&self, epoch: usize) -> u64 {
        (self.pool + epoch * self.refresh) as u64
    }
}
