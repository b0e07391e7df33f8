//! metrics speed on a 240×240×155 pair of realistic tumour masks.
//!
//! ```text
//! cargo bench --bench metrics
//! python3 benches/peers/metrics_peers.py target/bench-data/metrics   # MONAI and medpy, same files
//! ```
//! Truth: the seed-0 phantom's seg (BraTS 2021 labels). Prediction: the same seg moved by
//! (2, 1, 1) voxels, with the enhancing rim eroded on one side — a plausible imperfect
//! segmentation. Both are written once to `target/bench-data/metrics/` for the peer script.

use std::path::PathBuf;
use std::time::Duration;

use brats_io::phantom::PhantomConfig;
use brats_io::{NiftiReader, NiftiWriter, Volume};
use brats_metrics::brats::{evaluate_case, EvalConfig, RegionSpec};
use brats_metrics::distance::hd95;
use brats_metrics::{Confusion, EmptyPolicy, Spacing};
use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::Array3;

fn pair() -> (Volume<u8>, Volume<u8>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/metrics");
    let (tp, pp) = (dir.join("truth.nii.gz"), dir.join("pred.nii.gz"));
    let reader = NiftiReader::new();
    if let (Ok(t), Ok(p)) = (reader.read_labels(&tp), reader.read_labels(&pp)) {
        return (p, t);
    }
    std::fs::create_dir_all(&dir).expect("bench-data folder");
    let case = PhantomConfig::default()
        .check()
        .expect("config")
        .generate(0)
        .expect("phantom");
    let truth = case.seg;
    let t = truth.data();
    let s = t.shape().to_vec();
    let pred = Array3::from_shape_fn([s[0], s[1], s[2]], |(k, j, i)| {
        let (k0, j0, i0) = (k.wrapping_sub(2), j.wrapping_sub(1), i.wrapping_sub(1));
        let v = if k0 < s[0] && j0 < s[1] && i0 < s[2] {
            t[[k0, j0, i0]]
        } else {
            0
        };
        if v == 4 && j % 7 == 0 {
            1
        } else {
            v
        }
    });
    let pred = Volume::new(pred, truth.geometry().clone()).expect("same grid");
    NiftiWriter::new().write(&tp, &truth).expect("write truth");
    NiftiWriter::new().write(&pp, &pred).expect("write pred");
    (pred, truth)
}

fn bench(c: &mut Criterion) {
    let (pred, truth) = pair();
    let spacing = Spacing::from_ijk(truth.geometry().spacing()).expect("spacing");
    let wt_p = pred.data().mapv(|v| v != 0);
    let wt_t = truth.data().mapv(|v| v != 0);
    let mut g = c.benchmark_group("metrics");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("dice_iou_wt_240x240x155", |b| {
        b.iter(|| {
            let c = Confusion::from_masks(wt_p.view(), wt_t.view()).expect("shapes");
            (
                c.dice(EmptyPolicy::Brats2023),
                c.iou(EmptyPolicy::Brats2023),
            )
        })
    });
    g.bench_function("hd95_wt_240x240x155", |b| {
        b.iter(|| hd95(wt_p.view(), wt_t.view(), spacing, EmptyPolicy::Brats2023).expect("shapes"))
    });
    g.bench_function("brats_case_3_regions_all_metrics", |b| {
        b.iter(|| {
            evaluate_case(
                "bench",
                pred.data().view(),
                truth.data().view(),
                spacing,
                &RegionSpec::brats2021(),
                EvalConfig::default(),
            )
            .expect("evaluate")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
