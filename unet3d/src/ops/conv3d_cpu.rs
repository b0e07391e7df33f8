//! The fast CPU path (f32) of the convolution, with its bias, activation and dropout fused
//! into one op.
//!
//! 3×3×3 kernels with padding ≤ 2 (every convolution of the U-Net but its 1×1×1 head) go to
//! the direct kernels of `conv3d_direct`; everything below describes the im2col path that
//! the other kernel sizes take.
//!
//! Forward: for every output depth slice an im2col block `[C·k³, H'·W']` is built from the
//! `k` input planes it needs and multiplied by the weight `[O, C·k³]` with the `gemm` crate,
//! writing straight into the output `[B, O, D', H', W']`; while the slice is still in cache
//! the epilogue adds the bias, applies the activation and the dropout mask. Slices run in
//! parallel with rayon, each thread with its own block, so memory stays bounded (one block per
//! thread, never a full im2col).
//!
//! Backward: the gradient through dropout and activation is recovered from the op's output
//! and the bit mask (nothing else is kept); dL/dx is the same kernel run on that gradient with
//! the flipped, transposed weight; dL/dw is Σ over slices of `g_slice · colᵀ`; dL/db a sum.
//!
//! Keeping conv, bias, activation and dropout in one op matters as much as the arithmetic:
//! composed from candle ops they keep five full-size tensors per convolution alive until the
//! backward pass (and candle adds a zero tensor and a sum for every gradient it routes).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, Var};
use rayon::prelude::*;

use super::conv3d_direct::{self as direct, Geo};
use super::conv3d_generic::{conv3d_generic, Conv3dConfig};
use super::dropout::DropMask;
use super::kernel::{
    arg_f32, channel_sums, chunked_sum, sgemm, with_f32, Activation, SharedMut, CHUNK,
};
use super::simd::cpu_isa;

/// The im2col block `[C·k², ny·Wp]` of output rows `y0 .. y0 + ny` of output slice `di` of
/// batch item `bi`: row `(ci, kd, kh)` holds, for each output row, the zero-padded input row
/// its taps read (`Wp = W' + k − 1` columns). The `kw` taps need no rows of their own: they
/// are the same block read from column offset `kw` (see [`conv_forward`]), so the block is
/// `k` times smaller than a full im2col and the copying shrinks with it.
fn im2col(x: &[f32], g: &Geo, (bi, di): (usize, usize), (y0, ny): (usize, usize), col: &mut [f32]) {
    let (c, d, h, wd, k, p) = (g.c, g.d, g.h, g.w, g.k, g.p);
    let wp = g.wp();
    let (plane, n) = (h * wd, ny * wp);
    let xb = &x[bi * c * d * plane..(bi + 1) * c * d * plane];
    // Padded column xx reads input column xx − p, valid in [0, W).
    let lo = p.min(wp);
    let hi = (wd + p).min(wp).max(lo);
    for ci in 0..c {
        for kd in 0..k {
            let zd = (di + kd) as isize - p as isize;
            for kh in 0..k {
                let r = (ci * k + kd) * k + kh;
                let row = &mut col[r * n..(r + 1) * n];
                if zd < 0 || zd >= d as isize {
                    row.fill(0.0);
                    continue;
                }
                let src = &xb[(ci * d + zd as usize) * plane..(ci * d + zd as usize + 1) * plane];
                for yo in 0..ny {
                    let yi = (y0 + yo + kh) as isize - p as isize;
                    let dst_row = &mut row[yo * wp..(yo + 1) * wp];
                    if yi < 0 || yi >= h as isize {
                        dst_row.fill(0.0);
                        continue;
                    }
                    let src_row = &src[yi as usize * wd..(yi as usize + 1) * wd];
                    dst_row[..lo].fill(0.0);
                    dst_row[hi..].fill(0.0);
                    if hi > lo {
                        // hi > lo implies lo = p.
                        dst_row[lo..hi].copy_from_slice(&src_row[lo - p..hi - p]);
                    }
                }
            }
        }
    }
}

/// Bytes of one im2col tile: small enough to stay in a core's L2 cache between being
/// written and being read by `gemm`.
const TILE_BYTES: usize = 512 << 10;

impl Geo {
    /// Width of a padded input row: every input column an output row's taps reach.
    fn wp(&self) -> usize {
        self.wout + self.k - 1
    }

    /// Rows of the im2col block, `(ci, kd, kh)`.
    fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Output rows per im2col tile and tiles per slice.
    fn tiling(&self) -> (usize, usize) {
        let per_row = self.rows() * self.wp() * std::mem::size_of::<f32>();
        let ny = (TILE_BYTES / per_row.max(1)).clamp(1, self.hout.max(1));
        (ny, self.hout.div_ceil(ny))
    }
}

/// What the forward kernel does to each output row after the product.
struct Epi<'a> {
    bias: Option<&'a [f32]>,
    act: Activation,
    mask: Option<&'a DropMask>,
}

impl Epi<'_> {
    const NONE: Epi<'static> = Epi {
        bias: None,
        act: Activation::Identity,
        mask: None,
    };

    /// Row of output channel `o`, whose first element has flat index `start`.
    #[inline]
    fn apply(&self, row: &mut [f32], o: usize, start: usize) {
        let b = self.bias.map_or(0.0, |b| b[o]);
        match self.act {
            Activation::Identity => {
                if b != 0.0 {
                    row.iter_mut().for_each(|v| *v += b);
                }
            }
            Activation::Relu => row.iter_mut().for_each(|v| *v = (*v + b).max(0.0)),
            // Branch-free: the sign of z is a coin flip, so a branch mispredicts often.
            Activation::LeakyRelu(s) => row.iter_mut().for_each(|v| {
                let z = *v + b;
                *v = z.max(0.0) + s * z.min(0.0);
            }),
        }
        if let Some(m) = self.mask {
            m.apply(row, start);
        }
    }
}

/// The convolution of `x` `[B, C, D, H, W]` with `w` `[O, C, k, k, k]` as `[B, O, D', H', W']`,
/// with the epilogue applied.
///
/// Per tile: `T = Σ_kw W[:, :, :, :, kw] · col[:, kw ..]` — `k` products over the im2col
/// block read at column offsets `0 .. k` — into a small per-thread buffer on the padded
/// row grid, whose valid columns the epilogue then writes to the output.
fn conv_forward(
    x: &[f32],
    w: &[f32],
    g: &Geo,
    b: usize,
    o: usize,
    epi: &Epi,
) -> candle_core::Result<Vec<f32>> {
    if direct::supports(g) {
        return direct::forward(cpu_isa(), x, w, g, b, o, &|row, j, start| {
            epi.apply(row, j, start)
        });
    }
    let (k, rows, wp, wout) = (g.k, g.rows(), g.wp(), g.wout);
    let k3 = g.c * k * k * k;
    let (dout, hw, vol) = (g.dout, g.hout * wout, g.dout * g.hout * wout);
    if x.len() != b * g.c * g.d * g.h * g.w || w.len() != o * k3 {
        candle_core::bail!("conv3d-cpu: input or weight size does not match its shape");
    }
    if epi.bias.is_some_and(|bias| bias.len() != o)
        || epi.mask.is_some_and(|m| m.len() != b * o * vol)
    {
        candle_core::bail!("conv3d-cpu: bias or dropout mask does not match the output");
    }
    let (ny, tiles) = g.tiling();
    let mut out = Vec::with_capacity(b * o * vol);
    let shared = SharedMut(out.as_mut_ptr());
    (0..b * dout * tiles).into_par_iter().try_for_each_init(
        || (vec![0f32; rows * ny * wp], vec![0f32; o * ny * wp]),
        |(col, t), job| -> candle_core::Result<()> {
            let (slice, tile) = (job / tiles, job % tiles);
            let (bi, di) = (slice / dout, slice % dout);
            let y0 = tile * ny;
            let nyy = ny.min(g.hout - y0);
            im2col(x, g, (bi, di), (y0, nyy), col);
            // Columns of this tile's block, and those the products fill (the last k − 1
            // would read past a row's end; they lie in padding columns, never used).
            let np = nyy * wp;
            let nv = np - (k - 1);
            for kw in 0..k {
                sgemm(
                    (o, nv, rows),
                    &w[kw..],
                    (k3, k),
                    &col[kw..],
                    (np, 1),
                    t,
                    (np, 1),
                    kw > 0,
                    false,
                )?;
            }
            let base = bi * o * vol + di * hw + y0 * wout;
            for j in 0..o {
                for yo in 0..nyy {
                    let start = base + j * vol + yo * wout;
                    let src = &t[j * np + yo * wp..j * np + yo * wp + wout];
                    // SAFETY: output row (j, y0 + yo) of this slice: `start + wout ≤
                    // b·o·vol` = out's capacity, and no other tile writes it; it is written
                    // here before the slice over it is made.
                    let row = unsafe {
                        let dst = shared.ptr().add(start);
                        std::ptr::copy_nonoverlapping(src.as_ptr(), dst, wout);
                        std::slice::from_raw_parts_mut(dst, wout)
                    };
                    epi.apply(row, j, start);
                }
            }
            Ok(())
        },
    )?;
    // SAFETY: the tiles cover every (batch, channel, slice, row) once and each row is
    // written in full above.
    unsafe { out.set_len(b * o * vol) };
    Ok(out)
}

/// dL/dw `[O, C·k³]` from the input `[B, C, D, H, W]` and dL/dy `[B, O, D', H', W']`:
/// Σ over slices of `g_slice · colᵀ`, one accumulator per thread.
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
    if direct::supports(geo) {
        return direct::grad_weight(cpu_isa(), x, gy, geo, b, o);
    }
    let (k, rows, wp, wout) = (geo.k, geo.rows(), geo.wp(), geo.wout);
    let k3 = geo.c * k * k * k;
    let hw = geo.hout * wout;
    let vol = geo.dout * hw;
    let (ny, tiles) = geo.tiling();
    if gy.len() != b * o * vol {
        candle_core::bail!("conv3d-cpu: output gradient size does not match the output");
    }
    // accᵀ: [C·k³, O] row-major = the O × C·k³ product stored column-major.
    let sum_t = chunked_sum(b, geo.dout, k3 * o, |range, acc_t| {
        let mut col = vec![0f32; rows * ny * wp];
        // dL/dy of a tile on the padded row grid (zero in the padding columns).
        let mut gp = vec![0f32; o * ny * wp];
        for slice in range {
            let (bi, di) = (slice / geo.dout, slice % geo.dout);
            for tile in 0..tiles {
                let y0 = tile * ny;
                let nyy = ny.min(geo.hout - y0);
                im2col(x, geo, (bi, di), (y0, nyy), &mut col);
                let np = nyy * wp;
                let nv = np - (k - 1);
                for j in 0..o {
                    for yo in 0..nyy {
                        let src = bi * o * vol + j * vol + di * hw + (y0 + yo) * wout;
                        let dst = &mut gp[j * np + yo * wp..j * np + (yo + 1) * wp];
                        dst[..wout].copy_from_slice(&gy[src..src + wout]);
                        dst[wout..].fill(0.0);
                    }
                }
                // dW[:, (r, kw)] += G · col[:, kw ..]ᵀ, into accᵀ rows r·k + kw.
                for kw in 0..k {
                    sgemm(
                        (o, rows, nv),
                        &gp,
                        (np, 1),
                        &col[kw..],
                        (1, np),
                        &mut acc_t[kw * o..],
                        (1, k * o),
                        true,
                        false,
                    )?;
                }
            }
        }
        Ok(())
    })?;
    let mut out = vec![0f32; o * k3];
    for r in 0..k3 {
        for j in 0..o {
            out[j * k3 + r] = sum_t[r * o + j];
        }
    }
    Ok(out)
}

/// `conv3d` + bias + activation + dropout on the CPU: a `CustomOp3` (input, weight, bias).
pub(crate) struct Conv3dCpu {
    pub(crate) padding: usize,
    pub(crate) act: Activation,
    pub(crate) mask: Option<Arc<DropMask>>,
}

impl Conv3dCpu {
    fn geo(&self, x: &[usize], w: &[usize]) -> candle_core::Result<(Geo, usize, usize)> {
        let (&[b, c, d, h, wd], &[o, ci, k, ..]) = (x, w) else {
            candle_core::bail!("conv3d-cpu: rank-5 input and weight expected");
        };
        let p = self.padding;
        if ci != c || d + 2 * p < k || h + 2 * p < k || wd + 2 * p < k {
            candle_core::bail!("conv3d-cpu: shapes {x:?} and {w:?} do not fit");
        }
        let geo = Geo {
            c,
            d,
            h,
            w: wd,
            k,
            p,
            dout: d + 2 * p + 1 - k,
            hout: h + 2 * p + 1 - k,
            wout: wd + 2 * p + 1 - k,
        };
        Ok((geo, b, o))
    }

    /// dL/d(pre-activation) from dL/dy and the output y.
    fn grad_pre(&self, g: &[f32], y: &[f32]) -> Vec<f32> {
        let mut out = g.to_vec();
        let (act, mask) = (self.act, self.mask.as_deref());
        out.par_chunks_mut(CHUNK)
            .zip(y.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(ci, (gc, yc))| {
                match act {
                    Activation::Identity => {}
                    // Branch-free masks (see `Epi::apply`).
                    Activation::Relu => gc.iter_mut().zip(yc).for_each(|(g, &y)| {
                        *g = f32::from_bits(g.to_bits() & u32::from(y > 0.0).wrapping_neg());
                    }),
                    // For kept elements sign(y) = sign(z) when the slope is positive.
                    Activation::LeakyRelu(s) => gc.iter_mut().zip(yc).for_each(|(g, &y)| {
                        *g *= s + (1.0 - s) * f32::from(u8::from(y > 0.0));
                    }),
                }
                if let Some(m) = mask {
                    m.apply(gc, ci * CHUNK);
                }
            });
        out
    }
}

impl CustomOp3 for Conv3dCpu {
    fn name(&self) -> &'static str {
        "conv3d-cpu"
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
        let x = arg_f32(s1, l1, "conv3d-cpu input")?;
        let w = arg_f32(s2, l2, "conv3d-cpu weight")?;
        let bias = arg_f32(s3, l3, "conv3d-cpu bias")?;
        let (geo, b, o) = self.geo(l1.dims(), l2.dims())?;
        let epi = Epi {
            bias: Some(bias),
            act: self.act,
            mask: self.mask.as_deref(),
        };
        let out = conv_forward(x, w, &geo, b, o, &epi)?;
        Ok((
            CpuStorage::F32(out),
            Shape::from((b, o, geo.dout, geo.hout, geo.wout)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (geo, b, o) = self.geo(x.dims(), w.dims())?;
        let (c, k, p) = (geo.c, geo.k, geo.p);
        let plain = self.act == Activation::Identity && self.mask.is_none();
        let gpre = if plain {
            grad_res.contiguous()?
        } else {
            let g = with_f32(grad_res, |g| with_f32(res, |y| Ok(self.grad_pre(g, y))))?;
            Tensor::from_vec(g, res.shape(), res.device())?
        };
        with_f32(&gpre, |g| {
            let gb = bias
                .track_op()
                .then(|| Tensor::from_vec(channel_sums(g, b, o), o, bias.device()))
                .transpose()?;
            let gw = with_f32(x, |xs| grad_weight(xs, g, &geo, b, o))?;
            let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
            let gx = if !x.track_op() {
                None
            } else if k > p {
                // dL/dx: a full correlation of dL/dy with the flipped, transposed kernel —
                // the same kernel again (stride 1, padding k − 1 − p).
                let gx = with_f32(w, |ws| {
                    let k3 = k * k * k;
                    let mut wf = vec![0f32; ws.len()];
                    for oj in 0..o {
                        for ci in 0..c {
                            for t in 0..k3 {
                                wf[(ci * o + oj) * k3 + (k3 - 1 - t)] = ws[(oj * c + ci) * k3 + t];
                            }
                        }
                    }
                    let back = Geo {
                        c: o,
                        d: geo.dout,
                        h: geo.hout,
                        w: geo.wout,
                        k,
                        p: k - 1 - p,
                        dout: geo.d,
                        hout: geo.h,
                        wout: geo.w,
                    };
                    conv_forward(g, &wf, &back, b, c, &Epi::NONE)
                })?;
                Some(Tensor::from_vec(gx, x.shape(), x.device())?)
            } else {
                // Padding larger than k − 1: the generic path for this rare case.
                let xv = Var::from_tensor(&x.detach())?;
                let cfg = Conv3dConfig {
                    padding: p,
                    stride: 1,
                };
                let y = conv3d_generic(xv.as_tensor(), &w.detach(), None, cfg)
                    .map_err(candle_core::Error::wrap)?;
                let grads = (y * gpre.detach())?.sum_all()?.backward()?;
                Some(grads.get(xv.as_tensor()).cloned().ok_or_else(|| {
                    candle_core::Error::Msg("conv3d-cpu: no input gradient".into())
                })?)
            };
            Ok((gx, Some(gw), gb))
        })
    }
}
