//! Evaluates predicted label maps against ground truth: Dice, IoU, precision, sensitivity,
//! specificity, HD95 and ASSD per region (WT/TC/ET, or FG with --binary), per case and
//! aggregated.
//!
//! ```text
//! cargo run --release --example evaluate -- --pred P --truth T [--labels brats2021|brats2023]
//!     [--binary] [--empty brats2023|nan] [--json] [--csv FILE]
//! ```
//! P and T are label-map NIfTI files, or folders matched by case id: a file's id is its
//! name without `.nii[.gz]` and without a trailing `_seg`/`-seg`; a sub-folder holding one
//! segmentation (`*_seg`/`*-seg`, or a single NIfTI file) has the folder's name as id.
//! Spacing comes from the truth file's header (the prediction's must agree within 1e-3 mm).
//! Prints a table; `--json` prints `{"cases": [...], "summary": {...}}` instead (undefined
//! values are `null`); `--csv FILE` also writes one row per case and region.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use brats_io::NiftiReader;
use brats_metrics::aggregate::Evaluation;
use brats_metrics::brats::{evaluate_case, EvalConfig, RegionSpec};
use brats_metrics::{EmptyPolicy, Spacing};
use indicatif::{ProgressBar, ProgressStyle};

fn strip_nifti(name: &str) -> Option<&str> {
    name.strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
}

fn case_id(stem: &str) -> &str {
    stem.strip_suffix("_seg")
        .or_else(|| stem.strip_suffix("-seg"))
        .unwrap_or(stem)
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
                    n.ends_with("_seg") || n.ends_with("-seg")
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

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut pred, mut truth, mut csv) = (None, None, None);
    let mut regions = RegionSpec::brats2021();
    let mut binary = false;
    let mut cfg = EvalConfig::default();
    let mut as_json = false;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--pred" => pred = Some(PathBuf::from(value()?)),
            "--truth" => truth = Some(PathBuf::from(value()?)),
            "--labels" => regions = RegionSpec::preset(&value()?)?,
            "--binary" => binary = true,
            "--empty" => cfg.empty = EmptyPolicy::by_name(&value()?)?,
            "--json" => as_json = true,
            "--csv" => csv = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("evaluate --pred P --truth T [--labels brats2021|brats2023] [--binary] [--empty brats2023|nan] [--json] [--csv FILE]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if binary {
        regions = RegionSpec::binary();
    }
    let pred = pred.context("--pred P is required")?;
    let truth = truth.context("--truth T is required")?;
    let (preds, truths) = (collect(&pred)?, collect(&truth)?);
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
            eprintln!("note: prediction {extra} has no ground truth; skipped");
        }
        truths
            .into_iter()
            .map(|(id, t)| (id.clone(), preds[&id].clone(), t))
            .collect()
    };

    let reader = NiftiReader::new();
    let bar = ProgressBar::new(pairs.len() as u64).with_style(ProgressStyle::with_template(
        "{spinner} evaluating {bar:30} {pos}/{len} [{elapsed_precise} < {eta}] {msg}",
    )?);
    if pairs.len() < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut cases = Vec::with_capacity(pairs.len());
    for (id, p, t) in &pairs {
        bar.set_message(id.clone());
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
        bar.inc(1);
    }
    bar.finish_and_clear();
    let evaluation = Evaluation::new(cases, &regions);
    if let Some(path) = &csv {
        brats_io::atomic_write(path, |w| evaluation.write_csv(w))?;
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        print!("{}", evaluation.table());
        if let Some(path) = &csv {
            println!("CSV written to {}", path.display());
        }
    }
    Ok(())
}
