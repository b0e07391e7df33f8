//! The pretrained default model shipped in the repository (`models/default/`): it loads
//! through `Predictor::load_default` and segments a synthetic case it never saw to a
//! useful Dice. A quality check, not a timing.

use brats_io::progress::NoProgress;
use brats_io::synth::{Subtype, SynthConfig};
use unet3d::predict::{default_model_dir, PredictOptions, Predictor};

#[test]
fn the_default_model_segments_an_unseen_synthetic_case() {
    let dir = default_model_dir().expect("the repository ships models/default");
    assert!(
        dir.join("MODEL_CARD.md").exists(),
        "the model comes with its card"
    );
    let p = Predictor::load_default().unwrap();
    // Seeds far from any the training run drew (its cases use mixed seeds of 0, 1, 2, …).
    // The first case with MRI's contrasts: one case in ten is drawn with fully random tissue
    // contrasts (a training augmentation, where tumour may look like normal tissue), and
    // this is a check of segmenting MRI, not of guessing an arbitrary contrast.
    let gen = SynthConfig {
        scheme: p.meta().scheme.clone(),
        subtypes: vec![Subtype::HighGrade],
        healthy_share: 0.0,
        ..SynthConfig::default()
    }
    .check()
    .unwrap();
    let case = (77_000_001..77_000_021)
        .map(|seed| gen.generate(seed).unwrap())
        .find(|c| c.truth.contrast.as_deref() == Some("realistic"))
        .expect("a realistic-contrast case among 20 seeds");
    let pred = p
        .predict(&case.images, &PredictOptions::default(), &NoProgress)
        .unwrap();
    let d = brats_metrics::brats::region_dice(
        pred.labels.data().view(),
        case.seg.data().view(),
        p.scheme(),
    )
    .unwrap();
    assert!(
        d[0] >= 0.7,
        "whole-tumour Dice {:.3} (TC {:.3}, ET {:.3})",
        d[0],
        d[1],
        d[2]
    );
}
