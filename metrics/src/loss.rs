//! Differentiable segmentation losses on candle tensors: soft Dice, focal (softmax and
//! sigmoid forms) and their weighted sum — numerically stable for any finite logits.
//!
//! # Shapes
//! Logits `[B, C, D, H, W]` (f32 or f64, any device). Targets are either class indices
//! `[B, D, H, W]` (any integer or float dtype holding `0..C`), or one-hot / region maps
//! `[B, C, D, H, W]` with values in `[0, 1]`.
//!
//! # Definitions (match MONAI 1.6 where noted)
//! - **Soft Dice** (`DiceLoss`): `p = softmax(x)` over C (or `sigmoid(x)` per channel);
//!   per sample and class (or over the whole batch per class, [`DiceReduction::Batch`]):
//!   `1 − (2 Σ p·t + smooth_nr) / (Σ p + Σ t + smooth_dr)` (with [`Denominator::Squared`]:
//!   `Σ p² + Σ t²`); mean over classes (and samples). Background may be excluded (after the
//!   activation).
//! - **Focal, softmax form** (`FocalLoss(use_softmax=True)`): `−(1 − p_c)^γ · log p_c · t_c`
//!   with `log p = log_softmax(x)`, averaged over every element `B·C·D·H·W`; scalar `alpha`
//!   weights background by `1 − α` and the other classes by `α`. Unlike MONAI, excluding the
//!   background drops its terms *after* the softmax over all classes (MONAI slices the logits
//!   first and renormalises over the remaining channels).
//! - **Focal, sigmoid form** (`FocalLoss(use_softmax=False)`): binary cross-entropy with
//!   logits `x − x·t − logσ(x)` times `(1 − p_t)^γ` computed as `exp(γ · logσ(−x·(2t − 1)))`,
//!   with `α·t + (1 − α)(1 − t)`; mean over every element.
//! - **Dice + focal** (`DiceFocalLoss`): `λ_dice · dice + λ_focal · focal`.
//!
//! Everything runs in log space (`log_softmax` with the max subtracted, `logσ(x) =
//! (x − |x|)/2 − log(1 + e^{−|x|})`), so logits of ±1e30 give finite values and gradients,
//! and the gradient is exact at x = 0 (zero-initialised heads).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use metrics::loss::{DiceLossConfig, Target};
//! # fn main() -> metrics::Result<()> {
//! let logits = Tensor::zeros((1, 4, 2, 2, 2), candle_core::DType::F32, &Device::Cpu)?;
//! let labels = Tensor::zeros((1, 2, 2, 2), candle_core::DType::U8, &Device::Cpu)?;
//! let dice = DiceLossConfig::default().check()?;
//! let loss = dice.forward(&logits, Target::Indices(&labels))?;
//! assert!(loss.to_scalar::<f32>()? > 0.0);
//! # Ok(()) }
//! ```

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How probabilities are obtained from logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Softmax over the channel axis (mutually exclusive classes).
    #[default]
    Softmax,
    /// Sigmoid per channel (overlapping regions such as WT/TC/ET).
    Sigmoid,
}

/// Whether channel 0 (background) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// Keep channel 0.
    #[default]
    Include,
    /// Drop channel 0 (after the activation).
    Exclude,
}

/// Over what a Dice ratio is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiceReduction {
    /// One Dice per sample and class, then the mean (MONAI `batch=False`).
    #[default]
    PerSample,
    /// One Dice per class over the whole batch (MONAI `batch=True`).
    Batch,
}

/// Dice denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Denominator {
    /// `Σ p + Σ t`.
    #[default]
    Linear,
    /// `Σ p² + Σ t²` (MONAI `squared_pred=True`).
    Squared,
}

/// The target of a loss.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Class indices `[B, D, H, W]`.
    Indices(&'a Tensor),
    /// One-hot or region maps `[B, C, D, H, W]`.
    OneHot(&'a Tensor),
}

/// Soft Dice loss parameters (unchecked).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiceLossConfig {
    /// Softmax or sigmoid.
    pub activation: Activation,
    /// Include or exclude channel 0.
    pub background: Background,
    /// Per sample or whole batch.
    pub reduction: DiceReduction,
    /// Linear or squared denominator.
    pub denominator: Denominator,
    /// Added to the numerator (default 1e-5).
    pub smooth_nr: f64,
    /// Added to the denominator (default 1e-5).
    pub smooth_dr: f64,
}

impl Default for DiceLossConfig {
    fn default() -> Self {
        DiceLossConfig {
            activation: Activation::Softmax,
            background: Background::Include,
            reduction: DiceReduction::PerSample,
            denominator: Denominator::Linear,
            smooth_nr: 1e-5,
            smooth_dr: 1e-5,
        }
    }
}

/// A checked soft Dice loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiceLoss(DiceLossConfig);

impl DiceLossConfig {
    /// Validates the smoothing terms.
    ///
    /// # Errors
    /// [`Error::Config`] when `smooth_nr` or `smooth_dr` is negative or not finite.
    pub fn check(self) -> Result<DiceLoss> {
        for (name, v) in [("smooth_nr", self.smooth_nr), ("smooth_dr", self.smooth_dr)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(
                    name,
                    format!("must be finite and ≥ 0, got {v}"),
                ));
            }
        }
        Ok(DiceLoss(self))
    }
}

/// Focal loss parameters (unchecked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FocalLossConfig {
    /// Softmax (multi-class) or sigmoid (multi-label) form.
    pub activation: Activation,
    /// Focusing parameter γ ≥ 0 (default 2).
    pub gamma: f64,
    /// Optional α in `[0, 1]`: see the module docs for each form.
    pub alpha: Option<f64>,
    /// Optional per-class weights (length C, or C − 1 without background), ≥ 0.
    pub class_weights: Option<Vec<f64>>,
    /// Include or exclude channel 0.
    pub background: Background,
}

impl Default for FocalLossConfig {
    fn default() -> Self {
        FocalLossConfig {
            activation: Activation::Softmax,
            gamma: 2.0,
            alpha: None,
            class_weights: None,
            background: Background::Include,
        }
    }
}

/// A checked focal loss.
#[derive(Debug, Clone, PartialEq)]
pub struct FocalLoss(FocalLossConfig);

impl FocalLossConfig {
    /// Validates γ, α and the class weights.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(self) -> Result<FocalLoss> {
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(Error::config(
                "gamma",
                format!("must be finite and ≥ 0, got {}", self.gamma),
            ));
        }
        if let Some(a) = self.alpha {
            if !(0.0..=1.0).contains(&a) {
                return Err(Error::config(
                    "alpha",
                    format!("must be in [0, 1], got {a}"),
                ));
            }
        }
        if let Some(w) = &self.class_weights {
            if w.is_empty() || w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(Error::config(
                    "class_weights",
                    format!("must be non-empty, finite and ≥ 0, got {w:?}"),
                ));
            }
        }
        Ok(FocalLoss(self))
    }
}

/// Dice + focal parameters (unchecked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiceFocalConfig {
    /// The Dice part.
    pub dice: DiceLossConfig,
    /// The focal part (`background` is taken from `dice`). MONAI's `DiceFocalLoss` uses the
    /// *sigmoid* focal form even with `softmax=True`; set `focal.activation` to
    /// [`Activation::Sigmoid`] to reproduce it.
    pub focal: FocalLossConfig,
    /// Weight of the Dice term (default 1).
    pub lambda_dice: f64,
    /// Weight of the focal term (default 1).
    pub lambda_focal: f64,
}

impl Default for DiceFocalConfig {
    fn default() -> Self {
        DiceFocalConfig {
            dice: DiceLossConfig::default(),
            focal: FocalLossConfig::default(),
            lambda_dice: 1.0,
            lambda_focal: 1.0,
        }
    }
}

/// A checked Dice + focal loss.
#[derive(Debug, Clone, PartialEq)]
pub struct DiceFocalLoss {
    dice: DiceLoss,
    focal: FocalLoss,
    lambda_dice: f64,
    lambda_focal: f64,
}

impl DiceFocalConfig {
    /// Validates both parts and the weights.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(self) -> Result<DiceFocalLoss> {
        for (name, v) in [
            ("lambda_dice", self.lambda_dice),
            ("lambda_focal", self.lambda_focal),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::config(
                    name,
                    format!("must be finite and ≥ 0, got {v}"),
                ));
            }
        }
        let mut focal = self.focal;
        focal.background = self.dice.background;
        Ok(DiceFocalLoss {
            dice: self.dice.check()?,
            focal: focal.check()?,
            lambda_dice: self.lambda_dice,
            lambda_focal: self.lambda_focal,
        })
    }
}

/// Checks the logits' rank and turns the target into a float one-hot tensor like them.
fn one_hot_target(logits: &Tensor, target: Target<'_>) -> Result<Tensor> {
    let dims = logits.dims();
    if dims.len() != 5 {
        return Err(Error::shape(
            "logits",
            "rank 5 [B, C, D, H, W]",
            format!("{dims:?}"),
        ));
    }
    let c = dims[1];
    match target {
        Target::OneHot(t) => {
            if t.dims() != dims {
                return Err(Error::ShapeMismatch {
                    what: "logits vs one-hot target".into(),
                    pred: dims.to_vec(),
                    truth: t.dims().to_vec(),
                });
            }
            Ok(t.to_dtype(logits.dtype())?)
        }
        Target::Indices(t) => {
            let expected = [dims[0], dims[2], dims[3], dims[4]];
            if t.dims() != expected {
                return Err(Error::ShapeMismatch {
                    what: "logits [B, C, D, H, W] vs class-index target [B, D, H, W]".into(),
                    pred: dims.to_vec(),
                    truth: t.dims().to_vec(),
                });
            }
            let idx = t.to_dtype(DType::F32)?;
            let max = idx
                .max_keepdim(0)?
                .flatten_all()?
                .max(0)?
                .to_scalar::<f32>()?;
            let min = idx
                .min_keepdim(0)?
                .flatten_all()?
                .min(0)?
                .to_scalar::<f32>()?;
            if min < 0.0 || max >= c as f32 || max.fract() != 0.0 {
                return Err(Error::shape(
                    "class-index target",
                    format!("integers in 0..{c}"),
                    format!("values in [{min}, {max}]"),
                ));
            }
            let classes = Tensor::arange(0f32, c as f32, t.device())?.reshape((1, c, 1, 1, 1))?;
            Ok(idx
                .unsqueeze(1)?
                .broadcast_eq(&classes)?
                .to_dtype(logits.dtype())?)
        }
    }
}

/// `log σ(x) = (x − |x|)/2 − log(1 + e^{−|x|})`, finite for every finite x.
///
/// Written with `|x|` in both terms so that the gradient is right at x = 0 whatever
/// subgradient the backend picks for `|x|` there: `(1 − a)/2 + a/2 = 1/2 = σ(0)`.
fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let abs = x.abs()?;
    let soft = (abs.neg()?.exp()? + 1.0)?.log()?;
    Ok(((x - &abs)? * 0.5)?.sub(&soft)?)
}

/// Log-probabilities of the logits under `act`: log-softmax over the channels, or
/// log-sigmoid per channel.
fn log_probs(logits: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Softmax => log_softmax(logits),
        Activation::Sigmoid => log_sigmoid(logits),
    }
}

/// `log_softmax` over the channel axis, with the (detached) maximum subtracted first.
fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

fn drop_background(t: &Tensor, bg: Background) -> Result<Tensor> {
    let c = t.dim(1)?;
    Ok(match bg {
        Background::Exclude if c > 1 => t.narrow(1, 1, c - 1)?,
        _ => t.clone(),
    })
}

impl DiceLoss {
    /// The parameters.
    pub fn config(&self) -> &DiceLossConfig {
        &self.0
    }

    /// The loss, a scalar tensor.
    ///
    /// # Shapes
    /// See the module docs.
    ///
    /// # Errors
    /// [`Error::Shape`] / [`Error::ShapeMismatch`] for wrong ranks or shapes and class
    /// indices outside `0..C`; [`Error::Candle`] for device or dtype failures.
    pub fn forward(&self, logits: &Tensor, target: Target<'_>) -> Result<Tensor> {
        let t = one_hot_target(logits, target)?;
        self.loss_from_log_probs(&log_probs(logits, self.0.activation)?, &t)
    }

    /// The loss from log-probabilities (as [`log_probs`] for this loss's activation) and a
    /// one-hot target of the same shape.
    fn loss_from_log_probs(&self, logp: &Tensor, t: &Tensor) -> Result<Tensor> {
        let p = logp.exp()?;
        let p = drop_background(&p, self.0.background)?;
        let t = drop_background(t, self.0.background)?;
        // Sums over the voxels as one contiguous last axis (candle reduces a contiguous
        // last axis far faster than several strided ones), then over the batch if asked.
        let reduction = self.0.reduction;
        let sum = |x: &Tensor| -> Result<Tensor> {
            let (b, c) = (x.dim(0)?, x.dim(1)?);
            let s = x.reshape((b, c, ()))?.sum(2)?;
            Ok(match reduction {
                DiceReduction::PerSample => s,
                DiceReduction::Batch => s.sum(0)?,
            })
        };
        let inter = sum(&(&p * &t)?)?;
        let den = match self.0.denominator {
            Denominator::Linear => (sum(&p)? + sum(&t)?)?,
            Denominator::Squared => (sum(&p.sqr()?)? + sum(&t.sqr()?)?)?,
        };
        let ratio = ((inter * 2.0)? + self.0.smooth_nr)?.div(&(den + self.0.smooth_dr)?)?;
        Ok(ratio.neg()?.affine(1.0, 1.0)?.mean_all()?)
    }
}

impl FocalLoss {
    /// The parameters.
    pub fn config(&self) -> &FocalLossConfig {
        &self.0
    }

    /// The loss, a scalar tensor.
    ///
    /// # Errors
    /// As [`DiceLoss::forward`], plus [`Error::Config`] when the class weights' length does
    /// not match the channels used.
    pub fn forward(&self, logits: &Tensor, target: Target<'_>) -> Result<Tensor> {
        let t = one_hot_target(logits, target)?;
        let logp = match self.0.activation {
            Activation::Softmax => Some(log_softmax(logits)?),
            Activation::Sigmoid => None,
        };
        self.loss_from_parts(logits, logp.as_ref(), &t)
    }

    /// The loss from the logits, their log-softmax (needed for the softmax form) and a
    /// one-hot target.
    fn loss_from_parts(
        &self,
        logits: &Tensor,
        logp: Option<&Tensor>,
        t: &Tensor,
    ) -> Result<Tensor> {
        let cfg = &self.0;
        let c = logits.dim(1)?;
        let loss = match cfg.activation {
            Activation::Softmax => {
                let logp = match logp {
                    Some(l) => l.clone(),
                    None => log_softmax(logits)?,
                };
                let mut l = logp.mul(t)?.neg()?;
                if cfg.gamma > 0.0 {
                    // (1 − p)^γ; the floor keeps the power's gradient finite when p
                    // rounds to exactly 1 (it changes the value by < 1e-30).
                    let pfac = logp.exp()?.affine(-1.0, 1.0)?.maximum(1e-30)?;
                    l = pfac.powf(cfg.gamma)?.mul(&l)?;
                }
                if let Some(a) = cfg.alpha {
                    let mut w = vec![a as f32; c];
                    w[0] = (1.0 - a) as f32;
                    let w = Tensor::from_vec(w, (1, c, 1, 1, 1), logits.device())?
                        .to_dtype(l.dtype())?;
                    l = l.broadcast_mul(&w)?;
                }
                l
            }
            Activation::Sigmoid => {
                let bce = ((logits - logits.mul(t)?)? - log_sigmoid(logits)?)?;
                let sign = t.affine(2.0, -1.0)?;
                let inv = log_sigmoid(&logits.mul(&sign)?.neg()?)?;
                let mut l = (inv * cfg.gamma)?.exp()?.mul(&bce)?;
                if let Some(a) = cfg.alpha {
                    let factor = t.affine(a, 0.0)?.add(&t.neg()?.affine(1.0 - a, 1.0 - a)?)?;
                    l = l.mul(&factor)?;
                }
                l
            }
        };
        let loss = drop_background(&loss, cfg.background)?;
        let loss = match &cfg.class_weights {
            Some(w) => {
                let used = loss.dim(1)?;
                if w.len() != used {
                    return Err(Error::config(
                        "class_weights",
                        format!("{} weights for {used} channels", w.len()),
                    ));
                }
                let w: Vec<f32> = w.iter().map(|&x| x as f32).collect();
                let w = Tensor::from_vec(w, (1, used, 1, 1, 1), logits.device())?
                    .to_dtype(loss.dtype())?;
                loss.broadcast_mul(&w)?
            }
            None => loss,
        };
        Ok(loss.mean_all()?)
    }
}

impl DiceFocalLoss {
    /// The loss, a scalar tensor: `λ_dice · dice + λ_focal · focal`.
    ///
    /// # Errors
    /// As [`DiceLoss::forward`] and [`FocalLoss::forward`].
    pub fn forward(&self, logits: &Tensor, target: Target<'_>) -> Result<Tensor> {
        if let Some(op) = self.fused(logits, target)? {
            return Ok(logits.contiguous()?.apply_op1(op)?);
        }
        let (d, f) = self.both(logits, target)?;
        Ok(((d * self.lambda_dice)? + (f * self.lambda_focal)?)?)
    }

    /// The fused CPU op when it applies: f32 CPU logits, class indices, softmax for both
    /// terms, background kept, linear denominator, no α or class weights. The target is
    /// checked here as [`DiceLoss::forward`] checks it.
    fn fused(
        &self,
        logits: &Tensor,
        target: Target<'_>,
    ) -> Result<Option<fused::SoftmaxDiceFocal>> {
        let (dc, fc) = (&self.dice.0, &self.focal.0);
        let Target::Indices(t) = target else {
            return Ok(None);
        };
        let applies = logits.device().is_cpu()
            && logits.dtype() == DType::F32
            && logits.rank() == 5
            && dc.activation == Activation::Softmax
            && fc.activation == Activation::Softmax
            && dc.background == Background::Include
            && fc.background == Background::Include
            && dc.denominator == Denominator::Linear
            && fc.alpha.is_none()
            && fc.class_weights.is_none()
            && matches!(t.dtype(), DType::U8 | DType::U32 | DType::I64);
        if !applies {
            return Ok(None);
        }
        let dims = logits.dims();
        let c = dims[1];
        let expected = [dims[0], dims[2], dims[3], dims[4]];
        if t.dims() != expected {
            return Err(Error::ShapeMismatch {
                what: "logits [B, C, D, H, W] vs class-index target [B, D, H, W]".into(),
                pred: dims.to_vec(),
                truth: t.dims().to_vec(),
            });
        }
        let idx: Vec<u32> = match t.dtype() {
            DType::I64 => {
                let v = t.flatten_all()?.to_vec1::<i64>()?;
                if let Some(bad) = v.iter().find(|&&x| x < 0 || x >= c as i64) {
                    return Err(Error::shape(
                        "class-index target",
                        format!("integers in 0..{c}"),
                        format!("a value {bad}"),
                    ));
                }
                v.into_iter().map(|x| x as u32).collect()
            }
            _ => t.to_dtype(DType::U32)?.flatten_all()?.to_vec1::<u32>()?,
        };
        if let Some(bad) = idx.iter().find(|&&x| x as usize >= c) {
            return Err(Error::shape(
                "class-index target",
                format!("integers in 0..{c}"),
                format!("a value {bad}"),
            ));
        }
        Ok(Some(fused::SoftmaxDiceFocal {
            target: std::sync::Arc::new(idx),
            per_sample: dc.reduction == DiceReduction::PerSample,
            smooth_nr: dc.smooth_nr as f32,
            smooth_dr: dc.smooth_dr as f32,
            gamma: fc.gamma as f32,
            lambda_dice: self.lambda_dice as f32,
            lambda_focal: self.lambda_focal as f32,
        }))
    }

    /// Dice and focal terms, sharing the one-hot target and, when both use the same
    /// activation, the log-probabilities.
    fn both(&self, logits: &Tensor, target: Target<'_>) -> Result<(Tensor, Tensor)> {
        let t = one_hot_target(logits, target)?;
        let act = self.dice.0.activation;
        let logp = log_probs(logits, act)?;
        let d = self.dice.loss_from_log_probs(&logp, &t)?;
        let f = match (act, self.focal.0.activation) {
            (Activation::Softmax, Activation::Softmax) => {
                self.focal.loss_from_parts(logits, Some(&logp), &t)?
            }
            _ => self.focal.loss_from_parts(logits, None, &t)?,
        };
        Ok((d, f))
    }

    /// The two parts, for logging: `(dice, focal)` as f64.
    ///
    /// # Errors
    /// As [`DiceFocalLoss::forward`].
    pub fn parts(&self, logits: &Tensor, target: Target<'_>) -> Result<(f64, f64)> {
        let (d, f) = self.both(logits, target)?;
        Ok((
            d.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            f.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        ))
    }
}

/// The softmax Dice + focal loss of [`DiceFocalLoss`] as one CPU op (f32 logits, class-index
/// target, background kept, linear denominator, no α or class weights): two passes over the
/// logits forward, three backward, where the composition makes ~30 full-size tensors and
/// keeps them for the backward pass. Values and gradients equal the composition's (tested).
mod fused {
    use std::sync::Arc;

    use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};
    use rayon::prelude::*;

    /// Floor of `1 − p` inside `(1 − p)^γ`, as the composition.
    const FLOOR: f32 = 1e-30;
    /// Voxels per parallel chunk.
    const CHUNK: usize = 1 << 13;

    pub(super) struct SoftmaxDiceFocal {
        pub(super) target: Arc<Vec<u32>>,
        /// Dice per sample (true) or over the batch.
        pub(super) per_sample: bool,
        pub(super) smooth_nr: f32,
        pub(super) smooth_dr: f32,
        pub(super) gamma: f32,
        pub(super) lambda_dice: f32,
        pub(super) lambda_focal: f32,
    }

    /// Per (group, class): Σ p·t, Σ p, Σ t; and Σ of the focal terms.
    struct Sums {
        inter: Vec<f64>,
        pred: Vec<f64>,
        truth: Vec<f64>,
        focal: f64,
    }

    impl SoftmaxDiceFocal {
        fn dims(&self, l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
            let d = l.dims();
            if d.len() != 5 {
                candle_core::bail!("dice-focal: rank-5 logits expected, got {d:?}");
            }
            let (b, c, n) = (d[0], d[1], d[2] * d[3] * d[4]);
            if self.target.len() != b * n {
                candle_core::bail!(
                    "dice-focal: target of {} voxels for {b}×{n}",
                    self.target.len()
                );
            }
            Ok((b, c, n))
        }

        /// Softmax of voxel `v` of item `bi` into `p`; returns log p of the true class.
        #[inline]
        fn softmax(
            z: &[f32],
            bi: usize,
            c: usize,
            n: usize,
            v: usize,
            y: usize,
            p: &mut [f32],
        ) -> f32 {
            let at = |k: usize| z[(bi * c + k) * n + v];
            let m = (0..c).map(at).fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0f32;
            for (k, pk) in p.iter_mut().enumerate() {
                *pk = (at(k) - m).exp();
                s += *pk;
            }
            for pk in p.iter_mut() {
                *pk /= s;
            }
            at(y) - m - s.ln()
        }

        fn sums(&self, z: &[f32], b: usize, c: usize, n: usize) -> Sums {
            let groups = if self.per_sample { b } else { 1 };
            let jobs: Vec<(usize, usize)> = (0..b)
                .flat_map(|bi| (0..n.div_ceil(CHUNK)).map(move |ch| (bi, ch)))
                .collect();
            let gamma = self.gamma;
            let parts: Vec<(usize, Vec<f64>, f64)> = jobs
                .par_iter()
                .map(|&(bi, ch)| {
                    // [inter | pred | truth] for this item's classes.
                    let mut acc = vec![0f64; 3 * c];
                    let mut focal = 0f64;
                    let mut p = vec![0f32; c];
                    for v in ch * CHUNK..((ch + 1) * CHUNK).min(n) {
                        let y = self.target[bi * n + v] as usize;
                        let logp = Self::softmax(z, bi, c, n, v, y, &mut p);
                        for (k, &pk) in p.iter().enumerate() {
                            acc[c + k] += f64::from(pk);
                        }
                        acc[y] += f64::from(p[y]);
                        acc[2 * c + y] += 1.0;
                        let pf = (1.0 - p[y]).max(FLOOR);
                        let w = if gamma == 0.0 { 1.0 } else { pf.powf(gamma) };
                        focal -= f64::from(w * logp);
                    }
                    (bi, acc, focal)
                })
                .collect();
            let mut s = Sums {
                inter: vec![0.0; groups * c],
                pred: vec![0.0; groups * c],
                truth: vec![0.0; groups * c],
                focal: 0.0,
            };
            for (bi, acc, focal) in parts {
                let g = if self.per_sample { bi } else { 0 };
                for k in 0..c {
                    s.inter[g * c + k] += acc[k];
                    s.pred[g * c + k] += acc[c + k];
                    s.truth[g * c + k] += acc[2 * c + k];
                }
                s.focal += focal;
            }
            s
        }
    }

    fn arg<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("dice-focal: logits must be contiguous");
        };
        Ok(&s.as_slice::<f32>()?[a..b])
    }

    impl CustomOp1 for SoftmaxDiceFocal {
        fn name(&self) -> &'static str {
            "softmax-dice-focal"
        }

        fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
            let z = arg(s, l)?;
            let (b, c, n) = self.dims(l)?;
            let sums = self.sums(z, b, c, n);
            let (nr, dr) = (f64::from(self.smooth_nr), f64::from(self.smooth_dr));
            let k = sums.inter.len() as f64;
            let ratio: f64 = (0..sums.inter.len())
                .map(|i| (2.0 * sums.inter[i] + nr) / (sums.pred[i] + sums.truth[i] + dr))
                .sum();
            let dice = 1.0 - ratio / k;
            let focal = sums.focal / (b * c * n) as f64;
            let loss = f64::from(self.lambda_dice) * dice + f64::from(self.lambda_focal) * focal;
            Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
        }

        fn bwd(
            &self,
            x: &Tensor,
            _res: &Tensor,
            grad: &Tensor,
        ) -> candle_core::Result<Option<Tensor>> {
            let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
            let x = x.contiguous()?;
            let (storage, layout) = x.storage_and_layout();
            let Storage::Cpu(cpu) = &*storage else {
                candle_core::bail!("dice-focal: CPU logits expected");
            };
            let z = arg(cpu, layout)?;
            let (b, c, n) = self.dims(layout)?;
            let sums = self.sums(z, b, c, n);
            let (nr, dr) = (f64::from(self.smooth_nr), f64::from(self.smooth_dr));
            let k = sums.inter.len() as f64;
            // dL/dp = a·t + q per (group, class): −λd/K · (2t/Den − Num/Den²).
            let ld = f64::from(self.lambda_dice) * f64::from(scale);
            let (a, q): (Vec<f32>, Vec<f32>) = (0..sums.inter.len())
                .map(|i| {
                    let den = sums.pred[i] + sums.truth[i] + dr;
                    let num = 2.0 * sums.inter[i] + nr;
                    (
                        (-ld / k * 2.0 / den) as f32,
                        (ld / k * num / (den * den)) as f32,
                    )
                })
                .unzip();
            let lf = self.lambda_focal * scale / (b * c * n) as f32;
            let gamma = self.gamma;
            let mut dz = vec![0f32; z.len()];
            // One item's [C, N] block per job chunk of voxels.
            let per_item: Vec<&mut [f32]> = dz.chunks_mut(c * n).collect();
            per_item.into_par_iter().enumerate().for_each(|(bi, dzb)| {
                let g = if self.per_sample { bi } else { 0 };
                let mut p = vec![0f32; c];
                let mut gp = vec![0f32; c];
                for v in 0..n {
                    let y = self.target[bi * n + v] as usize;
                    let logp = Self::softmax(z, bi, c, n, v, y, &mut p);
                    let mut dot = 0f32;
                    for kk in 0..c {
                        gp[kk] = q[g * c + kk] + if kk == y { a[g * c + kk] } else { 0.0 };
                        dot += p[kk] * gp[kk];
                    }
                    let py = p[y];
                    let pf = 1.0 - py;
                    let f = if pf < FLOOR {
                        -FLOOR.powf(gamma)
                    } else if gamma == 0.0 {
                        -1.0
                    } else {
                        gamma * pf.powf(gamma - 1.0) * py * logp - pf.powf(gamma)
                    };
                    for kk in 0..c {
                        let delta = if kk == y { 1.0 } else { 0.0 };
                        dzb[kk * n + v] = p[kk] * (gp[kk] - dot) + lf * (delta - p[kk]) * f;
                    }
                }
            });
            Ok(Some(Tensor::from_vec(dz, x.shape(), x.device())?))
        }
    }
}
