//! `bts segment`: one case (or, with `--data`, every case of a dataset folder) → label map
//! (uint8 NIfTI with the input's header) on the case's own grid, in the label scheme of the
//! case's file naming (BraTS 2021: ET = 4, BraTS 2023: ET = 3) unless `--labels` says
//! otherwise. Prints the per-phase timings, the voxels of every label written and the
//! model's certainty (one JSON line with `--json`); warns on stderr when the model doubts
//! its map ([`unet3d::infer::Confidence::doubtful`]) and when the input checks find a scan
//! that looks not skull-stripped, FLAIR and T2 that look swapped or images that look not
//! co-registered ([`brats_io::quality::InputCheck`]). With `--probabilities`, also the
//! model's probability of each BraTS region (WT, TC, ET) as a 4D NIfTI (uint8 scaled by
//! 1/255) on the same grid.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use brats_io::{find_case, LabelScheme, NiftiReader, NiftiWriter};
use unet3d::predict::{PredictOptions, Predictor};

use super::{SegmentArgs, Ui};

/// The model folder given, else the default model, on `device`.
pub fn load_predictor(
    model: Option<&std::path::Path>,
    device: unet3d::train::DeviceSpec,
) -> Result<Predictor> {
    let dir = match model {
        Some(m) => m.to_path_buf(),
        None => unet3d::predict::default_model_dir()?,
    };
    Ok(Predictor::load_on(dir, device)?)
}

/// The model's map (labels of its scheme) in `scheme`, to write.
pub fn in_scheme(
    predictor: &Predictor,
    labels: &brats_io::Volume<u8>,
    scheme: &LabelScheme,
) -> Result<brats_io::Volume<u8>> {
    let data = predictor
        .scheme()
        .convert(labels.data(), scheme, "the model's map")?;
    Ok(brats_io::Volume::new(data, labels.geometry().clone())?)
}

pub fn run(a: &SegmentArgs, ui: &Ui) -> Result<()> {
    let t0 = Instant::now();
    if let Some(p) = &a.probabilities {
        // The same path would overwrite the map (with --data, every map).
        anyhow::ensure!(
            !same_path(p, &a.out),
            "--probabilities {} is --out: give the probabilities a path of their own",
            p.display()
        );
    }
    let predictor = load_predictor(a.model.as_deref(), a.device)?;
    let mut window = predictor.meta().window;
    if let Some(o) = a.overlap {
        window.overlap = o;
    }
    if let Some(r) = a.roi {
        window.roi = [r; 3];
    }
    window.mirror_tta = a.tta.over(window.mirror_tta);
    let post = a.post.over(predictor.meta().postprocess);
    let opts = PredictOptions {
        window: Some(window),
        postprocess: post,
        keep_probabilities: false,
        region_probabilities: a.probabilities.is_some(),
    };
    let model_s = t0.elapsed().as_secs_f64();
    let Some(data) = &a.data else {
        let case = a.case.as_deref().context("--case or --data")?;
        let out = Outputs {
            labels: &a.out,
            probabilities: a.probabilities.as_deref(),
        };
        return segment_one(&predictor, &opts, a, case, out, model_s, ui);
    };
    // Every case of the dataset (a folder, or a 4D file), one map each, named as BraTS
    // submissions are.
    let dirs = brats_io::case_sources(data)?;
    anyhow::ensure!(
        !dirs.is_empty(),
        "{}: no cases (one folder per case with four modalities in BraTS naming, one 4D NIfTI file per case as in the Decathlon's imagesTr, or nnU-Net's ID_0000 … ID_0003 files)",
        data.display()
    );
    for folder in std::iter::once(&a.out).chain(&a.probabilities) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    let mut failed = Vec::new();
    for (n, dir) in dirs.iter().enumerate() {
        let name = dir.file_name().map_or_else(String::new, |f| {
            // A 4D case file: its name without .nii[.gz].
            let f = f.to_string_lossy();
            super::strip_nifti(&f).unwrap_or(&f).to_string()
        });
        ui.note(&format!("case {} of {}: {name}", n + 1, dirs.len()));
        let file = format!("{name}.nii.gz");
        let (labels, probabilities) = (
            a.out.join(&file),
            a.probabilities.as_ref().map(|p| p.join(&file)),
        );
        let out = Outputs {
            labels: &labels,
            probabilities: probabilities.as_deref(),
        };
        if let Err(e) = segment_one(&predictor, &opts, a, dir, out, 0.0, ui) {
            // Printed even with --quiet, as errors are.
            eprintln!("error: case {name}: {e:#}");
            failed.push(name);
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} cases failed ({}); the others were written to {}",
        failed.len(),
        dirs.len(),
        failed.join(", "),
        a.out.display()
    );
    Ok(())
}

/// Whether two paths name the same file or folder (as given, or once resolved).
fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Where one case's files go.
#[derive(Clone, Copy)]
struct Outputs<'a> {
    /// The label map.
    labels: &'a Path,
    /// The region probabilities, when asked for.
    probabilities: Option<&'a Path>,
}

/// Segments the case in `dir` into `out` and prints its summary; `model_s` (the model's
/// loading) is counted in the load time.
fn segment_one(
    predictor: &Predictor,
    opts: &PredictOptions,
    a: &SegmentArgs,
    dir: &Path,
    outputs: Outputs<'_>,
    model_s: f64,
    ui: &Ui,
) -> Result<()> {
    let out = outputs.labels;
    let t0 = Instant::now();
    let window = opts.window.unwrap_or(predictor.meta().window);
    let paths = find_case(dir)?;
    // The map is written in the scheme asked for, else the one of the case's naming.
    let scheme = a.labels.map_or_else(|| paths.scheme(), |l| l.scheme());
    if paths.dataset.as_ref().is_some_and(|s| s.source.is_none()) {
        ui.note(&format!(
            "note: no dataset.json beside {}: its volumes taken as FLAIR, T1, T1ce, T2 (the Decathlon's order) and labels written as the Decathlon's",
            paths.images[0].display()
        ));
    }
    let case = paths.load(&NiftiReader::new())?;
    let load_s = model_s + t0.elapsed().as_secs_f64();
    let pred = predictor.predict_case(&case, opts, &ui.bar())?;
    for why in pred.input_warnings() {
        ui.note(&format!("warning: {why}"));
    }
    if let Some(why) = pred.confidence.doubt() {
        ui.note(&format!(
            "warning: the model doubts this map ({why}): check it against the images"
        ));
    }
    let labels = in_scheme(predictor, &pred.labels, &scheme)?;
    let t1 = Instant::now();
    NiftiWriter::new().write(out, &labels)?;
    if let (Some(path), Some(maps)) = (outputs.probabilities, &pred.region_probabilities) {
        NiftiWriter::new().write_probabilities(path, maps)?;
    }
    let write_s = t1.elapsed().as_secs_f64();
    let counts = LabelScheme::counts(labels.data());
    let t = pred.timings;
    let total = load_s + t.preprocess_s + t.inference_s + t.restore_s + write_s;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "case": case.id,
                "out": out,
                "probabilities": outputs.probabilities,
                "scheme": scheme.name(),
                "timings_s": {
                    "load": load_s,
                    "preprocess": t.preprocess_s,
                    "inference": t.inference_s,
                    "restore": t.restore_s,
                    "write": write_s,
                    "total": total,
                },
                "label_voxels": counts,
                "mirror_tta": window.mirror_tta,
                "postprocess": pred.postprocess,
                "confidence": pred.confidence,
                "doubtful": pred.confidence.doubtful(),
                "brain_cm3": pred.input.brain_cm3,
                "not_skull_stripped": pred.input.not_skull_stripped().is_some(),
                "flair_t2_swapped": pred.input.flair_t2_swapped().is_some(),
                "misregistered": pred.input.misregistered().is_some(),
                "input_check": pred.input,
                "input_warnings": pred.input_warnings(),
            })
        );
    } else {
        println!(
            "{} → {} ({} labels{})",
            case.id,
            out.display(),
            scheme.name(),
            if window.mirror_tta {
                ", mirror TTA"
            } else {
                ""
            }
        );
        if let Some(p) = outputs.probabilities {
            println!("  probabilities (WT, TC, ET) → {}", p.display());
        }
        for (label, n) in counts.iter().filter(|(l, _)| **l != 0) {
            println!(
                "  label {label}: {n} voxels ({:.1} cm³ at the case's spacing)",
                {
                    let s = case.geometry().spacing();
                    *n as f64 * s[0] * s[1] * s[2] / 1000.0
                }
            );
        }
        println!(
            "  certainty: {}{}",
            pred.confidence.summary(),
            if window.mirror_tta {
                ""
            } else {
                "; without mirror TTA the model rates itself higher than it should"
            }
        );
        println!(
            "  {total:.1} s (load {load_s:.1}, preprocess {:.1}, inference {:.1}, restore {:.1}, write {write_s:.1})",
            t.preprocess_s, t.inference_s, t.restore_s
        );
    }
    Ok(())
}
