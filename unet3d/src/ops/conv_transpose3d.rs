//! 3D transposed convolution with kernel = stride (non-overlapping, the U-Net's 2×2×2 up-
//! sampling): the op and the `ConvTranspose3d` layer.
//!
//! # Shapes
//! Input `[B, C_in, D, H, W]`; weight `[C_in, C_out, k, k, k]` (PyTorch's layout); bias
//! `[C_out]`; output `[B, C_out, k·D, k·H, k·W]`.

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use super::dims5;
use crate::error::{Error, Result};

/// `conv_transpose3d` with stride equal to the (cubic) kernel size and no padding.
///
/// Each input voxel writes its own `k×k×k` output block, so the op is one matrix product
/// (`[B·D·H·W, C_in] × [C_in, C_out·k³]`) followed by a reshuffle — device-generic and
/// differentiable through candle's autograd.
///
/// # Shapes
/// See the module docs.
///
/// # Errors
/// [`Error::Shape`] for wrong ranks, a channel mismatch, a non-cubic kernel or a bias of
/// the wrong length.
pub fn conv_transpose3d(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let [bn, c, d, h, wd] = dims5(x, "conv_transpose3d input")?;
    let [ci, o, kd, kh, kw] = dims5(w, "conv_transpose3d weight")?;
    if ci != c {
        return Err(Error::shape(
            "conv_transpose3d weight",
            format!("{c} input channels first"),
            ci,
        ));
    }
    if kd != kh || kd != kw {
        return Err(Error::shape(
            "conv_transpose3d weight",
            "a cubic kernel",
            format!("{kd}×{kh}×{kw}"),
        ));
    }
    if let Some(b) = b {
        if b.dims() != [o] {
            return Err(Error::shape(
                "conv_transpose3d bias",
                format!("[{o}]"),
                format!("{:?}", b.dims()),
            ));
        }
    }
    let k = kd;
    // [B, D, H, W, C] × [C, O·k³] → [B·D·H·W, O·k³]
    let xm = x
        .permute((0, 2, 3, 4, 1))?
        .contiguous()?
        .reshape((bn * d * h * wd, c))?;
    let wm = w.reshape((c, o * k * k * k))?;
    let y = xm.matmul(&wm)?;
    // [B, D, H, W, O, kd, kh, kw] → [B, O, D, kd, H, kh, W, kw] → [B, O, kD, kH, kW]
    let y = y
        .reshape(vec![bn, d, h, wd, o, k, k, k])?
        .permute(vec![0, 4, 1, 5, 2, 6, 3, 7])?
        .contiguous()?
        .reshape((bn, o, d * k, h * k, wd * k))?;
    Ok(match b {
        Some(b) => y.broadcast_add(&b.reshape((1, o, 1, 1, 1))?)?,
        None => y,
    })
}

/// A transposed-convolution layer (kernel = stride).
#[derive(Debug, Clone)]
pub struct ConvTranspose3d {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl ConvTranspose3d {
    /// A layer from its tensors.
    ///
    /// # Shapes
    /// `weight` `[C_in, C_out, k, k, k]`, `bias` `[C_out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        ConvTranspose3d { weight, bias }
    }

    /// The weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The forward pass with this crate's error type.
    ///
    /// # Errors
    /// As [`conv_transpose3d`].
    pub fn forward3d(&self, x: &Tensor) -> Result<Tensor> {
        conv_transpose3d(x, &self.weight, self.bias.as_ref())
    }
}

impl Module for ConvTranspose3d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward3d(x).map_err(candle_core::Error::wrap)
    }
}

/// A `ConvTranspose3d` whose `weight` `[in, out, k, k, k]` and `bias` `[out]` come from `vb`.
///
/// # Errors
/// [`Error::Candle`] when a tensor is missing or has the wrong shape.
pub fn conv_transpose3d_layer(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    vb: VarBuilder,
) -> Result<ConvTranspose3d> {
    // PyTorch computes fan_in of a transposed conv's weight from dim 1 (out channels).
    let fan_in = (out_channels * kernel * kernel * kernel) as f64;
    let bound = 1.0 / fan_in.sqrt();
    let init = candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let weight = vb.get_with_hints(
        (in_channels, out_channels, kernel, kernel, kernel),
        "weight",
        init,
    )?;
    let bias = vb.get_with_hints(out_channels, "bias", init)?;
    Ok(ConvTranspose3d::new(weight, Some(bias)))
}
