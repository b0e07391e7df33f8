//! Focal loss (softmax and sigmoid forms) on any device.

use candle_core::Tensor;

use super::common::*;
use super::config::*;
use crate::error::{Error, Result};

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
            Probabilities::Softmax => Some(log_softmax(logits)?),
            Probabilities::Sigmoid => None,
        };
        self.loss_from_parts(logits, logp.as_ref(), &t)
    }

    /// The loss from the logits, their log-softmax (needed for the softmax form) and a
    /// one-hot target.
    pub(super) fn loss_from_parts(
        &self,
        logits: &Tensor,
        logp: Option<&Tensor>,
        t: &Tensor,
    ) -> Result<Tensor> {
        let cfg = &self.0;
        let c = logits.dim(1)?;
        let loss = match cfg.activation {
            Probabilities::Softmax => {
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
            Probabilities::Sigmoid => {
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
