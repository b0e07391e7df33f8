//! The direct 3×3×3 convolution on the CPU: forward (and so dL/dx, the same kernel on the
//! flipped weight) and dL/dw, with register-blocked micro-kernels per instruction-set level.
//!
//! Layout. Tensors stay `[B, C, D, H, W]` between layers (no conversion at the op's edges).
//! Inside the op the *weights* are channel-blocked, `[O/L][C][kd][kh][kw][L]` (`L` = lanes:
//! 16 for AVX-512, 8 for AVX2 and the portable level), and the output is produced
//! position-major, one vector of `L` output channels per voxel. The input is read as
//! scalars broadcast to all lanes, from zero-padded copies of the `k` input planes an output
//! plane needs (a ring of planes per worker, so each input plane is padded about once).
//!
//! Forward micro-kernel: `OB` vectors of output channels × `NX` consecutive voxels of one
//! output row stay in registers (up to 28 of AVX-512's 32) while the loop runs over input
//! channels and taps: per tap `OB` weight loads and `NX` broadcasts feed `OB·NX` fused
//! multiply-adds. This is the register blocking of oneDNN's direct convolution; it has no
//! im2col and no packing, and since the broadcast operand is a voxel, a row of 8 voxels
//! wastes nothing (a W-vectorised kernel would pad 8³ planes to vectors of 16).
//!
//! dL/dw micro-kernel: `OB` vectors of output channels × `T` taps (all 27 for one input
//! channel, or the 9 of one depth tap) accumulate `dL/dy[voxel] · x[voxel + tap]` over every
//! voxel of an output plane, then add into the worker's partial sum; the partial sums of a
//! fixed number of chunks are added in chunk order, so the result depends on the thread count
//! only.
//!
//! The epilogue (bias, activation, dropout) is applied by the caller to each finished output
//! row, as in the im2col path.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512};
use super::simd::{Isa, Portable, Simd};

/// Sizes of one stride-1 convolution: input channels and extent, kernel, padding, output
/// extent.
pub(crate) struct Geo {
    pub(crate) c: usize,
    pub(crate) d: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) k: usize,
    pub(crate) p: usize,
    pub(crate) dout: usize,
    pub(crate) hout: usize,
    pub(crate) wout: usize,
}

/// What the direct kernels support: 3×3×3 kernels with padding ≤ 2 (so that dL/dx, a
/// convolution with padding `2 − p`, is one too).
pub(crate) fn supports(g: &Geo) -> bool {
    g.k == 3 && g.p < g.k
}

/// The caller's epilogue: `(contiguous part of one output channel, the channel, flat index
/// of its first element)`.
pub(crate) type RowEpilogue<'a> = &'a (dyn Fn(&mut [f32], usize, usize) + Sync);

/// A raw pointer handed to rayon workers that write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: workers write disjoint elements; the buffer outlives the parallel section.
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

impl Out {
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// Zero-padded input planes, `k` slots of `[C][H + 2p][W + 2p]`; a slot keeps the padded
/// plane it last received so that consecutive output planes reuse `k − 1` of them.
struct Ring {
    data: Vec<f32>,
    tag: Vec<Option<(usize, usize)>>,
}

impl Ring {
    fn new(g: &Geo) -> Ring {
        Ring {
            data: vec![0f32; g.k * g.c * plane(g)],
            tag: vec![None; g.k],
        }
    }

    /// Pointers to the `k` padded planes output plane `z` of batch item `bi` reads, loading
    /// the ones not in the ring.
    fn planes(&mut self, x: &[f32], g: &Geo, bi: usize, z: usize) -> Vec<*const f32> {
        let (hp, wp) = (g.h + 2 * g.p, g.w + 2 * g.p);
        let ps = plane(g);
        let slot_len = g.c * ps;
        (0..g.k)
            .map(|kd| {
                let zp = z + kd;
                let slot = zp % g.k;
                let buf = &mut self.data[slot * slot_len..(slot + 1) * slot_len];
                if self.tag[slot] != Some((bi, zp)) {
                    self.tag[slot] = Some((bi, zp));
                    let zi = zp as isize - g.p as isize;
                    if zi < 0 || zi >= g.d as isize {
                        buf.fill(0.0);
                    } else {
                        let hw = g.h * g.w;
                        for ci in 0..g.c {
                            let src = &x[((bi * g.c + ci) * g.d + zi as usize) * hw..][..hw];
                            let dst = &mut buf[ci * ps..(ci + 1) * ps];
                            for yp in 0..hp {
                                let row = &mut dst[yp * wp..(yp + 1) * wp];
                                if yp < g.p || yp >= g.h + g.p {
                                    row.fill(0.0);
                                } else {
                                    let s = &src[(yp - g.p) * g.w..(yp - g.p + 1) * g.w];
                                    row[..g.p].fill(0.0);
                                    let seg = &mut row[g.p..g.p + g.w];
                                    // SAFETY: `seg` and `s` both hold `g.w` elements.
                                    unsafe { copy_row(seg.as_mut_ptr(), s.as_ptr(), g.w) };
                                    row[g.p + g.w..].fill(0.0);
                                }
                            }
                        }
                    }
                }
                buf.as_ptr()
            })
            .collect()
    }
}

/// The taps `[lo, hi)` along one axis that read inside the input for output index `i`
/// (input extent `n`).
fn taps(i: usize, n: usize, g: &Geo) -> (usize, usize) {
    (g.p.saturating_sub(i), g.k.min((n + g.p).saturating_sub(i)))
}

/// Copies `n` floats in fixed 16-float pieces: the compiler inlines those as vector moves,
/// where a copy of run-time length becomes a `memmove` call per row (tens of thousands of
/// calls for each 64³ convolution).
///
/// # Safety
/// `src` and `dst` are valid for `n` elements and do not overlap.
#[inline(always)]
unsafe fn copy_row(dst: *mut f32, src: *const f32, n: usize) {
    let mut i = 0;
    // SAFETY: forwarded to the caller; every piece ends at or before `n`.
    unsafe {
        while i + 16 <= n {
            std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), 16);
            i += 16;
        }
        while i < n {
            *dst.add(i) = *src.add(i);
            i += 1;
        }
    }
}

/// Zeros after each padded plane: the voxel-vectorised kernel computes whole vectors past a
/// plane's last row (those outputs are dropped) and reads up to this far beyond it.
const SLACK: usize = 128;

/// Stride of the padded planes in the ring: the plane and its slack.
fn plane(g: &Geo) -> usize {
    (g.h + 2 * g.p) * (g.w + 2 * g.p) + SLACK
}

/// A dispatcher `fn $name(isa, a: &Arg)` over the instruction-set levels: the generic kernel
/// is compiled once per level inside a function with that level's target features (so its
/// intrinsics inline), and the dispatcher calls the one `isa` names. Callers pass an `isa`
/// no higher than the detected one (`forward` and `grad_weight` check).
macro_rules! per_isa {
    ($(#[$m:meta])* fn $name:ident($a:ident: &$arg:ty) {
        avx512: $e512:expr, avx2: $e2:expr, portable: $ep:expr $(,)?
    }) => {
        $(#[$m])*
        fn $name(isa: Isa, $a: &$arg) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($a: &$arg) {
                // SAFETY: called only where AVX-512F was detected; the kernel's pointer
                // contract is the dispatcher caller's.
                unsafe { $e512 }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($a: &$arg) {
                // SAFETY: called only where AVX2 and FMA were detected.
                unsafe { $e2 }
            }
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `isa` is at most the detected level.
                Isa::Avx512 => unsafe { avx512($a) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Isa::Avx2 => unsafe { avx2($a) },
                // SAFETY: the portable level needs no CPU feature.
                _ => unsafe { $ep },
            }
        }
    };
}

/// Jobs of consecutive output planes, `(batch item, first plane, end)`, about two per
/// thread: each worker pads each input plane about once.
fn plane_jobs(b: usize, dout: usize) -> Vec<(usize, usize, usize)> {
    let chunks = (rayon::current_num_threads() * 2).clamp(1, dout.max(1));
    let per = dout.div_ceil(chunks).max(1);
    (0..b)
        .flat_map(|bi| {
            (0..dout)
                .step_by(per)
                .map(move |z0| (bi, z0, (z0 + per).min(dout)))
        })
        .collect()
}

/// Runs `f` on fixed chunks of the `b·dout` output planes (one chunk per thread) and adds
/// the chunks' partial sums in chunk order: the result depends on the thread count only,
/// never on work stealing.
fn chunked_sum(
    b: usize,
    dout: usize,
    len: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync,
) -> Vec<f32> {
    let slices = b * dout;
    let chunks = rayon::current_num_threads().clamp(1, slices.max(1));
    let per = slices.div_ceil(chunks);
    let partials: Vec<Vec<f32>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut acc = vec![0f32; len];
            f(chunk * per..((chunk + 1) * per).min(slices), &mut acc);
            acc
        })
        .collect();
    let mut sum = vec![0f32; len];
    for p in partials {
        for (s, v) in sum.iter_mut().zip(&p) {
            *s += v;
        }
    }
    sum
}

/// The weight `[O, C, k, k, k]` channel-blocked as `[O/L][C][k³][L]`, zero beyond `O`.
fn block_weights(isa: Isa, w: &[f32], o: usize, c: usize, k3: usize) -> Vec<f32> {
    let lanes = lanes(isa);
    let nb = o.div_ceil(lanes);
    let r_len = c * k3;
    let mut out = vec![0f32; nb * r_len * lanes];
    out.par_chunks_mut(r_len * lanes)
        .enumerate()
        .for_each(|(ob, blk)| {
            // Whole 16 × 16 blocks: the vector transposition (the scalar loop reads 16 rows
            // far apart and cost 13 % of a 128-channel 8³ convolution).
            if isa == Isa::Avx512 && (ob + 1) * lanes <= o && r_len.is_multiple_of(16) {
                let rows = &w[ob * lanes * r_len..(ob + 1) * lanes * r_len];
                let dst: Vec<*mut f32> =
                    (0..r_len).map(|r| blk[r * lanes..].as_mut_ptr()).collect();
                // SAFETY: `rows` is 16 rows of `r_len` (a multiple of 16) columns, so every
                // 16 × 16 block read lies inside it; each `dst[r]` has 16 writable elements.
                unsafe { transpose(isa, rows, r_len, lanes, &dst) };
                return;
            }
            for (r, v) in blk.chunks_exact_mut(lanes).enumerate() {
                let (ci, t) = (r / k3, r % k3);
                for (l, v) in v.iter_mut().enumerate() {
                    let j = ob * lanes + l;
                    if j < o {
                        *v = w[(j * c + ci) * k3 + t];
                    }
                }
            }
        });
    out
}

/// Everything the forward kernel needs for one output row.
struct FwdRow<'a> {
    /// The `k` padded input planes (slot starts).
    planes: &'a [*const f32],
    /// Output row.
    y: usize,
    /// The depth and row taps that read inside the input (the others read zero padding
    /// and are skipped: a quarter of the work on an 8³ volume).
    kd: (usize, usize),
    kh: (usize, usize),
    g: &'a Geo,
    /// Channel-blocked weights and their block count.
    w: *const f32,
    nb: usize,
    /// Row tile `[wout][nb·L]`.
    tile: *mut f32,
}

/// One register block: `OB` output-channel vectors × `NX` voxels from `x0`.
///
/// # Safety
/// The CPU has `S`'s features; `a`'s pointers cover the row (the planes are padded, so
/// voxel `x0 + i + kw` of every tapped row exists for `x0 + NX ≤ wout`).
// Index loops over the register arrays: both indices address `acc`, and the loops must unroll.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn fwd_block<S: Simd, const OB: usize, const NX: usize>(a: &FwdRow, ob: usize, x0: usize) {
    let g = a.g;
    let (k, c, l) = (g.k, g.c, S::LANES);
    let wpd = g.w + 2 * g.p;
    let ps = plane(g);
    let wbs = c * k * k * k * l;
    // SAFETY: see the function's contract; every offset below stays inside the padded
    // planes, the weight blocks and the tile.
    unsafe {
        let mut acc = [[S::zero(); NX]; OB];
        let ((kd0, kd1), (kh0, kh1)) = (a.kd, a.kh);
        for ci in 0..c {
            for kd in kd0..kd1 {
                let base = a.planes.get_unchecked(kd).add(ci * ps + a.y * wpd + x0);
                for kh in kh0..kh1 {
                    let row = base.add(kh * wpd);
                    let mut wp = a.w.add(ob * wbs + ((ci * k + kd) * k + kh) * k * l);
                    for kw in 0..k {
                        let mut wv = [S::zero(); OB];
                        for (b, v) in wv.iter_mut().enumerate() {
                            *v = S::load(wp.add(b * wbs));
                        }
                        let r = row.add(kw);
                        for i in 0..NX {
                            let xv = S::splat(r.add(i));
                            for b in 0..OB {
                                acc[b][i] = S::fma(wv[b], xv, acc[b][i]);
                            }
                        }
                        wp = wp.add(l);
                    }
                }
            }
        }
        let opad = a.nb * l;
        for (b, accb) in acc.iter().enumerate() {
            for (i, v) in accb.iter().enumerate() {
                S::store(a.tile.add((x0 + i) * opad + (ob + b) * l), *v);
            }
        }
    }
}

/// Repeats a block once per listed constant, bound to the given name.
macro_rules! unroll {
    ($i:ident in [$($n:literal)*] $body:block) => {
        $({
            const $i: usize = $n;
            $body
        })*
    };
}

/// Expands `match nx { 1 => f::<.., 1>, .. }` up to the largest register block.
macro_rules! by_nx {
    ($s:ty, $ob:literal, $nx:expr, $a:expr, $obi:expr, $x0:expr; $($n:literal)*) => {
        match $nx {
            $($n => fwd_block::<$s, $ob, $n>($a, $obi, $x0),)*
            _ => unreachable!("register block wider than 28"),
        }
    };
}

/// The whole output row: every output-channel block, the row cut into equal register
/// blocks.
#[inline(always)]
unsafe fn fwd_row<S: Simd>(a: &FwdRow) {
    let wout = a.g.wout;
    let mut ob = 0;
    while ob < a.nb {
        // Three channel vectors when a row fits 3 × wout accumulators (short rows of deep
        // layers: fewer broadcasts per FMA), else two, else one.
        let nob = if a.nb - ob >= 3 && 3 * wout <= S::REGS {
            3
        } else if a.nb - ob >= 2 {
            2
        } else {
            1
        };
        let max = S::REGS / nob;
        let chunks = wout.div_ceil(max);
        let mut x0 = 0;
        for ch in 0..chunks {
            let nx = (wout - x0) / (chunks - ch);
            // SAFETY: forwarded to the caller; 1 ≤ nx ≤ max ≤ 28.
            unsafe {
                match nob {
                    3 => by_nx!(S, 3, nx, a, ob, x0; 1 2 3 4 5 6 7 8 9),
                    2 => by_nx!(S, 2, nx, a, ob, x0; 1 2 3 4 5 6 7 8 9 10 11 12 13 14),
                    _ => {
                        by_nx!(S, 1, nx, a, ob, x0; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28)
                    }
                }
            }
            x0 += nx;
        }
        ob += nob;
    }
}

fn lanes(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 | Isa::Portable => 8,
    }
}

per_isa! {
    /// Runs one output row at the given level.
    fn run_row(a: &FwdRow) {
        avx512: fwd_row::<Avx512>(a),
        avx2: fwd_row::<Avx2>(a),
        portable: fwd_row::<Portable>(a),
    }
}

/// Everything the voxel-vectorised forward kernel needs for one output plane.
struct FwdPlane<'a> {
    planes: &'a [*const f32],
    kd: (usize, usize),
    g: &'a Geo,
    /// Weights `[O, C, 27]` as given.
    w: *const f32,
    o: usize,
    /// Output tile `[O][nq]` on the padded row grid (row stride `W + 2p`).
    tile: *mut f32,
    nq: usize,
}

/// `MO` output channels × `NV` vectors of consecutive voxels of the padded row grid from
/// `q0`: per tap `NV` input loads and `MO` weight broadcasts feed `MO·NV` FMAs.
///
/// # Safety
/// The CPU has `S`'s features; planes carry `SLACK` zeros, `q0 + NV·L ≤ nq`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn fwdv_block<S: Simd, const MO: usize, const NV: usize>(
    a: &FwdPlane,
    o0: usize,
    q0: usize,
) {
    let g = a.g;
    let (k, c, l) = (g.k, g.c, S::LANES);
    let k3 = k * k * k;
    let wpd = g.w + 2 * g.p;
    let ps = plane(g);
    // SAFETY: see the function's contract.
    unsafe {
        let mut acc = [[S::zero(); NV]; MO];
        for ci in 0..c {
            for kd in a.kd.0..a.kd.1 {
                let base = a.planes.get_unchecked(kd).add(ci * ps + q0);
                let wt = a.w.add((o0 * c + ci) * k3 + kd * k * k);
                for kh in 0..k {
                    for kw in 0..k {
                        let r = base.add(kh * wpd + kw);
                        let mut xv = [S::zero(); NV];
                        for (j, v) in xv.iter_mut().enumerate() {
                            *v = S::load(r.add(j * l));
                        }
                        let t = kh * k + kw;
                        for m in 0..MO {
                            let wv = S::splat(wt.add(m * c * k3 + t));
                            for j in 0..NV {
                                acc[m][j] = S::fma(wv, xv[j], acc[m][j]);
                            }
                        }
                    }
                }
            }
        }
        for (m, accm) in acc.iter().enumerate() {
            for (j, v) in accm.iter().enumerate() {
                S::store(a.tile.add((o0 + m) * a.nq + q0 + j * l), *v);
            }
        }
    }
}

/// The whole output plane: output channels in groups of four (then two, one), the padded
/// row grid in blocks of `NV` vectors.
#[inline(always)]
unsafe fn fwdv_plane<S: Simd, const NV: usize>(a: &FwdPlane) {
    let step = NV * S::LANES;
    let mut o0 = 0;
    while o0 < a.o {
        let mo = match a.o - o0 {
            n if n >= 4 => 4,
            n if n >= 2 => 2,
            _ => 1,
        };
        for q0 in (0..a.nq).step_by(step) {
            // SAFETY: forwarded to the caller; `nq` is a multiple of `step`.
            unsafe {
                match mo {
                    4 => fwdv_block::<S, 4, NV>(a, o0, q0),
                    2 => fwdv_block::<S, 2, NV>(a, o0, q0),
                    _ => fwdv_block::<S, 1, NV>(a, o0, q0),
                }
            }
        }
        o0 += mo;
    }
}

/// Vectors per register block of the voxel-vectorised kernel at each level (4 × NV
/// accumulators plus NV inputs must fit the register file).
fn fwdv_nv(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 6,
        Isa::Avx2 | Isa::Portable => 2,
    }
}

per_isa! {
    /// Runs one output plane of the voxel-vectorised kernel at the given level.
    fn run_plane_v(a: &FwdPlane) {
        avx512: fwdv_plane::<Avx512, 6>(a),
        avx2: fwdv_plane::<Avx2, 2>(a),
        portable: fwdv_plane::<Portable, 2>(a),
    }
}

/// Whether the voxel-vectorised kernel is the faster one: few output channels (one vector
/// of them or less, where the channel-vectorised kernel needs a broadcast per FMA) and rows
/// long enough that the two padding columns per row it also computes cost little.
fn voxel_vectorised(isa: Isa, o: usize, g: &Geo) -> bool {
    o <= lanes(isa) && g.wout >= 16
}

/// [`forward`] with the voxel-vectorised kernel.
#[allow(clippy::too_many_arguments)]
fn forward_voxels(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    g: &Geo,
    b: usize,
    o: usize,
    epi: RowEpilogue,
) -> Vec<f32> {
    let (dout, hout, wout) = (g.dout, g.hout, g.wout);
    let wpd = g.w + 2 * g.p;
    let step = fwdv_nv(isa) * lanes(isa);
    let nq = (hout * wpd).next_multiple_of(step);
    let vol = dout * hout * wout;
    let mut out = Vec::<f32>::with_capacity(b * o * vol);
    let shared = Out(out.as_mut_ptr());
    plane_jobs(b, dout).into_par_iter().for_each_init(
        || (Ring::new(g), vec![0f32; o * nq]),
        |(ring, tile), (bi, z0, z1)| {
            for z in z0..z1 {
                let planes = ring.planes(x, g, bi, z);
                let a = FwdPlane {
                    planes: &planes,
                    kd: taps(z, g.d, g),
                    g,
                    w: w.as_ptr(),
                    o,
                    tile: tile.as_mut_ptr(),
                    nq,
                };
                run_plane_v(isa, &a);
                for j in 0..o {
                    let start = ((bi * o + j) * dout + z) * hout * wout;
                    for y in 0..hout {
                        let src = &tile[j * nq + y * wpd..j * nq + y * wpd + wout];
                        // SAFETY: output row (bi, j, z, y) lies inside `out`'s capacity and
                        // only this job writes it.
                        unsafe {
                            copy_row(shared.ptr().add(start + y * wout), src.as_ptr(), wout);
                        }
                    }
                    // SAFETY: the plane of channel j is complete (above).
                    let p = unsafe {
                        std::slice::from_raw_parts_mut(shared.ptr().add(start), hout * wout)
                    };
                    epi(p, j, start);
                }
            }
        },
    );
    // SAFETY: the jobs cover every (batch, channel, plane, row) once, each row in full.
    unsafe { out.set_len(b * o * vol) };
    out
}

/// The convolution of `x` `[B, C, D, H, W]` with `w` `[O, C, 3, 3, 3]` as
/// `[B, O, D', H', W']`; `epi` runs on every finished output plane of each channel.
pub(crate) fn forward(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    g: &Geo,
    b: usize,
    o: usize,
    epi: RowEpilogue,
) -> candle_core::Result<Vec<f32>> {
    let k3 = g.k * g.k * g.k;
    if !supports(g)
        || isa > *Isa::available().last().unwrap_or(&Isa::Portable)
        || x.len() != b * g.c * g.d * g.h * g.w
        || w.len() != o * g.c * k3
    {
        candle_core::bail!("conv3d-direct: shapes, kernel or instruction set not supported");
    }
    if voxel_vectorised(isa, o, g) {
        return Ok(forward_voxels(isa, x, w, g, b, o, epi));
    }
    let l = lanes(isa);
    let nb = o.div_ceil(l);
    let wb = block_weights(isa, w, o, g.c, k3);
    let (dout, hout, wout) = (g.dout, g.hout, g.wout);
    let vol = dout * hout * wout;
    let mut out = Vec::<f32>::with_capacity(b * o * vol);
    let shared = Out(out.as_mut_ptr());
    plane_jobs(b, dout).into_par_iter().for_each_init(
        // The tile has whole blocks of 16 voxels for the vector transposition.
        || {
            (
                Ring::new(g),
                vec![0f32; wout.next_multiple_of(16) * nb * l],
                Vec::new(),
            )
        },
        |(ring, tile, dst), (bi, z0, z1)| {
            for z in z0..z1 {
                let planes = ring.planes(x, g, bi, z);
                let kd = taps(z, g.d, g);
                for y in 0..hout {
                    let a = FwdRow {
                        planes: &planes,
                        y,
                        kd,
                        kh: taps(y, g.h, g),
                        g,
                        w: wb.as_ptr(),
                        nb,
                        tile: tile.as_mut_ptr(),
                    };
                    run_row(isa, &a);
                    let opad = nb * l;
                    let start = |j: usize| ((bi * o + j) * dout + z) * hout * wout + y * wout;
                    // SAFETY: output rows (bi, ·, z, y) lie inside `out`'s capacity and only
                    // this job writes them; each is written in full before a slice over it
                    // is made.
                    unsafe {
                        dst.clear();
                        dst.extend((0..o).map(|j| shared.ptr().add(start(j))));
                        transpose(isa, tile, opad, wout, dst);
                    }
                }
                // The epilogue once per channel and plane (contiguous in the output): one
                // call per row cost as much as the arithmetic on 8³ volumes.
                for j in 0..o {
                    let start = ((bi * o + j) * dout + z) * hout * wout;
                    // SAFETY: the plane of channel j is complete and only this job writes it.
                    let p = unsafe {
                        std::slice::from_raw_parts_mut(shared.ptr().add(start), hout * wout)
                    };
                    epi(p, j, start);
                }
            }
        },
    );
    // SAFETY: the jobs cover every (batch, channel, plane, row) once, each row in full.
    unsafe { out.set_len(b * o * vol) };
    Ok(out)
}

/// Writes the row tile `[wout][opad]` (voxel-major) to the `dst.len()` output rows `dst[j]`
/// (channel-major), 16×16 blocks at a time with AVX-512 shuffles (a scalar copy costs more
/// than the arithmetic of a 4-channel convolution).
///
/// # Safety
/// `tile` holds `wout` rounded up to 16 voxels; each `dst[j]` is valid for `wout` writes.
unsafe fn transpose(isa: Isa, tile: &[f32], opad: usize, wout: usize, dst: &[*mut f32]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        // SAFETY: forwarded; AVX-512F is present at this level.
        return unsafe { transpose_avx512(tile, opad, wout, dst) };
    }
    let _ = isa;
    for (j, &row) in dst.iter().enumerate() {
        for xo in 0..wout {
            // SAFETY: forwarded to the caller.
            unsafe { *row.add(xo) = tile[xo * opad + j] };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_avx512(tile: &[f32], opad: usize, wout: usize, dst: &[*mut f32]) {
    use std::arch::x86_64::*;
    let o = dst.len();
    for x0 in (0..wout).step_by(16) {
        let n = (wout - x0).min(16);
        let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
        for j0 in (0..o).step_by(16) {
            // SAFETY: 16 voxel rows of 16 channels from (x0, j0) lie inside the tile (its
            // voxels are rounded up to 16, `j0 + 16 ≤ opad`); stores are masked to `n`
            // voxels of existing rows.
            unsafe {
                let r: [__m512; 16] = std::array::from_fn(|i| {
                    _mm512_loadu_ps(tile.as_ptr().add((x0 + i) * opad + j0))
                });
                let mut t = [_mm512_setzero_ps(); 16];
                for i in 0..8 {
                    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                let pd = |v: __m512| _mm512_castps_pd(v);
                let ps = |v: __m512d| _mm512_castpd_ps(v);
                let mut u = [_mm512_setzero_ps(); 16];
                for g in 0..4 {
                    let (a0, a1, b0, b1) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
                    u[4 * g] = ps(_mm512_unpacklo_pd(pd(a0), pd(b0)));
                    u[4 * g + 1] = ps(_mm512_unpackhi_pd(pd(a0), pd(b0)));
                    u[4 * g + 2] = ps(_mm512_unpacklo_pd(pd(a1), pd(b1)));
                    u[4 * g + 3] = ps(_mm512_unpackhi_pd(pd(a1), pd(b1)));
                }
                for m in 0..4 {
                    let v88 = _mm512_shuffle_f32x4::<0x88>(u[m], u[4 + m]);
                    let vdd = _mm512_shuffle_f32x4::<0xdd>(u[m], u[4 + m]);
                    let w88 = _mm512_shuffle_f32x4::<0x88>(u[8 + m], u[12 + m]);
                    let wdd = _mm512_shuffle_f32x4::<0xdd>(u[8 + m], u[12 + m]);
                    let cols = [
                        (m, _mm512_shuffle_f32x4::<0x88>(v88, w88)),
                        (4 + m, _mm512_shuffle_f32x4::<0x88>(vdd, wdd)),
                        (8 + m, _mm512_shuffle_f32x4::<0xdd>(v88, w88)),
                        (12 + m, _mm512_shuffle_f32x4::<0xdd>(vdd, wdd)),
                    ];
                    for (c, v) in cols {
                        if j0 + c < o {
                            _mm512_mask_storeu_ps(dst[j0 + c].add(x0), mask, v);
                        }
                    }
                }
            }
        }
    }
}

/// Everything the dL/dw kernel needs for one output plane.
struct WPlane<'a> {
    planes: &'a [*const f32],
    g: &'a Geo,
    /// dL/dy of the plane, position-major `[H'·W'][nb·L]`.
    gt: *const f32,
    nb: usize,
    /// The worker's partial dL/dw, `[nb][C][27][L]`.
    acc: *mut f32,
}

/// `OB` output-channel vectors × `T` taps (27, or the 9 of depth tap `kd0`) of input channel
/// `ci`, summed over the plane and added into the partial sum.
///
/// # Safety
/// The CPU has `S`'s features; the pointers of `a` are valid for the plane.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn dw_block<S: Simd, const OB: usize, const T: usize>(
    a: &WPlane,
    ob: usize,
    ci: usize,
    kd0: usize,
) {
    let g = a.g;
    let l = S::LANES;
    let wpd = g.w + 2 * g.p;
    let ps = plane(g);
    let opad = a.nb * l;
    let pbs = g.c * 27 * l;
    // SAFETY: see the function's contract.
    unsafe {
        let mut acc = [[S::zero(); T]; OB];
        for y in 0..g.hout {
            // Row (kd, kh) of the input plane the taps of depth kd0 + kd read.
            let mut rows = [std::ptr::null::<f32>(); 9];
            for (r, row) in rows.iter_mut().enumerate().take(T / 3) {
                let (kd, kh) = (kd0 + r / 3, r % 3);
                *row = a.planes.get_unchecked(kd).add(ci * ps + (y + kh) * wpd);
            }
            let gy = a.gt.add(y * g.wout * opad + ob * l);
            for x in 0..g.wout {
                let mut gv = [S::zero(); OB];
                for (b, v) in gv.iter_mut().enumerate() {
                    *v = S::load(gy.add(x * opad + b * l));
                }
                // Unrolled by hand: the accumulators must stay in registers, and the
                // compiler does not unroll 27 taps on its own.
                unroll!(TAP in [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26] {
                    if TAP < T {
                        let xv = S::splat(rows[TAP / 3].add(x + TAP % 3));
                        for b in 0..OB {
                            acc[b][TAP] = S::fma(gv[b], xv, acc[b][TAP]);
                        }
                    }
                });
            }
        }
        for (b, accb) in acc.iter().enumerate() {
            for (t, v) in accb.iter().enumerate() {
                let p = a.acc.add((ob + b) * pbs + (ci * 27 + kd0 * 9 + t) * l);
                S::store(p, S::add(S::load(p), *v));
            }
        }
    }
}

/// dL/dw of one output plane: every block of output channels, input channel and tap.
#[inline(always)]
unsafe fn dw_plane<S: Simd>(a: &WPlane) {
    let mut ob = 0;
    while ob < a.nb {
        for ci in 0..a.g.c {
            // SAFETY: forwarded to the caller.
            unsafe {
                // Nine taps (one depth tap) per pass: with all 27 in registers the
                // compiler spills accumulators.
                if S::REGS >= 18 && ob + 1 < a.nb {
                    for kd in 0..3 {
                        dw_block::<S, 2, 9>(a, ob, ci, kd);
                    }
                } else {
                    for kd in 0..3 {
                        dw_block::<S, 1, 9>(a, ob, ci, kd);
                    }
                }
            }
        }
        ob += if S::REGS >= 18 && ob + 1 < a.nb { 2 } else { 1 };
    }
}

per_isa! {
    /// dL/dw of one output plane, channel-vectorised, at the given level.
    fn run_dw(a: &WPlane) {
        avx512: dw_plane::<Avx512>(a),
        avx2: dw_plane::<Avx2>(a),
        portable: dw_plane::<Portable>(a),
    }
}

/// Everything the voxel-vectorised dL/dw kernel needs for one output plane.
struct WPlaneV<'a> {
    planes: &'a [*const f32],
    kd: (usize, usize),
    g: &'a Geo,
    /// dL/dy of the plane on the padded row grid, `[O][nq]`, zero outside the output.
    gp: *const f32,
    nq: usize,
    o: usize,
    /// The worker's vector partial sums, `[O][C][27][L]`.
    acc: *mut f32,
}

/// `MO` output channels × the nine taps of depth tap `kd` of input channel `ci`, vectors
/// over the plane's voxels: per vector `MO` dL/dy loads and nine input loads feed `9·MO`
/// FMAs; the vector sums are added into the partial sums (reduced across lanes once, at
/// the end).
///
/// # Safety
/// The CPU has `S`'s features; planes carry `SLACK` zeros; `nq` is a multiple of `L`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn dwv_block<S: Simd, const MO: usize>(a: &WPlaneV, o0: usize, ci: usize, kd: usize) {
    let g = a.g;
    let l = S::LANES;
    let wpd = g.w + 2 * g.p;
    // SAFETY: see the function's contract.
    unsafe {
        let base = a.planes.get_unchecked(kd).add(ci * plane(g));
        let mut acc = [[S::zero(); 9]; MO];
        for q in (0..a.nq).step_by(l) {
            let mut gv = [S::zero(); MO];
            for (m, v) in gv.iter_mut().enumerate() {
                *v = S::load(a.gp.add((o0 + m) * a.nq + q));
            }
            unroll!(TAP in [0 1 2 3 4 5 6 7 8] {
                let xv = S::load(base.add(q + (TAP / 3) * wpd + TAP % 3));
                for m in 0..MO {
                    acc[m][TAP] = S::fma(gv[m], xv, acc[m][TAP]);
                }
            });
        }
        for (m, accm) in acc.iter().enumerate() {
            for (t, v) in accm.iter().enumerate() {
                let p = a.acc.add((((o0 + m) * g.c + ci) * 27 + kd * 9 + t) * l);
                S::store(p, S::add(S::load(p), *v));
            }
        }
    }
}

#[inline(always)]
unsafe fn dwv_plane<S: Simd>(a: &WPlaneV) {
    let mut o0 = 0;
    while o0 < a.o {
        let mo = if S::REGS >= 27 { (a.o - o0).min(3) } else { 1 };
        for ci in 0..a.g.c {
            for kd in a.kd.0..a.kd.1 {
                // SAFETY: forwarded to the caller.
                unsafe {
                    match mo {
                        3 => dwv_block::<S, 3>(a, o0, ci, kd),
                        2 => dwv_block::<S, 2>(a, o0, ci, kd),
                        _ => dwv_block::<S, 1>(a, o0, ci, kd),
                    }
                }
            }
        }
        o0 += mo;
    }
}

per_isa! {
    /// dL/dw of one output plane, voxel-vectorised, at the given level.
    fn run_dwv(a: &WPlaneV) {
        avx512: dwv_plane::<Avx512>(a),
        avx2: dwv_plane::<Avx2>(a),
        portable: dwv_plane::<Portable>(a),
    }
}

/// [`grad_weight`] with the voxel-vectorised kernel (same chunking, so the same
/// determinism).
fn grad_weight_voxels(isa: Isa, x: &[f32], gy: &[f32], g: &Geo, b: usize, o: usize) -> Vec<f32> {
    let (hout, wout, dout) = (g.hout, g.wout, g.dout);
    let l = lanes(isa);
    let wpd = g.w + 2 * g.p;
    let nq = (hout * wpd).next_multiple_of(l);
    let sum = chunked_sum(b, dout, o * g.c * 27 * l, |range, acc| {
        let mut ring = Ring::new(g);
        let mut gp = vec![0f32; o * nq];
        for s in range {
            let (bi, z) = (s / dout, s % dout);
            let planes = ring.planes(x, g, bi, z);
            for j in 0..o {
                let src = &gy[((bi * o + j) * dout + z) * hout * wout..][..hout * wout];
                for y in 0..hout {
                    // Columns wout.. of each row and the tail stay zero.
                    let d = &mut gp[j * nq + y * wpd..j * nq + y * wpd + wout];
                    let r = &src[y * wout..(y + 1) * wout];
                    // SAFETY: `d` and `r` both hold `wout` elements.
                    unsafe { copy_row(d.as_mut_ptr(), r.as_ptr(), wout) };
                }
            }
            let a = WPlaneV {
                planes: &planes,
                kd: taps(z, g.d, g),
                g,
                gp: gp.as_ptr(),
                nq,
                o,
                acc: acc.as_mut_ptr(),
            };
            run_dwv(isa, &a);
        }
    });
    sum.chunks_exact(l).map(|v| v.iter().sum()).collect()
}

/// dL/dw `[O, C, 3, 3, 3]` from the input `[B, C, D, H, W]` and dL/dy `[B, O, D', H', W']`.
/// Fixed chunks of output planes (one per thread), summed in chunk order: the result depends
/// on the thread count only.
pub(crate) fn grad_weight(
    isa: Isa,
    x: &[f32],
    gy: &[f32],
    g: &Geo,
    b: usize,
    o: usize,
) -> candle_core::Result<Vec<f32>> {
    let (hout, wout, dout) = (g.hout, g.wout, g.dout);
    let vol = dout * hout * wout;
    if !supports(g)
        || isa > *Isa::available().last().unwrap_or(&Isa::Portable)
        || x.len() != b * g.c * g.d * g.h * g.w
        || gy.len() != b * o * vol
    {
        candle_core::bail!("conv3d-direct: shapes, kernel or instruction set not supported");
    }
    if voxel_vectorised(isa, o, g) {
        return Ok(grad_weight_voxels(isa, x, gy, g, b, o));
    }
    let l = lanes(isa);
    let nb = o.div_ceil(l);
    let opad = nb * l;
    let sum = chunked_sum(b, dout, nb * g.c * 27 * l, |range, acc| {
        let mut ring = Ring::new(g);
        let mut gt = vec![0f32; hout * wout * opad];
        for s in range {
            let (bi, z) = (s / dout, s % dout);
            let planes = ring.planes(x, g, bi, z);
            for j in 0..o {
                let src = &gy[((bi * o + j) * dout + z) * hout * wout..][..hout * wout];
                for (q, &v) in src.iter().enumerate() {
                    gt[q * opad + j] = v;
                }
            }
            let a = WPlane {
                planes: &planes,
                g,
                gt: gt.as_ptr(),
                nb,
                acc: acc.as_mut_ptr(),
            };
            run_dw(isa, &a);
        }
    });
    let mut out = vec![0f32; o * g.c * 27];
    for j in 0..o {
        let (ob, lane) = (j / l, j % l);
        for ci in 0..g.c {
            for t in 0..27 {
                out[(j * g.c + ci) * 27 + t] = sum[((ob * g.c + ci) * 27 + t) * l + lane];
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic pseudo-random sequence in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn geo(c: usize, (d, h, w): (usize, usize, usize), p: usize) -> Geo {
        Geo {
            c,
            d,
            h,
            w,
            k: 3,
            p,
            dout: d + 2 * p - 2,
            hout: h + 2 * p - 2,
            wout: w + 2 * p - 2,
        }
    }

    /// The convolution by its definition, in f64.
    fn naive(x: &[f32], w: &[f32], g: &Geo, b: usize, o: usize) -> Vec<f64> {
        let mut out = vec![0f64; b * o * g.dout * g.hout * g.wout];
        let at = |bi: usize, ci: usize, z: isize, y: isize, xx: isize| -> f64 {
            if z < 0 || y < 0 || xx < 0 {
                return 0.0;
            }
            let (z, y, xx) = (z as usize, y as usize, xx as usize);
            if z >= g.d || y >= g.h || xx >= g.w {
                return 0.0;
            }
            f64::from(x[(((bi * g.c + ci) * g.d + z) * g.h + y) * g.w + xx])
        };
        let p = g.p as isize;
        for bi in 0..b {
            for j in 0..o {
                for z in 0..g.dout {
                    for y in 0..g.hout {
                        for xo in 0..g.wout {
                            let mut s = 0f64;
                            for ci in 0..g.c {
                                for t in 0..27 {
                                    let (kd, kh, kw) = (t / 9, (t / 3) % 3, t % 3);
                                    s += f64::from(w[(j * g.c + ci) * 27 + t])
                                        * at(
                                            bi,
                                            ci,
                                            (z + kd) as isize - p,
                                            (y + kh) as isize - p,
                                            (xo + kw) as isize - p,
                                        );
                                }
                            }
                            out[(((bi * o + j) * g.dout + z) * g.hout + y) * g.wout + xo] = s;
                        }
                    }
                }
            }
        }
        out
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        let scale = b.iter().fold(1f64, |m, v| m.max(v.abs()));
        for (i, (&u, &v)) in a.iter().zip(b).enumerate() {
            assert!(
                (f64::from(u) - v).abs() <= 1e-5 * scale,
                "{what}: element {i}: {u} against {v}"
            );
        }
    }

    /// Forward and dL/dw at every level the CPU has, against the definition: both kernels
    /// (voxel-vectorised for ≤ one vector of output channels on rows ≥ 16, channel-vectorised
    /// otherwise), partial, paired and tripled output blocks (1, 5, 16, 17, 20, 32, 33, 50
    /// channels), rows split into unequal register blocks, every padding, a batch of two.
    #[test]
    fn every_level_matches_the_definition() {
        let cases = [
            (1, 1, (3, 4, 5), 1),
            (3, 5, (4, 6, 31), 1),
            (2, 16, (3, 5, 64), 1),
            (4, 17, (5, 3, 9), 2),
            (5, 33, (4, 4, 13), 0),
            (16, 32, (3, 3, 8), 1),
            // Three channel vectors per register block (short rows, many channels).
            (3, 50, (3, 4, 6), 1),
            (2, 20, (3, 3, 4), 1),
        ];
        for isa in Isa::available() {
            for (ci, &(c, o, dims, p)) in cases.iter().enumerate() {
                let g = geo(c, dims, p);
                let b = 2;
                let x = values(b * c * dims.0 * dims.1 * dims.2, ci as u64);
                let w = values(o * c * 27, 100 + ci as u64);
                let want = naive(&x, &w, &g, b, o);
                let got = forward(isa, &x, &w, &g, b, o, &|_, _, _| {}).expect("forward");
                close(&got, &want, &format!("{isa} forward case {ci}"));
                // dL/dw for dL/dy = gy: Σ gy · x[voxel + tap], by the definition.
                let gy = values(want.len(), 200 + ci as u64);
                let gw = grad_weight(isa, &x, &gy, &g, b, o).expect("grad");
                let mut gw_ref = vec![0f64; o * c * 27];
                let (pp, vol) = (p as isize, g.dout * g.hout * g.wout);
                for (q, &gv) in gy.iter().enumerate() {
                    let (bi, j, r) = (q / (o * vol), (q / vol) % o, q % vol);
                    let (z, y, xo) = (r / (g.hout * g.wout), (r / g.wout) % g.hout, r % g.wout);
                    for cj in 0..c {
                        for t in 0..27 {
                            let (zi, yi, xi) = (
                                (z + t / 9) as isize - pp,
                                (y + (t / 3) % 3) as isize - pp,
                                (xo + t % 3) as isize - pp,
                            );
                            if (0..dims.0 as isize).contains(&zi)
                                && (0..dims.1 as isize).contains(&yi)
                                && (0..dims.2 as isize).contains(&xi)
                            {
                                let xv = x[(((bi * c + cj) * dims.0 + zi as usize) * dims.1
                                    + yi as usize)
                                    * dims.2
                                    + xi as usize];
                                gw_ref[(j * c + cj) * 27 + t] += f64::from(gv) * f64::from(xv);
                            }
                        }
                    }
                }
                close(&gw, &gw_ref, &format!("{isa} dL/dw case {ci}"));
            }
        }
    }

    #[test]
    fn unsupported_shapes_are_errors() {
        let mut g = geo(1, (3, 3, 3), 1);
        g.k = 5;
        assert!(forward(
            Isa::Portable,
            &[0.0; 27],
            &[0.0; 125],
            &g,
            1,
            1,
            &|_, _, _| {}
        )
        .is_err());
        let g = geo(2, (3, 3, 3), 1);
        assert!(forward(
            Isa::Portable,
            &[0.0; 5],
            &[0.0; 54],
            &g,
            1,
            1,
            &|_, _, _| {}
        )
        .is_err());
        assert!(grad_weight(Isa::Portable, &[0.0; 54], &[0.0; 3], &g, 1, 1).is_err());
    }
}
