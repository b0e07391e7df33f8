//! # unet3d — 3D operations on candle, the seed's 3D U-Net, training and inference
//!
//! * [`ops`]: `conv3d` (fast CPU im2col + `gemm` kernel for f32 stride 1 with bias,
//!   activation and dropout fused, device-generic path otherwise), `conv_transpose3d`,
//!   `max_pool3d`, seeded dropout, fused instance norm, all with gradients and with a fast
//!   CPU op and a device-generic composition each; layers in candle-nn's style.
//! * [`model`]: [`UNet3d`] — the seed's network by default, with PyTorch-interchangeable
//!   weights; options: widths, instance norm, leaky ReLU, deep supervision, sigmoid region
//!   output; seeded initialisation and dropout.
//! * [`train`]: [`train::Trainer`] with a checked [`train::TrainConfig`], data from BraTS
//!   folders or phantoms, Dice + focal loss, Adam/AdamW ([`optim`]) with poly/cosine
//!   schedules, validation through the sliding window, checkpoints ([`checkpoint`]) with
//!   exact resume, history CSV/JSON/PNG. [`presets`] holds a CPU-friendly configuration.
//! * [`infer`]: Gaussian-weighted sliding-window inference with optional mirror TTA, and
//!   post-processing; [`predict::Predictor`]: case in → label map on the original grid out,
//!   with per-phase timings.
//!
//! A network with fresh seeded weights, run on one 4-channel 16³ patch:
//! ```
//! # fn main() -> unet3d::Result<()> {
//! use candle_core::{DType, Device, Tensor};
//! use unet3d::{UNet3d, UNet3dConfig};
//!
//! let dev = Device::Cpu;
//! let cfg = UNet3dConfig { filters: [4, 8, 16, 32, 64], ..UNet3dConfig::default() }.check()?;
//! let weights = UNet3d::init_tensors(&cfg, 0, &dev)?;
//! let vb = candle_nn::VarBuilder::from_tensors(weights.into_iter().collect(), DType::F32, &dev);
//! let net = UNet3d::new(&cfg, vb)?;
//! let x = Tensor::randn(0f32, 1.0, (1, 4, 16, 16, 16), &dev)?;
//! let p = net.probabilities(&x)?; // softmax over 4 classes, same grid as the input
//! assert_eq!(p.dims(), &[1, 4, 16, 16, 16]);
//! # Ok(()) }
//! ```
//! A trained model (the shipped default, `models/default`, or your own folder) on a case:
//! ```no_run
//! use unet3d::predict::{PredictOptions, Predictor};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let predictor = Predictor::load("model-dir")?;
//! let case = brats_io::find_case("BraTS2021_00000")?.load(&brats_io::NiftiReader::new())?;
//! let pred = predictor.predict_case(&case, &PredictOptions::default(), &brats_io::progress::NoProgress)?;
//! brats_io::NiftiWriter::new().write("seg.nii.gz", &pred.labels)?;
//! # Ok(()) }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod error;
pub mod infer;

pub mod model;
pub mod ops;
pub mod optim;
pub mod predict;
pub mod presets;
pub mod train;

pub use error::{Error, Result};
pub use model::{Mode, Norm, Output, UNet3d, UNet3dConfig};
pub use ops::conv3d::{
    conv3d, conv3d_fused, conv3d_generic, conv3d_layer, Activation, Conv3d, Conv3dConfig, Epilogue,
};
pub use ops::conv_transpose3d::{
    conv_transpose3d, conv_transpose3d_generic, conv_transpose3d_layer, ConvTranspose3d,
};
pub use ops::dropout::{dropout_seeded, DropMask};
pub use ops::pool3d::{max_pool3d, max_pool3d_generic, MaxPool3d};
