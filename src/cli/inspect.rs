//! `bts inspect`: shape (NIfTI i, j, k order), datatype, spacing, the 4×4 affine,
//! orientation code, min/max/mean/std over all voxels and over non-zero voxels (after
//! scaling), and voxel counts per value for integer volumes. `--json` prints one object with
//! the keys `shape`, `datatype`, `spacing`, `affine`, `orientation`, `min`, `max`, `mean`,
//! `std`, `nonzero_mean`, `nonzero_std` (and `labels` for integer volumes; also
//! `affine_source`, `scl_slope`, `scl_inter`, `non_finite`, and `frames`, the number of 3D
//! volumes of a 4D file such as `bts segment --probabilities` writes). For a case folder, a
//! Decathlon case file (a 4D file in `imagesTr`/`imagesTs` or described by a
//! `dataset.json`), or an nnU-Net case (`imagesTr/ID`, or one of its channel files): one
//! such object per modality under its name (`flair`, `t1`, `t1ce`, `t2`,
//! and `seg` when present), plus `id`, `naming`, `consistent`, `problems` and the input
//! checks.

use anyhow::Result;
use brats_io::inspect::{summarize_case, summarize_file, FileSummary};

use super::InspectArgs;

fn print_file(name: &str, s: &FileSummary) {
    println!("{name}");
    println!("  shape (i,j,k)  {:?}", s.shape);
    if s.frames > 1 {
        println!(
            "  volumes        {} (4D; the statistics cover all)",
            s.frames
        );
    }
    println!("  datatype       {}", s.datatype);
    println!("  spacing (mm)   {:?}", s.spacing);
    println!(
        "  orientation    {} (affine from the {})",
        s.orientation, s.affine_source
    );
    println!(
        "  scaling        slope {} inter {}",
        s.scl_slope, s.scl_inter
    );
    println!("  affine (voxel → RAS mm)");
    for row in &s.affine {
        println!(
            "    [{:>10.4} {:>10.4} {:>10.4} {:>10.4}]",
            row[0], row[1], row[2], row[3]
        );
    }
    println!("  min / max      {} / {}", s.min, s.max);
    println!("  mean ± std     {:.4} ± {:.4}", s.mean, s.std);
    match (s.nonzero_mean, s.nonzero_std) {
        (Some(m), Some(sd)) => println!("  non-zero       {m:.4} ± {sd:.4}"),
        _ => println!("  non-zero       none"),
    }
    if s.non_finite > 0 {
        println!(
            "  non-finite     {} voxels (NaN/Inf, left out above)",
            s.non_finite
        );
    }
    if let Some(labels) = &s.labels {
        let shown: Vec<String> = labels
            .iter()
            .take(20)
            .map(|(k, c)| format!("{k}: {c}"))
            .collect();
        let more = labels.len().saturating_sub(20);
        let tail = if more > 0 {
            format!(", … {more} more values")
        } else {
            String::new()
        };
        println!("  values         {}{tail}", shown.join(", "));
    }
}

pub fn run(a: &InspectArgs) -> Result<()> {
    let path = a.path.as_path();
    // A case: a folder, a Decathlon case file (one 4D file holding the four images), or an
    // nnU-Net case (its prefix imagesTr/X, or one of its channel files).
    if path.is_dir()
        || brats_io::decathlon::is_case_file(path)
        || brats_io::nnunet::case_prefix(path).is_some()
    {
        let s = summarize_case(path)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            println!(
                "case {} ({:?} naming) in {}",
                s.id,
                s.naming,
                path.display()
            );
            for (name, f) in &s.files {
                print_file(name, f);
            }
            println!("consistent: {}", s.consistent);
            for p in &s.problems {
                println!("  problem: {p}");
            }
            if let Some(c) = &s.input {
                let r = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:+.2}"));
                println!(
                    "brain {:.1} cm³; T1's rank correlation with FLAIR {}, with T2 {}",
                    c.brain_cm3,
                    r(c.t1_flair),
                    r(c.t1_t2)
                );
                match c.shift_mm {
                    Some(d) => println!(
                        "each image against the others, mm along (i, j, k): {}",
                        per_image(d, |v| format!("({:+.0}, {:+.0}, {:+.0})", v[0], v[1], v[2]))
                    ),
                    None => println!(
                        "co-registration: not measurable (too little brain, or a flat image)"
                    ),
                }
                match c.turn_mm {
                    Some(t) => println!(
                        "each image's farthest part from where the rest of it lies (a turn or a warp), mm: {}",
                        per_image(t, |v| format!("{v:.1}"))
                    ),
                    None => println!(
                        "turn or warp of each image: not measurable (too little brain to match its octants)"
                    ),
                }
            }
            for w in &s.warnings {
                println!("  warning: {w}");
            }
        }
    } else {
        let s = summarize_file(path)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            print_file(&path.display().to_string(), &s);
        }
    }
    Ok(())
}

/// "FLAIR x, T1 y, T1ce z, T2 w": one value per image, in the case's order.
fn per_image<T>(values: [T; 4], show: impl Fn(T) -> String) -> String {
    ["FLAIR", "T1", "T1ce", "T2"]
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n} {}", show(v)))
        .collect::<Vec<_>>()
        .join(", ")
}
