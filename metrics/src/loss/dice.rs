//! Soft Dice on any device.

use candle_core::Tensor;

use super::common::*;
use super::config::*;
use crate::error::Result;

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
    /// [`Error::Shape`](crate::Error::Shape) / [`Error::ShapeMismatch`](crate::Error::ShapeMismatch)
    /// for wrong ranks or shapes and class indices outside `0..C`;
    /// [`Error::Candle`](crate::Error::Candle) for device or dtype failures.
    pub fn forward(&self, logits: &Tensor, target: Target<'_>) -> Result<Tensor> {
        let t = one_hot_target(logits, target)?;
        self.loss_from_log_probs(&log_probs(logits, self.0.activation)?, &t)
    }

    /// The loss from log-probabilities (as [`log_probs`] for this loss's activation) and a
    /// one-hot target of the same shape.
    pub(super) fn loss_from_log_probs(&self, logp: &Tensor, t: &Tensor) -> Result<Tensor> {
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
