//! `bts quickstart`: the main job, no arguments needed — phantoms → train → segment →
//! evaluate → diagnose.
//!
//! 1. generates 10 training and 2 validation phantoms (in memory) and one held-out case
//!    written in BraTS layout to `OUT/case/`;
//! 2. trains the fast preset U-Net for about three minutes (model folder `OUT/model/`:
//!    checkpoints, `history.csv/json/png`);
//! 3. segments the held-out case (`OUT/segmentation.nii.gz`) and evaluates it against its
//!    ground truth (Dice, HD95);
//! 4. builds the default knowledge base in `OUT/kb/`, reads the bundled Korean intake
//!    (`examples/data/intake_ko.json`), localises the tumour, cross-checks it with the
//!    symptoms, recommends hospitals (sample data) and writes the report to `OUT/report/`
//!    (`report.html`, `report.md`, `report.json`, overlays).
//!
//! Everything is seeded: the same machine and thread count give the same model. Decision
//! support, not a diagnosis.

use std::time::Instant;

use anyhow::{Context, Result};
use brats_io::phantom::PhantomConfig;
use brats_io::{find_case, Naming, NiftiReader, NiftiWriter};
use brats_metrics::brats::{evaluate_case, EvalConfig, RegionSpec};
use brats_metrics::distance::Spacing;
use diagnosis::Diagnoser;
use symptom_kb::{Intake, KnowledgeBase};
use unet3d::predict::{PredictOptions, Predictor};
use unet3d::train::{TrainData, Trainer};

use super::{QuickstartArgs, Ui};

const INTAKE_KO: &str = include_str!("../../examples/data/intake_ko.json");
/// The held-out phantom: a right frontal glioma (its truth.json says so), unseen in training (seeds 0–11).
const HELD_OUT_SEED: u64 = 2002;

fn step(n: usize, text: &str) {
    eprintln!("\n[{n}/5] {text}");
}

pub fn run(a: &QuickstartArgs, ui: &Ui) -> Result<()> {
    let started = Instant::now();
    let out = a.out.as_path();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    eprintln!(
        "brain-tumour-seg quick-start — decision support, not a diagnosis. Output: {}",
        out.display()
    );

    step(1, "phantoms: 10 for training, 2 for validation, 1 held out");
    let mut cfg = unet3d::presets::fast();
    cfg.patch = [48, 48, 48];
    cfg.epochs = 22;
    cfg.iterations_per_epoch = 20;
    cfg.validation_interval = 3;
    cfg.seed = 7;
    cfg.time_limit_s = Some(240.0);
    let phantom = PhantomConfig::default();
    let data = TrainData::phantoms(10, 2, &phantom, 0, &cfg, &ui.bar())?;
    let held_out = phantom.clone().check()?.generate(HELD_OUT_SEED)?;
    let case_dir = held_out.write(out.join("case"), Naming::Brats2021)?;
    eprintln!(
        "      held-out case {} — truth: {} {} ({:.0} cm³ whole tumour)",
        case_dir.display(),
        held_out.truth.hemisphere.as_deref().unwrap_or("-"),
        held_out.truth.site.as_deref().unwrap_or("-"),
        held_out.truth.volumes_cm3.get("WT").copied().unwrap_or(0.0)
    );

    step(
        2,
        "training the fast U-Net (widths 8-128, 2 mm, 48³ patches; about 3 minutes)",
    );
    let model_dir = out.join("model");
    if model_dir.exists() {
        std::fs::remove_dir_all(&model_dir)
            .with_context(|| format!("clearing {}", model_dir.display()))?;
    }
    let summary = Trainer::new(cfg, &model_dir)?
        .progress(ui.shared_bar())
        .fit(&data, false)?;
    eprintln!(
        "      {} epochs, {} iterations in {:.0} s; validation Dice {}",
        summary.epochs,
        summary.iterations,
        summary.elapsed_s,
        summary.last_val_dice.map_or("-".into(), |v| format!(
            "WT {:.3} TC {:.3} ET {:.3}",
            v[0], v[1], v[2]
        ))
    );

    step(
        3,
        "segmenting the held-out case and evaluating it against its ground truth",
    );
    let predictor = Predictor::load(&model_dir)?;
    let case = find_case(&case_dir)?.load(&NiftiReader::new())?;
    // With the region probabilities, for the report's certainty picture and viewer.
    let opts = PredictOptions {
        region_probabilities: true,
        ..PredictOptions::default()
    };
    let pred = predictor.predict_case(&case, &opts, &ui.bar())?;
    let seg_path = out.join("segmentation.nii.gz");
    NiftiWriter::new().write(&seg_path, &pred.labels)?;
    let truth = case
        .seg
        .as_ref()
        .context("the held-out case has a ground truth")?;
    let eval = evaluate_case(
        &case.id,
        pred.labels.data().view(),
        truth.data().view(),
        Spacing::from_ijk(case.geometry().spacing())?,
        &RegionSpec::brats2021(),
        EvalConfig::default(),
    )?;
    for (region, m) in &eval.regions {
        eprintln!(
            "      {region}: Dice {:.3}  HD95 {:.1} mm  volume {:.1} cm³ (truth {:.1})",
            m.dice, m.hd95, m.volume_pred_cm3, m.volume_truth_cm3
        );
    }
    eprintln!(
        "      timings: preprocess {:.1} s, inference {:.1} s, restore {:.1} s",
        pred.timings.preprocess_s, pred.timings.inference_s, pred.timings.restore_s
    );

    step(4, "knowledge base and the Korean intake");
    let kb = KnowledgeBase::open(out.join("kb"))?;
    let intake = Intake::from_json(INTAKE_KO)?;
    for s in &intake.symptoms {
        eprintln!(
            "      symptom: {}",
            s.text.as_deref().or(s.code.as_deref()).unwrap_or("?")
        );
    }

    step(5, "localise → cross-check → referral → report");
    let dx = Diagnoser::new(&kb);
    let site = diagnosis::Site::Mask {
        case: &case,
        mask: &pred.labels,
        scheme: predictor.scheme(),
    };
    let mut d = match &pred.region_probabilities {
        Some(maps) => dx.diagnose_with_probabilities(site, &intake, maps)?,
        None => dx.diagnose(site, &intake)?,
    };
    d.report.source = "model".into();
    d.report.evaluation = Some(
        eval.regions
            .iter()
            .map(|(k, m)| (k.clone(), m.dice))
            .collect(),
    );
    d.report.segmentation = Some(serde_json::json!({
        "model": model_dir,
        "timings_s": pred.timings,
    }));
    let files = d.write(&out.join("report"))?;
    let r = &d.report;
    println!();
    println!("Decision support, not a diagnosis.");
    println!(
        "Tumour: {} {} ({:.0} cm³); symptoms → {}; verdict: {} (region match {:?}, hemisphere match {:?})",
        r.tumour.hemisphere.map_or("-", |h| h.name()),
        r.tumour.primary_region.as_deref().unwrap_or("-"),
        r.tumour.volumes_cm3.get("WT").copied().unwrap_or(0.0),
        r.suspected_regions
            .first()
            .map_or("-".into(), |s| format!("{}@{}", s.region, s.hemisphere.map_or("?", |h| h.name()))),
        r.verdict.name(),
        r.region_match,
        r.hemisphere_match
    );
    if let Some(h) = r.referrals.hospitals.first() {
        println!(
            "First referral (SAMPLE DATA): {} — {}",
            h.name_en,
            h.departments.join(", ")
        );
    }
    println!("\nWhere to look:");
    println!("  report        {}", files.html.display());
    println!(
        "  overlays      {}",
        out.join("report").join("overlay_axial.png").display()
    );
    println!("  segmentation  {}", seg_path.display());
    println!(
        "  training      {}",
        model_dir.join("history.png").display()
    );
    println!("  done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
