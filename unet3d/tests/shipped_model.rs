//! The pretrained default model shipped in the repository (`models/default/`): it loads
//! through `Predictor::load_default` and segments a synthetic case it never saw to a
//! useful Dice, knows how well it did (its own expected Dice, also with T1 and T2 swapped
//! and with random contrasts, where it doubts its map when the map is poor), and segments
//! the same case acquired in thick slices to nearly the same tumour and stored in another
//! axis order to exactly the same one. A quality check, not a timing.

use brats_io::progress::NoProgress;
use brats_io::synth::{Subtype, SynthConfig};
use brats_io::{Orientation, Reorientation, Volume};
use ndarray::{s, Array2, Axis, Zip};
use unet3d::predict::{default_model_dir, PredictOptions, Predictor};

#[test]
fn the_default_model_segments_an_unseen_synthetic_case_also_from_thick_slices() {
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
    // Dice per region (WT, TC, ET) of one label map against another.
    let dice = |a: &Volume<u8>, b: &Volume<u8>| {
        brats_metrics::brats::region_dice(a.data().view(), b.data().view(), p.scheme()).unwrap()
    };
    let d = dice(&pred.labels, &case.seg);
    assert!(
        d[0] >= 0.7,
        "whole-tumour Dice {:.3} (TC {:.3}, ET {:.3})",
        d[0],
        d[1],
        d[2]
    );
    // The model's own certainty (no reference) agrees that this map is good, and it does
    // not doubt it.
    let c = pred.confidence;
    let expected = c.expected_dice[0].expect("tumour was called");
    assert!(
        !c.doubtful() && (expected - d[0]).abs() < 0.1,
        "expected WT Dice {expected:.3} (actual {:.3}), {c:?}",
        d[0]
    );
    // Two inputs it may fail on: T1 and T2 given in each other's place (a classic user
    // error), and the same seed's case with tissue contrasts drawn at random. Whatever
    // the map's quality, the model's doubt must agree with it: doubted exactly when WT Dice
    // is under 0.7, and its expected WT Dice within 0.15 of the actual one.
    let mut swapped = case.images.clone();
    swapped.swap(1, 3);
    let random = SynthConfig {
        scheme: p.meta().scheme.clone(),
        subtypes: vec![Subtype::HighGrade],
        healthy_share: 0.0,
        random_contrast_share: 1.0,
    }
    .check()
    .unwrap()
    .generate(case.truth.seed)
    .unwrap();
    for (what, images, truth) in [
        ("T1 and T2 swapped", &swapped, &case.seg),
        ("random contrasts", &random.images, &random.seg),
    ] {
        let out = p
            .predict(images, &PredictOptions::default(), &NoProgress)
            .unwrap();
        let actual = dice(&out.labels, truth)[0];
        let c = out.confidence;
        eprintln!("{what}: WT Dice {actual:.3}, {}", c.summary());
        let expected = c.expected_dice[0].unwrap_or(0.0);
        assert!(
            c.doubtful() == (actual < 0.7) && (expected - actual).abs() < 0.15,
            "{what}: WT Dice {actual:.3}, but the model's {c:?}"
        );
    }

    // The same head stored as many converters store it (RAS: i and j reversed) and as a
    // sagittal stack: the model stores every case in BraTS's order first, the order of all
    // its training cases, so the map is the same voxel for voxel, back in the file's order.
    // (Before it did, the real case stored RAS agreed with itself at ET Dice 0.61.) Without
    // TTA, to keep the test short.
    assert_eq!(p.meta().preprocess.orientation, Some(Orientation::LPS));
    assert_eq!(case.images[0].geometry().orientation(), "LPS");
    let no_tta = PredictOptions {
        window: Some(unet3d::infer::SlidingWindowConfig {
            mirror_tta: false,
            ..p.meta().window
        }),
        ..PredictOptions::default()
    };
    let as_brats = p.predict(&case.images, &no_tta, &NoProgress).unwrap();
    for code in ["RAS", "SPL"] {
        let to = Reorientation::new(case.images[0].geometry(), code.parse().unwrap()).unwrap();
        let stored = case
            .images
            .each_ref()
            .map(|v| Volume::new(to.view(v.data().view()).to_owned(), to.grid().clone()).unwrap());
        let out = p.predict(&stored, &no_tta, &NoProgress).unwrap();
        assert_eq!(out.labels.geometry(), stored[0].geometry(), "{code}");
        assert!(
            out.labels.data().view() == to.view(as_brats.labels.data().view()),
            "{code}: not the map of the case stored as BraTS stores it"
        );
    }

    // The same head scanned in 5 mm axial slices and resampled to 1 mm, as many real BraTS
    // scans were: the tumour holds (on the real case this changes WT by 15 % at most, see
    // docs/degrade_real_case.py). A model that had learned the 1 mm texture would fall apart.
    let thick = case.images.each_ref().map(|v| thick_axial(v, 5));
    assert_ne!(thick[0].data(), case.images[0].data());
    let again = p
        .predict(&thick, &PredictOptions::default(), &NoProgress)
        .unwrap();
    let agree = dice(&again.labels, &pred.labels);
    let truth = dice(&again.labels, &case.seg);
    eprintln!(
        "1 mm WT {:.3}; 5 mm slices: WT {:.3} against the truth, {:.3} against 1 mm",
        d[0], truth[0], agree[0]
    );
    assert!(
        agree[0] >= 0.9 && truth[0] >= 0.7,
        "5 mm slices: whole tumour agrees with the 1 mm segmentation at Dice {:.3} \
         and with the truth at {:.3} (1 mm: {:.3})",
        agree[0],
        truth[0],
        d[0]
    );
}

/// `v` acquired in axial slices `t` voxels thick (each slab the mean of its voxels) and
/// interpolated back to the 1 mm grid linearly between slab centres; zero outside the brain
/// and integer-valued, like the input.
fn thick_axial(v: &Volume<f32>, t: usize) -> Volume<f32> {
    let a = v.data();
    let n = a.dim().0;
    let slabs: Vec<(f64, Array2<f32>)> = (0..n)
        .step_by(t)
        .map(|start| {
            let end = (start + t).min(n);
            let mean = a
                .slice(s![start..end, .., ..])
                .mean_axis(Axis(0))
                .expect("a slab has at least one slice");
            ((start + end - 1) as f64 / 2.0, mean)
        })
        .collect();
    let mut out = a.clone();
    for k in 0..n {
        let x = k as f64;
        let hi = slabs
            .iter()
            .position(|(c, _)| *c >= x)
            .unwrap_or(slabs.len() - 1);
        let lo = hi.saturating_sub(1);
        let ((c0, p0), (c1, p1)) = (&slabs[lo], &slabs[hi]);
        let w = if c1 > c0 {
            ((x - c0) / (c1 - c0)).clamp(0.0, 1.0) as f32
        } else {
            0.0
        };
        Zip::from(out.slice_mut(s![k, .., ..]))
            .and(p0)
            .and(p1)
            .for_each(|o, &a0, &a1| {
                if *o > 0.0 {
                    *o = ((1.0 - w) * a0 + w * a1).round().max(1.0);
                }
            });
    }
    Volume::new(out, v.geometry().clone()).expect("same shape and grid")
}
