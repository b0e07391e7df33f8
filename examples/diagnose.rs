//! Segment (or take a mask), locate the tumour, cross-check it with the patient's symptoms,
//! recommend where to be treated, and write the report.
//!
//! ```text
//! cargo run --release --example diagnose -- --intake INTAKE.json --out REPORT_DIR [--db KB_DIR] \
//!     (--case CASE_DIR [--model MODEL_DIR | --mask SEG.nii.gz] | --location REGION@SIDE) \
//!     [--atlas ATLAS.nii.gz --atlas-labels LABELS.csv] [--labels brats2021|brats2023] \
//!     [--hospitals N]
//! ```
//! Writes `report.json`, `report.md`, `report.html` and `overlay_{axial,coronal,sagittal}.png`
//! into REPORT_DIR (when a model segments, also `segmentation.nii.gz`) and prints the
//! verdict. With `--case` and neither `--model` nor `--mask`, the default model
//! (`models/default`, or `$BTS_MODEL`) segments the case.
//! Without `--db` the default knowledge base is used (`$BTS_KB_DIR`, else
//! `$XDG_DATA_HOME/brain-tumour-seg/kb`, else `~/.local/share/brain-tumour-seg/kb`; created
//! with the default content on first use). `--labels` is the mask's label scheme
//! (default brats2021; with `--model`, the model's). Decision support, not a diagnosis.

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brats_io::{find_case, LabelScheme, NiftiReader, NiftiWriter};
use diagnosis::{parse_location, Atlas, Diagnoser, Site};
use symptom_kb::{Intake, KnowledgeBase};
use unet3d::predict::Predictor;

fn main() -> Result<()> {
    support::tune_allocator();
    let mut args = std::env::args().skip(1);
    let mut intake_path = None::<PathBuf>;
    let mut out = None::<PathBuf>;
    let mut db = None::<PathBuf>;
    let mut case_dir = None::<PathBuf>;
    let mut model = None::<PathBuf>;
    let mut mask = None::<PathBuf>;
    let mut location = None::<String>;
    let mut atlas = None::<PathBuf>;
    let mut atlas_labels = None::<PathBuf>;
    let mut labels = None::<String>;
    let mut hospitals = 5usize;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--intake" => intake_path = Some(value()?.into()),
            "--out" => out = Some(value()?.into()),
            "--db" => db = Some(value()?.into()),
            "--case" => case_dir = Some(value()?.into()),
            "--model" => model = Some(value()?.into()),
            "--mask" => mask = Some(value()?.into()),
            "--location" => location = Some(value()?),
            "--atlas" => atlas = Some(value()?.into()),
            "--atlas-labels" => atlas_labels = Some(value()?.into()),
            "--labels" => labels = Some(value()?),
            "--hospitals" => hospitals = value()?.parse().context("--hospitals takes a count")?,
            "-h" | "--help" => {
                println!("diagnose --intake INTAKE.json --out REPORT_DIR [--db KB_DIR] (--case CASE_DIR [--model MODEL_DIR | --mask SEG.nii.gz] | --location REGION@SIDE) [--atlas ATLAS.nii.gz --atlas-labels LABELS.csv] [--labels brats2021|brats2023] [--hospitals N]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let intake_path = intake_path.context("--intake INTAKE.json is required")?;
    let out = out.context("--out REPORT_DIR is required")?;
    let text = std::fs::read_to_string(&intake_path)
        .with_context(|| format!("reading {}", intake_path.display()))?;
    let intake = Intake::from_json(&text).with_context(|| format!("{}", intake_path.display()))?;
    let db = db.unwrap_or_else(symptom_kb::default_db_dir);
    let kb =
        KnowledgeBase::open(&db).with_context(|| format!("knowledge base {}", db.display()))?;
    let mut diagnoser = Diagnoser::new(&kb).hospital_limit(hospitals);
    match (atlas, atlas_labels) {
        (Some(v), Some(t)) => diagnoser = diagnoser.with_atlas(Atlas::load(&v, &t)?)?,
        (None, None) => {}
        _ => bail!("--atlas and --atlas-labels go together"),
    }
    let mut diagnosis = match (case_dir, location) {
        (Some(dir), None) => {
            let case = find_case(&dir)?.load(&NiftiReader::new())?;
            match (model, mask) {
                (m, None) => {
                    // Without --model: the default model (models/default or $BTS_MODEL).
                    let predictor = match m {
                        Some(m) => Predictor::load(&m)?,
                        None => Predictor::load_default()?,
                    };
                    let (d, seg) = diagnoser.segment_and_diagnose(
                        &case,
                        &predictor,
                        &intake,
                        &support::Bar::new(),
                    )?;
                    std::fs::create_dir_all(&out)?;
                    NiftiWriter::new().write(out.join("segmentation.nii.gz"), &seg)?;
                    d
                }
                (None, Some(p)) => {
                    let seg = NiftiReader::new().read_labels(&p)?;
                    let scheme = LabelScheme::by_name(labels.as_deref().unwrap_or("brats2021"))?;
                    diagnoser.diagnose(
                        Site::Mask {
                            case: &case,
                            mask: &seg,
                            scheme: &scheme,
                        },
                        &intake,
                    )?
                }
                (Some(_), Some(_)) => {
                    bail!("with --case give --model MODEL_DIR or --mask SEG.nii.gz, not both")
                }
            }
        }
        (None, Some(loc)) => {
            let (region, hemisphere) = parse_location(&kb, &loc)?;
            diagnoser.diagnose(
                Site::Location {
                    region: &region,
                    hemisphere,
                },
                &intake,
            )?
        }
        _ => bail!("give --case CASE_DIR (with the default model, --model or --mask) or --location REGION@SIDE"),
    };
    let files = diagnosis.write(&out)?;
    let r = &diagnosis.report;
    let t = &r.tumour;
    println!("decision support, not a diagnosis");
    println!(
        "verdict: {} (region match: {}, hemisphere match: {}, confidence {:.2})",
        r.verdict.name(),
        fmt(r.region_match),
        fmt(r.hemisphere_match),
        r.confidence
    );
    if t.found {
        println!(
            "tumour: {} {} (WT {:.1} cm³)",
            t.hemisphere.map_or("-", |h| h.name()),
            t.primary_region.as_deref().unwrap_or("-"),
            t.volumes_cm3.get("WT").copied().unwrap_or(0.0)
        );
    } else {
        println!("tumour: none found");
    }
    if let Some(e) = &r.evaluation {
        println!("Dice vs ground truth: {e:?}");
    }
    println!("report: {}", files.html.display());
    Ok(())
}

fn fmt(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "undecided",
    }
}
