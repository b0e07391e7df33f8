//! 3D max pooling with a cubic window equal to the stride: the op and the `MaxPool3d` layer.
//!
//! # Shapes
//! Input `[B, C, D, H, W]`; output `[B, C, D/k, H/k, W/k]` (floor, as PyTorch: trailing
//! voxels that do not fill a window are dropped).

use candle_core::{Module, Tensor};

use super::dims5;
use crate::error::{Error, Result};

/// Max pooling over `k×k×k` windows with stride `k`, as a reshape plus three `max`
/// reductions (gradients flow to the maximum of each window).
///
/// # Errors
/// [`Error::Shape`] for a wrong rank or an axis shorter than `k`; [`Error::Config`] for
/// `k = 0`.
pub fn max_pool3d(x: &Tensor, k: usize) -> Result<Tensor> {
    let [b, c, d, h, w] = dims5(x, "max_pool3d input")?;
    if k == 0 {
        return Err(Error::config("pool size", "must be ≥ 1"));
    }
    if d < k || h < k || w < k {
        return Err(Error::shape(
            "max_pool3d input",
            format!("every spatial axis ≥ {k}"),
            format!("{:?}", [d, h, w]),
        ));
    }
    let (dd, hh, ww) = (d / k, h / k, w / k);
    let x = if dd * k != d || hh * k != h || ww * k != w {
        x.narrow(2, 0, dd * k)?
            .narrow(3, 0, hh * k)?
            .narrow(4, 0, ww * k)?
            .contiguous()?
    } else {
        x.contiguous()?
    };
    let y = x
        .reshape(vec![b, c, dd, k, hh, k, ww, k])?
        .max(7)?
        .max(5)?
        .max(3)?;
    Ok(y)
}

/// A max-pooling layer (window = stride).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool3d {
    size: usize,
}

impl MaxPool3d {
    /// A layer pooling `size³` windows.
    pub fn new(size: usize) -> Self {
        MaxPool3d { size }
    }

    /// The forward pass with this crate's error type.
    ///
    /// # Errors
    /// As [`max_pool3d`].
    pub fn forward3d(&self, x: &Tensor) -> Result<Tensor> {
        max_pool3d(x, self.size)
    }
}

impl Module for MaxPool3d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward3d(x).map_err(candle_core::Error::wrap)
    }
}
