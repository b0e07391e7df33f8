//! The fast CPU path of `conv3d` (f32, stride 1): for every output depth slice, an im2col
//! block `[C·k³, H'·W']` is built from the `k` input planes it needs and multiplied by the
//! weight `[O, C·k³]` with the `gemm` crate; slices run in parallel with rayon, each with its
//! own buffer, so memory stays bounded (one block per thread, never a full im2col).
//!
//! The backward pass recomputes the convolution on the device-generic path and takes its
//! gradients (correct, not yet fast).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, Var};
use rayon::prelude::*;

use super::conv3d::{conv3d_generic, Conv3dConfig};

/// Sizes of one convolution: input channels and extent, kernel, padding, output extent.
struct Geo {
    c: usize,
    d: usize,
    h: usize,
    w: usize,
    k: usize,
    p: usize,
    dout: usize,
    hout: usize,
    wout: usize,
}

/// The im2col block `[C·k³, H'·W']` of output slice `di` of batch item `bi`.
fn im2col(x: &[f32], g: &Geo, bi: usize, di: usize, col: &mut [f32]) {
    let (c, d, h, wd, k, p) = (g.c, g.d, g.h, g.w, g.k, g.p);
    let (hout, wout) = (g.hout, g.wout);
    let (plane, hw) = (h * wd, hout * wout);
    let xb = &x[bi * c * d * plane..(bi + 1) * c * d * plane];
    for ci in 0..c {
        for kd in 0..k {
            let zd = (di + kd) as isize - p as isize;
            for kh in 0..k {
                for kw in 0..k {
                    let r = ((ci * k + kd) * k + kh) * k + kw;
                    let row = &mut col[r * hw..(r + 1) * hw];
                    if zd < 0 || zd >= d as isize {
                        row.fill(0.0);
                        continue;
                    }
                    let src =
                        &xb[(ci * d + zd as usize) * plane..(ci * d + zd as usize + 1) * plane];
                    for yo in 0..hout {
                        let yi = (yo + kh) as isize - p as isize;
                        let dst_row = &mut row[yo * wout..(yo + 1) * wout];
                        if yi < 0 || yi >= h as isize {
                            dst_row.fill(0.0);
                            continue;
                        }
                        let src_row = &src[yi as usize * wd..(yi as usize + 1) * wd];
                        // x index = xo + kw − p, valid in [0, W).
                        let lo = p.saturating_sub(kw).min(wout);
                        let hi = (wd + p).saturating_sub(kw).min(wout).max(lo);
                        dst_row[..lo].fill(0.0);
                        dst_row[hi..].fill(0.0);
                        if hi > lo {
                            let start = lo + kw - p;
                            dst_row[lo..hi].copy_from_slice(&src_row[start..start + (hi - lo)]);
                        }
                    }
                }
            }
        }
    }
}

/// `CustomOp2` (input, weight) → output without bias, CPU f32 only.
pub(crate) struct Conv3dCpu {
    pub(crate) padding: usize,
}

/// `dst[m×n] = a[m×k] · b[k×n]` (`+=` when `accumulate`), every operand given by its
/// (row, column) strides. `gemm` itself transposes the problem when `dst` is row-major, so
/// its microkernel always runs along the longer, contiguous side.
#[allow(clippy::too_many_arguments)]
fn sgemm(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    dst: &mut [f32],
    (d_rs, d_cs): (usize, usize),
    accumulate: bool,
) -> candle_core::Result<()> {
    let end = |rs: usize, cs: usize, r: usize, c: usize| {
        if r == 0 || c == 0 {
            0
        } else {
            rs * (r - 1) + cs * (c - 1) + 1
        }
    };
    if a.len() < end(a_rs, a_cs, m, k)
        || b.len() < end(b_rs, b_cs, k, n)
        || dst.len() < end(d_rs, d_cs, m, n)
    {
        candle_core::bail!("sgemm: buffers too small for {m}×{k} · {k}×{n}");
    }
    // SAFETY: the largest offset each (non-negative) stride pair reaches is inside its buffer
    // (checked above); `dst` is borrowed mutably, so nothing aliases it.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            d_cs as isize,
            d_rs as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0f32 } else { 0.0f32 },
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

/// dL/dw `[O, C·k³]` from the input `[B, C, D, H, W]` and dL/dy in the op's layout
/// `[B, D', O, H'·W']`: Σ over slices of `g_slice · colᵀ`, one accumulator per thread.
///
/// The product is laid out for `gemm` with the output channels as its rows and a
/// column-major destination (`accᵀ`, transposed once at the end): then only the small
/// `g_slice` is packed and the large im2col block is read in place — laid out the other way,
/// `gemm` packed the whole `[C·k³, H'·W']` block for every slice, which cost more than the
/// arithmetic.
fn grad_weight(
    x: &[f32],
    gy: &[f32],
    geo: &Geo,
    b: usize,
    o: usize,
) -> candle_core::Result<Vec<f32>> {
    let rows = geo.c * geo.k * geo.k * geo.k;
    let hw = geo.hout * geo.wout;
    let slices = b * geo.dout;
    // Fixed chunks, one per thread, summed in chunk order: the result depends on the
    // thread count only, never on work stealing (training is reproducible for a seed and
    // thread count).
    let chunks = rayon::current_num_threads().clamp(1, slices.max(1));
    let per_chunk = slices.div_ceil(chunks);
    let partials = (0..chunks)
        .into_par_iter()
        .map(|ci| -> candle_core::Result<Vec<f32>> {
            let mut col = vec![0f32; rows * hw];
            // accᵀ: [C·k³, O] row-major = the O × C·k³ product stored column-major.
            let mut acc_t = vec![0f32; rows * o];
            for slice in ci * per_chunk..((ci + 1) * per_chunk).min(slices) {
                im2col(x, geo, slice / geo.dout, slice % geo.dout, &mut col);
                let g = &gy[slice * o * hw..(slice + 1) * o * hw];
                sgemm(
                    (o, rows, hw),
                    g,
                    (hw, 1),
                    &col,
                    (1, hw),
                    &mut acc_t,
                    (1, o),
                    true,
                )?;
            }
            Ok(acc_t)
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut sum_t = vec![0f32; rows * o];
    for p in partials {
        for (x, y) in sum_t.iter_mut().zip(&p) {
            *x += y;
        }
    }
    let mut out = vec![0f32; o * rows];
    for r in 0..rows {
        for j in 0..o {
            out[j * rows + r] = sum_t[r * o + j];
        }
    }
    Ok(out)
}

impl CustomOp2 for Conv3dCpu {
    fn name(&self) -> &'static str {
        "conv3d-cpu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some((x0, x1)), Some((w0, w1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("conv3d-cpu: inputs must be contiguous");
        };
        let x = &s1.as_slice::<f32>()?[x0..x1];
        let w = &s2.as_slice::<f32>()?[w0..w1];
        let (b, c, d, h, wd) = l1.shape().dims5()?;
        let (o, _, k, _, _) = l2.shape().dims5()?;
        let p = self.padding;
        let (dout, hout, wout) = (d + 2 * p + 1 - k, h + 2 * p + 1 - k, wd + 2 * p + 1 - k);
        let (rows, hw) = (c * k * k * k, hout * wout);
        // Output as [B, D', O, H'·W'] (one contiguous block per output slice), permuted to
        // [B, O, D', H', W'] by the caller.
        let geo = Geo {
            c,
            d,
            h,
            w: wd,
            k,
            p,
            dout,
            hout,
            wout,
        };
        let mut out = vec![0f32; b * dout * o * hw];
        out.par_chunks_mut(o * hw).enumerate().try_for_each_init(
            || vec![0f32; rows * hw],
            |col, (slice, dst)| -> candle_core::Result<()> {
                im2col(x, &geo, slice / dout, slice % dout, col);
                sgemm(
                    (o, hw, rows),
                    w,
                    (rows, 1),
                    col,
                    (hw, 1),
                    dst,
                    (hw, 1),
                    false,
                )
            },
        )?;
        Ok((CpuStorage::F32(out), Shape::from((b, dout, o, hout, wout))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // grad_res is [B, D', O, H', W'] like the op's output.
        let (b, c, d, h, wd) = x.dims5()?;
        let (o, _, k, _, _) = w.dims5()?;
        let p = self.padding;
        let (dout, hout, wout) = (d + 2 * p + 1 - k, h + 2 * p + 1 - k, wd + 2 * p + 1 - k);
        // dL/dx: a full correlation of dL/dy with the flipped, transposed kernel — the fast
        // op again (stride 1, padding k − 1 − p).
        let flip: Vec<u32> = (0..k as u32).rev().collect();
        let flip = Tensor::from_vec(flip, k, w.device())?;
        let wf = w
            .index_select(&flip, 2)?
            .index_select(&flip, 3)?
            .index_select(&flip, 4)?
            .transpose(0, 1)?
            .contiguous()?;
        let g = grad_res.permute((0, 2, 1, 3, 4))?.contiguous()?;
        let gx = if k > p {
            g.apply_op2(&wf, Conv3dCpu { padding: k - 1 - p })?
                .permute((0, 2, 1, 3, 4))?
                .contiguous()?
        } else {
            // Padding larger than k − 1: fall back to the generic path for this rare case.
            let xv = Var::from_tensor(&x.detach())?;
            let cfg = Conv3dConfig {
                padding: p,
                stride: 1,
            };
            let y = conv3d_generic(xv.as_tensor(), &w.detach(), None, cfg)
                .map_err(candle_core::Error::wrap)?;
            let grads = (y * g.detach())?.sum_all()?.backward()?;
            grads
                .get(xv.as_tensor())
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg("conv3d-cpu: no input gradient".into()))?
        };
        // dL/dw.
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let gs = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let geo = Geo {
            c,
            d,
            h,
            w: wd,
            k,
            p,
            dout,
            hout,
            wout,
        };
        let gw = grad_weight(&xs, &gs, &geo, b, o)?;
        let gw = Tensor::from_vec(gw, (o, c, k, k, k), w.device())?;
        Ok((Some(gx), Some(gw)))
    }
}
