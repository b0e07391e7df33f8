//! 3D max pooling with a cubic window equal to the stride: the op and the `MaxPool3d` layer.
//!
//! # Shapes
//! Input `[B, C, D, H, W]`; output `[B, C, D/k, H/k, W/k]` (floor, as PyTorch: trailing
//! voxels that do not fill a window are dropped).

use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};
use rayon::prelude::*;

use super::kernel::with_f32;

use super::kernel::dims5;
use crate::error::{Error, Result};

/// Max pooling over `k×k×k` windows with stride `k`; the gradient goes to the first maximum
/// of each window, as PyTorch's.
///
/// On the CPU in f32 a custom op (one pass forward, one backward, parallel over channels);
/// elsewhere [`max_pool3d_generic`].
///
/// # Errors
/// [`Error::Shape`] for a wrong rank or an axis shorter than `k`; [`Error::Config`] for
/// `k = 0`.
pub fn max_pool3d(x: &Tensor, k: usize) -> Result<Tensor> {
    check(x, k)?;
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        return Ok(x.contiguous()?.apply_op1(MaxPoolCpu { k })?);
    }
    max_pool3d_generic(x, k)
}

fn check(x: &Tensor, k: usize) -> Result<()> {
    let [_, _, d, h, w] = dims5(x, "max_pool3d input")?;
    if k == 0 {
        return Err(Error::config("pool size", "must be ≥ 1"));
    }
    if d < k || h < k || w < k {
        return Err(Error::shape(
            "max_pool3d input",
            format!("every spatial axis ≥ {k}"),
            format!("{:?}", [d, h, w]),
        ));
    }
    Ok(())
}

/// Max pooling as a reshape plus three `max` reductions (any device; candle 0.11's
/// `max_pool2d` backward is wrong by 1/k², so it is not used). Where a window holds its
/// maximum twice, candle's `max` backward gives the gradient to each copy.
///
/// # Errors
/// As [`max_pool3d`].
pub fn max_pool3d_generic(x: &Tensor, k: usize) -> Result<Tensor> {
    check(x, k)?;
    let [b, c, d, h, w] = dims5(x, "max_pool3d input")?;
    let (dd, hh, ww) = (d / k, h / k, w / k);
    let x = if dd * k != d || hh * k != h || ww * k != w {
        x.narrow(2, 0, dd * k)?
            .narrow(3, 0, hh * k)?
            .narrow(4, 0, ww * k)?
            .contiguous()?
    } else {
        x.contiguous()?
    };
    let y = x
        .reshape(vec![b, c, dd, k, hh, k, ww, k])?
        .max(7)?
        .max(5)?
        .max(3)?;
    Ok(y)
}

/// CPU f32 max pooling (window = stride = `k`).
struct MaxPoolCpu {
    k: usize,
}

impl MaxPoolCpu {
    /// `[B, C, D, H, W, D/k, H/k, W/k]` of a rank-5 input at least one window large.
    fn dims(&self, dims: &[usize]) -> candle_core::Result<[usize; 8]> {
        let &[b, c, d, h, w] = dims else {
            candle_core::bail!("max_pool3d: rank-5 input expected");
        };
        let k = self.k;
        if k == 0 || d < k || h < k || w < k {
            candle_core::bail!("max_pool3d: input {dims:?} smaller than the window {k}");
        }
        Ok([b, c, d, h, w, d / k, h / k, w / k])
    }

    /// Calls `f(out_index, first_offset)` for each window of one plane; the window's
    /// elements are at `first + (a·h + b)·w + c` for `a, b, c < k`.
    fn windows(&self, [d, h, w]: [usize; 3], mut f: impl FnMut(usize, usize)) {
        let k = self.k;
        let (dd, hh, ww) = (d / k, h / k, w / k);
        for i in 0..dd {
            for j in 0..hh {
                for l in 0..ww {
                    f((i * hh + j) * ww + l, ((i * k) * h + j * k) * w + l * k);
                }
            }
        }
    }

    /// The window's offsets in visiting order (depth, height, width).
    #[inline]
    fn offsets(&self, first: usize, [h, w]: [usize; 2]) -> impl Iterator<Item = usize> {
        let k = self.k;
        (0..k).flat_map(move |a| {
            (0..k).flat_map(move |b| (0..k).map(move |c| first + (a * h + b) * w + c))
        })
    }
}

impl MaxPoolCpu {
    /// One plane, any window (NaN wins, as in PyTorch).
    fn plane_forward(&self, src: &[f32], dst: &mut [f32], [d, h, w]: [usize; 3]) {
        self.windows([d, h, w], |o, at| {
            let mut m = f32::NEG_INFINITY;
            let mut first = true;
            for i in self.offsets(at, [h, w]) {
                let v = src[i];
                if first || v > m || v.is_nan() {
                    m = v;
                    first = false;
                    if v.is_nan() {
                        break;
                    }
                }
            }
            dst[o] = m;
        });
    }

    /// The gradient of one plane into the zeroed `dst`: each window's to its first maximum.
    fn plane_backward(&self, src: &[f32], y: &[f32], g: &[f32], dst: &mut [f32], dims: [usize; 3]) {
        let [_, h, w] = dims;
        self.windows(dims, |o, first| {
            let m = y[o];
            let mut at = None;
            for i in self.offsets(first, [h, w]) {
                at.get_or_insert(i);
                if src[i] == m || (m.is_nan() && src[i].is_nan()) {
                    at = Some(i);
                    break;
                }
            }
            if let Some(i) = at {
                dst[i] += g[o];
            }
        });
    }
}

impl CustomOp1 for MaxPoolCpu {
    fn name(&self) -> &'static str {
        "max-pool3d-cpu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = super::kernel::arg_f32(s, l, "max_pool3d input")?;
        let [b, c, d, h, w, dd, hh, ww] = self.dims(l.dims())?;
        let (plane, oplane) = (d * h * w, dd * hh * ww);
        let mut out = vec![0f32; b * c * oplane];
        out.par_chunks_mut(oplane.max(1))
            .enumerate()
            .for_each(|(pi, dst)| {
                let src = &x[pi * plane..(pi + 1) * plane];
                if self.k == 2 {
                    pool2_forward(src, dst, [d, h, w]);
                } else {
                    self.plane_forward(src, dst, [d, h, w]);
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, c, dd, hh, ww))))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let [_, _, d, h, w, dd, hh, ww] = self.dims(x.dims())?;
        let (plane, oplane) = (d * h * w, dd * hh * ww);
        let gx = with_f32(x, |xs| {
            with_f32(res, |ys| {
                with_f32(grad, |gs| {
                    let mut gx = vec![0f32; xs.len()];
                    gx.par_chunks_mut(plane.max(1))
                        .enumerate()
                        .for_each(|(pi, dst)| {
                            let src = &xs[pi * plane..(pi + 1) * plane];
                            let (y, g) = (
                                &ys[pi * oplane..(pi + 1) * oplane],
                                &gs[pi * oplane..(pi + 1) * oplane],
                            );
                            if self.k == 2 {
                                pool2_backward(src, y, g, dst, [d, h, w]);
                            } else {
                                self.plane_backward(src, y, g, dst, [d, h, w]);
                            }
                        });
                    Ok(gx)
                })
            })
        })?;
        Ok(Some(Tensor::from_vec(gx, x.shape(), x.device())?))
    }
}

/// The four input rows of output row `(i, j)` of a 2×2×2 pooling, in visiting order
/// (depth, then height).
fn rows2(src: &[f32], [h, w]: [usize; 2], i: usize, j: usize) -> [&[f32]; 4] {
    std::array::from_fn(|r| {
        let (a, b) = (r / 2, r % 2);
        let at = ((2 * i + a) * h + 2 * j + b) * w;
        &src[at..at + w]
    })
}

/// 2×2×2 max pooling of one plane: the general path's result (NaN wins, the value of the
/// maximum otherwise) with straight-line, vectorisable code per output row.
fn pool2_forward(src: &[f32], dst: &mut [f32], [d, h, w]: [usize; 3]) {
    let (dd, hh, ww) = (d / 2, h / 2, w / 2);
    for i in 0..dd {
        for j in 0..hh {
            let r = rows2(src, [h, w], i, j);
            let out = &mut dst[(i * hh + j) * ww..(i * hh + j + 1) * ww];
            for (l, o) in out.iter_mut().enumerate() {
                let mut m = r[0][2 * l];
                let mut nan = false;
                for row in r {
                    for v in [row[2 * l], row[2 * l + 1]] {
                        m = if v > m { v } else { m };
                        nan |= v.is_nan();
                    }
                }
                *o = if nan { f32::NAN } else { m };
            }
        }
    }
}

/// The gradient of [`pool2_forward`]: each window's gradient to its first maximum (or first
/// NaN), written into the zeroed `dst`.
fn pool2_backward(src: &[f32], y: &[f32], g: &[f32], dst: &mut [f32], [d, h, w]: [usize; 3]) {
    let (dd, hh, ww) = (d / 2, h / 2, w / 2);
    for i in 0..dd {
        for j in 0..hh {
            let r = rows2(src, [h, w], i, j);
            let at = |rr: usize, c: usize| ((2 * i + rr / 2) * h + 2 * j + rr % 2) * w + c;
            for l in 0..ww {
                let o = (i * hh + j) * ww + l;
                let m = y[o];
                let mut hit = at(0, 2 * l);
                'find: for (rr, row) in r.iter().enumerate() {
                    for c in [2 * l, 2 * l + 1] {
                        let v = row[c];
                        if v == m || (m.is_nan() && v.is_nan()) {
                            hit = at(rr, c);
                            break 'find;
                        }
                    }
                }
                dst[hit] += g[o];
            }
        }
    }
}

/// A max-pooling layer (window = stride).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool3d {
    size: usize,
}

impl MaxPool3d {
    /// A layer pooling `size³` windows.
    pub fn new(size: usize) -> Self {
        MaxPool3d { size }
    }

    /// The forward pass with this crate's error type.
    ///
    /// # Errors
    /// As [`max_pool3d`].
    pub fn forward3d(&self, x: &Tensor) -> Result<Tensor> {
        max_pool3d(x, self.size)
    }
}

impl Module for MaxPool3d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward3d(x).map_err(candle_core::Error::wrap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2×2×2 fast path equals the general window path, values and gradients, with NaN,
    /// ties, signed zeros and odd extents (trailing voxels dropped).
    #[test]
    fn window_two_matches_the_general_path() {
        let dims = [5, 6, 7];
        let n = dims.iter().product::<usize>();
        let pool = MaxPoolCpu { k: 2 };
        let special = [f32::NAN, 0.0, -0.0, 1.0, 1.0, -3.0, f32::INFINITY];
        let src: Vec<f32> = (0..n)
            .map(|i| {
                if i % 11 == 3 {
                    special[(i / 11) % special.len()]
                } else {
                    ((i * 7919) % 13) as f32 - 6.0
                }
            })
            .collect();
        let on = (dims[0] / 2) * (dims[1] / 2) * (dims[2] / 2);
        let (mut fast, mut slow) = (vec![0f32; on], vec![0f32; on]);
        pool2_forward(&src, &mut fast, dims);
        pool.plane_forward(&src, &mut slow, dims);
        assert!(
            fast.iter().any(|v| v.is_nan()),
            "the data must exercise NaN"
        );
        for (a, b) in fast.iter().zip(&slow) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{a} vs {b}"
            );
        }
        let g: Vec<f32> = (0..on).map(|i| i as f32 + 1.0).collect();
        let (mut gf, mut gs) = (vec![0f32; n], vec![0f32; n]);
        pool2_backward(&src, &slow, &g, &mut gf, dims);
        pool.plane_backward(&src, &slow, &g, &mut gs, dims);
        assert_eq!(gf, gs);
    }
}
