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
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::conv3d::{conv3d_layer, Conv3d, Conv3dConfig};
use crate::ops::conv_transpose3d::{conv_transpose3d_layer, ConvTranspose3d};
use crate::ops::dims5;
use crate::ops::pool3d::max_pool3d;

/// Network configuration, as in the reference script's `config.json` (extra keys ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UNet3dConfig {
    /// Input channels (4: FLAIR, T1, T1ce, T2).
    pub in_channels: usize,
    /// Output classes (4: background + 3 tumour labels).
    pub n_classes: usize,
    /// Widths of the five levels (16, 32, 64, 128, 256 in the seed).
    pub filters: [usize; 5],
    /// Dropout of enc1..enc4 and the bottleneck (0.1, 0.1, 0.2, 0.2, 0.3).
    #[serde(default = "enc_dropout")]
    pub encoder_dropout: [f32; 5],
    /// Dropout of dec4..dec1 (0.2, 0.2, 0.1, 0.1).
    #[serde(default = "dec_dropout")]
    pub decoder_dropout: [f32; 4],
}

fn enc_dropout() -> [f32; 5] {
    [0.1, 0.1, 0.2, 0.2, 0.3]
}

fn dec_dropout() -> [f32; 4] {
    [0.2, 0.2, 0.1, 0.1]
}

impl Default for UNet3dConfig {
    /// Exactly the seed's network.
    fn default() -> Self {
        UNet3dConfig {
            in_channels: 4,
            n_classes: 4,
            filters: [16, 32, 64, 128, 256],
            encoder_dropout: enc_dropout(),
            decoder_dropout: dec_dropout(),
        }
    }
}

impl UNet3dConfig {
    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: zero channels, classes or widths, dropout outside
    /// `[0, 1)`.
    pub fn check(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(Error::config("in_channels", "must be ≥ 1"));
        }
        if self.n_classes == 0 {
            return Err(Error::config("n_classes", "must be ≥ 1"));
        }
        if self.filters.contains(&0) {
            return Err(Error::config(
                "filters",
                format!("every width must be ≥ 1, got {:?}", self.filters),
            ));
        }
        for p in self.encoder_dropout.iter().chain(&self.decoder_dropout) {
            if !(0.0..1.0).contains(p) {
                return Err(Error::config(
                    "dropout",
                    format!("must be in [0, 1), got {p}"),
                ));
            }
        }
        Ok(())
    }

    /// Reads a `config.json` (the reference script's, or one written by this crate).
    ///
    /// # Errors
    /// [`Error::File`] when it cannot be read or parsed; [`Error::Config`] when invalid.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let cfg: UNet3dConfig = serde_json::from_str(&text).map_err(|e| Error::File {
            path: path.to_path_buf(),
            message: format!("not a U-Net config: {e}"),
        })?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Every parameter's name and shape, in PyTorch layout.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let f = self.filters;
        let mut out = Vec::new();
        let block = |out: &mut Vec<(String, Vec<usize>)>, name: &str, cin: usize, cout: usize| {
            out.push((format!("{name}.conv1.weight"), vec![cout, cin, 3, 3, 3]));
            out.push((format!("{name}.conv1.bias"), vec![cout]));
            out.push((format!("{name}.conv2.weight"), vec![cout, cout, 3, 3, 3]));
            out.push((format!("{name}.conv2.bias"), vec![cout]));
        };
        block(&mut out, "enc1", self.in_channels, f[0]);
        block(&mut out, "enc2", f[0], f[1]);
        block(&mut out, "enc3", f[1], f[2]);
        block(&mut out, "enc4", f[2], f[3]);
        block(&mut out, "bottleneck", f[3], f[4]);
        for (lvl, (cin, cout)) in [
            (4, (f[4], f[3])),
            (3, (f[3], f[2])),
            (2, (f[2], f[1])),
            (1, (f[1], f[0])),
        ] {
            block(&mut out, &format!("dec{lvl}"), 2 * cout, cout);
            out.push((format!("up{lvl}.weight"), vec![cin, cout, 2, 2, 2]));
            out.push((format!("up{lvl}.bias"), vec![cout]));
        }
        out.push(("head.weight".into(), vec![self.n_classes, f[0], 1, 1, 1]));
        out.push(("head.bias".into(), vec![self.n_classes]));
        out
    }
}

/// Two 3×3×3 convolutions with ReLU and dropout between them.
#[derive(Debug, Clone)]
struct Block {
    conv1: Conv3d,
    conv2: Conv3d,
    dropout: f32,
}

impl Block {
    fn new(cin: usize, cout: usize, dropout: f32, vb: VarBuilder) -> Result<Block> {
        let cfg = Conv3dConfig {
            padding: 1,
            stride: 1,
        };
        Ok(Block {
            conv1: conv3d_layer(cin, cout, 3, cfg, vb.pp("conv1"))?,
            conv2: conv3d_layer(cout, cout, 3, cfg, vb.pp("conv2"))?,
            dropout,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.conv1.forward3d(x)?.relu()?;
        let h = if train && self.dropout > 0.0 {
            candle_nn::ops::dropout(&h, self.dropout)?
        } else {
            h
        };
        Ok(self.conv2.forward3d(&h)?.relu()?)
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
}

impl UNet3d {
    /// Builds the network from `vb` (names as in the module docs).
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid config; [`Error::Candle`] when a tensor is missing or
    /// misshapen in `vb` (prefer [`UNet3d::load`], whose errors name the tensor).
    pub fn new(cfg: &UNet3dConfig, vb: VarBuilder) -> Result<UNet3d> {
        cfg.check()?;
        let f = cfg.filters;
        let (e, d) = (cfg.encoder_dropout, cfg.decoder_dropout);
        Ok(UNet3d {
            enc: [
                Block::new(cfg.in_channels, f[0], e[0], vb.pp("enc1"))?,
                Block::new(f[0], f[1], e[1], vb.pp("enc2"))?,
                Block::new(f[1], f[2], e[2], vb.pp("enc3"))?,
                Block::new(f[2], f[3], e[3], vb.pp("enc4"))?,
            ],
            bottleneck: Block::new(f[3], f[4], e[4], vb.pp("bottleneck"))?,
            up: [
                conv_transpose3d_layer(f[4], f[3], 2, vb.pp("up4"))?,
                conv_transpose3d_layer(f[3], f[2], 2, vb.pp("up3"))?,
                conv_transpose3d_layer(f[2], f[1], 2, vb.pp("up2"))?,
                conv_transpose3d_layer(f[1], f[0], 2, vb.pp("up1"))?,
            ],
            dec: [
                Block::new(2 * f[3], f[3], d[0], vb.pp("dec4"))?,
                Block::new(2 * f[2], f[2], d[1], vb.pp("dec3"))?,
                Block::new(2 * f[1], f[1], d[2], vb.pp("dec2"))?,
                Block::new(2 * f[0], f[0], d[3], vb.pp("dec1"))?,
            ],
            head: conv3d_layer(
                f[0],
                cfg.n_classes,
                1,
                Conv3dConfig::default(),
                vb.pp("head"),
            )?,
            cfg: cfg.clone(),
        })
    }

    /// Loads weights from a safetensors file (a PyTorch state dict saved with
    /// `safetensors.torch.save_file` loads unchanged). Every expected tensor is checked first.
    ///
    /// # Errors
    /// [`Error::File`] when the file cannot be read; [`Error::Weight`] naming a missing
    /// tensor, or one whose shape differs (expected and found); [`Error::Config`].
    pub fn load(path: impl AsRef<Path>, cfg: &UNet3dConfig, device: &Device) -> Result<UNet3d> {
        let path = path.as_ref();
        cfg.check()?;
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(path, device)
            .map_err(|e| Error::File {
                path: path.to_path_buf(),
                message: format!("not a readable safetensors file: {e}"),
            })?;
        for (name, shape) in cfg.parameter_shapes() {
            match tensors.get(&name) {
                None => {
                    return Err(Error::Weight {
                        name,
                        problem: format!("missing from {}", path.display()),
                    })
                }
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(Error::Weight {
                        name,
                        problem: format!("expected shape {shape:?}, found {:?}", t.dims()),
                    })
                }
                Some(t)
                    if !matches!(
                        t.dtype(),
                        DType::F32 | DType::F64 | DType::F16 | DType::BF16
                    ) =>
                {
                    return Err(Error::Weight {
                        name,
                        problem: format!(
                            "unsupported dtype {:?} (expected a float type)",
                            t.dtype()
                        ),
                    })
                }
                _ => {}
            }
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        UNet3d::new(cfg, vb)
    }

    /// The configuration.
    pub fn config(&self) -> &UNet3dConfig {
        &self.cfg
    }

    /// Raw class scores.
    ///
    /// # Shapes
    /// `[B, in_channels, D, H, W]` → `[B, n_classes, D, H, W]`; D, H, W multiples of 16.
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong rank, channel count or a size not divisible by 16.
    pub fn logits(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let [_, c, d, h, w] = dims5(x, "U-Net input")?;
        if c != self.cfg.in_channels {
            return Err(Error::shape(
                "U-Net input",
                format!("{} channels", self.cfg.in_channels),
                c,
            ));
        }
        if d % 16 != 0 || h % 16 != 0 || w % 16 != 0 || d == 0 {
            return Err(Error::shape(
                "U-Net input",
                "D, H, W multiples of 16 (four poolings)",
                format!("{:?}", [d, h, w]),
            ));
        }
        let mut skips = Vec::with_capacity(4);
        let mut cur = x.clone();
        for block in &self.enc {
            let s = block.forward(&cur, train)?;
            cur = max_pool3d(&s, 2)?;
            skips.push(s);
        }
        cur = self.bottleneck.forward(&cur, train)?;
        for ((up, dec), skip) in self.up.iter().zip(&self.dec).zip(skips.iter().rev()) {
            let u = up.forward3d(&cur)?;
            cur = dec.forward(&Tensor::cat(&[&u, skip], 1)?, train)?;
        }
        self.head.forward3d(&cur)
    }

    /// Softmax probabilities over the classes (eval mode: dropout off).
    ///
    /// # Errors
    /// As [`UNet3d::logits`].
    pub fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(&self.logits(x, false)?, 1)?)
    }
}

impl ModuleT for UNet3d {
    /// Logits; dropout active when `train`.
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.logits(x, train).map_err(candle_core::Error::wrap)
    }
}
