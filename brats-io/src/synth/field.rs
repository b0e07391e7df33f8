//! Smooth random fields, the separable filters and the 6-neighbour erosion and dilation
//! image formation needs, on `[k][j][i]`
//! arrays of 1 mm voxels. Everything here is deterministic given its random stream and runs
//! in parallel over independent lanes or slices (the result never depends on the thread
//! count).

use ndarray::{Array3, Axis};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Gaussian values on a coarse lattice, trilinearly interpolated: a smooth random field
/// whose features are about `spacing` voxels across, with standard deviation about 1 at
/// the lattice points.
#[derive(Debug, Clone)]
pub(crate) struct LatticeField {
    /// Lattice points per axis `[nk, nj, ni]`.
    dims: [usize; 3],
    spacing: f64,
    values: Vec<f32>,
}

impl LatticeField {
    /// A field covering a `[k, j, i]` grid of `shape`.
    pub(crate) fn new(rng: &mut impl Rng, shape: [usize; 3], spacing: f64) -> LatticeField {
        let spacing = spacing.max(1.0);
        let dims = shape.map(|n| (n as f64 / spacing).ceil() as usize + 2);
        let values = (0..dims.iter().product::<usize>())
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        LatticeField {
            dims,
            spacing,
            values,
        }
    }

    /// A field whose lattice spacing is drawn from `spacing` first.
    pub(crate) fn with_spacing_in(
        rng: &mut impl Rng,
        shape: [usize; 3],
        spacing: std::ops::Range<f64>,
    ) -> LatticeField {
        let s = rng.random_range(spacing);
        LatticeField::new(rng, shape, s)
    }

    /// The field at voxel `(k, j, i)` (any real position; clamped to the lattice).
    pub(crate) fn at(&self, k: f64, j: f64, i: f64) -> f32 {
        let [dk, dj, di] = self.dims;
        let coord = |x: f64, n: usize| {
            let u = (x / self.spacing).clamp(0.0, (n - 2) as f64);
            let f = u.floor();
            (f as usize, (u - f) as f32)
        };
        let ((k0, fk), (j0, fj), (i0, fi)) = (coord(k, dk), coord(j, dj), coord(i, di));
        let v = |a: usize, b: usize, c: usize| self.values[(a * dj + b) * di + c];
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let plane = |a: usize| {
            lerp(
                lerp(v(a, j0, i0), v(a, j0, i0 + 1), fi),
                lerp(v(a, j0 + 1, i0), v(a, j0 + 1, i0 + 1), fi),
                fj,
            )
        };
        lerp(plane(k0), plane(k0 + 1), fk)
    }

    /// The field on a whole `[k, j, i]` grid, scaled by `amplitude`.
    pub(crate) fn raster(&self, shape: [usize; 3], amplitude: f32) -> Array3<f32> {
        let mut out = Array3::zeros(shape);
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut plane)| {
                for ((j, i), v) in plane.indexed_iter_mut() {
                    *v = amplitude * self.at(k as f64, j as f64, i as f64);
                }
            });
        out
    }
}

/// Convolves every lane along `axis` with a symmetric `kernel` (odd length, centre in the
/// middle), replicating the edge values.
pub(crate) fn convolve_axis(a: &mut Array3<f32>, axis: usize, kernel: &[f32]) {
    let n = a.shape()[axis];
    let r = kernel.len() / 2;
    if n < 2 || r == 0 {
        return;
    }
    let mut lanes: Vec<_> = a.lanes_mut(Axis(axis)).into_iter().collect();
    lanes.par_iter_mut().for_each_init(
        || vec![0f32; n],
        |buf, lane| {
            for (x, b) in buf.iter_mut().enumerate() {
                let mut s = 0.0;
                for (t, w) in kernel.iter().enumerate() {
                    let src = (x + t).saturating_sub(r).min(n - 1);
                    s += w * lane[src];
                }
                *b = s;
            }
            for (dst, b) in lane.iter_mut().zip(buf.iter()) {
                *dst = *b;
            }
        },
    );
}

/// A normalised Gaussian kernel of standard deviation `sigma` voxels (radius ⌈3σ⌉).
pub(crate) fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    if sigma <= 0.05 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as i64;
    let w: Vec<f64> = (-r..=r)
        .map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| (v / s) as f32).collect()
}

/// Separable Gaussian blur with a standard deviation per axis `[k, j, i]` in voxels.
pub(crate) fn gaussian_blur(a: &mut Array3<f32>, sigma: [f64; 3]) {
    for (axis, s) in sigma.into_iter().enumerate() {
        convolve_axis(a, axis, &gaussian_kernel(s));
    }
}

/// A thick-slice acquisition along `axis` resampled back to 1 mm: every slab of
/// `thickness` voxels (starting at `offset`) is averaged into one slice — what a 2D sequence
/// with that slice thickness records — and the voxels between slice centres are linearly
/// interpolated, as the BraTS preprocessing did when it brought such scans to 1 mm.
pub(crate) fn thick_slices(a: &mut Array3<f32>, axis: usize, thickness: f64, offset: f64) {
    let n = a.shape()[axis];
    if thickness <= 1.0 || n < 2 {
        return;
    }
    // Slab m covers [offset + m t − t/2, offset + m t + t/2).
    let first = ((-offset) / thickness - 0.5).floor() as i64;
    let last = ((n as f64 - offset) / thickness + 0.5).ceil() as i64;
    let centres: Vec<f64> = (first..=last)
        .map(|m| offset + m as f64 * thickness)
        .collect();
    let mut lanes: Vec<_> = a.lanes_mut(Axis(axis)).into_iter().collect();
    lanes.par_iter_mut().for_each_init(
        || (vec![0f32; centres.len()], vec![0f32; n]),
        |(slab, buf), lane| {
            for (m, c) in centres.iter().enumerate() {
                let (lo, hi) = (c - thickness / 2.0, c + thickness / 2.0);
                let (mut s, mut w) = (0.0f64, 0.0f64);
                let x0 = lo.floor().max(0.0) as usize;
                let x1 = (hi.ceil() as usize).min(n);
                for x in x0..x1 {
                    // Overlap of voxel [x − ½, x + ½) with the slab.
                    let ov = ((x as f64 + 0.5).min(hi) - (x as f64 - 0.5).max(lo)).max(0.0);
                    s += ov * f64::from(lane[x]);
                    w += ov;
                }
                slab[m] = if w > 0.0 {
                    (s / w) as f32
                } else {
                    lane[x0.min(n - 1)]
                };
            }
            for (x, b) in buf.iter_mut().enumerate() {
                let u = ((x as f64 - offset) / thickness - first as f64)
                    .clamp(0.0, (centres.len() - 1) as f64);
                let m = (u.floor() as usize).min(centres.len() - 2);
                let t = (u - m as f64) as f32;
                *b = slab[m] + (slab[m + 1] - slab[m]) * t;
            }
            for (dst, b) in lane.iter_mut().zip(buf.iter()) {
                *dst = *b;
            }
        },
    );
}

/// Chamfer distance (3-4-5 weights, in voxels ≈ mm) from every voxel where `inside` is
/// true to the nearest voxel where it is false; 0 outside. Two raster passes.
pub(crate) fn inside_distance(inside: &Array3<bool>) -> Array3<f32> {
    let (nk, nj, ni) = inside.dim();
    let big = f32::MAX / 4.0;
    let mut d = inside.mapv(|b| if b { big } else { 0.0 });
    let w = |dk: i64, dj: i64, di: i64| -> f32 {
        match dk.abs() + dj.abs() + di.abs() {
            1 => 1.0,
            2 => 4.0 / 3.0,
            _ => 5.0 / 3.0,
        }
    };
    // Forward: neighbours that precede in raster order; backward: those that follow.
    let forward: Vec<(i64, i64, i64)> = (-1..=1)
        .flat_map(|a| (-1..=1).flat_map(move |b| (-1..=1).map(move |c| (a, b, c))))
        .filter(|&(a, b, c)| (a, b, c) < (0, 0, 0))
        .collect();
    let backward: Vec<(i64, i64, i64)> = forward.iter().map(|&(a, b, c)| (-a, -b, -c)).collect();
    let pass = |d: &mut Array3<f32>, offs: &[(i64, i64, i64)], rev: bool| {
        let idx = |x: usize, n: usize| if rev { n - 1 - x } else { x };
        for kk in 0..nk {
            let k = idx(kk, nk);
            for jj in 0..nj {
                let j = idx(jj, nj);
                for ii in 0..ni {
                    let i = idx(ii, ni);
                    let mut v = d[[k, j, i]];
                    if v == 0.0 {
                        continue;
                    }
                    for &(a, b, c) in offs {
                        let (k2, j2, i2) = (k as i64 + a, j as i64 + b, i as i64 + c);
                        if k2 < 0 || j2 < 0 || i2 < 0 {
                            v = v.min(w(a, b, c));
                            continue;
                        }
                        let (k2, j2, i2) = (k2 as usize, j2 as usize, i2 as usize);
                        if k2 >= nk || j2 >= nj || i2 >= ni {
                            v = v.min(w(a, b, c));
                            continue;
                        }
                        v = v.min(d[[k2, j2, i2]] + w(a, b, c));
                    }
                    d[[k, j, i]] = v;
                }
            }
        }
    };
    pass(&mut d, &forward, false);
    pass(&mut d, &backward, true);
    d
}

/// `depth` rounds of 6-neighbour erosion (the grid's edge counts as outside).
pub(crate) fn erode(a: &Array3<bool>, depth: usize) -> Array3<bool> {
    let mut cur = a.clone();
    for _ in 0..depth {
        cur = step(&cur, true);
    }
    cur
}

/// `reach` rounds of 6-neighbour dilation.
pub(crate) fn dilate(a: &Array3<bool>, reach: usize) -> Array3<bool> {
    let mut cur = a.clone();
    for _ in 0..reach {
        cur = step(&cur, false);
    }
    cur
}

fn step(a: &Array3<bool>, erode: bool) -> Array3<bool> {
    let (nk, nj, ni) = a.dim();
    let at = |k: i64, j: i64, i: i64| -> bool {
        if k < 0 || j < 0 || i < 0 || k >= nk as i64 || j >= nj as i64 || i >= ni as i64 {
            false
        } else {
            a[[k as usize, j as usize, i as usize]]
        }
    };
    let mut out = a.clone();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut plane)| {
            let k = k as i64;
            for ((j, i), v) in plane.indexed_iter_mut() {
                // Only a voxel the step can change looks at its neighbours (inside voxels for
                // erosion, outside ones for dilation), and only until one decides it.
                if *v != erode {
                    continue;
                }
                let (j, i) = (j as i64, i as i64);
                let n = [
                    (k - 1, j, i),
                    (k + 1, j, i),
                    (k, j - 1, i),
                    (k, j + 1, i),
                    (k, j, i - 1),
                    (k, j, i + 1),
                ];
                *v = if erode {
                    n.iter().all(|&(k, j, i)| at(k, j, i))
                } else {
                    n.iter().any(|&(k, j, i)| at(k, j, i))
                };
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn blur_and_thick_slices_keep_constants_and_smooth_steps() {
        let mut a = Array3::from_elem([20, 6, 6], 5.0f32);
        gaussian_blur(&mut a, [1.0, 2.0, 0.5]);
        assert!(a.iter().all(|v| (v - 5.0).abs() < 1e-4));
        thick_slices(&mut a, 0, 4.0, 1.3);
        assert!(a.iter().all(|v| (v - 5.0).abs() < 1e-4));
        // A step along k becomes a ramp about one slab wide.
        let mut s = Array3::from_shape_fn([40, 2, 2], |(k, _, _)| f32::from(u8::from(k >= 20)));
        thick_slices(&mut s, 0, 5.0, 0.0);
        let lane: Vec<f32> = (0..40).map(|k| s[[k, 0, 0]]).collect();
        assert!(lane[..14].iter().all(|&v| v < 1e-6) && lane[26..].iter().all(|&v| v > 1.0 - 1e-6));
        assert!(lane.windows(2).all(|w| w[1] >= w[0] - 1e-6));
    }

    #[test]
    fn lattice_fields_are_smooth_and_seeded() {
        let mk = |seed| {
            LatticeField::new(
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed),
                [30, 30, 30],
                8.0,
            )
        };
        let (a, b) = (
            mk(1).raster([30, 30, 30], 1.0),
            mk(1).raster([30, 30, 30], 1.0),
        );
        assert_eq!(a, b);
        assert_ne!(a, mk(2).raster([30, 30, 30], 1.0));
        let max_step = a
            .windows([1, 1, 2])
            .into_iter()
            .map(|w| (w[[0, 0, 1]] - w[[0, 0, 0]]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_step < 1.0, "{max_step}");
    }

    #[test]
    fn chamfer_distance_grows_inward() {
        let inside = Array3::from_shape_fn([11, 11, 11], |(k, j, i)| {
            (1..10).contains(&k) && (1..10).contains(&j) && (1..10).contains(&i)
        });
        let d = inside_distance(&inside);
        assert_eq!(d[[0, 5, 5]], 0.0);
        assert_eq!(d[[1, 5, 5]], 1.0);
        assert!((d[[5, 5, 5]] - 5.0).abs() < 0.5, "{}", d[[5, 5, 5]]);
    }
}
