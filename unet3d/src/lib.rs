//! # unet3d — 3D operations on candle and the seed's 3D U-Net
//!
//! Work in progress (issue 4): the device-generic ops (`conv3d`, `conv_transpose3d`,
//! `max_pool3d`) with autograd, checked against PyTorch, and the seed's U-Net
//! ([`UNet3d`]) loading PyTorch state dicts saved as safetensors. On the CPU, f32 stride-1
//! `conv3d` runs a fast im2col + `gemm` kernel ([`ops::cpu`]); the per-op benches, model
//! options and the remaining speed work follow.

pub mod checkpoint;
pub mod error;
pub mod infer;
mod io;
pub mod model;
pub mod ops;
pub mod optim;
pub mod predict;
pub mod presets;
pub mod train;

pub use error::{Error, Result};
pub use model::{Act, Mode, Norm, Output, UNet3d, UNet3dConfig};
pub use ops::conv3d::{conv3d, conv3d_generic, conv3d_layer, Conv3d, Conv3dConfig};
pub use ops::conv_transpose3d::{conv_transpose3d, conv_transpose3d_layer, ConvTranspose3d};
pub use ops::pool3d::{max_pool3d, MaxPool3d};
