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
//! use brats_metrics::loss::{DiceLossConfig, Target};
//! # fn main() -> brats_metrics::Result<()> {
//! let logits = Tensor::zeros((1, 4, 2, 2, 2), candle_core::DType::F32, &Device::Cpu)?;
//! let labels = Tensor::zeros((1, 2, 2, 2), candle_core::DType::U8, &Device::Cpu)?;
//! let dice = DiceLossConfig::default().check()?;
//! let loss = dice.forward(&logits, Target::Indices(&labels))?;
//! assert!(loss.to_scalar::<f32>()? > 0.0);
//! # Ok(()) }
//! ```
//!
//! Files: [`config`] (the parameters and their checks), `dice`, `focal`, `dice_focal`
//! (the losses on any device), `fused` (the softmax Dice + focal CPU op), `common` (log-space
//! helpers and target handling).

mod common;
pub mod config;
mod dice;
mod dice_focal;
mod focal;
mod fused;

pub use config::{
    Background, Denominator, DiceFocalConfig, DiceFocalLoss, DiceLoss, DiceLossConfig,
    DiceReduction, FocalLoss, FocalLossConfig, Probabilities, Target,
};
