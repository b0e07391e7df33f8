//! 3D convolution: the op, its configuration and the `Conv3d` layer.
//!
//! # Shapes
//! Input `[B, C_in, D, H, W]`; weight `[C_out, C_in, k, k, k]` (PyTorch's layout); bias
//! `[C_out]`; output `[B, C_out, D', H', W']` with `D' = (D + 2p − k) / s + 1` (likewise H, W).

use std::sync::Arc;

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use super::conv3d_cpu::Conv3dCpu;
use super::conv3d_generic::check;
pub use super::conv3d_generic::{conv3d_generic, Conv3dConfig};
use super::dropout::{dropout_generic, DropMask};
use super::kernel::dims5;
pub use super::kernel::Activation;
use crate::error::Result;

/// What a fused convolution does after the product: bias (always, when given), an
/// activation, then seeded inverted dropout.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Epilogue {
    /// Activation after the bias.
    pub activation: Activation,
    /// Dropout `(p, seed)` after the activation (mask as [`crate::ops::dropout::DropMask`]).
    pub dropout: Option<(f32, u64)>,
}

/// 3D cross-correlation (PyTorch's `conv3d`) with zero padding and stride.
///
/// On the CPU with f32 and stride 1 the fast kernel runs (im2col per output slice into
/// `gemm`, see the `conv3d_cpu` module); everywhere else the device-generic path
/// ([`conv3d_generic`]). Both give the same values and gradients (tested).
///
/// # Shapes
/// See the module docs.
///
/// # Errors
/// As [`conv3d_generic`].
pub fn conv3d(x: &Tensor, w: &Tensor, b: Option<&Tensor>, cfg: Conv3dConfig) -> Result<Tensor> {
    conv3d_fused(x, w, b, cfg, Epilogue::default())
}

/// `dropout(act(conv3d(x, w) + b))` as one operation.
///
/// On the CPU (f32, stride 1) one op computes all of it and keeps only its output and a bit
/// mask for the backward pass; elsewhere it is composed from [`conv3d_generic`],
/// [`Activation::apply`] and [`crate::ops::dropout::dropout_generic`] with the same mask.
///
/// # Errors
/// As [`conv3d_generic`]; [`Error::Config`](crate::Error::Config) for a dropout probability outside `[0, 1)` or a
/// leaky slope outside `[0, 1)`.
pub fn conv3d_fused(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    cfg: Conv3dConfig,
    epi: Epilogue,
) -> Result<Tensor> {
    epi.activation.check()?;
    let (_, o) = check(x, w, b, cfg)?;
    let [bn, _, d, h, wd] = dims5(x, "conv3d input")?;
    let k = w.dims()[2];
    let p = cfg.padding;
    let out_len = bn
        * o
        * ((d + 2 * p - k) / cfg.stride + 1)
        * ((h + 2 * p - k) / cfg.stride + 1)
        * ((wd + 2 * p - k) / cfg.stride + 1);
    let mask = match epi.dropout {
        Some((p, seed)) if p != 0.0 => Some(DropMask::new(out_len, p, seed)?),
        _ => None,
    };
    let fast = x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && w.dtype() == candle_core::DType::F32
        && b.is_none_or(|b| b.dtype() == candle_core::DType::F32)
        && cfg.stride == 1;
    if !fast {
        let y = epi.activation.apply(&conv3d_generic(x, w, b, cfg)?)?;
        return match mask {
            Some(m) => dropout_generic(&y, &m),
            None => Ok(y),
        };
    }
    let bias = match b {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(o, candle_core::DType::F32, x.device())?,
    };
    Ok(x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &bias,
        Conv3dCpu {
            padding: cfg.padding,
            act: epi.activation,
            mask: mask.map(Arc::new),
        },
    )?)
}

/// A 3D convolution layer with PyTorch-layout weights.
#[derive(Debug, Clone)]
pub struct Conv3d {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: Conv3dConfig,
}

impl Conv3d {
    /// A layer from its tensors.
    ///
    /// # Shapes
    /// `weight` `[C_out, C_in, k, k, k]`, `bias` `[C_out]`.
    pub fn new(weight: Tensor, bias: Option<Tensor>, cfg: Conv3dConfig) -> Self {
        Conv3d { weight, bias, cfg }
    }

    /// The weight.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &Conv3dConfig {
        &self.cfg
    }

    /// The forward pass with this crate's error type.
    ///
    /// # Errors
    /// As [`conv3d`].
    pub fn forward3d(&self, x: &Tensor) -> Result<Tensor> {
        conv3d(x, &self.weight, self.bias.as_ref(), self.cfg)
    }

    /// The forward pass followed by activation and dropout, fused on the CPU (see
    /// [`conv3d_fused`]).
    ///
    /// # Errors
    /// As [`conv3d_fused`].
    pub fn forward_fused(&self, x: &Tensor, epi: Epilogue) -> Result<Tensor> {
        conv3d_fused(x, &self.weight, self.bias.as_ref(), self.cfg, epi)
    }
}

impl Module for Conv3d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward3d(x).map_err(candle_core::Error::wrap)
    }
}

/// A `Conv3d` whose `weight` `[out, in, k, k, k]` and `bias` `[out]` come from `vb`
/// (Kaiming-uniform initialisation when created, as PyTorch).
///
/// # Errors
/// [`Error::Candle`](crate::Error::Candle) when a tensor is missing or has the wrong shape (the message names it).
pub fn conv3d_layer(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    cfg: Conv3dConfig,
    vb: VarBuilder,
) -> Result<Conv3d> {
    let fan_in = (in_channels * kernel * kernel * kernel) as f64;
    let bound = 1.0 / fan_in.sqrt();
    let init = candle_nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    let weight = vb.get_with_hints(
        (out_channels, in_channels, kernel, kernel, kernel),
        "weight",
        init,
    )?;
    let bias = vb.get_with_hints(out_channels, "bias", init)?;
    Ok(Conv3d::new(weight, Some(bias), cfg))
}
