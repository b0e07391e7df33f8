//! brats-metrics: score a prediction against the truth the way BraTS does — Dice and HD95
//! for whole tumour, tumour core and enhancing tumour, in millimetres from the header.
//!
//! ```text
//! cargo run --release --example metrics
//! ```

use anyhow::Result;
use brats_io::phantom::PhantomConfig;
use brats_metrics::brats::{evaluate_case, EvalConfig, RegionSpec};
use brats_metrics::Spacing;

fn main() -> Result<()> {
    // A geometric phantom as the truth, and the same mask shifted 3 voxels as a "prediction".
    let case = PhantomConfig::default().check()?.generate(1)?;
    let truth = case.seg.data();
    let mut pred = truth.clone();
    pred.fill(0);
    let (ni, nj, nk) = truth.dim();
    for i in 3..ni {
        for j in 0..nj {
            for k in 0..nk {
                pred[[i, j, k]] = truth[[i - 3, j, k]];
            }
        }
    }
    let spacing = Spacing::from_ijk(case.seg.geometry().spacing())?;
    let eval = evaluate_case(
        "phantom-1",
        pred.view(),
        truth.view(),
        spacing,
        &RegionSpec::brats2021(),
        EvalConfig::default(),
    )?;
    for (region, m) in &eval.regions {
        println!(
            "{region}: Dice {:.3}  IoU {:.3}  HD95 {:.1} mm  volume {:.1} cm³ (truth {:.1})",
            m.dice, m.iou, m.hd95, m.volume_pred_cm3, m.volume_truth_cm3
        );
    }
    Ok(())
}
