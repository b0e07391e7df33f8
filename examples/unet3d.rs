//! unet3d: segment a case with the shipped default model (`models/default`, or
//! `$BTS_MODEL`) and compare the result with the truth.
//!
//! ```text
//! cargo run --release --example unet3d
//! ```

use anyhow::Result;
use brats_io::progress::NoProgress;
use brats_io::synth::SynthConfig;
use brats_metrics::brats::region_dice;
use unet3d::predict::{PredictOptions, Predictor};

fn main() -> Result<()> {
    let predictor = Predictor::load_default()?;
    // An unseen synthetic high-grade-glioma case (the model never trained on this seed).
    let case = SynthConfig::default().check()?.generate(77_000_001)?;
    let pred = predictor.predict(&case.images, &PredictOptions::default(), &NoProgress)?;
    let dice = region_dice(
        pred.labels.data().view(),
        case.seg.data().view(),
        predictor.scheme(),
    )?;
    println!(
        "Dice WT {:.3} TC {:.3} ET {:.3}; inference {:.1} s",
        dice[0], dice[1], dice[2], pred.timings.inference_s
    );
    Ok(())
}
