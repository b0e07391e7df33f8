//! `bts train` and `bts export`.
//!
//! `--preset fast` (default) trains in minutes on a CPU: widths 8-16-32-64-128, instance
//! norm, leaky ReLU, no dropout, images resampled to 2 mm. `--preset seed` is the seed's
//! network at 1 mm; `--preset synthetic` the shipped model's recipe. `--config` reads a
//! whole `TrainConfig` JSON; the other flags override single fields. With `--phantoms N`,
//! N training phantoms plus `--val` held-out ones are generated in memory (seeds S+0…).
//! `--synthetic` trains on the endless stream of synthetic cases from real anatomy (the
//! config's `synthetic` settings, the `synthetic` preset's when unset) and validates on
//! `--val` held-out synthetic cases. `--resume` continues from MODEL_DIR/last.json (give the
//! same flags, `--init` included). `--init DIR` fine-tunes from another model folder's best
//! weights. The run's summary is printed as one JSON line on stdout.

use anyhow::{Context, Result};
use brats_io::phantom::PhantomConfig;
use unet3d::checkpoint::{export as export_checkpoint, read_meta, ExportSettings, Which};
use unet3d::train::{synthetic_validation, Split, TrainConfig, TrainData, Trainer};

use super::{ExportArgs, PrepareArgs, Preset, TrainArgs, Ui};

fn config(a: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a TrainConfig", path.display()))?
        }
        None => match a.preset {
            Preset::Fast => unet3d::presets::fast(),
            Preset::Seed => unet3d::presets::seed(),
            Preset::Synthetic => unet3d::presets::synthetic(),
        },
    };
    if let Some(v) = a.epochs {
        cfg.epochs = v;
    }
    if let Some(v) = a.iterations {
        cfg.iterations_per_epoch = v;
    }
    if let Some(v) = a.patch {
        cfg.patch = [v; 3];
    }
    if let Some(v) = a.batch {
        cfg.batch_size = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.lr {
        cfg.optimizer.lr = v;
    }
    if let Some(v) = a.time_limit {
        cfg.time_limit_s = Some(v);
    }
    if let Some(v) = a.threads {
        cfg.threads = v;
    }
    if let Some(v) = a.labels {
        cfg.scheme = v.scheme();
    }
    if let Some(dir) = &a.init {
        cfg.init = Some(dir.clone());
    }
    cfg.device = a.device;
    Ok(cfg)
}

/// Data-parallel across processes when launched with RANK / WORLD_SIZE / MASTER_ADDR /
/// MASTER_PORT (each rank's --batch is its share; rank 0 writes the model folder): every
/// data source draws the same global batches on every rank.
fn joined(trainer: Trainer, ui: &Ui) -> Result<Trainer> {
    Ok(match unet3d::train::TcpGroup::from_env()? {
        Some(group) => {
            ui.note(&format!(
                "rank {} of {}: gradients averaged over TCP",
                unet3d::train::Collective::rank(&group),
                unet3d::train::Collective::world_size(&group)
            ));
            trainer.collective(std::sync::Arc::new(group))
        }
        None => trainer,
    })
}

/// "24 (6 random, 18 realistic contrasts)": the validation cases and how many of each
/// contrast, so that a validation set drawn without one kind shows at the start.
fn validation_counts(cases: &[unet3d::train::TrainingCase]) -> String {
    if cases.is_empty() {
        return "0".into();
    }
    let mut groups = std::collections::BTreeMap::from([("random", 0), ("realistic", 0)]);
    for g in cases.iter().filter_map(|c| c.group.as_deref()) {
        *groups.entry(g).or_insert(0) += 1;
    }
    let parts: Vec<String> = groups.iter().map(|(g, n)| format!("{n} {g}")).collect();
    format!("{} ({} contrasts)", cases.len(), parts.join(", "))
}

pub fn run(a: &TrainArgs, ui: &Ui) -> Result<()> {
    let mut cfg = config(a)?;
    if a.synthetic {
        let stream = cfg
            .synthetic
            .get_or_insert_with(|| unet3d::presets::synthetic().synthetic.unwrap_or_default());
        stream.synth.scheme = cfg.scheme.clone();
        let trainer = joined(
            Trainer::new(cfg.clone(), &a.out)?.progress(ui.shared_bar()),
            ui,
        )?;
        let stream = cfg.synthetic.clone().unwrap_or_default();
        let validation = synthetic_validation(&stream, a.val, &cfg.preprocess, &ui.bar())?;
        ui.note(&format!(
            "training on synthetic cases (pool {}, {} new per epoch), validating on {}; {} parameters; model folder {}",
            stream.pool,
            stream.refresh,
            validation_counts(&validation),
            cfg.model.parameter_count(),
            a.out.display()
        ));
        let summary = trainer.fit_synthetic(&validation, a.resume)?;
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    cfg.synthetic = None;
    let trainer = joined(
        Trainer::new(cfg.clone(), &a.out)?.progress(ui.shared_bar()),
        ui,
    )?;
    if let Some(cache) = &a.cache {
        // Patches are read from the cache when drawn: memory does not grow with the cases.
        let files = unet3d::train::cache::list(cache)?;
        let (train, val) =
            unet3d::train::cache::split(files, &Split::Fraction(a.val_fraction), &cfg, cache)?;
        let validation = val
            .iter()
            .map(|f| f.load())
            .collect::<unet3d::Result<Vec<_>>>()?;
        ui.note(&format!(
            "training on {} cached cases (read from disk patch by patch), validating on {}; {} parameters; model folder {}",
            train.len(),
            validation.len(),
            cfg.model.parameter_count(),
            a.out.display()
        ));
        let summary = trainer.fit_cached(&train, &validation, a.resume)?;
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    let data = match (&a.data, a.phantoms) {
        (Some(dir), _) => {
            TrainData::from_folder(dir, &Split::Fraction(a.val_fraction), &cfg, &ui.bar())?
        }
        (None, Some(n)) => {
            let phantom = PhantomConfig {
                scheme: cfg.scheme.clone(),
                ..Default::default()
            };
            TrainData::phantoms(n, a.val, &phantom, cfg.seed, &cfg, &ui.bar())?
        }
        (None, None) => unreachable!("clap requires one source"),
    };
    ui.note(&format!(
        "training on {} cases, validating on {}; {} parameters; model folder {}",
        data.train.len(),
        data.validation.len(),
        cfg.model.parameter_count(),
        a.out.display()
    ));
    let summary = trainer.fit(&data, a.resume)?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

pub fn prepare(a: &PrepareArgs, ui: &Ui) -> Result<()> {
    let mut cfg = match a.preset {
        Preset::Fast => unet3d::presets::fast(),
        Preset::Seed => unet3d::presets::seed(),
        Preset::Synthetic => unet3d::presets::synthetic(),
    };
    cfg.scheme = a.labels.scheme();
    let fp = unet3d::train::cache::prepare(&a.data, &a.cache, &cfg, a.memory_gb, &ui.bar())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&fp)?);
        return Ok(());
    }
    println!(
        "{} cases prepared into {} ({} written, {} already there), {} skipped",
        fp.cases.len(),
        a.cache.display(),
        fp.written,
        fp.reused,
        fp.skipped.len()
    );
    for s in &fp.skipped {
        println!("  skipped {}: {}", s.case, s.reason);
    }
    let p = &fp.plan;
    println!(
        "plan: median spacing {:?} mm, target spacing {:?} mm, median shape {:?}, patch {}³ for {} GB",
        p.median_spacing, p.target_spacing, p.median_shape, p.patch, p.memory_budget_gb
    );
    println!(
        "fingerprint: {}",
        a.cache.join("fingerprint.json").display()
    );
    Ok(())
}

pub fn export(a: &ExportArgs) -> Result<()> {
    let which = if a.last { Which::Last } else { Which::Best };
    let (_, meta) = read_meta(&a.from, which)?;
    let settings = ExportSettings {
        half: !a.f32,
        postprocess: a.post.over(meta.postprocess),
        mirror_tta: a.tta.then_some(true),
        orientation: a.orientation,
    };
    let json = export_checkpoint(&a.from, which, &a.to, &settings)?;
    println!("{}", json.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validation_counts;
    use unet3d::train::TrainingCase;

    fn case(group: Option<&str>) -> TrainingCase {
        TrainingCase {
            id: "c".into(),
            image: ndarray::Array4::zeros((4, 1, 1, 1)),
            classes: ndarray::Array3::zeros((1, 1, 1)),
            group: group.map(str::to_string),
        }
    }

    #[test]
    fn the_validation_count_names_a_missing_contrast() {
        assert_eq!(validation_counts(&[]), "0");
        let only = [case(Some("realistic")), case(Some("realistic"))];
        assert_eq!(
            validation_counts(&only),
            "2 (0 random, 2 realistic contrasts)"
        );
        let mixed = [case(Some("random")), case(Some("realistic")), case(None)];
        assert_eq!(
            validation_counts(&mixed),
            "3 (1 random, 1 realistic contrasts)"
        );
    }
}
