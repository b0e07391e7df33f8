//! Segments one case with a trained model and writes the label map (uint8 NIfTI, the
//! input's header) on the case's own grid.
//!
//! ```text
//! cargo run --release --example segment -- [--model MODEL_DIR] --case CASE_DIR --out SEG.nii.gz \
//!     [--overlap 0.5] [--roi N] [--tta] [--min-component VOXELS] [--et-to-core VOXELS]
//! ```
//! Prints one JSON line with the per-phase timings (load, preprocess, inference, restore,
//! write) and the voxel count of every label written.

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use brats_io::{find_case, LabelScheme, NiftiReader, NiftiWriter};
use unet3d::infer::PostprocessConfig;
use unet3d::predict::{PredictOptions, Predictor};

fn main() -> Result<()> {
    support::tune_allocator();
    let mut args = std::env::args().skip(1);
    let (mut model, mut case, mut out) = (None::<PathBuf>, None::<PathBuf>, None::<PathBuf>);
    let mut overlap = None::<f64>;
    let mut roi = None::<usize>;
    let mut tta = false;
    let mut post = None::<PostprocessConfig>;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = Some(value()?.into()),
            "--case" => case = Some(value()?.into()),
            "--out" => out = Some(value()?.into()),
            "--overlap" => {
                overlap = Some(
                    value()?
                        .parse()
                        .context("--overlap takes a number in [0, 1)")?,
                )
            }
            "--roi" => {
                roi = Some(
                    value()?
                        .parse()
                        .context("--roi takes a size (multiple of 16)")?,
                )
            }
            "--tta" => tta = true,
            "--min-component" => {
                post.get_or_insert_with(Default::default)
                    .min_component_voxels = value()?
                    .parse()
                    .context("--min-component takes a voxel count")?
            }
            "--et-to-core" => {
                post.get_or_insert_with(Default::default)
                    .et_to_core_below_voxels = value()?
                    .parse()
                    .context("--et-to-core takes a voxel count")?
            }
            "-h" | "--help" => {
                println!("segment [--model MODEL_DIR] --case CASE_DIR --out SEG.nii.gz [--overlap 0.5] [--roi N] [--tta] [--min-component V] [--et-to-core V]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }

    let case_dir = case.context("--case CASE_DIR is required")?;
    let out = out.context("--out SEG.nii.gz is required")?;
    let t0 = Instant::now();
    // Without --model: the default model (models/default, or $BTS_MODEL).
    let predictor = match &model {
        Some(m) => Predictor::load(m)?,
        None => Predictor::load_default()?,
    };
    let case = find_case(&case_dir)?.load(&NiftiReader::new())?;
    let load_s = t0.elapsed().as_secs_f64();
    let mut window = predictor.meta().window;
    if let Some(o) = overlap {
        window.overlap = o;
    }
    if let Some(r) = roi {
        window.roi = [r; 3];
    }
    window.mirror_tta = tta;
    let opts = PredictOptions {
        window: Some(window),
        postprocess: post,
        keep_probabilities: false,
    };
    let pred = predictor.predict_case(&case, &opts, &support::Bar::new())?;
    let t1 = Instant::now();
    NiftiWriter::new().write(&out, &pred.labels)?;
    let write_s = t1.elapsed().as_secs_f64();
    let counts = LabelScheme::counts(pred.labels.data());
    let t = pred.timings;
    println!(
        "{}",
        serde_json::json!({
            "case": case.id,
            "out": out,
            "scheme": predictor.scheme().name(),
            "timings_s": {
                "load": load_s,
                "preprocess": t.preprocess_s,
                "inference": t.inference_s,
                "restore": t.restore_s,
                "write": write_s,
                "total": load_s + t.preprocess_s + t.inference_s + t.restore_s + write_s,
            },
            "label_voxels": counts,
            "postprocess": pred.postprocess,
        })
    );
    Ok(())
}
