//! Loss parameters (unchecked → `check()` → checked) and the target type.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How probabilities are obtained from logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probabilities {
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
    pub activation: Probabilities,
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
            activation: Probabilities::Softmax,
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
pub struct DiceLoss(pub(super) DiceLossConfig);

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
    pub activation: Probabilities,
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
            activation: Probabilities::Softmax,
            gamma: 2.0,
            alpha: None,
            class_weights: None,
            background: Background::Include,
        }
    }
}

/// A checked focal loss.
#[derive(Debug, Clone, PartialEq)]
pub struct FocalLoss(pub(super) FocalLossConfig);

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
    /// [`Probabilities::Sigmoid`] to reproduce it.
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
    pub(super) dice: DiceLoss,
    pub(super) focal: FocalLoss,
    pub(super) lambda_dice: f64,
    pub(super) lambda_focal: f64,
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
