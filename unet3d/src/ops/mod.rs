//! 3D operations on candle tensors laid out `[B, C, D, H, W]`, f32 or f64, any device.
//!
//! The **device-generic path** is composed from candle primitives that have gradients:
//! `conv3d_generic` sums `conv2d` over the depth taps, `conv_transpose3d` (kernel = stride)
//! is one matrix product plus a reshuffle, `max_pool3d` is a reshape plus `max` (candle
//! 0.11's `max_pool2d` backward is wrong by 1/k², so it is not used). `conv3d` dispatches f32
//! stride-1 convolutions on the CPU to the fast kernel in [`cpu`].

pub mod conv3d;
pub mod conv_transpose3d;
pub mod cpu;
pub mod norm;
pub mod pool3d;

use candle_core::Tensor;

use crate::error::{Error, Result};

/// Checks a `[B, C, D, H, W]` tensor and returns its dims.
pub(crate) fn dims5(x: &Tensor, what: &str) -> Result<[usize; 5]> {
    let d = x.dims();
    if d.len() != 5 {
        return Err(Error::shape(
            what,
            "rank 5 [B, C, D, H, W]",
            format!("{d:?}"),
        ));
    }
    Ok([d[0], d[1], d[2], d[3], d[4]])
}
