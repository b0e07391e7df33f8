//! Whether the four images are co-registered: how far each image's content lies from
//! where the other three put it.
//!
//! A network reads the four modalities voxel by voxel, so an image that is a few
//! millimetres off (a failed or skipped registration, or one image skull-stripped and
//! cropped on its own) is read as a different tumour: on the real BraTS case, FLAIR moved by
//! 3 mm took whole-tumour agreement with the correct map to 0.84, and T1ce moved by 3 mm
//! took enhancing-tumour agreement to 0.51, while the model's own certainty did not doubt
//! either.
//!
//! Modalities differ in contrast but share their edges (the ventricles, the grey–white
//! border, the tumour's rim), so the measure is the normalised gradient field similarity of
//! Haber and Modersitzki: the mean over the brain of `(n_a · n_b)²`, with
//! `n = ∇I / √(|∇I|² + ε²)` and ε the image's median non-zero gradient magnitude (so flat, noisy
//! regions count little). For each pair of images the integer shift of up to
//! [`MAX_SHIFT`] voxels per axis that maximises it is found, coarse (every second voxel)
//! then fine; an image's displacement is the per-axis median of its shifts against the
//! other three, so a single moved image does not make the others look moved. Only voxels at
//! least [`MAX_SHIFT`] + 2 voxels inside the brain mask are compared, so that the mask's
//! own edge, which several images may share after a common skull stripping, does not pull
//! the answer towards no shift.

use ndarray::ArrayView3;
use rayon::prelude::*;

use crate::preprocess::bounding_box;
use crate::volume::Volume;

/// The largest shift looked for, voxels per axis; a displacement found at this size may be
/// larger.
pub const MAX_SHIFT: i64 = 5;

/// At most this many brain voxels (an even stride through the inner brain) are compared:
/// the real case gives the same shifts with 50,000, in a quarter of the time (about 0.3 s
/// for the whole check on two cores).
pub const MAX_SAMPLES: usize = 20_000;

/// An image whose displacement reaches this many millimetres along an axis is reported as
/// not co-registered. The real BraTS case's images agree within
/// one voxel; moving one of them by 3 mm changes its map visibly.
pub const SHIFT_MM: f64 = 2.0;

/// Voxels compared must lie this deep inside the brain (a box of this half-width around
/// them is all brain).
const DEPTH: usize = MAX_SHIFT as usize + 2;

/// Each image's displacement against the other three, in voxels along the image axes
/// `(i, j, k)`; `None` when the inner brain is too small or an image is flat there.
pub(crate) fn displacements(
    images: &[Volume<f32>],
    brain: ArrayView3<bool>,
) -> Option<[[i64; 3]; 4]> {
    let (lo, hi) = bounding_box(brain)?;
    let dims = [0, 1, 2].map(|a| hi[a] + 1 - lo[a]);
    if dims.iter().any(|&d| d <= 2 * DEPTH) {
        return None;
    }
    let crop_brain: Vec<bool> = crop(brain, lo, dims).collect();
    let inner = erode(&crop_brain, dims, DEPTH);
    let candidates: Vec<usize> = (0..inner.len()).filter(|&n| inner[n]).collect();
    if candidates.len() < super::MIN_SAMPLES {
        return None;
    }
    let stride = candidates.len().div_ceil(MAX_SAMPLES).max(1);
    let samples: Vec<usize> = candidates.into_iter().step_by(stride).collect();
    let fields: Vec<Field> = images
        .par_iter()
        .map(|img| {
            let values: Vec<f32> = crop(img.data().view(), lo, dims).collect();
            Field::of(&values, dims, &samples)
        })
        .collect::<Option<Vec<_>>>()?;
    let pairs: Vec<(usize, usize)> = (0..4)
        .flat_map(|a| (a + 1..4).map(move |b| (a, b)))
        .collect();
    let shifts: Vec<[i64; 3]> = pairs
        .par_iter()
        .map(|&(a, b)| best_shift(&fields[a], &fields[b], dims, &samples))
        .collect();
    // Image b's content lies at +s from image a's: b is displaced by s against a, a by −s
    // against b. Shifts are found as (k, j, i); reported as (i, j, k).
    let mut against: [Vec<[i64; 3]>; 4] = Default::default();
    for (&(a, b), s) in pairs.iter().zip(&shifts) {
        against[b].push(*s);
        against[a].push(s.map(|v| -v));
    }
    Some(against.map(|d| {
        let m = [0, 1, 2].map(|axis| median3(d[0][axis], d[1][axis], d[2][axis]));
        [m[2], m[1], m[0]]
    }))
}

fn median3(a: i64, b: i64, c: i64) -> i64 {
    a.max(b).min(a.min(b).max(c))
}

fn crop<T: Copy>(
    view: ArrayView3<'_, T>,
    lo: [usize; 3],
    dims: [usize; 3],
) -> impl Iterator<Item = T> + '_ {
    let s = ndarray::s![
        lo[0]..lo[0] + dims[0],
        lo[1]..lo[1] + dims[1],
        lo[2]..lo[2] + dims[2]
    ];
    view.slice_move(s).into_iter().copied()
}

/// The voxels whose box of half-width `r` lies wholly inside `mask` (voxels outside the
/// array count as outside the mask): separable, one running count per axis.
fn erode(mask: &[bool], dims: [usize; 3], r: usize) -> Vec<bool> {
    let mut cur = mask.to_vec();
    let strides = [dims[1] * dims[2], dims[2], 1];
    for axis in 0..3 {
        let (n, st) = (dims[axis], strides[axis]);
        let mut next = vec![false; cur.len()];
        let mut prefix = vec![0usize; n + 1];
        // Every line along `axis` starts where that axis's coordinate is 0.
        let starts = (0..cur.len() / n).map(|l| {
            let outer = st * n;
            (l / st) * outer + l % st
        });
        for start in starts {
            for t in 0..n {
                prefix[t + 1] = prefix[t] + usize::from(cur[start + t * st]);
            }
            for t in r..n.saturating_sub(r) {
                next[start + t * st] = prefix[t + r + 1] - prefix[t - r] == 2 * r + 1;
            }
        }
        cur = next;
    }
    cur
}

/// An image's normalised gradient field on the crop, (k, j, i) components side by side.
struct Field(Vec<[f32; 3]>);

impl Field {
    /// Central differences (one-sided on the crop's faces), normalised with ε the median
    /// of the non-zero gradient magnitudes over `samples`; `None` for an image flat over
    /// them.
    fn of(values: &[f32], dims: [usize; 3], samples: &[usize]) -> Option<Self> {
        let [nk, nj, ni] = dims;
        let plane = nj * ni;
        // The difference along one axis (coordinate `c` of `n`, stride `st`): central
        // inside, one-sided on a face of the crop.
        let diff = |p: usize, c: usize, n: usize, st: usize| -> f32 {
            match (c > 0, c + 1 < n) {
                (true, true) => (values[p + st] - values[p - st]) / 2.0,
                (false, true) => values[p + st] - values[p],
                (true, false) => values[p] - values[p - st],
                (false, false) => 0.0,
            }
        };
        let mut g = vec![[0.0f32; 3]; values.len()];
        g.par_chunks_mut(plane).enumerate().for_each(|(k, out)| {
            for j in 0..nj {
                for i in 0..ni {
                    let p = k * plane + j * ni + i;
                    out[j * ni + i] =
                        [diff(p, k, nk, plane), diff(p, j, nj, ni), diff(p, i, ni, 1)];
                }
            }
        });
        let norm = |v: &[f32; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        let mut mags: Vec<f32> = samples
            .iter()
            .map(|&p| norm(&g[p]))
            .filter(|&m| m > 0.0)
            .collect();
        if mags.is_empty() {
            return None;
        }
        let mid = mags.len() / 2;
        let (_, &mut eps, _) = mags.select_nth_unstable_by(mid, f32::total_cmp);
        if !eps.is_finite() {
            return None;
        }
        let eps2 = eps * eps;
        g.par_iter_mut().for_each(|v| {
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + eps2).sqrt();
            *v = v.map(|x| x / n);
        });
        Some(Self(g))
    }
}

/// The shift `s` (k, j, i) at which `b` moved by `s` matches `a` best: coarse over every
/// second shift, then every shift next to the coarse best. Ties keep the smaller shift.
fn best_shift(a: &Field, b: &Field, dims: [usize; 3], samples: &[usize]) -> [i64; 3] {
    let strides = [(dims[1] * dims[2]) as i64, dims[2] as i64, 1];
    let fixed: Vec<[f32; 3]> = samples.iter().map(|&p| a.0[p]).collect();
    let score = |s: [i64; 3]| -> f64 {
        let off = s[0] * strides[0] + s[1] * strides[1] + s[2] * strides[2];
        let mut sum = 0.0f64;
        for (&p, u) in samples.iter().zip(&fixed) {
            // ok: samples lie DEPTH > MAX_SHIFT voxels inside the crop on every axis.
            let v = &b.0[(p as i64 + off) as usize];
            let d = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
            sum += f64::from(d * d);
        }
        sum
    };
    let mut best = ([0i64; 3], f64::NEG_INFINITY);
    let consider = |s: [i64; 3], best: &mut ([i64; 3], f64)| {
        let v = score(s);
        let norm = |s: [i64; 3]| s.iter().map(|x| x * x).sum::<i64>();
        if v > best.1 || (v == best.1 && norm(s) < norm(best.0)) {
            *best = (s, v);
        }
    };
    let coarse: Vec<i64> = (-MAX_SHIFT + 1..MAX_SHIFT).step_by(2).collect();
    for &k in &coarse {
        for &j in &coarse {
            for &i in &coarse {
                consider([k, j, i], &mut best);
            }
        }
    }
    let centre = best.0;
    for dk in -1..=1 {
        for dj in -1..=1 {
            for di in -1..=1 {
                let s = [centre[0] + dk, centre[1] + dj, centre[2] + di]
                    .map(|v| v.clamp(-MAX_SHIFT, MAX_SHIFT));
                consider(s, &mut best);
            }
        }
    }
    best.0
}
