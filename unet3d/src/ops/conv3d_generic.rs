//! The device-generic 3D convolution (a sum of candle `conv2d`s over the depth taps) and the
//! convolution's configuration and argument checks.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::kernel::dims5;
use crate::error::{Error, Result};

/// Cubic kernel convolution parameters (the same on every axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv3dConfig {
    /// Zero padding on each side.
    pub padding: usize,
    /// Stride.
    pub stride: usize,
}

impl Default for Conv3dConfig {
    fn default() -> Self {
        Conv3dConfig {
            padding: 0,
            stride: 1,
        }
    }
}

/// Validates shapes and config; returns (kernel, out channels).
pub(crate) fn check(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    cfg: Conv3dConfig,
) -> Result<(usize, usize)> {
    let [_, c, d, h, wd] = dims5(x, "conv3d input")?;
    let [o, ci, kd, kh, kw] = dims5(w, "conv3d weight")?;
    if ci != c {
        return Err(Error::shape(
            "conv3d weight",
            format!("{c} input channels"),
            ci,
        ));
    }
    if kd != kh || kd != kw {
        return Err(Error::shape(
            "conv3d weight",
            "a cubic kernel",
            format!("{kd}×{kh}×{kw}"),
        ));
    }
    if cfg.stride == 0 {
        return Err(Error::config("stride", "must be ≥ 1"));
    }
    let (k, p) = (kd, cfg.padding);
    for (axis, n) in [("D", d), ("H", h), ("W", wd)] {
        if n + 2 * p < k {
            return Err(Error::shape(
                "conv3d input",
                format!("{axis} + 2·padding ≥ kernel {k}"),
                format!("{axis} = {n}, padding {p}"),
            ));
        }
    }
    if let Some(b) = b {
        if b.dims() != [o] {
            return Err(Error::shape(
                "conv3d bias",
                format!("[{o}]"),
                format!("{:?}", b.dims()),
            ));
        }
    }
    Ok((k, o))
}

/// The device-generic `conv3d`: for each depth tap `t` the input planes `t, t + s, …` are gathered and
/// convolved in 2D with the weight's slice `[:, :, t]`; the taps are summed. Gradients for
/// input, weight and bias come from candle's autograd.
///
/// # Shapes
/// See the module docs.
///
/// # Errors
/// [`Error::Shape`] for wrong ranks, a channel mismatch, a non-cubic kernel, a bias of the
/// wrong length or an input smaller than the kernel; [`Error::Config`] for stride 0.
pub fn conv3d_generic(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    cfg: Conv3dConfig,
) -> Result<Tensor> {
    let (k, o) = check(x, w, b, cfg)?;
    let [bn, c, d, h, wd] = dims5(x, "conv3d input")?;
    let (s, p) = (cfg.stride, cfg.padding);
    let d_out = (d + 2 * p - k) / s + 1;
    // [B, D+2p, C, H, W]: depth next to batch so that planes fold into the batch.
    let xp = if p > 0 {
        x.pad_with_zeros(2, p, p)?
    } else {
        x.clone()
    };
    let xs = xp.permute((0, 2, 1, 3, 4))?.contiguous()?;
    let mut acc: Option<Tensor> = None;
    for t in 0..k {
        let planes = if s == 1 {
            xs.narrow(1, t, d_out)?
        } else {
            let idx: Vec<u32> = (0..d_out).map(|i| (t + i * s) as u32).collect();
            let idx = Tensor::from_vec(idx, d_out, x.device())?;
            xs.index_select(&idx, 1)?
        };
        let planes = planes.contiguous()?.reshape((bn * d_out, c, h, wd))?;
        let wt = w.narrow(2, t, 1)?.squeeze(2)?.contiguous()?;
        // candle 0.11's conv2d backward loses the input size when a stride does not divide
        // it evenly, so strided convolutions run at stride 1 and are subsampled.
        let y = planes.conv2d(&wt, p, 1, 1, 1)?;
        let y = if s > 1 {
            let (_, _, hf, wf) = y.dims4()?;
            let rows: Vec<u32> = (0..hf).step_by(s).map(|i| i as u32).collect();
            let cols: Vec<u32> = (0..wf).step_by(s).map(|i| i as u32).collect();
            let (nr, nc) = (rows.len(), cols.len());
            y.index_select(&Tensor::from_vec(rows, nr, x.device())?, 2)?
                .contiguous()?
                .index_select(&Tensor::from_vec(cols, nc, x.device())?, 3)?
        } else {
            y
        };
        acc = Some(match acc {
            Some(a) => (a + y)?,
            None => y,
        });
    }
    let acc = acc.ok_or_else(|| Error::shape("conv3d weight", "kernel ≥ 1", 0))?;
    let (_, _, h_out, w_out) = acc.dims4()?;
    let mut y = acc
        .reshape((bn, d_out, o, h_out, w_out))?
        .permute((0, 2, 1, 3, 4))?
        .contiguous()?;
    if let Some(b) = b {
        y = y.broadcast_add(&b.reshape((1, o, 1, 1, 1))?)?;
    }
    Ok(y)
}
