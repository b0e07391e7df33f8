//! Copies a training checkpoint into a model folder to ship (`best.json` +
//! `model.safetensors`, weights in half precision unless `--f32`).
//!
//! ```text
//! cargo run --release --example export_model -- --from RUN_DIR --to models/default [--last] [--f32]
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use unet3d::checkpoint::{export, Which};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut from, mut to) = (None::<PathBuf>, None::<PathBuf>);
    let (mut which, mut half) = (Which::Best, true);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--from" => from = Some(value()?.into()),
            "--to" => to = Some(value()?.into()),
            "--last" => which = Which::Last,
            "--f32" => half = false,
            "-h" | "--help" => {
                println!("export_model --from RUN_DIR --to MODEL_DIR [--last] [--f32]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let from = from.context("--from RUN_DIR is required")?;
    let to = to.context("--to MODEL_DIR is required")?;
    let json = export(&from, which, &to, half)?;
    println!("{}", json.display());
    Ok(())
}
