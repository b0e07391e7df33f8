//! Dice + focal: the fused CPU op where it applies, else the composition.

use candle_core::{DType, Tensor};

use super::common::*;
use super::config::*;
use crate::error::{Error, Result};

use super::fused::SoftmaxDiceFocal;

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
    fn fused(&self, logits: &Tensor, target: Target<'_>) -> Result<Option<SoftmaxDiceFocal>> {
        let (dc, fc) = (&self.dice.0, &self.focal.0);
        let Target::Indices(t) = target else {
            return Ok(None);
        };
        let applies = logits.device().is_cpu()
            && logits.dtype() == DType::F32
            && logits.rank() == 5
            && dc.activation == Probabilities::Softmax
            && fc.activation == Probabilities::Softmax
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
        Ok(Some(SoftmaxDiceFocal {
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
            (Probabilities::Softmax, Probabilities::Softmax) => {
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
