//! Lesion-wise evaluation against the challenge's own package: `tests/fixtures/lesionwise/`
//! holds 14 pairs of BraTS 2023 label maps and what `brats-evaluation` 0.0.10 (panoptica
//! 2.1.7, `config_gli.yaml`) reported for each region group (`make_fixtures.py` made them).
//! Agreement: counts exactly, Dice/NSD/F1/precision/recall within 1e-6, HD95 within 1e-3 mm,
//! NaN/∞/undefined where the package has them.

use std::path::Path;

use brats_io::NiftiReader;
use brats_metrics::lesion::{
    evaluate_lesionwise, linear_sum_assignment, LesionGroup, LesionMetrics,
};
use brats_metrics::Spacing;
use serde_json::Value;

fn expected_value(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::String(s) if s == "nan" => Some(f64::NAN),
        Value::String(s) if s == "inf" => Some(f64::INFINITY),
        Value::Number(n) => n.as_f64(),
        other => panic!("unexpected fixture value {other}"),
    }
}

fn check(case: &str, group: &str, key: &str, ours: Option<f64>, theirs: Option<f64>, tol: f64) {
    let ok = match (ours, theirs) {
        (None, None) => true,
        (Some(a), Some(b)) if a.is_nan() || b.is_nan() => a.is_nan() && b.is_nan(),
        (Some(a), Some(b)) if a.is_infinite() || b.is_infinite() => a == b,
        (Some(a), Some(b)) => (a - b).abs() <= tol,
        _ => false,
    };
    assert!(
        ok,
        "{case}/{group}/{key}: ours {ours:?}, package {theirs:?}"
    );
}

fn compare(case: &str, group: &str, m: &LesionMetrics, e: &Value) {
    for (key, ours) in [("tp", m.tp), ("fp", m.fp), ("fn", m.fn_)] {
        assert_eq!(Some(ours as u64), e[key].as_u64(), "{case}/{group}/{key}");
    }
    let get = |k: &str| expected_value(e.get(k));
    for (key, ours, tol) in [
        ("prec", m.precision, 1e-6),
        ("rec", m.recall, 1e-6),
        ("rq", Some(m.f1), 1e-6),
        ("sq_dsc", Some(m.lesion_dice), 1e-6),
        ("sq_dsc_std", Some(m.lesion_dice_std), 1e-6),
        ("sq_nsd", Some(m.lesion_nsd), 1e-6),
        ("sq_nsd_std", Some(m.lesion_nsd_std), 1e-6),
        ("sq_hd95", Some(m.lesion_hd95), 1e-3),
        ("sq_hd95_std", Some(m.lesion_hd95_std), 1e-3),
        ("global_bin_dsc", Some(m.global_dice), 1e-6),
        ("global_bin_nsd", Some(m.global_nsd), 1e-6),
        ("global_bin_hd95", Some(m.global_hd95), 1e-3),
    ] {
        check(case, group, key, ours, get(key), tol);
    }
}

#[test]
fn lesion_wise_metrics_match_the_challenge_package() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lesionwise");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected["cases"].as_object().unwrap();
    assert!(cases.len() >= 12);
    let reader = NiftiReader::new();
    let groups = LesionGroup::glioma_brats2023();
    let mut compared = 0;
    for (name, case) in cases {
        let pred = reader
            .read_labels(dir.join(format!("cases/{name}_pred.nii.gz")))
            .unwrap();
        let truth = reader
            .read_labels(dir.join(format!("cases/{name}_ref.nii.gz")))
            .unwrap();
        let spacing = Spacing::from_ijk(truth.geometry().spacing()).unwrap();
        let ours =
            evaluate_lesionwise(pred.data().view(), truth.data().view(), &groups, spacing).unwrap();
        for (group, e) in case["regions"].as_object().unwrap() {
            compare(name, group, &ours[group], e);
            compared += 1;
        }
    }
    assert_eq!(compared, cases.len() * 6);
}

#[test]
fn brats2021_labels_map_onto_the_same_groups() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lesionwise");
    let reader = NiftiReader::new();
    let to2021 = |v: u8| if v == 3 { 4 } else { v };
    let pred = reader
        .read_labels(dir.join("cases/two_lesions_pred.nii.gz"))
        .unwrap();
    let truth = reader
        .read_labels(dir.join("cases/two_lesions_ref.nii.gz"))
        .unwrap();
    let spacing = Spacing::from_ijk(truth.geometry().spacing()).unwrap();
    let a = evaluate_lesionwise(
        pred.data().view(),
        truth.data().view(),
        &LesionGroup::glioma_brats2023(),
        spacing,
    )
    .unwrap();
    let (p21, t21) = (pred.data().mapv(to2021), truth.data().mapv(to2021));
    let b = evaluate_lesionwise(
        p21.view(),
        t21.view(),
        &LesionGroup::glioma("brats2021").unwrap(),
        spacing,
    )
    .unwrap();
    for g in ["wt", "tc", "et", "netc", "snfh"] {
        assert_eq!(a[g], b[g], "{g}");
    }
    assert!(LesionGroup::glioma("brats2020").is_err());
}

#[test]
fn the_assignment_is_optimal_on_rectangular_matrices() {
    // Greedy would take (0,0) = 0.1 and then pay 0.9; the optimum pays 0.2 + 0.3.
    let cost = vec![vec![0.1, 0.2, 1.0], vec![0.3, 0.9, 1.0]];
    assert_eq!(linear_sum_assignment(&cost), vec![(0, 1), (1, 0)]);
    let t: Vec<Vec<f64>> = (0..3)
        .map(|j| cost.iter().map(|r| r[j]).collect())
        .collect();
    assert_eq!(linear_sum_assignment(&t), vec![(0, 1), (1, 0)]);
    assert!(linear_sum_assignment(&[]).is_empty());
    // Brute force on small random matrices.
    let mut seed = 7u64;
    let mut rnd = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    for n in 1..=4 {
        for m in 1..=5 {
            let c: Vec<Vec<f64>> = (0..n).map(|_| (0..m).map(|_| rnd()).collect()).collect();
            let got: f64 = linear_sum_assignment(&c)
                .iter()
                .map(|&(i, j)| c[i][j])
                .sum();
            assert_eq!(linear_sum_assignment(&c).len(), n.min(m));
            let best = brute(&c);
            assert!((got - best).abs() < 1e-12, "{n}×{m}: {got} vs {best}");
        }
    }
}

fn brute(c: &[Vec<f64>]) -> f64 {
    let (n, m) = (c.len(), c[0].len());
    fn rec(c: &[Vec<f64>], i: usize, used: &mut Vec<bool>, k: usize) -> f64 {
        if k == 0 || i == c.len() {
            return if k == 0 { 0.0 } else { f64::INFINITY };
        }
        let mut best = rec(c, i + 1, used, k); // row i unassigned (when rows > columns)
        for j in 0..used.len() {
            if !used[j] {
                used[j] = true;
                best = best.min(c[i][j] + rec(c, i + 1, used, k - 1));
                used[j] = false;
            }
        }
        best
    }
    rec(c, 0, &mut vec![false; m], n.min(m))
}
