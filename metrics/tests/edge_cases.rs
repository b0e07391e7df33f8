//! Empty masks under both policies, aggregation, BraTS evaluation, loss gradients by finite
//! differences, and every bad input the crate handles.

use brats_metrics::aggregate::{bootstrap_mean, Evaluation, Summary};
use brats_metrics::brats::{evaluate_case, EvalConfig, RegionSpec};
use brats_metrics::distance::{assd, hausdorff, hd95, Spacing};
use brats_metrics::loss::{
    Background, Denominator, DiceFocalConfig, DiceLossConfig, DiceReduction, FocalLossConfig,
    Probabilities, Target,
};
use brats_metrics::{Confusion, EmptyPolicy, Error, BRATS_MAX_DISTANCE_MM};
use candle_core::{DType, Device, Tensor, Var};
use ndarray::Array3;

fn cube(shape: [usize; 3], lo: usize, hi: usize) -> Array3<bool> {
    Array3::from_shape_fn(shape, |(k, j, i)| {
        [k, j, i].iter().all(|&x| (lo..hi).contains(&x))
    })
}

#[test]
fn every_empty_combination_under_both_policies() {
    let s = [8, 8, 8];
    let empty = Array3::from_elem(s, false);
    let full = cube(s, 2, 6);
    let sp = Spacing::unit();
    type Case<'a> = (&'a str, &'a Array3<bool>, &'a Array3<bool>);
    let cases: [Case; 3] = [
        ("both empty", &empty, &empty),
        ("empty truth", &full, &empty),
        ("empty prediction", &empty, &full),
    ];
    for (name, p, t) in cases {
        let c = Confusion::from_masks(p.view(), t.view()).unwrap();
        let both = name == "both empty";
        // BraTS 2023.
        let b = EmptyPolicy::Brats2023;
        let perfect_or_worst = if both { 1.0 } else { 0.0 };
        assert_eq!(c.dice(b), perfect_or_worst, "{name}");
        assert_eq!(c.iou(b), perfect_or_worst, "{name}");
        let d = if both { 0.0 } else { BRATS_MAX_DISTANCE_MM };
        assert_eq!(hd95(p.view(), t.view(), sp, b).unwrap(), d, "{name}");
        assert_eq!(hausdorff(p.view(), t.view(), sp, b).unwrap(), d, "{name}");
        assert_eq!(assd(p.view(), t.view(), sp, b).unwrap(), d, "{name}");
        assert_eq!(BRATS_MAX_DISTANCE_MM, 374.0);
        // NaN policy: undefined distances and, for an empty truth, undefined Dice/IoU.
        let n = EmptyPolicy::Nan;
        assert!(hd95(p.view(), t.view(), sp, n).unwrap().is_nan(), "{name}");
        assert!(assd(p.view(), t.view(), sp, n).unwrap().is_nan(), "{name}");
        match name {
            "empty prediction" => {
                assert_eq!(c.dice(n), 0.0);
                assert_eq!(c.iou(n), 0.0);
                assert_eq!(c.sensitivity(n), 0.0);
                assert!(c.precision(n).is_nan());
            }
            _ => {
                assert!(c.dice(n).is_nan() && c.iou(n).is_nan(), "{name}");
                assert!(c.sensitivity(n).is_nan(), "{name}");
            }
        }
        assert!(c.specificity(b).is_finite() && c.accuracy().is_finite());
    }
    // Volume difference.
    let c = Confusion::from_masks(full.view(), empty.view()).unwrap();
    assert_eq!(c.volume_difference(EmptyPolicy::Brats2023), f64::INFINITY);
    let c = Confusion::from_masks(empty.view(), empty.view()).unwrap();
    assert_eq!(c.volume_difference(EmptyPolicy::Brats2023), 0.0);
    assert!(c.volume_difference(EmptyPolicy::Nan).is_nan());
}

#[test]
fn aggregation_skips_nan_and_keeps_all_nan_as_nan() {
    let s = Summary::of(&[1.0, f64::NAN, 3.0, 2.0]);
    assert_eq!(
        (s.n, s.skipped, s.mean, s.median, s.min, s.max),
        (3, 1, 2.0, 2.0, 1.0, 3.0)
    );
    assert!((s.std - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    let even = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
    assert_eq!(even.median, 2.5);
    let all_nan = Summary::of(&[f64::NAN, f64::NAN]);
    assert!(all_nan.mean.is_nan() && all_nan.median.is_nan());
    assert_eq!((all_nan.n, all_nan.skipped), (0, 2));
    let none = Summary::of(&[]);
    assert!(none.mean.is_nan() && none.n == 0);
}

#[test]
fn bootstrap_interval_of_a_mean() {
    // Half ones, half zeros, 100 cases: the mean 0.5 has a standard error of 0.05, so a
    // 95 % interval is about ±0.098 wide on each side.
    let coin: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
    let ci = bootstrap_mean(&coin, 0.95, 4000, 1).unwrap().unwrap();
    assert!(ci.lo < 0.5 && 0.5 < ci.hi, "{ci:?}");
    assert!((0.16..0.24).contains(&(ci.hi - ci.lo)), "{ci:?}");
    assert_eq!((ci.level, ci.resamples), (0.95, 4000));
    // A wider level gives a wider interval; fewer cases a wider interval.
    let ci99 = bootstrap_mean(&coin, 0.99, 4000, 1).unwrap().unwrap();
    assert!(ci99.hi - ci99.lo > ci.hi - ci.lo);
    let ten = bootstrap_mean(&coin[..10], 0.95, 4000, 1).unwrap().unwrap();
    assert!(ten.hi - ten.lo > 2.0 * (ci.hi - ci.lo), "{ten:?}");
    // Deterministic given the seed; another seed moves it a little, not a lot.
    assert_eq!(bootstrap_mean(&coin, 0.95, 4000, 1).unwrap().unwrap(), ci);
    let other = bootstrap_mean(&coin, 0.95, 4000, 2).unwrap().unwrap();
    assert!((other.lo - ci.lo).abs() < 0.03 && (other.hi - ci.hi).abs() < 0.03);
    // Bounds are means that can occur: within [min, max], NaN skipped.
    let dice = [0.9, f64::NAN, 0.0, 0.8, 1.0];
    let d = bootstrap_mean(&dice, 0.95, 1000, 3).unwrap().unwrap();
    assert!(0.0 <= d.lo && d.lo <= d.hi && d.hi <= 1.0, "{d:?}");
    // Constant or single values: zero width; nothing defined: no interval.
    let c = bootstrap_mean(&[0.7; 5], 0.95, 100, 0).unwrap().unwrap();
    assert_eq!((c.lo, c.hi), (0.7, 0.7));
    let one = bootstrap_mean(&[0.3], 0.95, 100, 0).unwrap().unwrap();
    assert_eq!((one.lo, one.hi), (0.3, 0.3));
    assert!(bootstrap_mean(&[], 0.95, 100, 0).unwrap().is_none());
    assert!(bootstrap_mean(&[f64::NAN], 0.95, 100, 0).unwrap().is_none());
}

#[test]
fn bootstrap_rejects_a_bad_level_or_no_resamples() {
    for level in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
        match bootstrap_mean(&[0.5, 0.6], level, 100, 0) {
            Err(Error::Config { field, reason }) => {
                assert_eq!(field, "level");
                assert!(reason.contains("(0, 1)"), "{reason}");
            }
            other => panic!("level {level}: {other:?}"),
        }
    }
    match bootstrap_mean(&[0.5, 0.6], 0.95, 0, 0) {
        Err(Error::Config { field, .. }) => assert_eq!(field, "resamples"),
        other => panic!("{other:?}"),
    }
}

fn labels(shape: [usize; 3], f: impl Fn(usize, usize, usize) -> u8) -> Array3<u8> {
    Array3::from_shape_fn(shape, |(k, j, i)| f(k, j, i))
}

#[test]
fn brats_evaluation_per_region_and_outputs() {
    let s = [20, 20, 20];
    // Truth: edema shell (2), core (1) and enhancing (4) nested cubes.
    let truth = labels(s, |k, j, i| {
        let inside = |lo, hi| [k, j, i].iter().all(|&x| (lo..hi).contains(&x));
        if inside(8, 12) {
            4
        } else if inside(6, 14) {
            1
        } else if inside(3, 17) {
            2
        } else {
            0
        }
    });
    // Prediction: ET shifted by one voxel along D, no necrosis.
    let pred = labels(s, |k, j, i| {
        let inside = |lo: usize, hi: usize, x: usize| (lo..hi).contains(&x);
        if inside(9, 13, k) && inside(8, 12, j) && inside(8, 12, i) {
            4
        } else if [k, j, i].iter().all(|&x| inside(3, 17, x)) {
            2
        } else {
            0
        }
    });
    let sp = Spacing::from_ijk([1.0, 1.0, 2.0]).unwrap(); // k (= D) is 2 mm
    let e = evaluate_case(
        "c1",
        pred.view(),
        truth.view(),
        sp,
        &RegionSpec::brats2021(),
        EvalConfig::default(),
    )
    .unwrap();
    let wt = e.regions["WT"];
    assert_eq!(wt.dice, 1.0);
    assert_eq!(wt.hd95, 0.0);
    let et = e.regions["ET"];
    assert!((et.dice - 0.75).abs() < 1e-12, "{}", et.dice);
    assert_eq!(et.hausdorff_check(), ());
    assert!(
        (et.hd - 2.0).abs() < 1e-12,
        "ET shifted one 2-mm voxel: {}",
        et.hd
    );
    assert!((et.volume_truth_cm3 - 64.0 * 2.0 / 1000.0).abs() < 1e-12);
    let tc = e.regions["TC"];
    assert!(tc.sensitivity < 1.0 && tc.precision == 1.0);

    // The 2023 scheme reads 3 as ET and rejects 4.
    let err = evaluate_case(
        "c1",
        pred.view(),
        truth.view(),
        sp,
        &RegionSpec::brats2023(),
        EvalConfig::default(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::UnexpectedLabels { .. })
            && text.contains("c1 prediction")
            && text.contains("4 ("),
        "{text}"
    );

    // Binary: any non-zero is FG.
    let b = evaluate_case(
        "c1",
        pred.view(),
        truth.view(),
        sp,
        &RegionSpec::binary(),
        EvalConfig::default(),
    )
    .unwrap();
    assert_eq!(b.regions["FG"].dice, 1.0);

    // Aggregation and output formats.
    let e2 = evaluate_case(
        "c2",
        truth.view(),
        truth.view(),
        sp,
        &RegionSpec::brats2021(),
        EvalConfig::default(),
    )
    .unwrap();
    let all = Evaluation::new(vec![e, e2], &RegionSpec::brats2021());
    assert_eq!(all.summary["ET"]["dice"].n, 2);
    assert!((all.summary["ET"]["dice"].mean - 0.875).abs() < 1e-12);
    let json = serde_json::to_value(&all).unwrap();
    for key in [
        "dice",
        "iou",
        "precision",
        "sensitivity",
        "specificity",
        "hd95",
        "assd",
        "volume_pred_cm3",
        "volume_truth_cm3",
    ] {
        assert!(
            json["cases"][0]["regions"]["WT"].get(key).is_some(),
            "{key}"
        );
    }
    for key in ["mean", "std", "median", "n", "skipped"] {
        assert!(json["summary"]["WT"]["dice"].get(key).is_some(), "{key}");
    }
    let mut csv = Vec::new();
    all.write_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("case,region,dice,iou"));
    assert_eq!(csv.lines().count(), 1 + 2 * 3);
    assert!(all.table().contains("mean ± std"));
}

trait HausdorffCheck {
    fn hausdorff_check(&self);
}
impl HausdorffCheck for brats_metrics::brats::RegionMetrics {
    fn hausdorff_check(&self) {
        assert!(self.hd95 <= self.hd + 1e-12 && self.assd <= self.hd + 1e-12);
    }
}

#[test]
fn bad_inputs_are_errors() {
    let a = Array3::from_elem([4, 4, 4], false);
    let b = Array3::from_elem([4, 4, 5], false);
    let e = Confusion::from_masks(a.view(), b.view()).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }) && e.to_string().contains("[4, 4, 5]"));
    assert!(hd95(a.view(), b.view(), Spacing::unit(), EmptyPolicy::Brats2023).is_err());
    let la = Array3::<u8>::zeros([4, 4, 4]);
    let lb = Array3::<u8>::zeros([4, 5, 4]);
    let e = evaluate_case(
        "x",
        la.view(),
        lb.view(),
        Spacing::unit(),
        &RegionSpec::brats2021(),
        EvalConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("case x"));
    for bad in [
        [0.0, 1.0, 1.0],
        [1.0, f64::NAN, 1.0],
        [1.0, 1.0, -2.0],
        [f64::INFINITY, 1.0, 1.0],
    ] {
        assert!(
            matches!(Spacing::new(bad), Err(Error::Spacing { .. })),
            "{bad:?}"
        );
    }
    assert!(RegionSpec::preset("brats1999").is_err());
    assert!(EmptyPolicy::by_name("zero").is_err());

    let dev = Device::Cpu;
    let logits = Tensor::zeros((1, 4, 2, 2, 2), DType::F32, &dev).unwrap();
    let dice = DiceLossConfig::default().check().unwrap();
    // Wrong rank.
    let flat = Tensor::zeros((4, 2, 2), DType::F32, &dev).unwrap();
    let idx = Tensor::zeros((1, 2, 2, 2), DType::U8, &dev).unwrap();
    assert!(dice
        .forward(&flat, Target::Indices(&idx))
        .unwrap_err()
        .to_string()
        .contains("rank 5"));
    // Target shape.
    let wrong = Tensor::zeros((1, 2, 2, 3), DType::U8, &dev).unwrap();
    assert!(matches!(
        dice.forward(&logits, Target::Indices(&wrong)),
        Err(Error::ShapeMismatch { .. })
    ));
    let wrong_oh = Tensor::zeros((1, 3, 2, 2, 2), DType::F32, &dev).unwrap();
    assert!(matches!(
        dice.forward(&logits, Target::OneHot(&wrong_oh)),
        Err(Error::ShapeMismatch { .. })
    ));
    // Class index out of range.
    let big = Tensor::full(4u8, (1, 2, 2, 2), &dev).unwrap();
    assert!(dice
        .forward(&logits, Target::Indices(&big))
        .unwrap_err()
        .to_string()
        .contains("0..4"));
    // Configs.
    assert!(DiceLossConfig {
        smooth_dr: -1.0,
        ..Default::default()
    }
    .check()
    .unwrap_err()
    .to_string()
    .contains("smooth_dr"));
    assert!(FocalLossConfig {
        gamma: -1.0,
        ..Default::default()
    }
    .check()
    .unwrap_err()
    .to_string()
    .contains("gamma"));
    assert!(FocalLossConfig {
        alpha: Some(1.5),
        ..Default::default()
    }
    .check()
    .unwrap_err()
    .to_string()
    .contains("alpha"));
    assert!(DiceFocalConfig {
        lambda_focal: f64::NAN,
        ..Default::default()
    }
    .check()
    .unwrap_err()
    .to_string()
    .contains("lambda_focal"));
    let weighted = FocalLossConfig {
        class_weights: Some(vec![1.0, 2.0]),
        ..Default::default()
    }
    .check()
    .unwrap();
    assert!(weighted
        .forward(&logits, Target::Indices(&idx))
        .unwrap_err()
        .to_string()
        .contains("class_weights"));
}

/// Central finite differences in f64 against candle's backward, for every loss form.
#[test]
fn loss_gradients_match_finite_differences() {
    let dev = Device::Cpu;
    let shape = (2, 3, 2, 2, 3);
    let n = 2 * 3 * 2 * 2 * 3;
    let x0: Vec<f64> = (0..n)
        .map(|v| ((v * 37 % 23) as f64 - 11.0) / 4.0)
        .collect();
    let labels = Tensor::from_vec(
        (0..n / 3).map(|v| (v * 7 % 3) as u8).collect::<Vec<_>>(),
        (2, 2, 2, 3),
        &dev,
    )
    .unwrap();
    let regions = Tensor::from_vec(
        (0..n)
            .map(|v| ((v * 5 % 4) == 0) as u8 as f64)
            .collect::<Vec<_>>(),
        shape,
        &dev,
    )
    .unwrap();
    let configs: Vec<(&str, DiceFocalConfig, bool)> = vec![
        ("softmax dice+focal", DiceFocalConfig::default(), false),
        (
            "softmax squared dice, no background, alpha, class weights",
            DiceFocalConfig {
                dice: DiceLossConfig {
                    background: Background::Exclude,
                    denominator: Denominator::Squared,
                    ..Default::default()
                },
                focal: FocalLossConfig {
                    alpha: Some(0.3),
                    class_weights: Some(vec![1.0, 2.0]),
                    gamma: 1.5,
                    ..Default::default()
                },
                lambda_dice: 0.6,
                lambda_focal: 1.4,
            },
            false,
        ),
        (
            "sigmoid regions",
            DiceFocalConfig {
                dice: DiceLossConfig {
                    activation: Probabilities::Sigmoid,
                    ..Default::default()
                },
                focal: FocalLossConfig {
                    activation: Probabilities::Sigmoid,
                    alpha: Some(0.25),
                    ..Default::default()
                },
                ..Default::default()
            },
            true,
        ),
    ];
    for (name, cfg, use_regions) in configs {
        let loss = cfg.check().unwrap();
        let target = if use_regions {
            Target::OneHot(&regions)
        } else {
            Target::Indices(&labels)
        };
        let eval = |x: &[f64]| -> f64 {
            let t = Tensor::from_vec(x.to_vec(), shape, &dev).unwrap();
            loss.forward(&t, target)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let var = Var::from_tensor(&Tensor::from_vec(x0.clone(), shape, &dev).unwrap()).unwrap();
        let l = loss.forward(var.as_tensor(), target).unwrap();
        let g = l
            .backward()
            .unwrap()
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let h = 1e-6;
        for (idx, gi) in g.iter().enumerate() {
            let mut xp = x0.clone();
            xp[idx] += h;
            let mut xm = x0.clone();
            xm[idx] -= h;
            let fd = (eval(&xp) - eval(&xm)) / (2.0 * h);
            assert!(
                (fd - gi).abs() <= 1e-3 * fd.abs().max(gi.abs()).max(1e-4),
                "{name}: d/dx[{idx}] autograd {gi} vs finite difference {fd}"
            );
        }
    }
}

#[test]
fn focal_with_small_gamma_has_finite_gradients_at_saturation() {
    let dev = Device::Cpu;
    // Logits so large that the softmax of the true class rounds to exactly 1.
    let x: Vec<f32> = (0..16)
        .map(|v| if v % 4 == 0 { 1e4 } else { -1e4 })
        .collect();
    let var = Var::from_tensor(&Tensor::from_vec(x, (1, 4, 1, 2, 2), &dev).unwrap()).unwrap();
    let labels = Tensor::zeros((1, 1, 2, 2), DType::U8, &dev).unwrap();
    for gamma in [0.0, 0.5, 2.0] {
        let focal = FocalLossConfig {
            gamma,
            ..Default::default()
        }
        .check()
        .unwrap();
        let l = focal
            .forward(var.as_tensor(), Target::Indices(&labels))
            .unwrap();
        assert!(l.to_scalar::<f32>().unwrap().is_finite());
        let g = l
            .backward()
            .unwrap()
            .get(var.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "gamma {gamma}: {g:?}");
    }
}

/// The fused CPU softmax Dice + focal op (class-index target) gives the value and the
/// gradient of the composed loss (one-hot target takes the composition), for both Dice
/// reductions, γ = 2 and γ = 0, and unequal term weights; bad indices are errors.
#[test]
fn fused_dice_focal_matches_the_composition() {
    let dev = Device::Cpu;
    let (b, c, d, h, w) = (2usize, 4usize, 6usize, 5usize, 7usize);
    let idx: Vec<u8> = (0..b * d * h * w)
        .map(|i| ((i * 7 + i / 13) % c) as u8)
        .collect();
    let t = Tensor::from_vec(idx, (b, d, h, w), &dev).unwrap();
    let one_hot = t
        .to_dtype(DType::F32)
        .unwrap()
        .unsqueeze(1)
        .unwrap()
        .broadcast_eq(
            &Tensor::arange(0f32, c as f32, &dev)
                .unwrap()
                .reshape((1, c, 1, 1, 1))
                .unwrap(),
        )
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let z = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (b, c, d, h, w), &dev).unwrap())).unwrap();
    for (reduction, gamma, ld, lf) in [
        (DiceReduction::Batch, 2.0, 1.0, 1.0),
        (DiceReduction::PerSample, 2.0, 0.7, 1.3),
        (DiceReduction::Batch, 0.0, 1.0, 0.5),
    ] {
        let loss = DiceFocalConfig {
            dice: DiceLossConfig {
                reduction,
                ..Default::default()
            },
            focal: FocalLossConfig {
                gamma,
                ..Default::default()
            },
            lambda_dice: ld,
            lambda_focal: lf,
        }
        .check()
        .unwrap();
        let fused = loss.forward(z.as_tensor(), Target::Indices(&t)).unwrap();
        let plain = loss
            .forward(z.as_tensor(), Target::OneHot(&one_hot))
            .unwrap();
        let (a, p) = (
            fused.to_scalar::<f32>().unwrap(),
            plain.to_scalar::<f32>().unwrap(),
        );
        assert!((a - p).abs() < 1e-5, "{reduction:?} γ{gamma}: {a} vs {p}");
        let ga = fused
            .backward()
            .unwrap()
            .get(z.as_tensor())
            .unwrap()
            .clone();
        let gp = plain
            .backward()
            .unwrap()
            .get(z.as_tensor())
            .unwrap()
            .clone();
        let max_abs = |t: &Tensor| {
            t.abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let (diff, scale) = (max_abs(&(&ga - &gp).unwrap()), max_abs(&gp));
        assert!(
            diff <= 1e-4 * scale,
            "{reduction:?} γ{gamma}: gradients differ by {diff} (scale {scale})"
        );
    }
    let loss = DiceFocalConfig::default().check().unwrap();
    let bad = Tensor::full(7u8, (b, d, h, w), &dev).unwrap();
    let err = loss
        .forward(z.as_tensor(), Target::Indices(&bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains("0..4"), "{err}");
}
