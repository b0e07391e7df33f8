//! Held-out synthetic evaluation of a model: new cases from the real-anatomy generator
//! (`brats_io::synth`, seeds no training run uses), every subtype, Dice per region (BraTS
//! 2023 empty rule), predicted against true whole-tumour volume, and false-positive islands
//! (predicted components that touch no tumour) — per subtype and overall.
//!
//! ```text
//! cargo run --release --example evaluate_synthetic -- [--model DIR] [--cases N] [--seed S] [--json FILE]
//! ```
//! Without `--model`, the default model (`models/default`, or `$BTS_MODEL`). N cases per
//! subtype (default 8), seeds `S + 1_000_000 · subtype + n` (default S = 9_000_000_000).

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brats_io::progress::Progress;
use brats_io::synth::{Subtype, SynthConfig};
use unet3d::infer::connected_components;
use unet3d::predict::{PredictOptions, Predictor};

#[derive(serde::Serialize)]
struct Row {
    subtype: String,
    seed: u64,
    dice: [f64; 3],
    wt_cm3: f64,
    predicted_wt_cm3: f64,
    false_islands: usize,
    largest_false_island_cm3: f64,
    seconds: f64,
}

fn main() -> Result<()> {
    support::tune_allocator();
    let mut args = std::env::args().skip(1);
    let (mut model, mut cases, mut seed, mut json) =
        (None::<PathBuf>, 8u64, 9_000_000_000u64, None::<PathBuf>);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--model" => model = Some(value()?.into()),
            "--cases" => cases = value()?.parse().context("--cases takes a count")?,
            "--seed" => seed = value()?.parse().context("--seed takes a whole number")?,
            "--json" => json = Some(value()?.into()),
            "-h" | "--help" => {
                println!("evaluate_synthetic [--model DIR] [--cases N] [--seed S] [--json FILE]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let predictor = match &model {
        Some(m) => Predictor::load(m)?,
        None => Predictor::load_default()?,
    };
    let scheme = predictor.meta().scheme.clone();
    let bar = support::Bar::new();
    bar.start(
        "synthetic held-out cases",
        cases * Subtype::ALL.len() as u64,
    );
    let mut rows = Vec::new();
    for (ti, t) in Subtype::ALL.into_iter().enumerate() {
        let gen = SynthConfig {
            scheme: scheme.clone(),
            subtypes: vec![t],
            healthy_share: 0.0,
        }
        .check()?;
        for n in 0..cases {
            let s = seed + 1_000_000 * ti as u64 + n;
            let case = gen.generate(s)?;
            let started = std::time::Instant::now();
            let pred = predictor.predict(
                &case.images,
                &PredictOptions::default(),
                &brats_io::progress::NoProgress,
            )?;
            let seconds = started.elapsed().as_secs_f64();
            let (p, g) = (pred.labels.data(), case.seg.data());
            let dice = brats_metrics::brats::region_dice(p.view(), g.view(), &scheme)?;
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
                seed: s,
                dice,
                wt_cm3: case.truth.volumes_cm3["WT"],
                predicted_wt_cm3: p.iter().filter(|&&v| v != 0).count() as f64 / 1000.0,
                false_islands: false_sizes.len(),
                largest_false_island_cm3: false_sizes.iter().copied().max().unwrap_or(0) as f64
                    / 1000.0,
                seconds,
            };
            bar.line(&format!(
                "{:<20} seed {s}: WT {:.3} TC {:.3} ET {:.3}  WT {:.0}→{:.0} cm³  {} false islands  {:.1} s",
                row.subtype, dice[0], dice[1], dice[2], row.wt_cm3, row.predicted_wt_cm3, row.false_islands, seconds
            ));
            rows.push(row);
            bar.advance(1);
        }
    }
    bar.finish();
    let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        let key = r.subtype.trim_end_matches("_callosal").to_string();
        groups.entry(key).or_default().push(r);
        groups.entry("all".into()).or_default().push(r);
    }
    println!("| subtype | cases | WT | TC | ET | volume ratio (pred / true WT) | cases with a false island > 5 cm³ |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut summary = BTreeMap::new();
    for (k, rs) in &groups {
        let n = rs.len() as f64;
        let mean = |f: &dyn Fn(&Row) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
        let d = [0, 1, 2].map(|i| mean(&|r| r.dice[i]));
        let ratio = mean(&|r| r.predicted_wt_cm3 / r.wt_cm3.max(1e-9));
        let islands = rs
            .iter()
            .filter(|r| r.largest_false_island_cm3 > 5.0)
            .count();
        println!(
            "| {k} | {} | {:.3} | {:.3} | {:.3} | {ratio:.2} | {islands} |",
            rs.len(),
            d[0],
            d[1],
            d[2]
        );
        summary.insert(k.clone(), (rs.len(), d, ratio, islands));
    }
    if let Some(path) = json {
        let text =
            serde_json::to_string_pretty(&serde_json::json!({"cases": rows, "summary": summary}))?;
        brats_io::atomic_write_bytes(&path, text.as_bytes())?;
    }
    Ok(())
}
