//! Ready-made training configurations.

use brats_io::{Orientation, PreprocessConfig, Resample};

use crate::infer::SlidingWindowConfig;
use crate::model::{Norm, UNet3dConfig};
use crate::ops::conv3d::Activation;
use crate::optim::AdamConfig;
use crate::train::{Schedule, TrainConfig};

/// Trains in minutes on a laptop CPU: widths 8-16-32-64-128, instance norm, leaky ReLU, no
/// dropout, images cropped to the brain and resampled to 2 mm, 64³ patches (12.8 cm, most of
/// a brain), batch 2, AdamW 3e-3 with a poly schedule, 2/3 of the patches on tumour.
/// Predicted maps are restored onto the original grid (nearest neighbour), so fine detail
/// below 2 mm is lost — the price of CPU speed.
pub fn fast() -> TrainConfig {
    let model = UNet3dConfig {
        filters: [8, 16, 32, 64, 128],
        encoder_dropout: [0.0; 5],
        decoder_dropout: [0.0; 4],
        norm: Norm::Instance,
        activation: Activation::LeakyRelu(0.01),
        ..UNet3dConfig::default()
    };
    TrainConfig {
        preprocess: PreprocessConfig {
            orientation: None,
            margin: 2,
            clip_percentiles: Some((0.5, 99.5)),
            resample: Resample::Spacing([2.0, 2.0, 2.0]),
            pad_multiple: model.divisor(),
        },
        model,
        patch: [64, 64, 64],
        batch_size: 2,
        epochs: 20,
        iterations_per_epoch: 25,
        optimizer: AdamConfig {
            lr: 3e-3,
            ..AdamConfig::default()
        },
        schedule: Schedule::Poly,
        warmup_iterations: 10,
        foreground_share: 2.0 / 3.0,
        validation_interval: 5,
        window: SlidingWindowConfig {
            roi: [64, 64, 64],
            overlap: 0.5,
            batch_size: 2,
            ..SlidingWindowConfig::default()
        },
        ..TrainConfig::default()
    }
}

/// The seed's network and training at native 1 mm: 128³ patches, batch 2, AdamW 1e-3, poly.
/// Needs a GPU-class budget for a useful model.
pub fn seed() -> TrainConfig {
    TrainConfig::default()
}

/// The shipped default model's training (`models/default/`, see its model card): trained
/// only on synthetic cases from real anatomy ([`crate::train::StreamConfig`]: a pool of 32
/// cases, 4 new ones after every epoch), widths 16-32-64-128-256 with instance norm, leaky
/// ReLU, deep supervision and no dropout, images stored in BraTS's order (`LPS`, as the
/// generator writes them; a case stored otherwise is reoriented losslessly, at training and
/// at inference), cropped to the brain and resampled to 2 mm, 64³ patches (half on tumour),
/// batch 2, AdamW 2e-3 with warm-up and a poly schedule over 200 epochs of 100 iterations.
pub fn synthetic() -> TrainConfig {
    let model = UNet3dConfig {
        filters: [16, 32, 64, 128, 256],
        encoder_dropout: [0.0; 5],
        decoder_dropout: [0.0; 4],
        norm: Norm::Instance,
        activation: Activation::LeakyRelu(0.01),
        deep_supervision: true,
        ..UNet3dConfig::default()
    };
    let fast = fast();
    TrainConfig {
        preprocess: PreprocessConfig {
            orientation: Some(Orientation::LPS),
            pad_multiple: model.divisor(),
            ..fast.preprocess
        },
        model,
        patch: [64, 64, 64],
        batch_size: 2,
        epochs: 200,
        iterations_per_epoch: 100,
        optimizer: AdamConfig {
            lr: 2e-3,
            ..AdamConfig::default()
        },
        schedule: Schedule::Poly,
        warmup_iterations: 200,
        foreground_share: 0.5,
        validation_interval: 5,
        synthetic: Some(crate::train::StreamConfig {
            pool: 32,
            refresh: 4,
            ..Default::default()
        }),
        ..fast
    }
}
