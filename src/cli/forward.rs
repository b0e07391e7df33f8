//! `bts forward`: the U-Net on a `.npy` input with PyTorch-interchangeable weights, for the
//! side-by-side benchmarks (`benches/peers/torch_unet.py`). Eval mode (dropout off),
//! softmax probabilities written to `--output` as float32 `.npy`. Without `--config` the
//! seed's network (filters 16-32-64-128-256) is assumed; the reference script's
//! `config.json` is accepted. `--repeat N` prints `{"median_s": ...}`: the median forward
//! time over N runs after a warm-up. `--train-step` times a training step instead (forward
//! in train mode, mean-squared loss to a zero target, backward, Adam update).

use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use unet3d::{UNet3d, UNet3dConfig};

use super::ForwardArgs;

pub fn run(a: &ForwardArgs) -> Result<()> {
    let (weights, input, repeat) = (&a.weights, &a.input, a.repeat);
    let cfg = match &a.config {
        Some(c) => UNet3dConfig::from_json_file(c)?,
        None => UNet3dConfig::default().check()?,
    };
    let dev = a.device.device()?;
    let x = Tensor::read_npy(input)
        .with_context(|| format!("reading {}", input.display()))?
        .to_dtype(DType::F32)?
        .to_device(&dev)?;
    let median = |mut t: Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    if a.train_step {
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let net = UNet3d::new(&cfg, vb)?;
        varmap
            .load(weights)
            .with_context(|| format!("loading {}", weights.display()))?;
        let mut opt = candle_nn::AdamW::new(
            varmap.all_vars(),
            candle_nn::ParamsAdamW {
                lr: 1e-4,
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        let mut step = || -> Result<f64> {
            let t = Instant::now();
            let y = net.logits(&x, true)?;
            let loss = y.sqr()?.mean_all()?;
            opt.backward_step(&loss)?;
            Ok(t.elapsed().as_secs_f64())
        };
        step()?;
        let times = (0..repeat.max(1))
            .map(|_| step())
            .collect::<Result<Vec<_>>>()?;
        println!(
            "{{\"median_s\": {:.4}, \"mode\": \"train_step\", \"runs\": {}}}",
            median(times),
            repeat.max(1)
        );
        return Ok(());
    }
    let net = UNet3d::load(weights, &cfg, &dev)?;
    let t = Instant::now();
    let y = net.probabilities(&x)?;
    let first = t.elapsed().as_secs_f64();
    if let Some(out) = &a.output {
        let tmp = out.with_extension("npy.tmp");
        y.write_npy(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    }
    if repeat > 0 {
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let t = Instant::now();
            net.probabilities(&x)?;
            times.push(t.elapsed().as_secs_f64());
        }
        println!("{{\"median_s\": {:.4}, \"mode\": \"inference\", \"runs\": {repeat}, \"first_s\": {first:.4}}}", median(times));
    }
    Ok(())
}
