//! The direct 3×3×3 convolution on the CPU: forward (and so dL/dx, the same kernel on the
//! flipped weight) and dL/dw, with register-blocked micro-kernels per instruction-set level.
//!
//! Layout. Tensors stay `[B, C, D, H, W]` between layers (no conversion at the op's edges).
//! Inside the op the *weights* are channel-blocked, `[O/L][C][kd][kh][kw][L]` (`L` = lanes:
//! 16 for AVX-512, 8 for AVX2 and the portable level), and the output is produced
//! position-major, one vector of `L` output channels per voxel. The input is read as
//! scalars broadcast to all lanes: with padding ≤ 1 straight from the input (the depth and
//! row taps that would read padding are skipped, and so is the column tap of a row's first
//! and last voxel: register blocks at a row's ends are compiled with `LEFT`/`RIGHT`), else
//! from zero-padded copies of the `k` input planes an output plane needs (a ring of planes
//! per worker, so each input plane is padded about once; the voxel-vectorised kernel and
//! dL/dw always read the ring).
//!
//! Forward micro-kernel: `OB` vectors of output channels × `NX` consecutive voxels of one
//! output row stay in registers (up to 28 of AVX-512's 32) while the loop runs over input
//! channels and taps: per tap `OB` weight loads and `NX` broadcasts feed `OB·NX` fused
//! multiply-adds. This is the register blocking of oneDNN's direct convolution; it has no
//! im2col and no packing, and since the broadcast operand is a voxel, a row of 8 voxels
//! wastes nothing (a W-vectorised kernel would pad 8³ planes to vectors of 16).
//!
//! dL/dw micro-kernel: `OB` vectors of output channels × the nine taps of one depth tap
//! accumulate `dL/dy[voxel] · x[voxel + tap]` over every
//! voxel of an output plane, then add into the worker's partial sum; the partial sums of a
//! fixed number of chunks are added in chunk order, so the result depends on the thread count
//! only.
//!
//! The epilogue (bias, activation, dropout) is applied by the caller to each finished output
//! plane of a channel.
//!
//! Files: `common` (geometry, the ring of padded planes, job and chunk helpers, the weight
//! blocking and the 16×16 transposition), `channel` (the channel-vectorised kernels and
//! their drivers), `voxel` (the voxel-vectorised kernels for layers with at most one vector
//! of output channels, and their drivers); this file checks the arguments and picks one.

use super::simd::Isa;

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

/// Repeats a block once per listed constant, bound to the given name.
macro_rules! unroll {
    ($i:ident in [$($n:literal)*] $body:block) => {
        $({
            const $i: usize = $n;
            $body
        })*
    };
}

/// Expands `match nx { 1 => f::<.., 1, L, R>, .. }` up to the largest register block, for the
/// block's edge flags.
macro_rules! by_nx {
    ($s:ty, $ob:literal, $nx:expr, $a:expr, $obi:expr, $x0:expr, $lt:expr, $rt:expr; $($n:literal)*) => {
        match ($lt, $rt) {
            (false, false) => by_nx!(@ $s, $ob, $nx, $a, $obi, $x0, false, false; $($n)*),
            (true, false) => by_nx!(@ $s, $ob, $nx, $a, $obi, $x0, true, false; $($n)*),
            (false, true) => by_nx!(@ $s, $ob, $nx, $a, $obi, $x0, false, true; $($n)*),
            (true, true) => by_nx!(@ $s, $ob, $nx, $a, $obi, $x0, true, true; $($n)*),
        }
    };
    (@ $s:ty, $ob:literal, $nx:expr, $a:expr, $obi:expr, $x0:expr, $l:literal, $r:literal; $($n:literal)*) => {
        match $nx {
            $($n => fwd_block::<$s, $ob, $n, $l, $r>($a, $obi, $x0),)*
            // Wider than the listed blocks (the callers never ask for it): one voxel at a
            // time, slower but correct.
            n => {
                for i in 0..n {
                    match ($l && i == 0, $r && i + 1 == n) {
                        (true, true) => fwd_block::<$s, $ob, 1, true, true>($a, $obi, $x0 + i),
                        (true, false) => fwd_block::<$s, $ob, 1, true, false>($a, $obi, $x0 + i),
                        (false, true) => fwd_block::<$s, $ob, 1, false, true>($a, $obi, $x0 + i),
                        (false, false) => fwd_block::<$s, $ob, 1, false, false>($a, $obi, $x0 + i),
                    }
                }
            }
        }
    };
}

mod channel;
mod common;
mod voxel;

pub(crate) use common::{supports, Geo, RowEpilogue};

/// Whether the direct kernels can run on `x`: a supported geometry, an instruction-set level
/// this CPU has, an input of the geometry's size.
fn runnable(isa: Isa, g: &Geo, b: usize, x: &[f32]) -> bool {
    supports(g) && Isa::available().contains(&isa) && x.len() == b * g.c * g.d * g.h * g.w
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
    if !runnable(isa, g, b, x) || w.len() != o * g.c * g.k * g.k * g.k {
        candle_core::bail!("conv3d-direct: shapes, kernel or instruction set not supported");
    }
    if voxel::fits(isa, o, g) {
        return Ok(voxel::forward(isa, x, w, g, b, o, epi));
    }
    Ok(channel::forward(isa, x, w, g, b, o, epi))
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
    if !runnable(isa, g, b, x) || gy.len() != b * o * g.dout * g.hout * g.wout {
        candle_core::bail!("conv3d-direct: shapes, kernel or instruction set not supported");
    }
    if voxel::fits(isa, o, g) {
        return voxel::grad_weight(isa, x, gy, g, b, o);
    }
    channel::grad_weight(isa, x, gy, g, b, o)
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
    /// otherwise), partial, one to four channel vectors per block (1, 5, 16, 17, 20, 32, 33, 40,
    /// 50, 64 channels), rows split into unequal register blocks, every padding, a batch of two.
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
            // Rows cut into several register blocks read from the unpadded input: the first
            // and last block drop the column tap outside it (pairs, then a single vector).
            (3, 20, (3, 3, 40), 1),
            (3, 40, (2, 3, 33), 1),
            // Four channel vectors × 5–6 voxels (rows of 16, the 64-channel layer's shape).
            (2, 64, (2, 2, 16), 1),
            // Weights beyond one channel range's budget: ranges of register blocks over the
            // whole plane (two ranges of three vectors at AVX-512), padded and unpadded.
            (64, 96, (3, 4, 8), 1),
            (64, 96, (2, 3, 6), 2),
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
