//! Adam and AdamW whose state can be saved and restored, so a training run resumed from a
//! checkpoint continues exactly as if it had never stopped (candle-nn's `AdamW` keeps its
//! moments private).
//!
//! Update for step `t` with gradient `g` (PyTorch's `torch.optim.Adam` / `AdamW`):
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − lr·m̂/(√v̂ + ε)` with
//! `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`. Weight decay: Adam adds `wd·θ` to `g` (L2);
//! AdamW multiplies `θ` by `1 − lr·wd` first (decoupled).

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with L2 weight decay.
    Adam,
    /// Adam with decoupled weight decay.
    #[default]
    AdamW,
}

/// Optimiser hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Adam or AdamW.
    pub kind: OptimizerKind,
    /// Learning rate (changed every step by the schedule).
    pub lr: f64,
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Weight decay.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            kind: OptimizerKind::AdamW,
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-5,
        }
    }
}

impl AdamConfig {
    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(self) -> Result<CheckedAdamConfig> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    name,
                    format!("must be finite and > 0, got {v}"),
                ))
            }
        };
        positive("lr", self.lr)?;
        positive("eps", self.eps)?;
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::config(name, format!("must be in [0, 1), got {b}")));
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "weight_decay",
                format!("must be finite and ≥ 0, got {}", self.weight_decay),
            ));
        }
        Ok(CheckedAdamConfig(self))
    }
}

/// A validated [`AdamConfig`]: what [`Adam::new`] takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedAdamConfig(AdamConfig);

impl CheckedAdamConfig {
    /// The settings.
    pub fn config(&self) -> &AdamConfig {
        &self.0
    }
}

/// The optimiser: named parameters, their moments and the step count.
#[derive(Debug)]
pub struct Adam {
    cfg: AdamConfig,
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: u64,
}

impl Adam {
    /// An optimiser over `params` with zero moments.
    ///
    /// # Errors
    /// [`Error::Candle`] when a moment tensor cannot be allocated.
    pub fn new(params: Vec<(String, Var)>, cfg: CheckedAdamConfig) -> Result<Adam> {
        let cfg = cfg.0;
        let zeros = |p: &Var| p.as_tensor().zeros_like();
        let m = params
            .iter()
            .map(|(_, p)| zeros(p))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = params
            .iter()
            .map(|(_, p)| zeros(p))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Adam {
            cfg,
            params,
            m,
            v,
            step: 0,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    /// Sets the learning rate (the schedule calls this before each step).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// One update from the gradients in `grads` (parameters without a gradient are left
    /// alone).
    ///
    /// # Errors
    /// [`Error::Candle`] when a tensor operation fails.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let c = self.cfg;
        let t = self.step as i32;
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for (i, (_, var)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let cpu = var.device().is_cpu()
                && [var.as_tensor(), g, &self.m[i], &self.v[i]]
                    .iter()
                    .all(|t| t.dtype() == candle_core::DType::F32 && t.dims() == var.dims());
            if cpu {
                let (theta, m, v) = self.update_cpu(var.as_tensor(), g, i, (bc1, bc2))?;
                var.set(&theta)?;
                self.m[i] = m;
                self.v[i] = v;
                continue;
            }
            let theta = var.as_tensor().detach();
            let mut g = g.detach();
            if c.kind == OptimizerKind::Adam && c.weight_decay > 0.0 {
                g = (g + (&theta * c.weight_decay)?)?;
            }
            let m = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((&v / bc2)?.sqrt()? + c.eps)?;
            let update = ((&m / bc1)? / denom)?;
            let base = if c.kind == OptimizerKind::AdamW && c.weight_decay > 0.0 {
                (&theta * (1.0 - c.lr * c.weight_decay))?
            } else {
                theta
            };
            var.set(&(base - (update * c.lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// [`Adam::step`] for one f32 CPU parameter as a single pass over its elements (the
    /// composition makes a dozen temporaries per parameter): the new parameter, m and v.
    fn update_cpu(
        &self,
        theta: &Tensor,
        g: &Tensor,
        i: usize,
        (bc1, bc2): (f64, f64),
    ) -> Result<(Tensor, Tensor, Tensor)> {
        use crate::ops::kernel::with_f32;
        use rayon::prelude::*;
        let c = self.cfg;
        let f = |x: f64| x as f32;
        let (b1, b2, eps, lr) = (f(c.beta1), f(c.beta2), f(c.eps), f(c.lr));
        let (bc1, bc2) = (f(bc1), f(bc2));
        let l2 = if c.kind == OptimizerKind::Adam {
            f(c.weight_decay)
        } else {
            0.0
        };
        let decay = if c.kind == OptimizerKind::AdamW {
            f(1.0 - c.lr * c.weight_decay)
        } else {
            1.0
        };
        let n = theta.elem_count();
        let (mut t2, mut m2, mut v2) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        with_f32(theta, |th| {
            with_f32(g, |gs| {
                with_f32(&self.m[i], |ms| {
                    with_f32(&self.v[i], |vs| {
                        const CH: usize = 1 << 14;
                        t2.par_chunks_mut(CH)
                            .zip(m2.par_chunks_mut(CH))
                            .zip(v2.par_chunks_mut(CH))
                            .enumerate()
                            .for_each(|(k, ((to, mo), vo))| {
                                let r = k * CH..k * CH + to.len();
                                let (th, gs, ms, vs) =
                                    (&th[r.clone()], &gs[r.clone()], &ms[r.clone()], &vs[r]);
                                for j in 0..to.len() {
                                    let g = gs[j] + l2 * th[j];
                                    let m = b1 * ms[j] + (1.0 - b1) * g;
                                    let v = b2 * vs[j] + (1.0 - b2) * g * g;
                                    let upd = (m / bc1) / ((v / bc2).sqrt() + eps);
                                    to[j] = th[j] * decay - lr * upd;
                                    mo[j] = m;
                                    vo[j] = v;
                                }
                            });
                        Ok(())
                    })
                })
            })
        })?;
        let (dims, dev) = (theta.dims(), theta.device());
        Ok((
            Tensor::from_vec(t2, dims, dev)?,
            Tensor::from_vec(m2, dims, dev)?,
            Tensor::from_vec(v2, dims, dev)?,
        ))
    }

    /// The moments as named tensors (`m.{param}`, `v.{param}`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("m.{name}"), self.m[i].clone()));
            out.push((format!("v.{name}"), self.v[i].clone()));
        }
        out
    }

    /// Restores the moments saved by [`Adam::state`] and the step count.
    ///
    /// # Errors
    /// [`Error::Weight`] naming a moment that is missing or of the wrong shape.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for (i, (name, var)) in self.params.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let t = state.get(&key).ok_or_else(|| Error::Weight {
                    name: key.clone(),
                    problem: "missing from the optimiser state".into(),
                })?;
                if t.dims() != var.dims() {
                    return Err(Error::Weight {
                        name: key,
                        problem: format!("expected shape {:?}, found {:?}", var.dims(), t.dims()),
                    });
                }
                *slot = t.to_dtype(var.dtype())?.to_device(var.device())?;
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on f(θ) = Σ θ², compared with torch.optim.AdamW(lr=0.1, wd=0.1) by hand:
    /// step 1 moves each θ by lr·sign(g) (m̂/√v̂ = ±1) after the decay.
    #[test]
    fn first_step_matches_the_closed_form() {
        let dev = Device::Cpu;
        let var = Var::from_vec(vec![1.0f32, -2.0], 2, &dev).unwrap();
        let cfg = AdamConfig {
            lr: 0.1,
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut opt = Adam::new(vec![("w".into(), var.clone())], cfg.check().unwrap()).unwrap();
        let loss = var.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        let want = [1.0 * (1.0 - 0.01) - 0.1, -2.0 * (1.0 - 0.01) + 0.1];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    /// The single-pass CPU update (f32) follows the composed update (f64 takes the
    /// generic path) step by step, for Adam with L2 decay and AdamW.
    #[test]
    fn cpu_update_matches_the_composition() {
        let dev = Device::Cpu;
        for kind in [OptimizerKind::Adam, OptimizerKind::AdamW] {
            let cfg = AdamConfig {
                kind,
                lr: 0.05,
                weight_decay: 0.1,
                ..Default::default()
            };
            let init: Vec<f32> = (0..40_000)
                .map(|i| ((i % 97) as f32 - 48.0) / 31.0)
                .collect();
            let v32 = Var::from_vec(init.clone(), (200, 200), &dev).unwrap();
            let v64 = Var::from_tensor(&v32.as_tensor().to_dtype(candle_core::DType::F64).unwrap())
                .unwrap();
            let mut o32 = Adam::new(vec![("w".into(), v32.clone())], cfg.check().unwrap()).unwrap();
            let mut o64 = Adam::new(vec![("w".into(), v64.clone())], cfg.check().unwrap()).unwrap();
            for _ in 0..5 {
                let l32 = v32.as_tensor().powf(3.0).unwrap().sum_all().unwrap();
                let l64 = v64.as_tensor().powf(3.0).unwrap().sum_all().unwrap();
                o32.step(&l32.backward().unwrap()).unwrap();
                o64.step(&l64.backward().unwrap()).unwrap();
            }
            let a = v32
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let b = v64
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let worst = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (f64::from(x) - y).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-5, "{kind:?}: {worst}");
            let moved = a.iter().zip(&init).filter(|(x, y)| x != y).count();
            assert!(moved > 39_000, "{kind:?}: only {moved} parameters moved");
        }
    }

    #[test]
    fn state_round_trip_and_bad_state() {
        let dev = Device::Cpu;
        let var = Var::from_vec(vec![0.5f32; 3], 3, &dev).unwrap();
        let mut opt = Adam::new(
            vec![("w".into(), var.clone())],
            AdamConfig::default().check().unwrap(),
        )
        .unwrap();
        let loss = var.as_tensor().sqr().unwrap().sum_all().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        let state: HashMap<_, _> = opt.state().into_iter().collect();
        let mut other = Adam::new(
            vec![("w".into(), var.clone())],
            AdamConfig::default().check().unwrap(),
        )
        .unwrap();
        other.load_state(&state, opt.steps()).unwrap();
        assert_eq!(other.steps(), 1);
        let mut bad = state.clone();
        bad.insert(
            "v.w".into(),
            Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap(),
        );
        let err = other.load_state(&bad, 1).unwrap_err().to_string();
        assert!(err.contains("v.w") && err.contains("[3]"), "{err}");
        bad.remove("m.w");
        assert!(other
            .load_state(&bad, 1)
            .unwrap_err()
            .to_string()
            .contains("m.w"));
        let cfg = AdamConfig {
            lr: -1.0,
            ..Default::default()
        };
        assert!(cfg.check().unwrap_err().to_string().contains("lr"));
    }
}
