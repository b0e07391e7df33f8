//! Writes synthetic BraTS-like cases (four modalities, seg, truth.json) in BraTS layout.
//!
//! ```text
//! cargo run --release --example phantom -- --out DIR --cases N [--seed S] \
//!     [--shape 240,240,155] [--labels brats2021|brats2023] [--orientation lps|ras] \
//!     [--anatomy [--subtype high_grade|low_grade|metastasis]]
//! ```
//! `--anatomy` uses the real-anatomy generator (`brats_io::synth`: the BraTS grid, so
//! `--shape` and `--orientation` do not apply) instead of the geometric phantom.
//! Case `n` (0-based) uses seed `S + n`, so any one case can be regenerated alone.
//! Prints one line per case: its folder, tumour site, hemisphere and WT volume.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use brats_io::phantom::{PhantomConfig, PhantomOrientation};
use brats_io::synth::{Subtype, SynthConfig};
use brats_io::{LabelScheme, Naming};
use indicatif::{ProgressBar, ProgressStyle};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut cases = 1usize;
    let mut seed = 0u64;
    let mut cfg = PhantomConfig::default();
    let mut anatomy = false;
    let mut synth = SynthConfig::default();
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--out" => out = Some(value()?.into()),
            "--cases" => cases = value()?.parse().context("--cases takes a whole number")?,
            "--seed" => seed = value()?.parse().context("--seed takes a whole number")?,
            "--shape" => {
                let v = value()?;
                let parts: Vec<usize> = v
                    .split(',')
                    .map(|p| p.trim().parse())
                    .collect::<std::result::Result<_, _>>()
                    .with_context(|| format!("--shape takes I,J,K, got {v:?}"))?;
                let [i, j, k] = parts[..] else {
                    bail!("--shape takes three numbers I,J,K, got {v:?}")
                };
                cfg.shape = [i, j, k];
            }
            "--labels" => cfg.scheme = LabelScheme::by_name(&value()?)?,
            "--anatomy" => anatomy = true,
            "--subtype" => {
                let v = value()?;
                let t = Subtype::ALL
                    .into_iter()
                    .find(|t| t.name() == v)
                    .with_context(|| {
                        format!("--subtype takes high_grade, low_grade or metastasis, got {v:?}")
                    })?;
                synth.subtypes = vec![t];
            }
            "--orientation" => {
                cfg.orientation = match value()?.to_ascii_lowercase().as_str() {
                    "lps" => PhantomOrientation::Lps,
                    "ras" => PhantomOrientation::Ras,
                    other => bail!("--orientation takes lps or ras, got {other:?}"),
                }
            }
            "-h" | "--help" => {
                println!("phantom --out DIR --cases N [--seed S] [--shape I,J,K] [--labels brats2021|brats2023] [--orientation lps|ras] [--anatomy [--subtype high_grade|low_grade|metastasis]]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let out = out.context("--out DIR is required")?;
    let naming = if cfg.scheme == LabelScheme::brats2023() {
        Naming::Brats2023
    } else {
        Naming::Brats2021
    };
    synth.scheme = cfg.scheme.clone();
    let phantoms = (!anatomy).then(|| cfg.check()).transpose()?;
    let synth = anatomy.then(|| synth.check()).transpose()?;
    let bar = ProgressBar::new(cases as u64).with_style(ProgressStyle::with_template(
        "{spinner} phantoms {bar:30} {pos}/{len} [{elapsed_precise} < {eta}] {msg}",
    )?);
    for n in 0..cases {
        let case = match (&phantoms, &synth) {
            (Some(g), _) => g.generate(seed + n as u64)?,
            (_, Some(g)) => g.generate(seed + n as u64)?,
            _ => unreachable!("one generator is always chosen"),
        };
        let dir = case.write(&out, naming)?;
        let t = &case.truth;
        bar.suspend(|| {
            println!(
                "{}  site={} subtype={} hemisphere={} WT={:.1} cm³",
                dir.display(),
                t.site.as_deref().unwrap_or("-"),
                t.subtype.as_deref().unwrap_or("-"),
                t.hemisphere.as_deref().unwrap_or("-"),
                t.volumes_cm3.get("WT").copied().unwrap_or(0.0)
            )
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}
