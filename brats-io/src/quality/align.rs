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
//!
//! A turned image has no one shift: its middle stays while its parts move different ways (on
//! the real case, T1ce turned by 3° about the slice axis took enhancing-tumour agreement to
//! 0.56 with an overall shift of 1 mm). So the compared voxels are also split into the
//! inner brain's octants (halves at the median along each axis), each pair of images is
//! matched in each octant on its own, to a fraction of a voxel (the parabola through the best
//! score and its neighbours along each axis), and an image's part displacements are the
//! per-axis medians against the other three. A shift moves every part alike; a turn or a
//! warp moves them apart, and how far the farthest part lies from their mean is the image's
//! turn ([`TURN_MM`]). The octants' scores are the overall search's sums split by part, so
//! the overall shift is found exactly as before and the parts cost only their local search.

use ndarray::ArrayView3;
use rayon::prelude::*;

use crate::preprocess::bounding_box;
use crate::volume::Volume;

/// The largest shift looked for, voxels per axis; a displacement found at this size may be
/// larger.
pub const MAX_SHIFT: i64 = 5;

/// At most this many brain voxels (an even stride through the inner brain) are compared:
/// the real case gives the same shifts with 50,000, in a quarter of the time (the whole
/// check on two cores: about 0.3 s when measured, 0.9–1.0 s with the octants, which add a
/// third or so; README).
pub const MAX_SAMPLES: usize = 20_000;

/// An image whose displacement reaches this many millimetres along an axis is reported as
/// not co-registered. The real BraTS case's images agree within
/// one voxel; moving one of them by 3 mm changes its map visibly.
pub const SHIFT_MM: f64 = 2.0;

/// An image a part of whose content lies this many millimetres from where its overall
/// displacement puts it is reported as turned or warped against the others. Measured with
/// `bts inspect`: on the real BraTS case the four images reach 0.5–0.9 mm, on 60 synthetic
/// cases (240 images) at most 0.9 mm, and an image of the real case moved by 1–3 voxels
/// stays under 1.1 mm. One image of the real case turned about any of the three axes
/// reaches 1.9–3.1 mm at 3° (10 of 12 flagged) and 2.8–4.7 mm at 5° (12 of 12), while the
/// other three stay under 1.7 mm; at 2°, 1.1–2.3 mm (1 of 12).
pub const TURN_MM: f64 = 2.0;

/// Voxels compared must lie this deep inside the brain (a box of this half-width around
/// them is all brain).
const DEPTH: usize = MAX_SHIFT as usize + 2;

/// What [`displacements`] found for the four images (FLAIR, T1, T1ce, T2).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Displacements {
    /// Each image's displacement against the other three, whole voxels along the image axes
    /// `(i, j, k)`.
    pub overall: [[i64; 3]; 4],
    /// Each image's displacement in each part of the inner brain where it could be measured
    /// (its octants, split at the samples' median along each axis), voxels along `(i, j, k)`,
    /// to a fraction of a voxel. A turned or warped image moves its parts different ways.
    pub parts: [Vec<[f64; 3]>; 4],
}

/// Each image's displacement against the other three, overall and part by part; `None`
/// when the inner brain is too small or an image is flat there.
pub(crate) fn displacements(
    images: &[Volume<f32>],
    brain: ArrayView3<bool>,
) -> Option<Displacements> {
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
    let part = Parts::of(&samples, dims);
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
    let found: Vec<PairShift> = pairs
        .par_iter()
        .map(|&(a, b)| best_shift(&fields[a], &fields[b], dims, &samples, &part))
        .collect();
    // Image b's content lies at +s from image a's: b is displaced by s against a, a by −s
    // against b (the sign). Shifts are found as (k, j, i); reported as (i, j, k).
    let mut against: [Vec<(&PairShift, i64)>; 4] = Default::default();
    for (&(a, b), s) in pairs.iter().zip(&found) {
        against[b].push((s, 1));
        against[a].push((s, -1));
    }
    let mut overall = [[0i64; 3]; 4];
    let mut parts: [Vec<[f64; 3]>; 4] = Default::default();
    for (m, d) in against.iter().enumerate() {
        let o = [0, 1, 2].map(|axis| {
            let v = |n: usize| d[n].1 * d[n].0.overall[axis];
            median3(v(0), v(1), v(2))
        });
        overall[m] = [o[2], o[1], o[0]];
        for r in 0..PARTS {
            let (Some(p0), Some(p1), Some(p2)) =
                (d[0].0.parts[r], d[1].0.parts[r], d[2].0.parts[r])
            else {
                continue;
            };
            let p = [0, 1, 2].map(|axis| {
                let v = |n: usize, p: [f64; 3]| d[n].1 as f64 * p[axis];
                median3f(v(0, p0), v(1, p1), v(2, p2))
            });
            parts[m].push([p[2], p[1], p[0]]);
        }
    }
    Some(Displacements { overall, parts })
}

/// The inner brain is split into this many parts (octants) to see whether an image is turned.
const PARTS: usize = 8;

/// A part with fewer samples than this is not measured on its own.
const MIN_PART_SAMPLES: usize = 500;

/// The samples split into the inner brain's octants.
struct Parts {
    /// Which octant each sample lies in.
    of: Vec<u8>,
    /// The samples (their indices) in each octant.
    members: [Vec<usize>; PARTS],
}

impl Parts {
    /// Split at the samples' median coordinate along each axis (so each half holds about
    /// half the samples).
    fn of(samples: &[usize], dims: [usize; 3]) -> Self {
        let of = octants(samples, dims);
        let members =
            std::array::from_fn(|r| (0..of.len()).filter(|&n| usize::from(of[n]) == r).collect());
        Self { of, members }
    }
}

/// Which octant each sample lies in, split at the samples' median coordinate along each
/// axis.
fn octants(samples: &[usize], dims: [usize; 3]) -> Vec<u8> {
    let coords = |p: usize| {
        [
            p / (dims[1] * dims[2]),
            (p / dims[2]) % dims[1],
            p % dims[2],
        ]
    };
    let medians = [0, 1, 2].map(|axis| {
        let mut c: Vec<usize> = samples.iter().map(|&p| coords(p)[axis]).collect();
        let mid = c.len() / 2;
        *c.select_nth_unstable(mid).1
    });
    samples
        .iter()
        .map(|&p| {
            let c = coords(p);
            (0..3).fold(0u8, |acc, axis| {
                acc * 2 + u8::from(c[axis] >= medians[axis])
            })
        })
        .collect()
}

fn median3(a: i64, b: i64, c: i64) -> i64 {
    a.max(b).min(a.min(b).max(c))
}

fn median3f(a: f64, b: f64, c: f64) -> f64 {
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

/// Where image `b` matches image `a` best: overall and part by part.
struct PairShift {
    /// The shift `s` (k, j, i) at which `b` moved by `s` matches `a` best over all samples.
    overall: [i64; 3],
    /// The same for each part's samples alone, to a fraction of a voxel; `None` for a part
    /// with too few samples.
    parts: [Option<[f64; 3]>; PARTS],
}

/// The shift `s` (k, j, i) at which `b` moved by `s` matches `a` best: coarse over every
/// second shift, then every shift next to the coarse best. Ties keep the smaller shift. The
/// coarse scores are also summed part by part; each part then searches next to its own
/// coarse best on its own samples, and refines its shift along each axis by the parabola
/// through its best score and its two neighbours.
fn best_shift(
    a: &Field,
    b: &Field,
    dims: [usize; 3],
    samples: &[usize],
    part: &Parts,
) -> PairShift {
    let strides = [(dims[1] * dims[2]) as i64, dims[2] as i64, 1];
    let fixed: Vec<[f32; 3]> = samples.iter().map(|&p| a.0[p]).collect();
    // (u · v)² and |v|⁴ for sample n against b moved by `off`.
    let term = |n: usize, off: i64| -> (f64, f64) {
        // ok: samples lie DEPTH > MAX_SHIFT voxels inside the crop on every axis.
        let v = &b.0[(samples[n] as i64 + off) as usize];
        let u = &fixed[n];
        let d = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
        let vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        (f64::from(d * d), f64::from(vv * vv))
    };
    let offset = |s: [i64; 3]| s[0] * strides[0] + s[1] * strides[1] + s[2] * strides[2];
    // A part's score is normalised by the strength of b's edges it meets, √Σ|v|⁴ (so, by
    // Cauchy–Schwarz, an image matched with itself scores highest unmoved): a part is small
    // enough that moving b can bring in more or stronger edges, which the raw sum would
    // reward. The overall sum, over the whole inner brain, is kept raw as it always was.
    let normalised = |sum: f64, strength: f64| {
        if strength > 0.0 {
            sum / strength.sqrt()
        } else {
            0.0
        }
    };
    // Over all samples, and part by part.
    let scores = |s: [i64; 3]| -> (f64, [f64; PARTS]) {
        let off = offset(s);
        let mut sum = 0.0f64;
        let mut parts = [0.0f64; PARTS];
        let mut strength = [0.0f64; PARTS];
        for n in 0..samples.len() {
            let (t, v4) = term(n, off);
            sum += t;
            let r = usize::from(part.of[n]);
            parts[r] += t;
            strength[r] += v4;
        }
        (
            sum,
            std::array::from_fn(|r| normalised(parts[r], strength[r])),
        )
    };
    let norm = |s: [i64; 3]| s.iter().map(|x| x * x).sum::<i64>();
    let better = |s: [i64; 3], v: f64, best: &([i64; 3], f64)| {
        v > best.1 || (v == best.1 && norm(s) < norm(best.0))
    };
    let coarse: Vec<i64> = (-MAX_SHIFT + 1..MAX_SHIFT).step_by(2).collect();
    let mut best = ([0i64; 3], f64::NEG_INFINITY);
    let mut part_best = [([0i64; 3], f64::NEG_INFINITY); PARTS];
    for &k in &coarse {
        for &j in &coarse {
            for &i in &coarse {
                let s = [k, j, i];
                let (v, parts) = scores(s);
                if better(s, v, &best) {
                    best = (s, v);
                }
                for (r, &pv) in parts.iter().enumerate() {
                    if better(s, pv, &part_best[r]) {
                        part_best[r] = (s, pv);
                    }
                }
            }
        }
    }
    let around = |centre: [i64; 3], score: &dyn Fn([i64; 3]) -> f64, best: &mut ([i64; 3], f64)| {
        for dk in -1..=1 {
            for dj in -1..=1 {
                for di in -1..=1 {
                    let s = [centre[0] + dk, centre[1] + dj, centre[2] + di]
                        .map(|v| v.clamp(-MAX_SHIFT, MAX_SHIFT));
                    let v = score(s);
                    if better(s, v, best) {
                        *best = (s, v);
                    }
                }
            }
        }
    };
    let centre = best.0;
    around(centre, &|s| scores(s).0, &mut best);
    let parts = std::array::from_fn(|r| {
        let own = &part.members[r];
        if own.len() < MIN_PART_SAMPLES {
            return None;
        }
        let score = |s: [i64; 3]| {
            let off = offset(s);
            let (sum, strength) = own.iter().fold((0.0, 0.0), |(a, b), &n| {
                let (t, v4) = term(n, off);
                (a + t, b + v4)
            });
            normalised(sum, strength)
        };
        let mut pb = part_best[r];
        around(pb.0, &score, &mut pb);
        let (s, v) = pb;
        Some([0, 1, 2].map(|axis| {
            let step = |d: i64| {
                let mut t = s;
                t[axis] += d;
                t
            };
            if s[axis].abs() == MAX_SHIFT {
                return s[axis] as f64;
            }
            let (lo, hi) = (score(step(-1)), score(step(1)));
            let curve = lo - 2.0 * v + hi;
            let frac = if curve < 0.0 {
                (0.5 * (lo - hi) / curve).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            s[axis] as f64 + frac
        }))
    });
    PairShift {
        overall: best.0,
        parts,
    }
}
