//! The seed's 3D U-Net, with tensor names and layouts of
//! `shared/reference/unet3d_reference.py`, so PyTorch state dicts load unchanged.
//!
//! ```text
//! block(cin, cout, p) = Conv3d(3, pad 1) → ReLU → Dropout(p) → Conv3d(3, pad 1) → ReLU
//! enc1 4→f0 | pool | enc2 f1 | pool | enc3 f2 | pool | enc4 f3 | pool | bottleneck f4
//! up4 = ConvTranspose3d(f4→f3, 2, 2); dec4 = block(cat[up4, enc4] → f3) … up1, dec1 (f0)
//! head = Conv3d(f0 → n_classes, 1); softmax over channels
//! ```
//! Tensor names: `enc{1..4}.conv{1,2}.{weight,bias}`, `bottleneck.conv{1,2}.*`,
//! `up{4..1}.{weight,bias}`, `dec{4..1}.conv{1,2}.*`, `head.{weight,bias}`.
//!
//! # Shapes
//! Input `[B, in_channels, D, H, W]` with D, H, W multiples of 16; output
//! `[B, n_classes, D, H, W]`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, ModuleT, Tensor};
use candle_nn::VarBuilder;

use crate::error::{Error, Result};
use crate::ops::conv3d::{conv3d_layer, Activation, Conv3d, Conv3dConfig, Epilogue};
use crate::ops::conv_transpose3d::{conv_transpose3d_layer, ConvTranspose3d};
use crate::ops::kernel::dims5;
use crate::ops::pool3d::max_pool3d;

mod config;

pub use config::{CheckedUNet3dConfig, Norm, Output, UNet3dConfig};

/// Forward mode: evaluation, or training with dropout masks drawn from a seed (so a
/// training run is reproducible on the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dropout off.
    Eval,
    /// Dropout on; every dropout layer draws its mask from a ChaCha8 stream derived from
    /// `seed` and the layer's index.
    Train {
        /// Seed of this forward pass.
        seed: u64,
    },
}

pub use crate::ops::dropout::dropout_seeded;

/// SplitMix64 step: decorrelates per-layer seeds derived from one seed.
pub(crate) fn mix_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone)]
struct NormAffine {
    weight: Tensor,
    bias: Tensor,
}

/// Two 3×3×3 convolutions, each followed by normalisation (optional) and the activation,
/// with dropout between them.
#[derive(Debug, Clone)]
struct Block {
    conv1: Conv3d,
    norm1: Option<NormAffine>,
    conv2: Conv3d,
    norm2: Option<NormAffine>,
    dropout: f32,
    act: Activation,
    index: u64,
}

impl Block {
    fn new(
        cin: usize,
        cout: usize,
        dropout: f32,
        index: u64,
        cfg: &UNet3dConfig,
        vb: VarBuilder,
    ) -> Result<Block> {
        let conv = Conv3dConfig {
            padding: 1,
            stride: 1,
        };
        let norm = |name: &str| -> Result<Option<NormAffine>> {
            Ok(match cfg.norm {
                Norm::None => None,
                Norm::Instance => Some(NormAffine {
                    weight: vb.pp(name).get(cout, "weight")?,
                    bias: vb.pp(name).get(cout, "bias")?,
                }),
            })
        };
        Ok(Block {
            conv1: conv3d_layer(cin, cout, 3, conv, vb.pp("conv1"))?,
            norm1: norm("norm1")?,
            conv2: conv3d_layer(cout, cout, 3, conv, vb.pp("conv2"))?,
            norm2: norm("norm2")?,
            dropout,
            act: cfg.activation,
            index,
        })
    }

    /// `dropout(act(norm(conv(x))))`: without normalisation the convolution, activation
    /// and dropout are one fused op; with it, conv → fused norm + activation → dropout.
    fn stage(
        &self,
        conv: &Conv3d,
        norm: Option<&NormAffine>,
        x: &Tensor,
        dropout: Option<(f32, u64)>,
    ) -> Result<Tensor> {
        let Some(n) = norm else {
            return conv.forward_fused(
                x,
                Epilogue {
                    activation: self.act,
                    dropout,
                },
            );
        };
        let h = crate::ops::norm::instance_norm_act(
            &conv.forward3d(x)?,
            &n.weight,
            &n.bias,
            self.act.negative_slope(),
        )?;
        match dropout {
            Some((p, seed)) => dropout_seeded(&h, p, seed),
            None => Ok(h),
        }
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let dropout = match mode {
            Mode::Train { seed } if self.dropout > 0.0 => {
                Some((self.dropout, mix_seed(seed, self.index)))
            }
            _ => None,
        };
        let h = self.stage(&self.conv1, self.norm1.as_ref(), x, dropout)?;
        self.stage(&self.conv2, self.norm2.as_ref(), &h, None)
    }
}

/// The 3D U-Net.
#[derive(Debug, Clone)]
pub struct UNet3d {
    cfg: UNet3dConfig,
    enc: [Block; 4],
    bottleneck: Block,
    up: [ConvTranspose3d; 4],
    dec: [Block; 4],
    head: Conv3d,
    /// Deep-supervision heads on dec3 and dec2.
    ds: Option<[Conv3d; 2]>,
}

impl UNet3d {
    /// Builds the network from `vb` (names as in the module docs).
    ///
    /// # Errors
    /// [`Error::Candle`] when a tensor is missing or
    /// misshapen in `vb` (prefer [`UNet3d::load`], whose errors name the tensor).
    pub fn new(cfg: &CheckedUNet3dConfig, vb: VarBuilder) -> Result<UNet3d> {
        let cfg = cfg.config();
        let f = cfg.filters;
        let (e, d) = (cfg.encoder_dropout, cfg.decoder_dropout);
        let head = |cin: usize, name: &str| {
            conv3d_layer(cin, cfg.n_classes, 1, Conv3dConfig::default(), vb.pp(name))
        };
        Ok(UNet3d {
            enc: [
                Block::new(cfg.in_channels, f[0], e[0], 0, cfg, vb.pp("enc1"))?,
                Block::new(f[0], f[1], e[1], 1, cfg, vb.pp("enc2"))?,
                Block::new(f[1], f[2], e[2], 2, cfg, vb.pp("enc3"))?,
                Block::new(f[2], f[3], e[3], 3, cfg, vb.pp("enc4"))?,
            ],
            bottleneck: Block::new(f[3], f[4], e[4], 4, cfg, vb.pp("bottleneck"))?,
            up: [
                conv_transpose3d_layer(f[4], f[3], 2, vb.pp("up4"))?,
                conv_transpose3d_layer(f[3], f[2], 2, vb.pp("up3"))?,
                conv_transpose3d_layer(f[2], f[1], 2, vb.pp("up2"))?,
                conv_transpose3d_layer(f[1], f[0], 2, vb.pp("up1"))?,
            ],
            dec: [
                Block::new(2 * f[3], f[3], d[0], 5, cfg, vb.pp("dec4"))?,
                Block::new(2 * f[2], f[2], d[1], 6, cfg, vb.pp("dec3"))?,
                Block::new(2 * f[1], f[1], d[2], 7, cfg, vb.pp("dec2"))?,
                Block::new(2 * f[0], f[0], d[3], 8, cfg, vb.pp("dec1"))?,
            ],
            head: head(f[0], "head")?,
            ds: if cfg.deep_supervision {
                Some([head(f[2], "ds3")?, head(f[1], "ds2")?])
            } else {
                None
            },
            cfg: cfg.clone(),
        })
    }

    /// Fresh weights for `cfg`, drawn from a ChaCha8 stream seeded with `seed` (the same
    /// seed gives the same network on any machine): He-uniform convolution weights
    /// (bound √(6 / fan_in)), zero biases, instance-norm scale 1 and shift 0. Returned as
    /// named tensors in PyTorch layout, ready for a `VarMap` or a safetensors file.
    ///
    /// # Errors
    /// Candle errors.
    pub fn init_tensors(
        cfg: &CheckedUNet3dConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Vec<(String, Tensor)>> {
        use rand::{Rng, SeedableRng};
        let cfg = cfg.config();
        let mut out = Vec::new();
        for (i, (name, shape)) in cfg.parameter_shapes().into_iter().enumerate() {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with(".bias") {
                vec![0.0; n]
            } else if name.contains(".norm") {
                vec![1.0; n]
            } else {
                // fan_in: PyTorch's rule (dim 1 × kernel volume; for a transposed
                // convolution that is its output width, as in PyTorch).
                let fan_in = (shape[1] * shape[2..].iter().product::<usize>()) as f32;
                let bound = (6.0 / fan_in).sqrt();
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix_seed(seed, i as u64));
                (0..n).map(|_| rng.random_range(-bound..bound)).collect()
            };
            out.push((name, Tensor::from_vec(data, shape, device)?));
        }
        Ok(out)
    }

    /// Loads weights from a safetensors file (a PyTorch state dict saved with
    /// `safetensors.torch.save_file` loads unchanged). Every expected tensor is checked first.
    ///
    /// # Errors
    /// [`Error::File`] when the file cannot be read; [`Error::Weight`] naming a missing
    /// tensor, or one whose shape differs (expected and found).
    pub fn load(
        path: impl AsRef<Path>,
        cfg: &CheckedUNet3dConfig,
        device: &Device,
    ) -> Result<UNet3d> {
        let path = path.as_ref();
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(path, device)
            .map_err(|e| Error::File {
                path: path.to_path_buf(),
                message: format!("not a readable safetensors file: {e}"),
            })?;
        check_parameters(cfg.config(), &tensors, path)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        UNet3d::new(cfg, vb)
    }

    /// The configuration.
    pub fn config(&self) -> &UNet3dConfig {
        &self.cfg
    }

    /// Raw class scores (`train`: dropout on, masks from an unseeded generator; use
    /// [`UNet3d::forward_all`] with [`Mode::Train`] for reproducible training).
    ///
    /// # Shapes
    /// `[B, in_channels, D, H, W]` → `[B, n_classes, D, H, W]`; D, H, W multiples of 16.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong rank, channel count or a size not divisible by 16.
    pub fn logits(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mode = if train {
            Mode::Train {
                seed: rand::random(),
            }
        } else {
            Mode::Eval
        };
        let mut outs = self.forward_all_inner(x, mode, false)?;
        Ok(outs.swap_remove(0))
    }

    /// The main head's logits, then (with deep supervision) the dec3 and dec2 heads' at ¼
    /// and ½ resolution.
    ///
    /// # Errors
    /// As [`UNet3d::logits`].
    pub fn forward_all(&self, x: &Tensor, mode: Mode) -> Result<Vec<Tensor>> {
        self.forward_all_inner(x, mode, true)
    }

    fn forward_all_inner(&self, x: &Tensor, mode: Mode, heads: bool) -> Result<Vec<Tensor>> {
        let [_, c, d, h, w] = dims5(x, "U-Net input")?;
        if c != self.cfg.in_channels {
            return Err(Error::shape(
                "U-Net input",
                format!("{} channels", self.cfg.in_channels),
                c,
            ));
        }
        let m = self.cfg.divisor();
        if d % m != 0 || h % m != 0 || w % m != 0 || d == 0 || h == 0 || w == 0 {
            return Err(Error::shape(
                "U-Net input",
                format!("D, H, W non-zero multiples of {m} (the network's poolings)"),
                format!("{:?}", [d, h, w]),
            ));
        }
        let mut skips = Vec::with_capacity(4);
        let mut cur = x.clone();
        for block in &self.enc {
            let s = block.forward(&cur, mode)?;
            cur = max_pool3d(&s, 2)?;
            skips.push(s);
        }
        cur = self.bottleneck.forward(&cur, mode)?;
        let mut aux = Vec::new();
        for (lvl, ((up, dec), skip)) in self
            .up
            .iter()
            .zip(&self.dec)
            .zip(skips.iter().rev())
            .enumerate()
        {
            let u = up.forward3d(&cur)?;
            cur = dec.forward(&Tensor::cat(&[&u, skip], 1)?, mode)?;
            if let (true, Some(ds)) = (heads, &self.ds) {
                // lvl 1 = dec3, lvl 2 = dec2.
                if lvl == 1 || lvl == 2 {
                    aux.push(ds[lvl - 1].forward3d(&cur)?);
                }
            }
        }
        let mut outs = vec![self.head.forward3d(&cur)?];
        outs.extend(aux);
        Ok(outs)
    }

    /// Probabilities (eval mode: dropout off): softmax over the classes, or sigmoid per
    /// region for [`Output::SigmoidRegions`].
    ///
    /// # Errors
    /// As [`UNet3d::logits`].
    pub fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        let logits = self.logits(x, false)?;
        Ok(match self.cfg.final_activation {
            Output::Softmax => candle_nn::ops::softmax(&logits, 1)?,
            Output::SigmoidRegions => candle_nn::ops::sigmoid(&logits)?,
        })
    }
}

impl ModuleT for UNet3d {
    /// Logits; dropout active when `train`.
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.logits(x, train).map_err(candle_core::Error::wrap)
    }
}

/// Checks that `tensors` (read from `path`) hold every parameter of `cfg`, each with its
/// shape and a float dtype.
///
/// # Errors
/// [`Error::Weight`] naming the first missing tensor, or one whose shape (expected and
/// found) or dtype differs, and the file.
pub(crate) fn check_parameters(
    cfg: &UNet3dConfig,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<()> {
    for (name, shape) in cfg.parameter_shapes() {
        let problem = match tensors.get(&name) {
            None => format!("missing from {}", path.display()),
            Some(t) if t.dims() != shape.as_slice() => format!(
                "expected shape {shape:?}, found {:?} in {}",
                t.dims(),
                path.display()
            ),
            Some(t)
                if !matches!(
                    t.dtype(),
                    DType::F32 | DType::F64 | DType::F16 | DType::BF16
                ) =>
            {
                format!(
                    "unsupported dtype {:?} in {} (expected a float type)",
                    t.dtype(),
                    path.display()
                )
            }
            _ => continue,
        };
        return Err(Error::Weight { name, problem });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_norm_normalises_each_sample_and_channel() {
        let dev = Device::Cpu;
        let x = (Tensor::randn(3f32, 2.0, (2, 3, 4, 5, 6), &dev).unwrap() * 1.0).unwrap();
        let w = Tensor::new(&[1f32, 2.0, 0.5], &dev).unwrap();
        let b = Tensor::new(&[0f32, 1.0, -1.0], &dev).unwrap();
        let y = crate::ops::norm::instance_norm_generic(&x, &w, &b).unwrap();
        let y = y.reshape((2, 3, 120)).unwrap();
        for bi in 0..2 {
            for c in 0..3 {
                let v: Vec<f32> = y.get(bi).unwrap().get(c).unwrap().to_vec1().unwrap();
                let mean = v.iter().sum::<f32>() / 120.0;
                let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 120.0;
                let (ws, bs) = ([1.0, 2.0, 0.5][c], [0.0, 1.0, -1.0][c]);
                assert!((mean - bs).abs() < 1e-4, "{mean}");
                assert!((var.sqrt() - ws).abs() < 1e-3 * ws, "{var}");
            }
        }
    }

    #[test]
    fn seeded_dropout_keeps_the_expectation() {
        let dev = Device::Cpu;
        let x = Tensor::ones((1, 1, 32, 32, 32), DType::F32, &dev).unwrap();
        let y = dropout_seeded(&x, 0.25, 1).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let zeros = v.iter().filter(|&&a| a == 0.0).count() as f64 / v.len() as f64;
        assert!((zeros - 0.25).abs() < 0.01, "{zeros}");
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        assert!(dropout_seeded(&x, 1.0, 1).is_err());
    }
}
