//! The channel-vectorised kernels: one, two or three vectors of output channels × a run of
//! voxels of one output row per register block (forward), and channel vectors × the nine taps
//! of one depth tap summed over a plane (dL/dw).

use rayon::prelude::*;

use super::common::{
    block_weights, lanes, plane, plane_jobs, taps, transpose, Geo, Ring, RowEpilogue,
};
use crate::ops::kernel::{chunked_sum, SharedMut};
#[cfg(target_arch = "x86_64")]
use crate::ops::simd::{Avx2, Avx512};
use crate::ops::simd::{Isa, Portable, Simd};

/// Everything the forward kernel needs for one output row.
struct FwdRow<'a> {
    /// Per depth tap, the origin of the padded coordinates of its input plane: element
    /// `(ci, yp, xp)` (row and column counted with the padding) is at
    /// `origin + ci·cs + yp·rs + xp`. Either a zero-padded plane of the ring or, where the
    /// kernel reads the input itself, a pointer `p` rows and columns before the plane (it may
    /// point outside the input: only the taps that read inside are dereferenced).
    planes: &'a [*const f32],
    /// Channel and row strides of those planes.
    cs: usize,
    rs: usize,
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
    /// The output-channel vectors this call computes, `ob0..ob1` (whole register blocks of
    /// the row's partition, see [`groups`]).
    ob: (usize, usize),
    /// Row tile `[wout][nb·L]`.
    tile: *mut f32,
}

/// One register block: `OB` output-channel vectors × `NX` voxels from `x0`; `LEFT` and
/// `RIGHT` drop the column tap before the block's first voxel and after its last (the row's
/// ends, where the input is read unpadded).
///
/// # Safety
/// The CPU has `S`'s features; `a`'s pointers cover the row: every input element a tap in
/// the block reads (voxel `x0 + i`, column tap `kw`, at padded column `x0 + i + kw`) exists,
/// except the ones `LEFT`/`RIGHT` skip.
// Index loops over the register arrays: both indices address `acc`, and the loops must unroll.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn fwd_block<
    S: Simd,
    const OB: usize,
    const NX: usize,
    const LEFT: bool,
    const RIGHT: bool,
>(
    a: &FwdRow,
    ob: usize,
    x0: usize,
) {
    let g = a.g;
    let (k, c, l) = (g.k, g.c, S::LANES);
    let wbs = c * k * k * k * l;
    // SAFETY: see the function's contract; the addresses are formed with wrapping
    // arithmetic (an origin may lie before the input) and only the ones inside are read.
    unsafe {
        let mut acc = [[S::zero(); NX]; OB];
        let ((kd0, kd1), (kh0, kh1)) = (a.kd, a.kh);
        for ci in 0..c {
            for kd in kd0..kd1 {
                let base = a
                    .planes
                    .get_unchecked(kd)
                    .wrapping_add(ci * a.cs + a.y * a.rs + x0);
                for kh in kh0..kh1 {
                    let row = base.wrapping_add(kh * a.rs);
                    let mut wp = a.w.add(ob * wbs + ((ci * k + kd) * k + kh) * k * l);
                    // `k` (3) read at run time keeps this loop rolled: unrolled, the compiler
                    // holds three taps' weights at once and spills accumulators (-25 %).
                    for kw in 0..k {
                        let mut wv = [S::zero(); OB];
                        for (b, v) in wv.iter_mut().enumerate() {
                            *v = S::load(wp.add(b * wbs));
                        }
                        let r = row.wrapping_add(kw);
                        for i in 0..NX {
                            // Constant false except on an edge block's end voxel.
                            let skip = (LEFT && i == 0 && kw == 0)
                                || (RIGHT && i == NX - 1 && kw == k - 1);
                            if !skip {
                                let xv = S::splat(r.wrapping_add(i));
                                for b in 0..OB {
                                    acc[b][i] = S::fma(wv[b], xv, acc[b][i]);
                                }
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

/// How many channel vectors (1–4, at most `left`) one register block takes for rows of
/// `wout` voxels with `regs` accumulators: the fewest loads per FMA — per tap a row costs
/// one weight load per channel vector and block plus one broadcast per voxel, for `nob·wout`
/// FMAs. At 8 voxels that is three vectors × 8 (one block); at 16, four × 5–6 (three
/// blocks) rather than two × 8.
fn blocking(left: usize, wout: usize, regs: usize) -> usize {
    let cost = |nob: usize| {
        let chunks = wout.div_ceil((regs / nob).max(1));
        (chunks * nob + wout) as f64 / (nob * wout) as f64
    };
    let mut best = 1;
    for nob in 2..=left.min(4) {
        if cost(nob) < cost(best) {
            best = nob;
        }
    }
    best
}

/// Ranges of output-channel vectors computed together over a whole plane, each of whole
/// register blocks (so [`fwd_row`] re-derives the same blocks inside a range) and holding
/// at most [`GROUP_BYTES`] of weights where a block allows. With more weights than that,
/// row after row over every block would stream all the weights through L2 once per row
/// (1.8 MB at 128 channels, 7 MB at 256); a range over the plane's rows keeps its own in L2.
fn groups(nb: usize, wout: usize, regs: usize, block_bytes: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut ob = 0;
    while ob < nb {
        let nob = blocking(nb - ob, wout, regs);
        match out.last_mut() {
            Some(last) if (ob + nob - last.0) * block_bytes <= GROUP_BYTES => last.1 = ob + nob,
            _ => out.push((ob, ob + nob)),
        }
        ob += nob;
    }
    out
}

/// Weight bytes one channel range may hold (half of this CPU's 1 MB L2 per core; the rest
/// is for the input planes and the tile).
const GROUP_BYTES: usize = 512 * 1024;

/// The register count `fwd_row` blocks with at `isa`.
fn regs(isa: Isa) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => Avx512::REGS,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => Avx2::REGS,
        _ => Portable::REGS,
    }
}

/// The whole output row: every output-channel block, the row cut into equal register
/// blocks.
#[inline(always)]
unsafe fn fwd_row<S: Simd>(a: &FwdRow) {
    let wout = a.g.wout;
    // With padding 1 (read unpadded, see `forward`) the first and last voxel of a row skip
    // the column tap outside the input; padding 0 has no such tap, padding 2 reads the
    // zero-padded ring.
    let edge = a.g.p == 1;
    let (mut ob, ob1) = a.ob;
    while ob < ob1 {
        let nob = blocking(ob1 - ob, wout, S::REGS);
        let max = S::REGS / nob;
        let chunks = wout.div_ceil(max);
        let mut x0 = 0;
        for ch in 0..chunks {
            let nx = (wout - x0) / (chunks - ch);
            let (lt, rt) = (edge && x0 == 0, edge && x0 + nx == wout);
            // SAFETY: forwarded to the caller; 1 ≤ nx ≤ max ≤ 28.
            unsafe {
                match nob {
                    4 => by_nx!(S, 4, nx, a, ob, x0, lt, rt; 1 2 3 4 5 6 7),
                    3 => by_nx!(S, 3, nx, a, ob, x0, lt, rt; 1 2 3 4 5 6 7 8 9),
                    2 => by_nx!(S, 2, nx, a, ob, x0, lt, rt; 1 2 3 4 5 6 7 8 9 10 11 12 13 14),
                    _ => {
                        by_nx!(S, 1, nx, a, ob, x0, lt, rt; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28)
                    }
                }
            }
            x0 += nx;
        }
        ob += nob;
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

/// `OB` output-channel vectors × the nine taps of depth tap `kd` of input channel `ci`,
/// summed over the plane and added into the partial sum.
///
/// # Safety
/// The CPU has `S`'s features; the pointers of `a` are valid for the plane.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn dw_block<S: Simd, const OB: usize>(a: &WPlane, ob: usize, ci: usize, kd: usize) {
    let g = a.g;
    let l = S::LANES;
    let wpd = g.w + 2 * g.p;
    let ps = plane(g);
    let opad = a.nb * l;
    let pbs = g.c * 27 * l;
    // SAFETY: see the function's contract.
    unsafe {
        let base = a.planes.get_unchecked(kd).add(ci * ps);
        let mut acc = [[S::zero(); 9]; OB];
        for y in 0..g.hout {
            // The three input rows the taps of this output row read.
            let rows: [*const f32; 3] = std::array::from_fn(|kh| base.add((y + kh) * wpd));
            let gy = a.gt.add(y * g.wout * opad + ob * l);
            for x in 0..g.wout {
                let mut gv = [S::zero(); OB];
                for (b, v) in gv.iter_mut().enumerate() {
                    *v = S::load(gy.add(x * opad + b * l));
                }
                // Unrolled by hand: the accumulators must stay in registers.
                unroll!(TAP in [0 1 2 3 4 5 6 7 8] {
                    let xv = S::splat(rows[TAP / 3].add(x + TAP % 3));
                    for b in 0..OB {
                        acc[b][TAP] = S::fma(gv[b], xv, acc[b][TAP]);
                    }
                });
            }
        }
        for (b, accb) in acc.iter().enumerate() {
            for (t, v) in accb.iter().enumerate() {
                let p = a.acc.add((ob + b) * pbs + (ci * 27 + kd * 9 + t) * l);
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
                        dw_block::<S, 2>(a, ob, ci, kd);
                    }
                } else {
                    for kd in 0..3 {
                        dw_block::<S, 1>(a, ob, ci, kd);
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

/// The forward pass with the channel-vectorised kernel (arguments checked by the caller).
pub(super) fn forward(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    g: &Geo,
    b: usize,
    o: usize,
    epi: RowEpilogue,
) -> Vec<f32> {
    let k3 = g.k * g.k * g.k;
    let l = lanes(isa);
    let nb = o.div_ceil(l);
    let wb = block_weights(isa, w, o, g.c, k3);
    let (dout, hout, wout) = (g.dout, g.hout, g.wout);
    let vol = dout * hout * wout;
    let mut out = Vec::<f32>::with_capacity(b * o * vol);
    let shared = SharedMut(out.as_mut_ptr());
    // With padding ≤ 1 the kernel reads the input itself: the depth and row taps that would
    // read padding are skipped anyway, and so are the column taps (`fwd_row`). Padding 2 (only
    // dL/dx of an unpadded convolution) reads zero-padded copies from a ring.
    let raw = g.p <= 1;
    let (cs, rs) = if raw {
        (g.d * g.h * g.w, g.w)
    } else {
        (plane(g), g.w + 2 * g.p)
    };
    // One range of output channels over the whole plane, then the next (see `groups`); with
    // a single range, row by row with a one-row tile.
    let block_bytes = g.c * k3 * l * std::mem::size_of::<f32>();
    let ranges = groups(nb, wout, regs(isa), block_bytes);
    let tile_rows = if ranges.len() > 1 { hout } else { 1 };
    let row_len = wout.next_multiple_of(16) * nb * l;
    let opad = nb * l;
    plane_jobs(b, dout).into_par_iter().for_each_init(
        // The tile has whole blocks of 16 voxels for the vector transposition.
        || {
            (
                (!raw).then(|| Ring::new(g)),
                vec![0f32; tile_rows * row_len],
                Vec::new(),
            )
        },
        |(ring, tile, dst), (bi, z0, z1)| {
            for z in z0..z1 {
                let planes = match ring {
                    Some(ring) => ring.planes(x, g, bi, z),
                    None => raw_planes(x, g, bi, z),
                };
                let kd = taps(z, g.d, g);
                let row = |y: usize, ob: (usize, usize), tile: *mut f32| FwdRow {
                    planes: &planes,
                    cs,
                    rs,
                    y,
                    kd,
                    kh: taps(y, g.h, g),
                    g,
                    w: wb.as_ptr(),
                    nb,
                    ob,
                    tile,
                };
                let start = |j: usize, y: usize| ((bi * o + j) * dout + z) * hout * wout + y * wout;
                // Rows in chunks the tile holds: each range over the chunk's rows, then
                // the chunk's rows transposed into the output.
                for y0 in (0..hout).step_by(tile_rows) {
                    let ys = y0..(y0 + tile_rows).min(hout);
                    for &ob in &ranges {
                        for y in ys.clone() {
                            // SAFETY: row y's slot of the tile.
                            let t = unsafe { tile.as_mut_ptr().add((y - y0) * row_len) };
                            run_row(isa, &row(y, ob, t));
                        }
                    }
                    for y in ys {
                        let t = &tile[(y - y0) * row_len..][..row_len];
                        // SAFETY: output rows (bi, ·, z, y) lie inside `out`'s capacity and
                        // only this job writes them; each is written in full before a slice
                        // over it is made.
                        unsafe {
                            dst.clear();
                            dst.extend((0..o).map(|j| shared.ptr().add(start(j, y))));
                            transpose(isa, t, opad, wout, dst);
                        }
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
    out
}

/// The origins of the `k` input planes output plane `z` of batch item `bi` reads, in the
/// input itself: `p` rows and columns before each plane (wrapping: the taps that would read
/// there are skipped). Depth taps outside the input get a null origin, never read.
fn raw_planes(x: &[f32], g: &Geo, bi: usize, z: usize) -> Vec<*const f32> {
    (0..g.k)
        .map(|kd| match (z + kd).checked_sub(g.p) {
            Some(zi) if zi < g.d => x
                .as_ptr()
                .wrapping_add((bi * g.c * g.d + zi) * g.h * g.w)
                .wrapping_sub(g.p * g.w + g.p),
            _ => std::ptr::null(),
        })
        .collect()
}

/// dL/dw with the channel-vectorised kernel (arguments checked by the caller).
pub(super) fn grad_weight(
    isa: Isa,
    x: &[f32],
    gy: &[f32],
    g: &Geo,
    b: usize,
    o: usize,
) -> candle_core::Result<Vec<f32>> {
    let (hout, wout, dout) = (g.hout, g.wout, g.dout);
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
        Ok(())
    })?;
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

    #[test]
    fn channel_ranges_are_whole_blocks_within_the_budget() {
        // 128 channels at 8³ (AVX-512): blocks of 3, 3, 2 vectors, 221 KB of weights each
        // vector-block of 128 input channels: every block alone.
        let per_vector = 128 * 27 * 16 * 4;
        assert_eq!(groups(8, 8, 28, per_vector), vec![(0, 3), (3, 6), (6, 8)]);
        // 64 channels at 16³: 4 vectors, 442 KB in all: one range, row by row.
        assert_eq!(groups(4, 16, 28, 64 * 27 * 16 * 4), vec![(0, 4)]);
        // The test case of 96 output channels from 64: two ranges of three.
        assert_eq!(groups(6, 8, 28, 64 * 27 * 16 * 4), vec![(0, 3), (3, 6)]);
        // A block larger than the budget is still one range.
        assert_eq!(groups(4, 4, 28, 256 * 27 * 16 * 4), vec![(0, 4)]);
    }
}
