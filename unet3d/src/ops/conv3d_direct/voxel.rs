//! The voxel-vectorised kernels, for layers with at most one vector of output channels:
//! output channels × vectors of consecutive voxels of the padded row grid per register
//! block (forward), and output channels × nine taps with voxel vectors (dL/dw).

use rayon::prelude::*;

use super::common::{copy_rows, lanes, plane, plane_jobs, taps, Geo, Ring, RowEpilogue};
use crate::ops::kernel::{chunked_sum, SharedMut};
#[cfg(target_arch = "x86_64")]
use crate::ops::simd::{Avx2, Avx512};
use crate::ops::simd::{Isa, Portable, Simd};

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
pub(super) fn fits(isa: Isa, o: usize, g: &Geo) -> bool {
    o <= lanes(isa) && g.wout >= 16
}

/// The forward pass with the voxel-vectorised kernel (arguments checked by the caller).
pub(super) fn forward(
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
    let shared = SharedMut(out.as_mut_ptr());
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
                    let src = &tile[j * nq..][..hout.saturating_sub(1) * wpd + wout];
                    // SAFETY: output rows (bi, j, z, ·) lie inside `out`'s capacity and only
                    // this job writes them; `src` holds `hout` rows of stride `wpd`.
                    unsafe {
                        copy_rows(
                            (shared.ptr().add(start), wout),
                            (src.as_ptr(), wpd),
                            hout,
                            wout,
                        );
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

/// dL/dw with the voxel-vectorised kernel (the same chunking as the channel-vectorised one,
/// so the same determinism).
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
                // Columns wout.. of each row and the tail stay zero.
                let d = &mut gp[j * nq..][..hout.saturating_sub(1) * wpd + wout];
                // SAFETY: `d` holds `hout` rows of stride `wpd`, `src` `hout` rows of `wout`.
                unsafe { copy_rows((d.as_mut_ptr(), wpd), (src.as_ptr(), wout), hout, wout) };
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
        Ok(())
    })?;
    Ok(sum.chunks_exact(l).map(|v| v.iter().sum()).collect())
}
