//! Affine registration of the built-in atlas to a case that is not in SRI24 space.
//!
//! The similarity is between **brain masks**: the case's (voxels where any modality is
//! non-zero, as after skull stripping) and the atlas's (its labelled voxels), both blurred,
//! compared by the mean squared difference. A mask knows no contrast, so the measure works
//! whatever the sequences and their intensities — and the atlas needs nothing but its
//! labels. The 12 parameters (translation, rotation, scale, shear about the brain's centre)
//! start from the masks' moments (centroids and per-axis spread) and are refined by a
//! pattern search at 6 mm and then 3 mm. Labels are transferred by nearest neighbour.
//!
//! The quality figure is the Dice of the registered atlas brain with the case's brain, and
//! the map must be one brain onto another ([`AffineMap::is_plausible`]: sizes within
//! [`PLAUSIBLE_SCALE`], no axis stretched 35 % more than another). Below
//! [`crate::atlas::SRI24_MIN_FIT`], or implausible, the registration is reported as poor and
//! the proportional atlas is used instead.

use brats_io::Geometry;
use ndarray::Array3;

/// The atlas-to-case size ratios a registration may reach (brains from a small adult's to a
/// large one's, and older children's).
pub const PLAUSIBLE_SCALE: (f64, f64) = (0.75, 1.35);

/// An affine map from case world millimetres (RAS) to atlas world millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AffineMap {
    /// Linear part.
    pub matrix: [[f64; 3]; 3],
    /// Translation (mm).
    pub offset: [f64; 3],
}

impl AffineMap {
    /// Applies the map.
    pub fn apply(&self, x: [f64; 3]) -> [f64; 3] {
        let m = &self.matrix;
        [0, 1, 2].map(|r| m[r][0] * x[0] + m[r][1] * x[1] + m[r][2] * x[2] + self.offset[r])
    }

    /// The scale along each case axis (column lengths of the linear part: atlas
    /// millimetres per case millimetre).
    pub fn scales(&self) -> [f64; 3] {
        [0, 1, 2].map(|c| {
            (0..3)
                .map(|r| self.matrix[r][c] * self.matrix[r][c])
                .sum::<f64>()
                .sqrt()
        })
    }

    /// Whether the map is one brain onto another: every scale within
    /// [`PLAUSIBLE_SCALE`] and no axis more than 35 % longer than another. A brain-mask
    /// Dice alone cannot tell, because an affine map can squeeze a brain into almost any
    /// blob.
    pub fn is_plausible(&self) -> bool {
        let s = self.scales();
        let (lo, hi) = (
            s.iter().cloned().fold(f64::MAX, f64::min),
            s.iter().cloned().fold(0.0, f64::max),
        );
        lo >= PLAUSIBLE_SCALE.0 && hi <= PLAUSIBLE_SCALE.1 && hi / lo <= 1.35
    }

    /// The identity.
    pub fn identity() -> AffineMap {
        AffineMap {
            matrix: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            offset: [0.0; 3],
        }
    }
}

/// A mask on a coarse isotropic grid in world space, blurred, for the similarity.
struct Coarse {
    /// Lower corner (world mm) and spacing.
    origin: [f64; 3],
    step: f64,
    dims: [usize; 3],
    values: Vec<f32>,
    centre: [f64; 3],
    spread: [f64; 3],
}

impl Coarse {
    /// Samples `mask` (on `grid`) onto an isotropic world grid of `step` mm over its
    /// bounding box (plus a margin), as the share of covered fine voxels, then blurs it.
    fn new(mask: &Array3<bool>, grid: &Geometry, step: f64) -> Option<Coarse> {
        let mut pts = Vec::new();
        for ((k, j, i), &m) in mask.indexed_iter() {
            if m {
                pts.push(grid.voxel_to_world([i as f64, j as f64, k as f64]));
            }
        }
        if pts.len() < 100 {
            return None;
        }
        let n = pts.len() as f64;
        let mut lo = [f64::MAX; 3];
        let mut hi = [f64::MIN; 3];
        let mut centre = [0.0; 3];
        for p in &pts {
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
                centre[a] += p[a] / n;
            }
        }
        let mut spread = [0.0; 3];
        for p in &pts {
            for a in 0..3 {
                spread[a] += (p[a] - centre[a]).powi(2) / n;
            }
        }
        let spread = spread.map(f64::sqrt);
        let margin = 4.0 * step;
        let origin = lo.map(|v| v - margin);
        let dims = [0, 1, 2].map(|a| (((hi[a] - lo[a]) + 2.0 * margin) / step).ceil() as usize + 1);
        let mut count = vec![0f32; dims[0] * dims[1] * dims[2]];
        let mut total = vec![0f32; count.len()];
        let idx = |p: [f64; 3]| -> Option<usize> {
            let c = [0, 1, 2].map(|a| ((p[a] - origin[a]) / step).round());
            (c.iter()
                .zip(&dims)
                .all(|(&v, &d)| v >= 0.0 && (v as usize) < d))
            .then(|| ((c[0] as usize * dims[1]) + c[1] as usize) * dims[2] + c[2] as usize)
        };
        for p in &pts {
            if let Some(x) = idx(*p) {
                count[x] += 1.0;
            }
        }
        // Normalise by the fine voxels per coarse cell.
        let per_cell = (step.powi(3) / grid.voxel_volume_mm3()).max(1.0) as f32;
        for (t, c) in total.iter_mut().zip(&count) {
            *t = (c / per_cell).min(1.0);
        }
        let mut c = Coarse {
            origin,
            step,
            dims,
            values: total,
            centre,
            spread,
        };
        c.blur();
        Some(c)
    }

    /// A [1 2 1]/4 blur along each axis, twice.
    fn blur(&mut self) {
        let [a, b, c] = self.dims;
        for _ in 0..2 {
            for axis in 0..3 {
                let src = self.values.clone();
                let stride = [b * c, c, 1][axis];
                let n = [a, b, c][axis];
                for (x, v) in self.values.iter_mut().enumerate() {
                    let pos = (x / stride) % n;
                    let l = if pos > 0 { src[x - stride] } else { src[x] };
                    let r = if pos + 1 < n { src[x + stride] } else { src[x] };
                    *v = 0.25 * l + 0.5 * src[x] + 0.25 * r;
                }
            }
        }
    }

    /// Trilinear value at a world point (0 outside).
    fn at(&self, p: [f64; 3]) -> f32 {
        let u = [0, 1, 2].map(|a| (p[a] - self.origin[a]) / self.step);
        if u.iter()
            .zip(&self.dims)
            .any(|(&v, &d)| v < 0.0 || v > (d - 1) as f64)
        {
            return 0.0;
        }
        let f = u.map(f64::floor);
        let t = [0, 1, 2].map(|a| (u[a] - f[a]) as f32);
        let i0 = f.map(|v| v as usize);
        let [_, b, c] = self.dims;
        let get = |x: usize, y: usize, z: usize| {
            let x = x.min(self.dims[0] - 1);
            let y = y.min(b - 1);
            let z = z.min(c - 1);
            self.values[(x * b + y) * c + z]
        };
        let mut acc = 0.0;
        for dx in 0..2 {
            for dy in 0..2 {
                for dz in 0..2 {
                    let w = (if dx == 1 { t[0] } else { 1.0 - t[0] })
                        * (if dy == 1 { t[1] } else { 1.0 - t[1] })
                        * (if dz == 1 { t[2] } else { 1.0 - t[2] });
                    acc += w * get(i0[0] + dx, i0[1] + dy, i0[2] + dz);
                }
            }
        }
        acc
    }

    /// World positions of the cells (for the cost sum).
    fn cells(&self) -> impl Iterator<Item = ([f64; 3], f32)> + '_ {
        let [a, b, c] = self.dims;
        (0..a * b * c).map(move |x| {
            let (i, j, k) = (x / (b * c), (x / c) % b, x % c);
            (
                [
                    self.origin[0] + i as f64 * self.step,
                    self.origin[1] + j as f64 * self.step,
                    self.origin[2] + k as f64 * self.step,
                ],
                self.values[x],
            )
        })
    }
}

/// The 12 parameters: translation (mm), rotation (degrees), log scale, shear.
fn map_of(
    p: &[f64; 12],
    fixed_centre: [f64; 3],
    moving_centre: [f64; 3],
    base_scale: [f64; 3],
) -> AffineMap {
    let (rx, ry, rz) = (p[3].to_radians(), p[4].to_radians(), p[5].to_radians());
    let rot = |a: f64, u: usize, v: usize| {
        let mut m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        m[u][u] = a.cos();
        m[v][v] = a.cos();
        m[u][v] = -a.sin();
        m[v][u] = a.sin();
        m
    };
    let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
        let mut m = [[0.0; 3]; 3];
        for r in 0..3 {
            for c in 0..3 {
                m[r][c] = (0..3).map(|t| a[r][t] * b[t][c]).sum();
            }
        }
        m
    };
    let r = mul(mul(rot(rz, 0, 1), rot(ry, 2, 0)), rot(rx, 1, 2));
    let s = [0, 1, 2].map(|a| base_scale[a] * p[6 + a].exp());
    let shear = [[1.0, p[9], p[10]], [0.0, 1.0, p[11]], [0.0, 0.0, 1.0]];
    let mut sm = [[0.0; 3]; 3];
    for a in 0..3 {
        sm[a][a] = s[a];
    }
    let m = mul(mul(r, sm), shear);
    // y = moving_centre + t + M (x − fixed_centre)
    let mut offset = [0.0; 3];
    for a in 0..3 {
        offset[a] =
            moving_centre[a] + p[a] - (0..3).map(|b| m[a][b] * fixed_centre[b]).sum::<f64>();
    }
    AffineMap { matrix: m, offset }
}

fn cost(fixed: &Coarse, moving: &Coarse, map: &AffineMap) -> f64 {
    let mut s = 0.0f64;
    let mut n = 0usize;
    for (x, f) in fixed.cells() {
        let m = moving.at(map.apply(x));
        if f > 0.0 || m > 0.0 {
            s += f64::from((f - m) * (f - m));
            n += 1;
        }
    }
    s / n.max(1) as f64
}

/// Registers the moving mask (atlas) to the fixed mask (case): the map from case world to
/// atlas world. `None` when either mask is (nearly) empty.
pub fn register_masks(
    fixed: &Array3<bool>,
    fixed_grid: &Geometry,
    moving: &Array3<bool>,
    moving_grid: &Geometry,
) -> Option<AffineMap> {
    let mut p = [0.0f64; 12];
    let mut result = None;
    for (step, steps) in [
        (
            6.0,
            [
                4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 0.04, 0.04, 0.04, 0.03, 0.03, 0.03,
            ],
        ),
        (
            3.0,
            [
                1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01,
            ],
        ),
    ] {
        let f = Coarse::new(fixed, fixed_grid, step)?;
        let m = Coarse::new(moving, moving_grid, step)?;
        // Moments: centres, and the scale that maps the case's spread onto the atlas's.
        let base = [0, 1, 2].map(|a| m.spread[a] / f.spread[a].max(1e-6));
        let make = |p: &[f64; 12]| map_of(p, f.centre, m.centre, base);
        let mut best = cost(&f, &m, &make(&p));
        let mut delta = steps;
        for _ in 0..60 {
            let mut improved = false;
            for k in 0..12 {
                for sign in [1.0, -1.0] {
                    let mut q = p;
                    q[k] += sign * delta[k];
                    let c = cost(&f, &m, &make(&q));
                    if c < best {
                        best = c;
                        p = q;
                        improved = true;
                        break;
                    }
                }
            }
            if !improved {
                delta = delta.map(|d| d / 2.0);
                if delta[0] < 0.1 * steps[0] {
                    break;
                }
            }
        }
        result = Some(make(&p));
    }
    result
}
