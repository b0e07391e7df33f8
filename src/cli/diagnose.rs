//! `bts diagnose`: segment (or take a mask, or a stated site), locate the tumour,
//! cross-check it with the patient's symptoms, recommend where to be treated, and write
//! `report.json`, `report.md`, `report.html` and `overlay_{axial,coronal,sagittal}.png` into
//! the report folder (with `segmentation.nii.gz` and the model's certainty,
//! `overlay_certainty_{axial,coronal,sagittal}.png`, when a model segments). Prints the verdict
//! (`--json`: the whole report). Decision support, not a diagnosis.

use anyhow::{Context, Result};
use brats_io::{find_case, NiftiReader, NiftiWriter};
use diagnosis::{parse_location, Atlas, Diagnoser, Site};
use symptom_kb::{Intake, KnowledgeBase};
use unet3d::predict::PredictOptions;

use super::segment::{in_scheme, load_predictor};
use super::{DiagnoseArgs, Ui};

pub fn run(a: &DiagnoseArgs, ui: &Ui) -> Result<()> {
    if a.tta.any() && (a.case.is_none() || a.mask.is_some()) {
        super::usage_error(
            "--tta and --no-tta apply when a model segments (--case without --mask)",
        );
    }
    let text = std::fs::read_to_string(&a.intake)
        .with_context(|| format!("reading {}", a.intake.display()))?;
    let intake = Intake::from_json(&text).with_context(|| format!("{}", a.intake.display()))?;
    let db = a.db.clone().unwrap_or_else(symptom_kb::default_db_dir);
    let kb =
        KnowledgeBase::open(&db).with_context(|| format!("knowledge base {}", db.display()))?;
    super::kb::note_outdated(&kb, &db, ui)?;
    let mut diagnoser = Diagnoser::new(&kb).hospital_limit(a.hospitals);
    if let (Some(v), Some(t)) = (&a.atlas, &a.atlas_labels) {
        diagnoser = diagnoser.with_atlas(Atlas::load(v, t)?)?;
    }
    let mut diagnosis = match (&a.case, &a.location) {
        (Some(dir), _) => {
            let paths = find_case(dir)?;
            let scheme = a.labels.map_or_else(|| paths.scheme(), |l| l.scheme());
            let case = paths.load(&NiftiReader::new())?;
            match &a.mask {
                None => {
                    let predictor = load_predictor(a.model.as_deref(), a.device)?;
                    let mut window = predictor.meta().window;
                    window.mirror_tta = a.tta.over(window.mirror_tta);
                    let diagnoser = diagnoser.predict_options(PredictOptions {
                        window: Some(window),
                        ..PredictOptions::default()
                    });
                    let (mut d, seg) =
                        diagnoser.segment_and_diagnose(&case, &predictor, &intake, &ui.bar())?;
                    std::fs::create_dir_all(&a.out)
                        .with_context(|| format!("creating {}", a.out.display()))?;
                    let seg = in_scheme(&predictor, &seg, &scheme)?;
                    NiftiWriter::new().write(a.out.join("segmentation.nii.gz"), &seg)?;
                    // The report names the file's scheme (the model's may differ).
                    if let Some(serde_json::Value::Object(m)) = d.report.segmentation.as_mut() {
                        m.insert("file_scheme".into(), scheme.name().into());
                    }
                    d
                }
                Some(p) => {
                    let seg = NiftiReader::new().read_labels(p)?;
                    diagnoser.diagnose(
                        Site::Mask {
                            case: &case,
                            mask: &seg,
                            scheme: &scheme,
                        },
                        &intake,
                    )?
                }
            }
        }
        (None, Some(loc)) => {
            let (region, hemisphere) = parse_location(&kb, loc)?;
            diagnoser.diagnose(
                Site::Location {
                    region: &region,
                    hemisphere,
                },
                &intake,
            )?
        }
        (None, None) => unreachable!("clap requires --case or --location"),
    };
    let files = diagnosis.write(&a.out)?;
    let r = &diagnosis.report;
    if a.json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let t = &r.tumour;
    println!("decision support, not a diagnosis");
    println!(
        "verdict: {} (region match: {}, hemisphere match: {}, confidence {:.2})",
        r.verdict.name(),
        yes_no(r.region_match),
        yes_no(r.hemisphere_match),
        r.confidence
    );
    if t.found {
        println!(
            "tumour: {} {} (WT {:.1} cm³{})",
            t.hemisphere.map_or("-", |h| h.name()),
            t.primary_region.as_deref().unwrap_or("-"),
            t.volumes_cm3.get("WT").copied().unwrap_or(0.0),
            match t.lesions.len() {
                0 | 1 => String::new(),
                n => format!(", {n} lesions"),
            }
        );
    } else {
        println!("tumour: none found");
    }
    println!("urgency: {}", r.urgency.name());
    println!("report: {}", files.html.display());
    Ok(())
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "undecided",
    }
}
