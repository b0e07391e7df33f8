//! The network's configuration: widths, dropout, normalisation, activation, output form —
//! the reference script's `config.json` — and its checked form.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops::conv3d::Activation;

/// Normalisation after each 3×3×3 convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// None (the seed's network).
    #[default]
    None,
    /// Instance normalisation with a learnt scale and shift per channel
    /// (`{block}.norm{1,2}.{weight,bias}`, PyTorch `InstanceNorm3d(affine=True)`, ε = 1e-5).
    Instance,
}

/// What the head's channels mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Softmax over `n_classes` mutually exclusive classes (background + tumour labels).
    #[default]
    Softmax,
    /// Independent sigmoids over the nested regions WT, TC, ET (`n_classes` = 3, in that
    /// order) — the BraTS challenge practice.
    SigmoidRegions,
}

/// Network configuration, as in the reference script's `config.json` (extra keys ignored;
/// missing option keys take the seed's values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UNet3dConfig {
    /// Input channels (4: FLAIR, T1, T1ce, T2).
    pub in_channels: usize,
    /// Output channels (4 classes for softmax; 3 regions for sigmoid output).
    pub n_classes: usize,
    /// Widths of the five levels (16, 32, 64, 128, 256 in the seed).
    pub filters: [usize; 5],
    /// Dropout of enc1..enc4 and the bottleneck (0.1, 0.1, 0.2, 0.2, 0.3).
    #[serde(default = "enc_dropout")]
    pub encoder_dropout: [f32; 5],
    /// Dropout of dec4..dec1 (0.2, 0.2, 0.1, 0.1).
    #[serde(default = "dec_dropout")]
    pub decoder_dropout: [f32; 4],
    /// Normalisation after each 3×3×3 convolution (seed: none).
    #[serde(default)]
    pub norm: Norm,
    /// Non-linearity after each convolution and normalisation (seed: ReLU). In JSON two
    /// keys, as the reference script writes them: `"activation"` (`"relu"`, `"leaky_relu"`
    /// or `"identity"`) and `"negative_slope"` (the leaky slope, default 0.01).
    #[serde(flatten, with = "activation_json")]
    pub activation: Activation,
    /// Extra 1×1×1 heads on dec3 and dec2 (`ds3.*`, `ds2.*`) whose outputs, at ¼ and ½
    /// resolution, join the training loss (seed: off). Inference uses the main head only.
    #[serde(default)]
    pub deep_supervision: bool,
    /// Output form (seed: softmax). Named `final_activation` because the reference script's
    /// `config.json` already uses `output` for a description string.
    #[serde(default)]
    pub final_activation: Output,
}

fn enc_dropout() -> [f32; 5] {
    [0.1, 0.1, 0.2, 0.2, 0.3]
}

fn dec_dropout() -> [f32; 4] {
    [0.2, 0.2, 0.1, 0.1]
}

/// A validated [`UNet3dConfig`]: what [`UNet3d::new`](crate::UNet3d::new),
/// [`UNet3d::load`](crate::UNet3d::load) and [`UNet3d::init_tensors`](crate::UNet3d::init_tensors) take.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedUNet3dConfig(UNet3dConfig);

impl CheckedUNet3dConfig {
    /// The settings.
    pub fn config(&self) -> &UNet3dConfig {
        &self.0
    }
}

/// The JSON form of [`UNet3dConfig::activation`]: two flat keys, so configs written before
/// the activation was one value (and the reference script's) read unchanged.
mod activation_json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::ops::conv3d::Activation;

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Name {
        Identity,
        Relu,
        LeakyRelu,
    }

    #[derive(Serialize, Deserialize)]
    struct Fields {
        #[serde(default = "relu")]
        activation: Name,
        #[serde(default = "default_slope")]
        negative_slope: f32,
    }

    fn relu() -> Name {
        Name::Relu
    }

    /// PyTorch's `LeakyReLU` default.
    fn default_slope() -> f32 {
        0.01
    }

    pub(super) fn serialize<S: Serializer>(a: &Activation, s: S) -> Result<S::Ok, S::Error> {
        let (activation, negative_slope) = match *a {
            Activation::Identity => (Name::Identity, default_slope()),
            Activation::Relu => (Name::Relu, default_slope()),
            Activation::LeakyRelu(slope) => (Name::LeakyRelu, slope),
        };
        Fields {
            activation,
            negative_slope,
        }
        .serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Activation, D::Error> {
        let f = Fields::deserialize(d)?;
        Ok(match f.activation {
            Name::Identity => Activation::Identity,
            Name::Relu => Activation::Relu,
            Name::LeakyRelu => Activation::LeakyRelu(f.negative_slope),
        })
    }
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
            norm: Norm::None,
            activation: Activation::Relu,
            deep_supervision: false,
            final_activation: Output::Softmax,
        }
    }
}

impl UNet3dConfig {
    /// The network's total downsampling: every spatial input side must be a multiple of
    /// it (2 per pooling, one pooling between levels: 16 for five levels).
    pub fn divisor(&self) -> usize {
        1 << (self.filters.len() - 1)
    }

    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: zero channels, classes or widths, dropout or a
    /// leaky slope outside `[0, 1)`.
    pub fn check(self) -> Result<CheckedUNet3dConfig> {
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
        self.activation.check()?;
        if self.final_activation == Output::SigmoidRegions && self.n_classes != 3 {
            return Err(Error::config(
                "n_classes",
                format!(
                    "sigmoid_regions output needs 3 channels (WT, TC, ET), got {}",
                    self.n_classes
                ),
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
        Ok(CheckedUNet3dConfig(self))
    }

    /// Reads and checks a `config.json` (the reference script's, or one written by this
    /// crate).
    ///
    /// # Errors
    /// [`Error::File`] when it cannot be read or parsed; [`Error::Config`] when invalid.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<CheckedUNet3dConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let cfg: UNet3dConfig = serde_json::from_str(&text).map_err(|e| Error::File {
            path: path.to_path_buf(),
            message: format!("not a U-Net config: {e}"),
        })?;
        cfg.check()
    }

    /// Every parameter's name and shape, in PyTorch layout.
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let f = self.filters;
        let mut out = Vec::new();
        let norm = self.norm == Norm::Instance;
        let block = |out: &mut Vec<(String, Vec<usize>)>, name: &str, cin: usize, cout: usize| {
            out.push((format!("{name}.conv1.weight"), vec![cout, cin, 3, 3, 3]));
            out.push((format!("{name}.conv1.bias"), vec![cout]));
            if norm {
                out.push((format!("{name}.norm1.weight"), vec![cout]));
                out.push((format!("{name}.norm1.bias"), vec![cout]));
            }
            out.push((format!("{name}.conv2.weight"), vec![cout, cout, 3, 3, 3]));
            out.push((format!("{name}.conv2.bias"), vec![cout]));
            if norm {
                out.push((format!("{name}.norm2.weight"), vec![cout]));
                out.push((format!("{name}.norm2.bias"), vec![cout]));
            }
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
        if self.deep_supervision {
            for (lvl, c) in [(3, f[2]), (2, f[1])] {
                out.push((format!("ds{lvl}.weight"), vec![self.n_classes, c, 1, 1, 1]));
                out.push((format!("ds{lvl}.bias"), vec![self.n_classes]));
            }
        }
        out
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Writes the config as pretty JSON, atomically (temp file + rename).
    ///
    /// # Errors
    /// [`Error::File`] when the file cannot be written.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::File {
            path: path.as_ref().to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(brats_io::atomic_write_bytes(
            path.as_ref(),
            text.as_bytes(),
        )?)
    }
}
