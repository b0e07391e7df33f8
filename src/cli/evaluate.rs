//! `bts evaluate`: predicted label maps against ground truth — Dice, IoU, precision,
//! sensitivity, specificity, HD95 and ASSD per region (WT/TC/ET, or FG with `--binary`), per
//! case and aggregated; or, with `--synthetic N`, a model on new synthetic cases.
//!
//! P and T are label-map NIfTI files, or folders matched by case id: a file's id is its
//! name without `.nii[.gz]` and without a trailing segmentation suffix (`_seg`, `-seg`, and
//! UPenn-GBM's `_segm`, UCSF-PDGM's `_tumor_segmentation`: [`brats_io::seg_case_id`]); a
//! sub-folder holding one segmentation (a case folder's, as [`brats_io::find_case`] finds it;
//! else one file with such a suffix, or a single NIfTI file) has the folder's name as id, as
//! `bts segment --data` names its maps.
//! Spacing comes from the truth file's header (the prediction's must agree within 1e-3 mm).
//! Prints a table; `--json` prints `{"cases": [...], "summary": {...}}` instead (undefined
//! values are `null`); `--csv FILE` also writes one row per case and region.
//!
//! `--synthetic N`: N new cases per subtype from the real-anatomy generator (seeds no training
//! run uses), Dice per region (BraTS 2023 empty rule), HD95 per region (median over the cases
//! in the table, mean too in `--json`; 0 mm when both masks are empty, 373.13 mm when one is),
//! predicted against true whole-tumour volume, false-positive islands (predicted components
//! that touch no tumour) and the cases the model doubted
//! ([`unet3d::infer::Confidence::doubtful`], with their mean WT Dice; no reference is used
//! for that call) — per subtype and overall, as a Markdown table with each mean Dice's
//! 95 % bootstrap interval over the cases (`--json`: every case and the summary, with
//! `dice_ci95`); the rows `realistic_contrast` and `random_contrast` split `all` into the cases
//! with MRI-like tissue contrasts and the one in ten whose contrasts the generator drew at
//! random, and `SUBTYPE/realistic`, `SUBTYPE/random` split each subtype the same way. The
//! model's decision and post-processing apply unless `--decision`, `--min-component`,
//! `--min-depth` or `--et-to-core` override them; `--subtype` scores one subtype's cases only
//! (the same seeds), `--tta` with mirror test-time augmentation, `--random-contrast-share`
//! draws that share of the cases with fully random contrasts instead of one in ten (the same
//! anatomy and tumours). `--calibrate` instead scores every pair of candidate thresholds on the
//! raw predictions (made with the decision, after the depth step; neither is searched;
//! [`unet3d::infer::Calibration`]; default seeds 8000000000…, apart from the held-out
//! 9000000000…) and prints the best pair for `bts export`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brats_io::progress::Progress;
use brats_io::synth::{Subtype, SynthConfig};
use brats_io::NiftiReader;
use brats_metrics::aggregate::{bootstrap_mean, Evaluation};
use brats_metrics::brats::{evaluate_case, EvalConfig, RegionMetrics, RegionSpec};
use brats_metrics::lesion::{aggregate, evaluate_lesionwise, LesionGroup, LesionSummary};
use brats_metrics::{EmptyPolicy, Spacing};
use unet3d::infer::{
    connected_components, count_enhancing, Calibration, CalibrationRow, PostprocessConfig,
    PostprocessReport,
};
use unet3d::predict::PredictOptions;

use super::segment::load_predictor;
use super::{strip_nifti, EmptyArg, EvaluateArgs, Ui};

fn case_id(stem: &str) -> &str {
    brats_io::seg_case_id(stem).unwrap_or(stem)
}

/// Case id → label-map file, for a file or a folder.
fn collect(path: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    if path.is_file() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let stem = strip_nifti(name)
            .with_context(|| format!("{}: not a .nii/.nii.gz file", path.display()))?;
        out.insert(case_id(stem).to_string(), path.to_path_buf());
        return Ok(out);
    }
    let entries =
        std::fs::read_dir(path).with_context(|| format!("reading folder {}", path.display()))?;
    for entry in entries {
        let p = entry?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if p.is_file() {
            if let Some(stem) = strip_nifti(&name) {
                out.insert(case_id(stem).to_string(), p);
            }
        } else if p.is_dir() {
            // A case folder: its segmentation as `find_case` picks it.
            if let Some(seg) = brats_io::find_case(&p).ok().and_then(|c| c.seg) {
                out.insert(name, seg);
                continue;
            }
            let mut niftis: Vec<PathBuf> = std::fs::read_dir(&p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .and_then(strip_nifti)
                        .is_some()
                })
                .collect();
            niftis.sort();
            let segs: Vec<&PathBuf> = niftis
                .iter()
                .filter(|f| {
                    let n = f
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(strip_nifti)
                        .unwrap_or_default();
                    brats_io::seg_case_id(n).is_some()
                })
                .collect();
            match (segs.as_slice(), niftis.as_slice()) {
                ([one], _) => {
                    out.insert(name, (*one).clone());
                }
                ([], [only]) => {
                    out.insert(name, only.clone());
                }
                _ => {}
            }
        }
    }
    if out.is_empty() {
        bail!("{}: no label maps found", path.display());
    }
    Ok(out)
}

/// The `dataset.json` above a Decathlon or nnU-Net truth folder (`labelsTr`), if any.
fn dataset_json_above(truth: &Path) -> Option<PathBuf> {
    let dir = if truth.is_file() {
        truth.parent()
    } else {
        Some(truth)
    };
    dir.and_then(Path::parent)
        .map(|d| d.join("dataset.json"))
        .filter(|j| j.is_file())
}

/// The `--labels` preset whose values mean what `scheme`'s do.
fn preset_meaning(scheme: &brats_io::LabelScheme) -> Option<super::Labels> {
    [
        super::Labels::Decathlon,
        super::Labels::Brats2023,
        super::Labels::Brats2024,
        super::Labels::Brats2021,
    ]
    .into_iter()
    .find(|l| l.scheme().meaning() == scheme.meaning())
}

/// The labels to score in: `--labels`, else the truth's own. A Decathlon or nnU-Net truth
/// folder's `dataset.json` says what its labels are, and a `--labels` that means otherwise is
/// refused (core and edema would swap without an error: its 1 is edema, BraTS 2023's the
/// core). Without `--labels`: that `dataset.json`'s; BraTS 2024's for BraTS 2023+ names
/// (`-seg`: it reads 2023's labels, and 2024's resection cavity as no tumour, which BraTS
/// 2021's would take for enhancing tumour); else BraTS 2021's.
fn labels_to_score(
    given: Option<super::Labels>,
    truth: &Path,
    truths: &BTreeMap<String, PathBuf>,
) -> Result<super::Labels> {
    if let Some(json) = dataset_json_above(truth) {
        let spec = brats_io::decathlon::DatasetJson::read(&json)?;
        let fits = preset_meaning(&spec.scheme);
        return match (given, fits) {
            (Some(l), _) if l.scheme().meaning() == spec.scheme.meaning() => Ok(l),
            (Some(l), fits) => bail!(
                "{} says the labels are {:?}, but --labels {} means {:?}: {}",
                json.display(),
                spec.scheme.meaning(),
                l.name(),
                l.scheme().meaning(),
                fits.map_or_else(
                    || "no --labels preset means that".to_string(),
                    |f| format!("give --labels {}", f.name())
                ),
            ),
            (None, Some(f)) => Ok(f),
            (None, None) => bail!(
                "{} says the labels are {:?}, which no --labels preset means",
                json.display(),
                spec.scheme.meaning()
            ),
        };
    }
    if let Some(l) = given {
        return Ok(l);
    }
    let named = |suffix: &str| {
        truths.values().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(strip_nifti)
                .is_some_and(|s| s.ends_with(suffix))
        })
    };
    match (named("-seg"), named("_seg")) {
        (true, true) => bail!(
            "{}: BraTS 2021 (_seg) and 2023+ (-seg) file names mixed: give --labels",
            truth.display()
        ),
        (true, false) => Ok(super::Labels::Brats2024),
        _ => Ok(super::Labels::Brats2021),
    }
}

pub fn run(a: &EvaluateArgs, ui: &Ui) -> Result<()> {
    if let Some(cases) = a.synthetic {
        return synthetic(a, cases, ui);
    }
    if a.model.is_some()
        || a.seed.is_some()
        || a.subtype.is_some()
        || a.tta.any()
        || a.calibrate
        || a.random_contrast_share.is_some()
        || a.post.any()
    {
        super::usage_error(
            "--model, --seed, --subtype, --tta, --no-tta, --calibrate, --random-contrast-share, --decision, --min-component, --min-depth and --et-to-core apply to --synthetic N only",
        );
    }
    let cfg = EvalConfig {
        empty: match a.empty {
            EmptyArg::Brats2023 => EmptyPolicy::Brats2023,
            EmptyArg::Nan => EmptyPolicy::Nan,
        },
        ..EvalConfig::default()
    };
    let (Some(pred), Some(truth)) = (&a.pred, &a.truth) else {
        unreachable!("clap requires --pred and --truth without --synthetic")
    };
    let (pred, truth) = (pred.clone(), truth.clone());
    let (preds, truths) = (collect(&pred)?, collect(&truth)?);
    let labels = labels_to_score(a.labels, &truth, &truths)?;
    if a.labels.is_none() && !a.binary {
        ui.note(&format!("note: scoring in {} labels", labels.name()));
    }
    let regions = if a.binary {
        RegionSpec::binary()
    } else {
        RegionSpec::preset(labels.name())?
    };
    let single = preds.len() == 1 && truths.len() == 1 && pred.is_file() && truth.is_file();
    let pairs: Vec<(String, PathBuf, PathBuf)> = if single {
        let (id, t) = truths.into_iter().next().context("one truth file")?;
        let (_, p) = preds.into_iter().next().context("one prediction file")?;
        vec![(id, p, t)]
    } else {
        let missing: Vec<&String> = truths
            .keys()
            .filter(|id| !preds.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            bail!(
                "no prediction in {} for case(s): {missing:?}",
                pred.display()
            );
        }
        for extra in preds.keys().filter(|id| !truths.contains_key(*id)) {
            ui.note(&format!(
                "note: prediction {extra} has no ground truth; skipped"
            ));
        }
        truths
            .into_iter()
            .map(|(id, t)| (id.clone(), preds[&id].clone(), t))
            .collect()
    };

    let reader = NiftiReader::new();
    let bar = ui.bar();
    bar.start("evaluating", pairs.len() as u64);
    let mut cases = Vec::with_capacity(pairs.len());
    let groups = LesionGroup::glioma(labels.name())?;
    let mut lesions: Vec<BTreeMap<String, LesionSummary>> = Vec::new();
    for (id, p, t) in &pairs {
        bar.message(id);
        let tv = reader.read_labels(t)?;
        let pv = reader.read_labels(p)?;
        let (tg, pg) = (tv.geometry(), pv.geometry());
        if tg.dim() != pg.dim() {
            bail!(
                "{} has dims {:?} but {} has {:?}",
                p.display(),
                pg.dim(),
                t.display(),
                tg.dim()
            );
        }
        let (ts, ps) = (tg.spacing(), pg.spacing());
        if (0..3).any(|a| (ts[a] - ps[a]).abs() > 1e-3) {
            bail!(
                "{} has spacing {ps:?} mm but {} has {ts:?} mm",
                p.display(),
                t.display()
            );
        }
        let spacing =
            Spacing::from_ijk(ts).with_context(|| format!("spacing of {}", t.display()))?;
        cases.push(evaluate_case(
            id,
            pv.data().view(),
            tv.data().view(),
            spacing,
            &regions,
            cfg,
        )?);
        if a.lesion_wise {
            let by_group =
                evaluate_lesionwise(pv.data().view(), tv.data().view(), &groups, spacing)?;
            lesions.push(
                by_group
                    .iter()
                    .map(|(g, m)| (g.to_uppercase(), LesionSummary::from(m)))
                    .collect(),
            );
        }
        bar.advance(1);
    }
    bar.finish();
    let evaluation = Evaluation::new(cases, &regions);
    if let Some(path) = &a.csv {
        brats_io::atomic_write(path, |w| evaluation.write_csv(w))?;
    }
    if a.json {
        let mut v = serde_json::to_value(&evaluation)?;
        if a.lesion_wise {
            add_lesion_wise(&mut v, &lesions);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", evaluation.table());
        if a.lesion_wise {
            print!("{}", lesion_table(&pairs, &lesions));
        }
        if let Some(path) = &a.csv {
            println!("CSV written to {}", path.display());
        }
    }
    Ok(())
}

/// Inserts `"lesion_wise"` next to each case's region metrics (WT, TC, ET) and the same
/// aggregated under `"summary"`.
fn add_lesion_wise(v: &mut serde_json::Value, lesions: &[BTreeMap<String, LesionSummary>]) {
    if let Some(cases) = v.get_mut("cases").and_then(|c| c.as_array_mut()) {
        for (case, by_region) in cases.iter_mut().zip(lesions) {
            if let Some(regions) = case.get_mut("regions").and_then(|r| r.as_object_mut()) {
                for (name, entry) in regions.iter_mut() {
                    if let (Some(obj), Some(l)) = (entry.as_object_mut(), by_region.get(name)) {
                        obj.insert("lesion_wise".into(), serde_json::json!(l));
                    }
                }
            }
        }
    }
    if let Some(summary) = v.get_mut("summary").and_then(|s| s.as_object_mut()) {
        for (name, entry) in summary.iter_mut() {
            let per_case: Vec<LesionSummary> = lesions
                .iter()
                .filter_map(|l| l.get(name).cloned())
                .collect();
            if let Some(obj) = entry.as_object_mut() {
                obj.insert(
                    "lesion_wise".into(),
                    serde_json::json!(aggregate(&per_case)),
                );
            }
        }
    }
}

/// The lesion-wise figures as a table, one row per case and region (WT, TC, ET).
fn lesion_table(
    pairs: &[(String, PathBuf, PathBuf)],
    lesions: &[BTreeMap<String, LesionSummary>],
) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.4}"));
    let mut out = format!(
        "\nlesion-wise (BraTS 2023+ rules; HD95 in mm, ∞ shown as 373)\n{:<24} {:<6} {:>3} {:>3} {:>3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
        "case", "region", "tp", "fp", "fn", "precision", "recall", "f1", "dice", "nsd", "hd95"
    );
    for ((id, _, _), by_region) in pairs.iter().zip(lesions) {
        for region in ["WT", "TC", "ET"] {
            if let Some(l) = by_region.get(region) {
                out.push_str(&format!(
                    "{id:<24} {region:<6} {:>3} {:>3} {:>3} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                    l.tp,
                    l.fp,
                    l.fn_,
                    f(l.precision),
                    f(l.recall),
                    f(l.f1),
                    f(l.dice),
                    f(l.nsd),
                    f(l.hd95)
                ));
            }
        }
    }
    out
}

#[derive(serde::Serialize)]
struct Row {
    subtype: String,
    contrast: String,
    seed: u64,
    dice: [f64; 3],
    /// HD95 of WT, TC, ET in mm (BraTS conventions for empty masks).
    hd95: [f64; 3],
    wt_cm3: f64,
    predicted_wt_cm3: f64,
    et_voxels: usize,
    predicted_et_voxels: usize,
    false_islands: usize,
    largest_false_island_cm3: f64,
    postprocess: PostprocessReport,
    /// The model's own certainty (no reference used).
    confidence: unet3d::infer::Confidence,
    seconds: f64,
}

/// Candidate thresholds of `--calibrate` (voxels at 1 mm: 27 voxels ≈ a 3 mm cube). The
/// component sizes stop at 500 voxels (a sphere of 5 mm radius): a real metastasis can be
/// that small, and Dice barely notices a lesion removed, so a Dice calibration must not be
/// offered larger ones.
const CAL_MIN_COMPONENT: [usize; 6] = [0, 27, 64, 125, 250, 500];
const CAL_ET_TO_CORE: [usize; 9] = [0, 50, 100, 200, 300, 500, 750, 1000, 1500];

/// The interval printed with each mean Dice: 95 %, percentile bootstrap over the cases
/// (seed 0, so a rerun prints the same numbers).
const CI_LEVEL: f64 = 0.95;
const CI_RESAMPLES: usize = 2000;

/// The grid the network sees, for the table's heading.
fn grid(r: brats_io::preprocess::Resample) -> String {
    use brats_io::preprocess::Resample;
    match r {
        Resample::None => "native".into(),
        Resample::Spacing(s) if s[0] == s[1] && s[1] == s[2] => format!("{} mm", s[0]),
        Resample::Spacing(s) => format!("{}×{}×{} mm", s[0], s[1], s[2]),
        Resample::Shape(d) => format!("{}×{}×{} voxels", d[0], d[1], d[2]),
    }
}

fn synthetic(a: &EvaluateArgs, cases: u64, ui: &Ui) -> Result<()> {
    let predictor = load_predictor(a.model.as_deref(), a.device)?;
    let seed = a.seed.unwrap_or(if a.calibrate {
        8_000_000_000
    } else {
        9_000_000_000
    });
    let meta = predictor.meta();
    let scheme = meta.scheme.clone();
    // Which weights were scored (a training run's best.json moves while it trains).
    let mut window = meta.window;
    window.mirror_tta = a.tta.over(window.mirror_tta);
    let model = serde_json::json!({"epoch": meta.epoch, "weights": meta.weights, "best_score": meta.best_score, "resample": meta.preprocess.resample, "mirror_tta": window.mirror_tta});
    let chosen = a.post.over(meta.postprocess).unwrap_or(meta.postprocess);
    // Calibration searches the two thresholds on the predictions after the depth step, a
    // fixed step it does not search.
    let applied = if a.calibrate {
        PostprocessConfig {
            decision: chosen.decision,
            min_depth_mm: chosen.min_depth_mm,
            ..PostprocessConfig::default()
        }
    } else {
        chosen
    };
    let mut calibration = a.calibrate.then(|| {
        Calibration::new(&scheme, &CAL_MIN_COMPONENT, &CAL_ET_TO_CORE)
            .after_depth_step(applied.min_depth_mm)
            .after_decision(applied.decision)
    });
    let opts = PredictOptions {
        window: Some(window),
        postprocess: Some(applied),
        ..PredictOptions::default()
    };
    let random_contrast_share = a
        .random_contrast_share
        .unwrap_or(SynthConfig::default().random_contrast_share);
    let bar = ui.bar();
    // Seeds follow a subtype's place in `Subtype::ALL`, so a one-subtype run repeats the
    // full run's cases of that subtype.
    let subtypes: Vec<(usize, Subtype)> = Subtype::ALL
        .into_iter()
        .enumerate()
        .filter(|(_, t)| a.subtype.is_none_or(|only| Subtype::from(only) == *t))
        .collect();
    bar.start("synthetic held-out cases", cases * subtypes.len() as u64);
    // WT, TC, ET with the BraTS conventions: Dice 1 and HD95 0 mm when both masks are
    // empty, Dice 0 and HD95 373.13 mm when only one is.
    let regions = RegionSpec::from_scheme(&scheme);
    let hd_cfg = EvalConfig {
        empty: EmptyPolicy::Brats2023,
        ..EvalConfig::default()
    };
    let mut rows = Vec::new();
    for (ti, t) in subtypes {
        let gen = SynthConfig {
            scheme: scheme.clone(),
            subtypes: vec![t],
            healthy_share: 0.0,
            // Held-out cases keep the generator's default share of random contrasts unless
            // asked otherwise.
            random_contrast_share,
        }
        .check()
        .context("--random-contrast-share")?;
        for n in 0..cases {
            let s = seed + 1_000_000 * ti as u64 + n;
            let case = gen.generate(s)?;
            let started = std::time::Instant::now();
            let pred = predictor.predict(&case.images, &opts, &brats_io::progress::NoProgress)?;
            let seconds = started.elapsed().as_secs_f64();
            let (p, g) = (pred.labels.data(), case.seg.data());
            // Dice (BraTS 2023 empty rule) and HD95 per region, from one evaluation.
            let spacing = Spacing::from_ijk(case.seg.geometry().spacing())?;
            let ev = evaluate_case(
                &format!("seed {s}"),
                p.view(),
                g.view(),
                spacing,
                &regions,
                hd_cfg,
            )?;
            let metric = |i: usize, f: fn(&RegionMetrics) -> f64| {
                ev.regions.get(&regions[i].name).map_or(f64::NAN, f)
            };
            let dice = [0, 1, 2].map(|i| metric(i, |m| m.dice));
            let hd95 = [0, 1, 2].map(|i| metric(i, |m| m.hd95));
            if let Some(c) = calibration.as_mut() {
                c.add(p.view(), g.view(), case.seg.geometry().voxel_volume_mm3())?;
            }
            let (comp, sizes) = connected_components(&p.mapv(|v| v != 0));
            let mut touches = vec![false; sizes.len()];
            for (c, &t) in comp.iter().zip(g.iter()) {
                if *c > 0 && t != 0 {
                    touches[*c as usize] = true;
                }
            }
            let false_sizes: Vec<usize> = (1..sizes.len())
                .filter(|&c| sizes[c] > 0 && !touches[c])
                .map(|c| sizes[c])
                .collect();
            let row = Row {
                subtype: case.truth.subtype.clone().unwrap_or_default(),
                contrast: case.truth.contrast.clone().unwrap_or_default(),
                seed: s,
                dice,
                hd95,
                wt_cm3: case.truth.volumes_cm3["WT"],
                predicted_wt_cm3: p.iter().filter(|&&v| v != 0).count() as f64 / 1000.0,
                et_voxels: count_enhancing(g.view(), &scheme),
                predicted_et_voxels: count_enhancing(p.view(), &scheme),
                false_islands: false_sizes.len(),
                largest_false_island_cm3: false_sizes.iter().copied().max().unwrap_or(0) as f64
                    / 1000.0,
                postprocess: pred.postprocess,
                confidence: pred.confidence,
                seconds,
            };
            bar.line(&format!(
                "{:<20} {:<9} seed {s}: WT {:.3} TC {:.3} ET {:.3}  HD95 {:.1} / {:.1} / {:.1} mm  WT {:.0}→{:.0} cm³  ET {}→{} voxels  {} false islands  expected WT {}{}  {:.1} s",
                row.subtype, row.contrast, dice[0], dice[1], dice[2], hd95[0], hd95[1], hd95[2], row.wt_cm3, row.predicted_wt_cm3, row.et_voxels, row.predicted_et_voxels, row.false_islands,
                row.confidence.expected_dice[0].map_or("-".into(), |d| format!("{d:.3}")),
                if row.confidence.doubtful() { " (doubted)" } else { "" },
                seconds
            ));
            rows.push(row);
            bar.advance(1);
        }
    }
    bar.finish();
    let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        // `high_grade_callosal`, `high_grade_multifocal`… count with their subtype.
        let key = Subtype::ALL
            .iter()
            .map(|t| t.name())
            .find(|n| r.subtype.starts_with(n))
            .unwrap_or(&r.subtype)
            .to_string();
        // Each subtype also split by how the generator drew its tissue contrasts.
        if !r.contrast.is_empty() {
            let by_contrast = [
                format!("{key}/{}", r.contrast),
                format!("{}_contrast", r.contrast),
            ];
            for k in by_contrast {
                groups.entry(k).or_default().push(r);
            }
        }
        groups.entry(key).or_default().push(r);
        groups.entry("all".into()).or_default().push(r);
    }
    let mut table = format!(
        "Model: epoch {} (weights \"{}\", grid {}{}). Decision: {}. Post-processing applied: components under {} mm³ removed, components nowhere {} mm deep in the head removed, enhancement under {} mm³ relabelled as core, specks of core under {} mm³ beside a larger core relabelled as edema (0 = off). Cases: base seed {seed}, fully random tissue contrasts in a share {random_contrast_share} of them. Dice: mean over cases ({:.0} % bootstrap interval, {CI_RESAMPLES} resamples). HD95: median over cases, mm (BraTS conventions: 0 when both masks are empty, 373.13 when one is).\n\n| subtype | cases | WT | TC | ET | HD95 WT / TC / ET | volume ratio (pred / true WT) | cases with a false island > 5 cm³ | cases the model doubted (their mean WT) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        meta.epoch,
        meta.weights,
        grid(meta.preprocess.resample),
        if window.mirror_tta { ", mirror TTA" } else { "" },
        applied.decision.name(),
        applied.min_component_mm3,
        applied.min_depth_mm,
        applied.et_to_core_below_mm3,
        applied.min_core_fragment_mm3,
        CI_LEVEL * 100.0
    );
    let mut summary = BTreeMap::new();
    for (k, rs) in &groups {
        let n = rs.len() as f64;
        let mean = |f: &dyn Fn(&Row) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
        let d = [0, 1, 2].map(|i| mean(&|r| r.dice[i]));
        let mut ci = [None; 3];
        for (i, c) in ci.iter_mut().enumerate() {
            let v: Vec<f64> = rs.iter().map(|r| r.dice[i]).collect();
            *c = bootstrap_mean(&v, CI_LEVEL, CI_RESAMPLES, 0)?;
        }
        let cell = |i: usize| match ci[i] {
            Some(c) => format!("{:.3} ({:.2}–{:.2})", d[i], c.lo, c.hi),
            None => format!("{:.3}", d[i]),
        };
        let hd95_median = [0, 1, 2].map(|i| {
            let v: Vec<f64> = rs.iter().map(|r| r.hd95[i]).collect();
            brats_metrics::distance::percentile(&v, 50.0)
        });
        let hd95_mean = [0, 1, 2].map(|i| mean(&|r| r.hd95[i]));
        let ratio = mean(&|r| r.predicted_wt_cm3 / r.wt_cm3.max(1e-9));
        let islands = rs
            .iter()
            .filter(|r| r.largest_false_island_cm3 > 5.0)
            .count();
        let doubted: Vec<f64> = rs
            .iter()
            .filter(|r| r.confidence.doubtful())
            .map(|r| r.dice[0])
            .collect();
        let doubted_wt =
            (!doubted.is_empty()).then(|| doubted.iter().sum::<f64>() / doubted.len() as f64);
        table.push_str(&format!(
            "| {k} | {} | {} | {} | {} | {:.1} / {:.1} / {:.1} | {ratio:.2} | {islands} | {}{} |\n",
            rs.len(),
            cell(0),
            cell(1),
            cell(2),
            hd95_median[0],
            hd95_median[1],
            hd95_median[2],
            doubted.len(),
            doubted_wt.map_or(String::new(), |d| format!(" ({d:.3})"))
        ));
        let ci95 = ci.map(|c| c.map(|c| [c.lo, c.hi]));
        summary.insert(
            k.clone(),
            serde_json::json!({"cases": rs.len(), "dice": d, "dice_ci95": ci95, "hd95_median_mm": hd95_median, "hd95_mean_mm": hd95_mean, "volume_ratio": ratio, "cases_with_false_island_over_5cm3": islands, "doubtful_cases": doubted.len(), "doubtful_wt_dice": doubted_wt}),
        );
    }
    let calibration = calibration.map(|c| {
        let best = c.best();
        if let Some(b) = best {
            table.push_str(&calibration_table(&c, &b));
        }
        serde_json::json!({"rows": c.rows(), "best": best})
    });
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": model,
                "postprocess": applied,
                "seed": seed,
                "random_contrast_share": random_contrast_share,
                "cases": rows,
                "summary": summary,
                "calibration": calibration,
            }))?
        );
    } else {
        print!("{table}");
    }
    Ok(())
}

/// Mean Dice over WT, TC and ET of every candidate: one row per component threshold, one
/// column per enhancement threshold; then the choice and how to ship it.
fn calibration_table(c: &Calibration, best: &CalibrationRow) -> String {
    let rows = c.rows();
    let depth = best.config.min_depth_mm;
    let mut out = format!(
        "\nCalibration ({}; mean of WT, TC and ET Dice; rows: --min-component, columns: --et-to-core, both mm³):\n\n| |",
        if depth > 0.0 {
            format!("predictions after the {depth} mm depth step")
        } else {
            "raw predictions".to_string()
        }
    );
    for e in CAL_ET_TO_CORE {
        out.push_str(&format!(" {e} |"));
    }
    out.push_str("\n|---:|");
    out.push_str(&"---:|".repeat(CAL_ET_TO_CORE.len()));
    out.push('\n');
    for m in CAL_MIN_COMPONENT {
        out.push_str(&format!("| {m} |"));
        for r in rows.iter().filter(|r| r.config.min_component_mm3 == m) {
            out.push_str(&format!(" {:.4} |", r.mean()));
        }
        out.push('\n');
    }
    let (b, off) = (best.config, rows[0]);
    out.push_str(&format!(
        "\nChosen on these {} cases (the smallest thresholds within {} of the best mean): --min-component {} --et-to-core {} (WT {:.3} TC {:.3} ET {:.3}; {} {:.3} / {:.3} / {:.3}).\nShip it with: bts export --from RUN_DIR --to MODEL_DIR --decision {} --min-component {} --min-depth {} --et-to-core {}\n",
        c.cases(),
        Calibration::TOLERANCE,
        b.min_component_mm3,
        b.et_to_core_below_mm3,
        best.dice[0],
        best.dice[1],
        best.dice[2],
        if b.min_depth_mm > 0.0 {
            format!("with only the {} mm depth step", b.min_depth_mm)
        } else {
            "without post-processing".to_string()
        },
        off.dice[0],
        off.dice[1],
        off.dice[2],
        b.decision.name(),
        b.min_component_mm3,
        b.min_depth_mm,
        b.et_to_core_below_mm3
    ));
    out
}
