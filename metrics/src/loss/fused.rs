//! The softmax Dice + focal loss of [`DiceFocalLoss`] as one CPU op (f32 logits, class-index
//! target, background kept, linear denominator, no α or class weights): two passes over the
//! logits forward, three backward, where the composition makes ~30 full-size tensors and
//! keeps them for the backward pass. Values and gradients equal the composition's (tested).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// Floor of `1 − p` inside `(1 − p)^γ`, as the composition.
const FLOOR: f32 = 1e-30;
/// Voxels per parallel chunk.
const CHUNK: usize = 1 << 13;

pub(super) struct SoftmaxDiceFocal {
    pub(super) target: Arc<Vec<u32>>,
    /// Dice per sample (true) or over the batch.
    pub(super) per_sample: bool,
    pub(super) smooth_nr: f32,
    pub(super) smooth_dr: f32,
    pub(super) gamma: f32,
    pub(super) lambda_dice: f32,
    pub(super) lambda_focal: f32,
}

/// Per (group, class): Σ p·t, Σ p, Σ t; and Σ of the focal terms.
struct Sums {
    inter: Vec<f64>,
    pred: Vec<f64>,
    truth: Vec<f64>,
    focal: f64,
}

impl SoftmaxDiceFocal {
    fn dims(&self, l: &Layout) -> candle_core::Result<(usize, usize, usize)> {
        let d = l.dims();
        if d.len() != 5 {
            candle_core::bail!("dice-focal: rank-5 logits expected, got {d:?}");
        }
        let (b, c, n) = (d[0], d[1], d[2] * d[3] * d[4]);
        if self.target.len() != b * n {
            candle_core::bail!(
                "dice-focal: target of {} voxels for {b}×{n}",
                self.target.len()
            );
        }
        Ok((b, c, n))
    }

    /// Softmax of voxel `v` of item `bi` into `p`; returns log p of the true class.
    #[inline]
    fn softmax(z: &[f32], bi: usize, c: usize, n: usize, v: usize, y: usize, p: &mut [f32]) -> f32 {
        let at = |k: usize| z[(bi * c + k) * n + v];
        let m = (0..c).map(at).fold(f32::NEG_INFINITY, f32::max);
        let mut s = 0f32;
        for (k, pk) in p.iter_mut().enumerate() {
            *pk = (at(k) - m).exp();
            s += *pk;
        }
        for pk in p.iter_mut() {
            *pk /= s;
        }
        at(y) - m - s.ln()
    }

    fn sums(&self, z: &[f32], b: usize, c: usize, n: usize) -> Sums {
        let groups = if self.per_sample { b } else { 1 };
        let jobs: Vec<(usize, usize)> = (0..b)
            .flat_map(|bi| (0..n.div_ceil(CHUNK)).map(move |ch| (bi, ch)))
            .collect();
        let gamma = self.gamma;
        let parts: Vec<(usize, Vec<f64>, f64)> = jobs
            .par_iter()
            .map(|&(bi, ch)| {
                // [inter | pred | truth] for this item's classes.
                let mut acc = vec![0f64; 3 * c];
                let mut focal = 0f64;
                let mut p = vec![0f32; c];
                for v in ch * CHUNK..((ch + 1) * CHUNK).min(n) {
                    let y = self.target[bi * n + v] as usize;
                    let logp = Self::softmax(z, bi, c, n, v, y, &mut p);
                    for (k, &pk) in p.iter().enumerate() {
                        acc[c + k] += f64::from(pk);
                    }
                    acc[y] += f64::from(p[y]);
                    acc[2 * c + y] += 1.0;
                    let pf = (1.0 - p[y]).max(FLOOR);
                    let w = if gamma == 0.0 { 1.0 } else { pf.powf(gamma) };
                    focal -= f64::from(w * logp);
                }
                (bi, acc, focal)
            })
            .collect();
        let mut s = Sums {
            inter: vec![0.0; groups * c],
            pred: vec![0.0; groups * c],
            truth: vec![0.0; groups * c],
            focal: 0.0,
        };
        for (bi, acc, focal) in parts {
            let g = if self.per_sample { bi } else { 0 };
            for k in 0..c {
                s.inter[g * c + k] += acc[k];
                s.pred[g * c + k] += acc[c + k];
                s.truth[g * c + k] += acc[2 * c + k];
            }
            s.focal += focal;
        }
        s
    }
}

fn arg<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("dice-focal: logits must be contiguous");
    };
    Ok(&s.as_slice::<f32>()?[a..b])
}

impl CustomOp1 for SoftmaxDiceFocal {
    fn name(&self) -> &'static str {
        "softmax-dice-focal"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let z = arg(s, l)?;
        let (b, c, n) = self.dims(l)?;
        let sums = self.sums(z, b, c, n);
        let (nr, dr) = (f64::from(self.smooth_nr), f64::from(self.smooth_dr));
        let k = sums.inter.len() as f64;
        let ratio: f64 = (0..sums.inter.len())
            .map(|i| (2.0 * sums.inter[i] + nr) / (sums.pred[i] + sums.truth[i] + dr))
            .sum();
        let dice = 1.0 - ratio / k;
        let focal = sums.focal / (b * c * n) as f64;
        let loss = f64::from(self.lambda_dice) * dice + f64::from(self.lambda_focal) * focal;
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let scale = grad.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()?;
        let x = x.contiguous()?;
        let (storage, layout) = x.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("dice-focal: CPU logits expected");
        };
        let z = arg(cpu, layout)?;
        let (b, c, n) = self.dims(layout)?;
        let sums = self.sums(z, b, c, n);
        let (nr, dr) = (f64::from(self.smooth_nr), f64::from(self.smooth_dr));
        let k = sums.inter.len() as f64;
        // dL/dp = a·t + q per (group, class): −λd/K · (2t/Den − Num/Den²).
        let ld = f64::from(self.lambda_dice) * f64::from(scale);
        let (a, q): (Vec<f32>, Vec<f32>) = (0..sums.inter.len())
            .map(|i| {
                let den = sums.pred[i] + sums.truth[i] + dr;
                let num = 2.0 * sums.inter[i] + nr;
                (
                    (-ld / k * 2.0 / den) as f32,
                    (ld / k * num / (den * den)) as f32,
                )
            })
            .unzip();
        let lf = self.lambda_focal * scale / (b * c * n) as f32;
        let gamma = self.gamma;
        let mut dz = vec![0f32; z.len()];
        // One item's [C, N] block per job chunk of voxels.
        let per_item: Vec<&mut [f32]> = dz.chunks_mut(c * n).collect();
        per_item.into_par_iter().enumerate().for_each(|(bi, dzb)| {
            let g = if self.per_sample { bi } else { 0 };
            let mut p = vec![0f32; c];
            let mut gp = vec![0f32; c];
            for v in 0..n {
                let y = self.target[bi * n + v] as usize;
                let logp = Self::softmax(z, bi, c, n, v, y, &mut p);
                let mut dot = 0f32;
                for kk in 0..c {
                    gp[kk] = q[g * c + kk] + if kk == y { a[g * c + kk] } else { 0.0 };
                    dot += p[kk] * gp[kk];
                }
                let py = p[y];
                let pf = 1.0 - py;
                let f = if pf < FLOOR {
                    -FLOOR.powf(gamma)
                } else if gamma == 0.0 {
                    -1.0
                } else {
                    gamma * pf.powf(gamma - 1.0) * py * logp - pf.powf(gamma)
                };
                for kk in 0..c {
                    let delta = if kk == y { 1.0 } else { 0.0 };
                    dzb[kk * n + v] = p[kk] * (gp[kk] - dot) + lf * (delta - p[kk]) * f;
                }
            }
        });
        Ok(Some(Tensor::from_vec(dz, x.shape(), x.device())?))
    }
}
