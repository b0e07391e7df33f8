//! unet3d: segment a case with the shipped default model (`models/default`, or
//! `$BTS_MODEL`), compare the result with the truth, and write the model's region
//! probabilities beside it (`unet3d_example_probabilities.nii.gz` in the temp folder: open it
//! over the images in a viewer to see where the model hesitated).
//!
//! ```text
//! cargo run --release --example unet3d
//! ```

use anyhow::Result;
use brats_io::progress::NoProgress;
use brats_io::synth::{Subtype, SynthConfig};
use brats_io::NiftiWriter;
use brats_metrics::brats::region_dice;
use unet3d::predict::{PredictOptions, Predictor};

fn main() -> Result<()> {
    let predictor = Predictor::load_default()?;
    // An unseen synthetic high-grade glioma (the model never trained on these seeds), the
    // first with MRI's contrasts: one case in ten is drawn with fully random tissue
    // contrasts, a training augmentation the model does not segment.
    let gen = SynthConfig {
        subtypes: vec![Subtype::HighGrade],
        healthy_share: 0.0,
        ..SynthConfig::default()
    }
    .check()?;
    let mut seed = 77_000_001;
    let case = loop {
        let case = gen.generate(seed)?;
        if case.truth.contrast.as_deref() == Some("realistic") {
            break case;
        }
        seed += 1;
    };
    let opts = PredictOptions {
        region_probabilities: true,
        ..PredictOptions::default()
    };
    let pred = predictor.predict(&case.images, &opts, &NoProgress)?;
    let dice = region_dice(
        pred.labels.data().view(),
        case.seg.data().view(),
        predictor.scheme(),
    )?;
    println!(
        "seed {seed}: Dice WT {:.3} TC {:.3} ET {:.3}; inference {:.1} s; the model's certainty: {}",
        dice[0],
        dice[1],
        dice[2],
        pred.timings.inference_s,
        pred.confidence.summary()
    );
    if let Some(maps) = &pred.region_probabilities {
        let path = std::env::temp_dir().join("unet3d_example_probabilities.nii.gz");
        NiftiWriter::new().write_probabilities(&path, maps)?;
        println!("P(WT), P(TC), P(ET) → {}", path.display());
    }
    Ok(())
}
