//! What both direct kernels share: the geometry, the ring of zero-padded input planes, the
//! job and chunk helpers, the channel-blocked weights and the 16×16 transposition.

use rayon::prelude::*;

use crate::ops::simd::Isa;

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

/// Zero-padded input planes, `k` slots of `[C][H + 2p][W + 2p]`; a slot keeps the padded
/// plane it last received so that consecutive output planes reuse `k − 1` of them.
pub(super) struct Ring {
    data: Vec<f32>,
    tag: Vec<Option<(usize, usize)>>,
}

impl Ring {
    pub(super) fn new(g: &Geo) -> Ring {
        Ring {
            data: vec![0f32; g.k * g.c * plane(g)],
            tag: vec![None; g.k],
        }
    }

    /// Pointers to the `k` padded planes output plane `z` of batch item `bi` reads, loading
    /// the ones not in the ring.
    pub(super) fn planes(&mut self, x: &[f32], g: &Geo, bi: usize, z: usize) -> Vec<*const f32> {
        let wp = g.w + 2 * g.p;
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
                        // Only the interior: the padding of a slot is zero from its
                        // allocation on and never written with anything else.
                        let hw = g.h * g.w;
                        for ci in 0..g.c {
                            let src = &x[((bi * g.c + ci) * g.d + zi as usize) * hw..][..hw];
                            let dst = &mut buf[ci * ps..(ci + 1) * ps];
                            let first = (g.p * wp + g.p).min(dst.len());
                            // SAFETY: `src` holds `h` rows of `w`; `dst` from the first
                            // interior element holds `h` rows of stride `wp` (the padded
                            // plane), the last ending `p` columns before its end.
                            debug_assert!(g.h == 0 || first + (g.h - 1) * wp + g.w <= dst.len());
                            unsafe {
                                copy_rows(
                                    (dst[first..].as_mut_ptr(), wp),
                                    (src.as_ptr(), g.w),
                                    g.h,
                                    g.w,
                                )
                            };
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
pub(super) fn taps(i: usize, n: usize, g: &Geo) -> (usize, usize) {
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

/// Copies `rows` rows of `n` floats between strided buffers `(pointer, row stride)`.
/// (Compiling it per instruction-set level changed nothing measurable: the copies are
/// bound by memory, not by the 16-byte moves of the baseline x86-64 level.)
///
/// # Safety
/// Each of the `rows` rows of `src` and `dst` is valid for `n` elements; they do not overlap.
pub(super) unsafe fn copy_rows(
    dst: (*mut f32, usize),
    src: (*const f32, usize),
    rows: usize,
    n: usize,
) {
    for r in 0..rows {
        // SAFETY: forwarded to the caller.
        unsafe { copy_row(dst.0.add(r * dst.1), src.0.add(r * src.1), n) };
    }
}

/// Zeros after each padded plane: the voxel-vectorised kernel computes whole vectors past a
/// plane's last row (those outputs are dropped) and reads up to this far beyond it.
pub(super) const SLACK: usize = 128;

/// Stride of the padded planes in the ring: the plane and its slack.
pub(super) fn plane(g: &Geo) -> usize {
    (g.h + 2 * g.p) * (g.w + 2 * g.p) + SLACK
}

/// Jobs of consecutive output planes, `(batch item, first plane, end)`, about two per
/// thread: each worker pads each input plane about once.
pub(super) fn plane_jobs(b: usize, dout: usize) -> Vec<(usize, usize, usize)> {
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

pub(super) fn lanes(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 => 16,
        Isa::Avx2 | Isa::Portable => 8,
    }
}

/// The weight `[O, C, k, k, k]` channel-blocked as `[O/L][C][k³][L]`, zero beyond `O`.
pub(super) fn block_weights(isa: Isa, w: &[f32], o: usize, c: usize, k3: usize) -> Vec<f32> {
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

/// Writes the row tile `[wout][opad]` (voxel-major) to the `dst.len()` output rows `dst[j]`
/// (channel-major), 16×16 blocks at a time with AVX-512 shuffles (a scalar copy costs more
/// than the arithmetic of a 4-channel convolution).
///
/// # Safety
/// `tile` holds `wout` rounded up to 16 voxels; each `dst[j]` is valid for `wout` writes.
pub(super) unsafe fn transpose(isa: Isa, tile: &[f32], opad: usize, wout: usize, dst: &[*mut f32]) {
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
pub(super) unsafe fn transpose_avx512(tile: &[f32], opad: usize, wout: usize, dst: &[*mut f32]) {
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
