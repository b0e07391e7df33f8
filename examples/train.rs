//! Trains the U-Net and writes checkpoints, history (CSV, JSON, PNG) into a model folder.
//!
//! ```text
//! cargo run --release --example train -- (--data DIR | --phantoms N | --synthetic) --out MODEL_DIR \
//!     [--epochs E] [--iterations I] [--patch P] [--batch B] [--seed S] [--resume] \
//!     [--val N | --val-fraction F] [--lr LR] [--time-limit SECONDS] [--threads T] \
//!     [--preset fast|seed|synthetic] [--config TRAIN.json] [--labels brats2021|brats2023]
//! ```
//! `--preset fast` (default) is the configuration that trains in minutes on a CPU: widths
//! 8-16-32-64-128, instance norm, leaky ReLU, no dropout, images resampled to 2 mm.
//! `--preset seed` is the seed's network at 1 mm. `--config` reads a whole `TrainConfig`
//! JSON (as stored in a checkpoint's `train_config`); flags given after it override it.
//! With `--phantoms N`, N training phantoms plus `--val` (default 2) held-out ones are
//! generated in memory (seeds S+0…). `--synthetic` trains on the endless stream of
//! synthetic cases from real anatomy (the config's `synthetic` settings, the `synthetic`
//! preset's when unset) and validates on `--val` (default 2) held-out synthetic cases.
//! `--resume` continues from MODEL_DIR/last.json.

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brats_io::phantom::PhantomConfig;
use brats_io::LabelScheme;
use unet3d::train::{synthetic_validation, Split, TrainData, Trainer};

fn main() -> Result<()> {
    support::tune_allocator();
    let mut args = std::env::args().skip(1);
    let mut data: Option<PathBuf> = None;
    let mut phantoms: Option<usize> = None;
    let mut synthetic = false;
    let mut out: Option<PathBuf> = None;
    let mut resume = false;
    let mut n_val = 2usize;
    let mut val_fraction = 0.2f64;
    let mut cfg = unet3d::presets::fast();
    let mut overrides: Vec<(String, String)> = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = Some(value()?.into()),
            "--phantoms" => phantoms = Some(value()?.parse().context("--phantoms takes a count")?),
            "--out" => out = Some(value()?.into()),
            "--synthetic" => synthetic = true,
            "--resume" => resume = true,
            "--val" => n_val = value()?.parse().context("--val takes a count")?,
            "--val-fraction" => {
                val_fraction = value()?.parse().context("--val-fraction takes a number")?
            }
            "--preset" => {
                cfg = match value()?.as_str() {
                    "fast" => unet3d::presets::fast(),
                    "seed" => unet3d::presets::seed(),
                    "synthetic" => unet3d::presets::synthetic(),
                    other => bail!("--preset takes fast, seed or synthetic, got {other:?}"),
                }
            }
            "--config" => {
                let path = value()?;
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
                cfg = serde_json::from_str(&text)
                    .with_context(|| format!("{path}: not a TrainConfig"))?;
            }
            "--epochs" | "--iterations" | "--patch" | "--batch" | "--seed" | "--lr"
            | "--time-limit" | "--threads" | "--labels" => overrides.push((a.clone(), value()?)),
            "-h" | "--help" => {
                println!("train (--data DIR | --phantoms N | --synthetic) --out MODEL_DIR [--epochs E] [--iterations I] [--patch P] [--batch B] [--seed S] [--resume] [--val N | --val-fraction F] [--lr LR] [--time-limit S] [--threads T] [--preset fast|seed|synthetic] [--config TRAIN.json] [--labels brats2021|brats2023]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    for (flag, v) in overrides {
        match flag.as_str() {
            "--epochs" => cfg.epochs = v.parse().context("--epochs takes a count")?,
            "--iterations" => {
                cfg.iterations_per_epoch = v.parse().context("--iterations takes a count")?
            }
            "--patch" => {
                let p: usize = v.parse().context("--patch takes a size (multiple of 16)")?;
                cfg.patch = [p; 3];
            }
            "--batch" => cfg.batch_size = v.parse().context("--batch takes a count")?,
            "--seed" => cfg.seed = v.parse().context("--seed takes a whole number")?,
            "--lr" => cfg.optimizer.lr = v.parse().context("--lr takes a number")?,
            "--time-limit" => {
                cfg.time_limit_s = Some(v.parse().context("--time-limit takes seconds")?)
            }
            "--threads" => cfg.threads = v.parse().context("--threads takes a count")?,
            "--labels" => {
                cfg.scheme = LabelScheme::by_name(&v)?;
            }
            _ => unreachable!("only listed flags are collected"),
        }
    }
    let out = out.context("--out MODEL_DIR is required")?;
    if synthetic {
        if data.is_some() || phantoms.is_some() {
            bail!("give exactly one of --data DIR, --phantoms N or --synthetic");
        }
        let stream = cfg
            .synthetic
            .get_or_insert_with(|| unet3d::presets::synthetic().synthetic.unwrap_or_default());
        stream.synth.scheme = cfg.scheme.clone();
        let trainer = Trainer::new(cfg.clone(), &out)?.progress(support::Bar::shared());
        let stream = cfg.synthetic.clone().unwrap_or_default();
        let validation =
            synthetic_validation(&stream, n_val, &cfg.preprocess, &support::Bar::new())?;
        eprintln!(
            "training on synthetic cases (pool {}, {} new per epoch), validating on {}; {} parameters; model folder {}",
            stream.pool,
            stream.refresh,
            validation.len(),
            cfg.model.parameter_count(),
            out.display()
        );
        let summary = trainer.fit_synthetic(&validation, resume)?;
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    cfg.synthetic = None;
    let trainer = Trainer::new(cfg.clone(), &out)?.progress(support::Bar::shared());
    let data = match (data, phantoms) {
        (Some(dir), None) => TrainData::from_folder(
            &dir,
            &Split::Fraction(val_fraction),
            &cfg,
            &support::Bar::new(),
        )?,
        (None, Some(n)) => {
            let phantom = PhantomConfig {
                scheme: cfg.scheme.clone(),
                ..Default::default()
            };
            TrainData::phantoms(n, n_val, &phantom, cfg.seed, &cfg, &support::Bar::new())?
        }
        _ => bail!("give exactly one of --data DIR or --phantoms N"),
    };
    eprintln!(
        "training on {} cases, validating on {}; {} parameters; model folder {}",
        data.train.len(),
        data.validation.len(),
        cfg.model.parameter_count(),
        out.display()
    );
    let summary = trainer.fit(&data, resume)?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
