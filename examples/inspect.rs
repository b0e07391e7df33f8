//! Describes a NIfTI file or a BraTS case folder.
//!
//! ```text
//! cargo run --release --example inspect -- PATH [--json]
//! ```
//! For a file: shape (NIfTI i, j, k order), datatype, spacing, the 4×4 affine, orientation
//! code, min/max/mean/std over all voxels and over non-zero voxels (after scaling), and
//! voxel counts per value for integer volumes. With `--json`, one JSON object with the keys
//! `shape`, `datatype`, `spacing`, `affine`, `orientation`, `min`, `max`, `mean`, `std`,
//! `nonzero_mean`, `nonzero_std` (and `labels` for integer volumes).
//! For a case folder: one such object per modality (`flair`, `t1`, `t1ce`, `t2`, and `seg`
//! when present), plus `consistent` and `problems`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use brats_io::{find_case, LabelScheme, Modality, NiftiReader, NonFinite};
use serde_json::{json, Map, Value};

fn describe(path: &Path) -> Result<Value> {
    let reader = NiftiReader::new().non_finite(NonFinite::ReplaceWithZero);
    let info = reader.read_info(path)?;
    let vol = reader.read_f32(path)?;
    let g = vol.geometry();
    let (mut n, mut sum, mut sq, mut min, mut max) =
        (0usize, 0f64, 0f64, f64::INFINITY, f64::NEG_INFINITY);
    let (mut nz, mut nz_sum, mut nz_sq) = (0usize, 0f64, 0f64);
    for &v in vol.as_slice() {
        let v = f64::from(v);
        n += 1;
        sum += v;
        sq += v * v;
        min = min.min(v);
        max = max.max(v);
        if v != 0.0 {
            nz += 1;
            nz_sum += v;
            nz_sq += v * v;
        }
    }
    let stats = |n: usize, s: f64, q: f64| {
        if n == 0 {
            (Value::Null, Value::Null)
        } else {
            let m = s / n as f64;
            (json!(m), json!((q / n as f64 - m * m).max(0.0).sqrt()))
        }
    };
    let (mean, std) = stats(n, sum, sq);
    let (nz_mean, nz_std) = stats(nz, nz_sum, nz_sq);
    let mut obj = Map::new();
    obj.insert("shape".into(), json!(g.dim()));
    obj.insert("datatype".into(), json!(info.datatype.name()));
    obj.insert("spacing".into(), json!(g.spacing()));
    obj.insert("affine".into(), json!(g.affine()));
    obj.insert("affine_source".into(), json!(info.affine_source));
    obj.insert("orientation".into(), json!(g.orientation()));
    obj.insert("scl_slope".into(), json!(info.scl_slope));
    obj.insert("scl_inter".into(), json!(info.scl_inter));
    obj.insert("min".into(), json!(min));
    obj.insert("max".into(), json!(max));
    obj.insert("mean".into(), mean);
    obj.insert("std".into(), std);
    obj.insert("nonzero_mean".into(), nz_mean);
    obj.insert("nonzero_std".into(), nz_std);
    if info.datatype.is_integer() {
        let mut counts = std::collections::BTreeMap::<i64, usize>::new();
        for &v in vol.as_slice() {
            *counts.entry(v.round() as i64).or_default() += 1;
        }
        let labels: Map<String, Value> = counts
            .into_iter()
            .map(|(k, c)| (k.to_string(), json!(c)))
            .collect();
        obj.insert("labels".into(), Value::Object(labels));
    }
    Ok(Value::Object(obj))
}

fn print_human(name: &str, v: &Value) {
    println!("{name}");
    for key in [
        "shape",
        "datatype",
        "spacing",
        "orientation",
        "affine_source",
        "scl_slope",
        "scl_inter",
        "min",
        "max",
        "mean",
        "std",
        "nonzero_mean",
        "nonzero_std",
    ] {
        if let Some(x) = v.get(key) {
            println!("  {key:<13} {x}");
        }
    }
    if let Some(rows) = v.get("affine").and_then(Value::as_array) {
        println!("  affine");
        for r in rows {
            let cells: Vec<String> = r
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{:>10.4}", c.as_f64().unwrap_or(f64::NAN)))
                .collect();
            println!("    [{}]", cells.join(" "));
        }
    }
    if let Some(labels) = v.get("labels").and_then(Value::as_object) {
        let shown: Vec<String> = labels
            .iter()
            .take(20)
            .map(|(k, c)| format!("{k}: {c}"))
            .collect();
        let more = labels.len().saturating_sub(20);
        println!(
            "  labels        {}{}",
            shown.join(", "),
            if more > 0 {
                format!(", … {more} more values")
            } else {
                String::new()
            }
        );
    }
}

fn main() -> Result<()> {
    let mut path = None;
    let mut as_json = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--json" => as_json = true,
            "-h" | "--help" => {
                println!(
                    "inspect PATH [--json]   (PATH: a .nii/.nii.gz file or a BraTS case folder)"
                );
                return Ok(());
            }
            _ if path.is_none() => path = Some(a),
            other => bail!("unexpected argument {other:?}"),
        }
    }
    let path = path.context("usage: inspect PATH [--json]")?;
    let path = Path::new(&path);
    if path.is_dir() {
        let case = find_case(path)?;
        let mut obj = Map::new();
        let mut files: Vec<(&str, &Path)> = Modality::ALL
            .iter()
            .map(|m| m.name())
            .zip(case.images.iter().map(|p| p.as_path()))
            .collect();
        if let Some(seg) = &case.seg {
            files.push(("seg", seg));
        }
        for (name, file) in &files {
            obj.insert(
                (*name).into(),
                describe(file).with_context(|| format!("{}", file.display()))?,
            );
        }
        let mut problems = case.consistency_problems(&NiftiReader::new())?;
        if let Some(seg) = &case.seg {
            let labels = NiftiReader::new().read_labels(seg)?;
            let known = [LabelScheme::brats2021(), LabelScheme::brats2023()];
            if known
                .iter()
                .all(|s| s.check(labels.data(), &seg.display().to_string()).is_err())
            {
                problems.push(format!(
                    "{}: labels {:?} fit neither brats2021 {{1,2,4}} nor brats2023 {{1,2,3}}",
                    seg.display(),
                    LabelScheme::counts(labels.data())
                        .keys()
                        .collect::<Vec<_>>()
                ));
            }
        }
        obj.insert("id".into(), json!(case.id));
        obj.insert("naming".into(), json!(case.naming));
        obj.insert("consistent".into(), json!(problems.is_empty()));
        obj.insert("problems".into(), json!(problems));
        if as_json {
            println!("{}", serde_json::to_string_pretty(&Value::Object(obj))?);
        } else {
            println!(
                "case {} ({:?} naming) in {}",
                case.id,
                case.naming,
                path.display()
            );
            for (name, _) in &files {
                print_human(name, &obj[*name]);
            }
            println!("consistent: {}", problems.is_empty());
            for p in &problems {
                println!("  problem: {p}");
            }
        }
    } else {
        let v = describe(path)?;
        if as_json {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print_human(&path.display().to_string(), &v);
        }
    }
    Ok(())
}
