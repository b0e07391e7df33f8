//! 3D operations on candle tensors laid out `[B, C, D, H, W]`, f32 or f64, any device.
//!
//! Every op has two paths behind one function:
//!
//! * a **fast CPU path** for f32 — candle custom ops with their own backward pass:
//!   `conv3d` (a direct convolution for 3×3×3 kernels with register-blocked micro-kernels
//!   per instruction-set level, see `conv3d_direct` and [`simd`]; im2col into `gemm` for
//!   other kernels; bias, activation and dropout fused in, see `conv3d_cpu`),
//!   `conv_transpose3d` (one `gemm` plus a reshuffle), `max_pool3d`,
//!   seeded dropout and instance norm + activation ([`norm`]). Each keeps only its output
//!   (and, for dropout, a bit mask) for the backward pass;
//! * a **device-generic path** composed from candle primitives that have gradients, used
//!   on every other device and dtype: `conv3d_generic` sums `conv2d` over the depth taps,
//!   `conv_transpose3d_generic` is a matmul plus a permutation, `max_pool3d_generic` a
//!   reshape plus `max` (candle 0.11's `max_pool2d` backward is wrong by 1/k², so it is not
//!   used).
//!
//! Tests assert that both paths agree in values and gradients.

pub mod conv3d;
mod conv3d_cpu;
mod conv3d_direct;
mod conv3d_generic;
pub mod conv_transpose3d;
pub mod dropout;
pub(crate) mod kernel;
pub mod norm;
pub mod pool3d;
pub mod simd;
