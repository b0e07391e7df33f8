//! Instance normalisation with a learnt scale and shift, followed by a (leaky) ReLU, as one
//! operation: `y = act(w · (x − μ)/√(σ² + ε) + b)` per sample and channel over D, H, W
//! (PyTorch `InstanceNorm3d(affine=True)` then `LeakyReLU(slope)`; slope 0 is ReLU).
//!
//! On the CPU in f32 it is a fused custom op: two passes forward, two backward, parallel
//! over (sample, channel), and only its output kept for the backward pass — where the same
//! computation composed from candle ops makes ten full-size temporaries and keeps them all.
//! On other devices and dtypes it is that composition ([`instance_norm_act_generic`]);
//! tests assert the two agree in values and gradients.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::dims5;
use super::kernel::{arg_f32, lanes_sum, with_f32};
use crate::error::Result;

/// ε of the variance, as PyTorch.
pub const EPS: f64 = 1e-5;

/// Instance normalisation with scale and shift, composed from candle ops (any device).
///
/// # Errors
/// Shape errors for a non-5D input or a scale/shift not of the channel count.
pub fn instance_norm_generic(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let [n, c, d, h, wd] = dims5(x, "instance norm input")?;
    let xf = x.reshape((n, c, d * h * wd))?;
    let mean = xf.mean_keepdim(2)?;
    let xc = xf.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(2)?;
    let y = xc.broadcast_div(&(var + EPS)?.sqrt()?)?;
    let z = y
        .broadcast_mul(&w.reshape((1, c, 1))?)?
        .broadcast_add(&b.reshape((1, c, 1))?)?
        .reshape((n, c, d, h, wd))?;
    Ok(z)
}

/// Instance norm, scale, shift and (leaky) ReLU composed from candle ops (any device,
/// f32/f64).
///
/// # Errors
/// As [`instance_norm_generic`].
pub fn instance_norm_act_generic(x: &Tensor, w: &Tensor, b: &Tensor, slope: f32) -> Result<Tensor> {
    let z = instance_norm_generic(x, w, b)?;
    Ok(if slope == 0.0 {
        z.relu()?
    } else {
        z.maximum(&(&z * f64::from(slope))?)?
    })
}

/// Instance norm + affine + activation; the fused CPU op for contiguous f32 inputs,
/// otherwise [`instance_norm_act_generic`].
///
/// # Errors
/// As [`instance_norm_act_generic`].
pub fn instance_norm_act(x: &Tensor, w: &Tensor, b: &Tensor, slope: f32) -> Result<Tensor> {
    let [_, c, ..] = dims5(x, "instance norm input")?;
    let fused = x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && w.dtype() == candle_core::DType::F32
        && b.dtype() == candle_core::DType::F32
        && w.dims() == [c]
        && b.dims() == [c]
        && (0.0..1.0).contains(&slope);
    if fused {
        Ok(x.contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, NormAct { slope })?)
    } else {
        instance_norm_act_generic(x, w, b, slope)
    }
}

struct NormAct {
    slope: f32,
}

/// Mean and 1/√(σ² + ε) of one plane (two-pass, f64 accumulation).
fn stats(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f64;
    let mean = lanes_sum(v, f64::from) / n;
    let var = lanes_sum(v, |a| (f64::from(a) - mean).powi(2)) / n;
    (mean as f32, (1.0 / (var + EPS).sqrt()) as f32)
}

/// The activation's derivative as a factor: 1 where `y > 0`, else `slope` (branch-free).
#[inline]
fn act_grad(y: f32, slope: f32) -> f32 {
    slope + (1.0 - slope) * f32::from(u8::from(y > 0.0))
}

/// `(Σ g_z, Σ g_z·x̂)` of one plane, g_z = g_y · act'(z), with eight f64 lanes.
fn grad_sums(x: &[f32], y: &[f32], g: &[f32], mean: f32, rstd: f32, slope: f32) -> (f64, f64) {
    let (mut sg, mut sgx) = ([0f64; 8], [0f64; 8]);
    let (xc, yc, gc) = (x.chunks_exact(8), y.chunks_exact(8), g.chunks_exact(8));
    let (xr, yr, gr) = (xc.remainder(), yc.remainder(), gc.remainder());
    for ((xs, ys), gs) in xc.zip(yc).zip(gc) {
        for l in 0..8 {
            let gz = gs[l] * act_grad(ys[l], slope);
            sg[l] += f64::from(gz);
            sgx[l] += f64::from(gz * (xs[l] - mean) * rstd);
        }
    }
    let (mut a, mut b) = (sg.iter().sum::<f64>(), sgx.iter().sum::<f64>());
    for ((&x, &y), &g) in xr.iter().zip(yr).zip(gr) {
        let gz = g * act_grad(y, slope);
        a += f64::from(gz);
        b += f64::from(gz * (x - mean) * rstd);
    }
    (a, b)
}

impl CustomOp3 for NormAct {
    fn name(&self) -> &'static str {
        "instance-norm-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = arg_f32(s1, l1, "instance-norm-act input")?;
        let w = arg_f32(s2, l2, "instance-norm-act scale")?;
        let b = arg_f32(s3, l3, "instance-norm-act shift")?;
        let (_, c, d, h, wd) = l1.shape().dims5()?;
        let plane = d * h * wd;
        let slope = self.slope;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(plane.max(1))
            .zip(x.par_chunks(plane.max(1)))
            .enumerate()
            .for_each(|(i, (o, xi))| {
                let ch = i % c;
                let (mean, rstd) = stats(xi);
                let (scale, shift) = (w[ch] * rstd, b[ch] - w[ch] * rstd * mean);
                for (y, &v) in o.iter_mut().zip(xi) {
                    let z = v * scale + shift;
                    // Branch-free leaky ReLU (the branch mispredicts on every other voxel).
                    *y = z.max(0.0) + slope * z.min(0.0);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, d, h, wd) = x.dims5()?;
        let plane = d * h * wd;
        let ws = w.to_vec1::<f32>()?;
        let slope = self.slope;
        // Per plane: dx, and the plane's contributions to dw and db.
        let mut dx = vec![0f32; n * c * plane];
        let parts: Vec<(f64, f64)> = with_f32(x, |xs| {
            with_f32(res, |ys| {
                with_f32(grad_res, |gs| {
                    if xs.len() != dx.len() || ys.len() != dx.len() || gs.len() != dx.len() {
                        candle_core::bail!("instance-norm-act: gradient of another shape");
                    }
                    Ok(dx
                        .par_chunks_mut(plane.max(1))
                        .enumerate()
                        .map(|(i, dxi)| {
                            let ch = i % c;
                            let r = i * plane..(i + 1) * plane;
                            let (xi, yi, gi) = (&xs[r.clone()], &ys[r.clone()], &gs[r]);
                            let (mean, rstd) = stats(xi);
                            // g_z = g_y · act'(z); z > 0 ⟺ y > 0 (slope ≥ 0).
                            let (sum_g, sum_gx) = grad_sums(xi, yi, gi, mean, rstd, slope);
                            let m = plane as f64;
                            let (mg, mgx) = ((sum_g / m) as f32, (sum_gx / m) as f32);
                            let wr = ws[ch] * rstd;
                            for (((d, &x), &y), &g) in dxi.iter_mut().zip(xi).zip(yi).zip(gi) {
                                let gz = g * act_grad(y, slope);
                                let xhat = (x - mean) * rstd;
                                *d = wr * (gz - mg - xhat * mgx);
                            }
                            (sum_gx, sum_g)
                        })
                        .collect())
                })
            })
        })?;
        let mut dw = vec![0f64; c];
        let mut db = vec![0f64; c];
        for (i, (gx, g)) in parts.into_iter().enumerate() {
            dw[i % c] += gx;
            db[i % c] += g;
        }
        let dev = x.device();
        let to32 = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
        Ok((
            Some(Tensor::from_vec(dx, (n, c, d, h, wd), dev)?),
            Some(Tensor::from_vec(to32(dw), c, dev)?),
            Some(Tensor::from_vec(to32(db), c, dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn fused_op_matches_the_composition_in_values_and_gradients() {
        let dev = Device::Cpu;
        for slope in [0.0f32, 0.01, 0.2] {
            let x = Var::from_tensor(&(Tensor::randn(0.5f32, 2.0, (2, 3, 4, 5, 6), &dev).unwrap()))
                .unwrap();
            let w = Var::from_tensor(&Tensor::new(&[1.0f32, -0.5, 2.0], &dev).unwrap()).unwrap();
            let b = Var::from_tensor(&Tensor::new(&[0.1f32, 0.3, -0.2], &dev).unwrap()).unwrap();
            let g = Tensor::randn(0f32, 1.0, (2, 3, 4, 5, 6), &dev).unwrap();
            let fused = instance_norm_act(&x, &w, &b, slope).unwrap();
            let plain = instance_norm_act_generic(&x, &w, &b, slope).unwrap();
            assert!(max_diff(&fused, &plain) < 1e-5, "values, slope {slope}");
            let gf = (fused * &g).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (plain * &g).unwrap().sum_all().unwrap().backward().unwrap();
            for (v, name) in [(&x, "x"), (&w, "w"), (&b, "b")] {
                let a = gf.get(v.as_tensor()).unwrap();
                let p = gp.get(v.as_tensor()).unwrap();
                let scale = p
                    .abs()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    .max(1.0);
                assert!(
                    max_diff(a, p) < 1e-4 * scale,
                    "grad {name}, slope {slope}: {}",
                    max_diff(a, p)
                );
            }
        }
    }
}
