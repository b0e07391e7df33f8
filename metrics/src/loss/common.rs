//! Log-space helpers and target handling shared by the losses.

use candle_core::{DType, Tensor};

use super::config::{Background, Probabilities, Target};
use crate::error::{Error, Result};

/// Checks the logits' rank and turns the target into a float one-hot tensor like them.
pub(super) fn one_hot_target(logits: &Tensor, target: Target<'_>) -> Result<Tensor> {
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
pub(super) fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let abs = x.abs()?;
    let soft = (abs.neg()?.exp()? + 1.0)?.log()?;
    Ok(((x - &abs)? * 0.5)?.sub(&soft)?)
}

/// Log-probabilities of the logits under `act`: log-softmax over the channels, or
/// log-sigmoid per channel.
pub(super) fn log_probs(logits: &Tensor, act: Probabilities) -> Result<Tensor> {
    match act {
        Probabilities::Softmax => log_softmax(logits),
        Probabilities::Sigmoid => log_sigmoid(logits),
    }
}

/// `log_softmax` over the channel axis, with the (detached) maximum subtracted first.
pub(super) fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

pub(super) fn drop_background(t: &Tensor, bg: Background) -> Result<Tensor> {
    let c = t.dim(1)?;
    Ok(match bg {
        Background::Exclude if c > 1 => t.narrow(1, 1, c - 1)?,
        _ => t.clone(),
    })
}
