//! The real brain every synthetic case starts from, and how each case varies it.
//!
//! The tissue map (`assets/anatomy/sri24_tissues.nii.gz`, built by `assets/anatomy/build.py`
//! from a real T1 template; see its README for provenance, licences and the orientation
//! check) is embedded in the crate and decoded once. It is stored in the real BraTS layout
//! and header (240 × 240 × 155, 1 mm, x = −i, y = 239 − j, z = k), so generated cases have
//! exactly the array layout of real BraTS scans.
//!
//! A case's anatomy is the template seen through a per-case warp, from output voxel `p` to
//! template voxel `q`: the tumours' mass effect first (tissue pushed away from each lesion,
//! fading with distance and towards the skull), then a random affine (scale ±10 %,
//! rotation ±10°, a few millimetres of shift) and a smooth random deformation, and, in some
//! cases, atrophy (ventricles drawn larger, sulci widened).

use std::sync::OnceLock;

use ndarray::{Array3, Axis};
use rand::Rng;
use rayon::prelude::*;

use super::field::{inside_distance, LatticeField};
use crate::error::{Error, Result};
use crate::volume::Geometry;

/// Tissue classes of the template (the values stored in the asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub(crate) enum Tissue {
    Background = 0,
    Csf = 1,
    Ventricle = 2,
    CorticalGm = 3,
    WhiteMatter = 4,
    DeepGm = 5,
    CerebellarGm = 6,
    CerebellarWm = 7,
    Brainstem = 8,
}

impl Tissue {
    pub(crate) const COUNT: usize = 9;

    pub(crate) fn from_u8(v: u8) -> Tissue {
        match v {
            1 => Tissue::Csf,
            2 => Tissue::Ventricle,
            3 => Tissue::CorticalGm,
            4 => Tissue::WhiteMatter,
            5 => Tissue::DeepGm,
            6 => Tissue::CerebellarGm,
            7 => Tissue::CerebellarWm,
            8 => Tissue::Brainstem,
            _ => Tissue::Background,
        }
    }

    /// Fluid: no tumour grows into it, edema does not cross it.
    pub(crate) fn is_fluid(self) -> bool {
        matches!(self, Tissue::Csf | Tissue::Ventricle | Tissue::Background)
    }
}

/// The embedded asset (gzip NIfTI-1, uint8).
const TISSUES_NII_GZ: &[u8] = include_bytes!("../../assets/anatomy/sri24_tissues.nii.gz");

/// The decoded template.
#[derive(Debug)]
pub(crate) struct Template {
    /// Tissue values, `[k][j][i]`.
    pub(crate) tissue: Array3<u8>,
    /// Distance (mm) from each brain voxel to the outside of the brain.
    pub(crate) depth: Array3<f32>,
    /// The grid (real BraTS affine).
    pub(crate) geometry: Geometry,
    /// Centre of the brain, voxel `[k, j, i]`.
    pub(crate) centre: [f64; 3],
    /// Centre of the ventricles, voxel `[k, j, i]`.
    pub(crate) ventricle_centre: [f64; 3],
}

/// The template, decoded on first use.
///
/// # Errors
/// [`Error::InvalidNifti`] if the embedded asset is damaged (a build problem, not an input).
pub(crate) fn template() -> Result<&'static Template> {
    static T: OnceLock<std::result::Result<Template, String>> = OnceLock::new();
    T.get_or_init(|| decode().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::InvalidNifti {
            path: "<embedded sri24_tissues.nii.gz>".into(),
            reason: e.clone(),
        })
}

/// The mean voxel `[k, j, i]` of the tissue values `want` accepts; `None` when there is none.
pub(crate) fn centroid(tissue: &Array3<u8>, want: impl Fn(u8) -> bool) -> Option<[f64; 3]> {
    let (mut n, mut s) = (0usize, [0.0f64; 3]);
    for ((k, j, i), &v) in tissue.indexed_iter() {
        if want(v) {
            n += 1;
            s[0] += k as f64;
            s[1] += j as f64;
            s[2] += i as f64;
        }
    }
    (n > 0).then(|| s.map(|x| x / n as f64))
}

fn decode() -> Result<Template> {
    let vol = crate::nifti::NiftiReader::new()
        .read_labels_bytes("<embedded sri24_tissues.nii.gz>", TISSUES_NII_GZ)?;
    let (tissue, geometry) = vol.into_parts();
    let brain = tissue.mapv(|v| v != 0);
    let depth = inside_distance(&brain);
    let centre = centroid(&tissue, |v| v != 0).unwrap_or_default();
    let ventricle_centre = centroid(&tissue, |v| v == Tissue::Ventricle as u8).unwrap_or_default();
    Ok(Template {
        tissue,
        depth,
        geometry,
        centre,
        ventricle_centre,
    })
}

/// A lesion's push on the surrounding tissue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Push {
    /// Lesion centre, output voxel `[k, j, i]`.
    pub(crate) centre: [f64; 3],
    /// Radius (mm) of the volume that displaces tissue.
    pub(crate) radius: f64,
    /// Share of that volume that pushes (1: all of it, as a solid mass; infiltrating tumours
    /// push less).
    pub(crate) strength: f64,
}

impl Push {
    /// Where the tissue now at `p` came from: volume-preserving radial displacement
    /// (`r_src³ = r³ − s·R³`), fading over about two and a half radii beyond the lesion and
    /// scaled by `taper` (0 at the brain's surface: the skull does not move).
    fn source(&self, p: [f64; 3], taper: f64) -> [f64; 3] {
        let d = [
            p[0] - self.centre[0],
            p[1] - self.centre[1],
            p[2] - self.centre[2],
        ];
        let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        if r < 1e-6 {
            return p;
        }
        let v = self.strength * self.radius.powi(3);
        let r_src = (r.powi(3) - v).max(0.0).cbrt();
        let fade = (-(r - self.radius).max(0.0) / (2.5 * self.radius + 15.0)).exp();
        let f = (r - r_src) * fade * taper / r;
        [p[0] - d[0] * f, p[1] - d[1] * f, p[2] - d[2] * f]
    }
}

/// One case's warp of the template.
#[derive(Debug, Clone)]
pub(crate) struct Warp {
    /// Output → template linear part (rows act on `[k, j, i]` offsets from the centre).
    matrix: [[f64; 3]; 3],
    shift: [f64; 3],
    /// Smooth displacement, one field per axis (mm).
    smooth: [LatticeField; 3],
    smooth_mm: f32,
    /// Ventricle enlargement (0 = none).
    atrophy: f64,
    /// Lesions' mass effect.
    pub(crate) pushes: Vec<Push>,
}

impl Warp {
    /// A random warp: scale −10 % to +15 % per axis (the template is a little smaller than
    /// most adult brains), rotation ±10° about each axis, shift ±4 mm, a
    /// smooth deformation of 1–4 mm with features ~30–50 mm across, and atrophy in a third
    /// of the cases.
    pub(crate) fn random(rng: &mut impl Rng, shape: [usize; 3]) -> Warp {
        let scale = [0; 3].map(|_| rng.random_range(0.9..1.15));
        let ang = [0; 3].map(|_| rng.random_range(-10f64..10.0).to_radians());
        let rot = |a: usize, t: f64| {
            let (c, s) = (t.cos(), t.sin());
            let (u, v) = ((a + 1) % 3, (a + 2) % 3);
            let mut m = [[0.0; 3]; 3];
            m[a][a] = 1.0;
            m[u][u] = c;
            m[v][v] = c;
            m[u][v] = -s;
            m[v][u] = s;
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
        let mut matrix = mul(mul(rot(0, ang[0]), rot(1, ang[1])), rot(2, ang[2]));
        // Output = template scaled by `scale`: the inverse scales rows by 1/scale.
        for (r, row) in matrix.iter_mut().enumerate() {
            for v in row.iter_mut() {
                *v /= scale[r];
            }
        }
        let shift = [0; 3].map(|_| rng.random_range(-4.0..4.0));
        let spacing = rng.random_range(30.0..50.0);
        let smooth = [0; 3].map(|_| LatticeField::new(rng, shape, spacing));
        let smooth_mm = rng.random_range(1.0..4.0);
        let atrophy = if rng.random_bool(1.0 / 3.0) {
            rng.random_range(0.1..0.45)
        } else {
            0.0
        };
        Warp {
            matrix,
            shift,
            smooth,
            smooth_mm,
            atrophy,
            pushes: Vec::new(),
        }
    }

    /// The template voxel `[k, j, i]` seen at output voxel `p`, without the lesions' push.
    pub(crate) fn unpushed(&self, t: &Template, p: [f64; 3]) -> [f64; 3] {
        let c = t.centre;
        let d = [p[0] - c[0], p[1] - c[1], p[2] - c[2]];
        let mut q = [0.0; 3];
        for (r, q) in q.iter_mut().enumerate() {
            *q = c[r]
                + self.shift[r]
                + (0..3).map(|s| self.matrix[r][s] * d[s]).sum::<f64>()
                + f64::from(self.smooth_mm * self.smooth[r].at(p[0], p[1], p[2]));
        }
        if self.atrophy > 0.0 {
            // Sample closer to the ventricles' centre: they look larger.
            let v = t.ventricle_centre;
            let e = [q[0] - v[0], q[1] - v[1], q[2] - v[2]];
            let r2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2];
            let f = 1.0 - self.atrophy * (-r2 / (2.0 * 22.0 * 22.0)).exp();
            q = [v[0] + e[0] * f, v[1] + e[1] * f, v[2] + e[2] * f];
        }
        q
    }

    /// The template voxel seen at output voxel `p`.
    pub(crate) fn source(&self, t: &Template, p: [f64; 3]) -> [f64; 3] {
        if self.pushes.is_empty() {
            return self.unpushed(t, p);
        }
        // The push fades to nothing within 15 mm of the brain's surface.
        let u = self.unpushed(t, p);
        let taper = nearest(t, u)
            .map_or(0.0, |ix| f64::from(t.depth[ix]) / 15.0)
            .min(1.0);
        let mut s = p;
        for push in &self.pushes {
            s = push.source(s, taper);
        }
        self.unpushed(t, s)
    }

    /// The case's tissue map on the template's grid (nearest neighbour), with sulci widened
    /// where there is atrophy.
    pub(crate) fn tissue_map(&self, t: &Template) -> Array3<u8> {
        let shape = t.tissue.dim();
        let (_, nj, ni) = shape;
        let mut out = Array3::<u8>::zeros(shape);
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut plane)| {
                for j in 0..nj {
                    for i in 0..ni {
                        let q = self.source(t, [k as f64, j as f64, i as f64]);
                        let Some(ix) = nearest(t, q) else {
                            continue;
                        };
                        let v = t.tissue[ix];
                        plane[[j, i]] = v;
                    }
                }
            });
        if self.atrophy > 0.0 {
            widen_sulci(&mut out, self.atrophy);
        }
        out
    }
}

/// The template voxel nearest to `q`, if inside the grid.
fn nearest(t: &Template, q: [f64; 3]) -> Option<[usize; 3]> {
    let (nk, nj, ni) = t.tissue.dim();
    let r = q.map(f64::round);
    (r.iter().all(|&x| x >= 0.0) && r[0] < nk as f64 && r[1] < nj as f64 && r[2] < ni as f64)
        .then(|| r.map(|x| x as usize))
}

/// Cortical grey matter touching CSF becomes CSF where a deterministic hash of its position
/// falls under `share` — one voxel of sulcal widening.
fn widen_sulci(map: &mut Array3<u8>, share: f64) {
    let (nk, nj, ni) = map.dim();
    let src = map.clone();
    let csf = Tissue::Csf as u8;
    map.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut plane)| {
            for j in 1..nj.saturating_sub(1) {
                for i in 1..ni.saturating_sub(1) {
                    if src[[k, j, i]] != Tissue::CorticalGm as u8 || k == 0 || k + 1 >= nk {
                        continue;
                    }
                    let touches = src[[k - 1, j, i]] == csf
                        || src[[k + 1, j, i]] == csf
                        || src[[k, j - 1, i]] == csf
                        || src[[k, j + 1, i]] == csf
                        || src[[k, j, i - 1]] == csf
                        || src[[k, j, i + 1]] == csf;
                    let h = (k as u64)
                        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        .wrapping_add((j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
                        .wrapping_add((i as u64).wrapping_mul(0x1656_67B1_9E37_79F9));
                    if touches && ((h >> 11) as f64 / (1u64 << 53) as f64) < share {
                        plane[[j, i]] = csf;
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_lesion_pushes_the_ventricles_away_and_the_skull_stays() {
        let t = template().unwrap();
        let shape = <[usize; 3]>::from(t.tissue.dim());
        let mut w = Warp::random(&mut rand_chacha::ChaCha8Rng::seed_from_u64(3), shape);
        let plain = w.tissue_map(t);
        // A 20 mm mass 25 mm to one side of the ventricles.
        let v = t.ventricle_centre;
        let c = [v[0], v[1], v[2] - 25.0];
        w.pushes = vec![Push {
            centre: c,
            radius: 20.0,
            strength: 1.0,
        }];
        let pushed = w.tissue_map(t);
        let brain = |m: &Array3<u8>| m.iter().filter(|&&x| x != 0).count() as f64;
        let ratio = brain(&pushed) / brain(&plain);
        assert!(
            (ratio - 1.0).abs() < 0.03,
            "brain volume changed by {ratio}"
        );
        // Tissue 25 mm from the centre of the mass came from about 5 mm closer to it.
        let p = [c[0], c[1], c[2] - 25.0];
        let (from, plain_from, centre) = (w.source(t, p), w.unpushed(t, p), w.unpushed(t, c));
        let dist = |a: [f64; 3]| {
            (0..3)
                .map(|x| (a[x] - centre[x]).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let shift = dist(plain_from) - dist(from);
        assert!((3.0..8.0).contains(&shift), "pushed by {shift:.1} mm");
        // The ventricles next to the mass are compressed.
        let near = |m: &Array3<u8>| {
            m.indexed_iter()
                .filter(|((k, j, i), &x)| {
                    x == Tissue::Ventricle as u8
                        && (*k as f64 - c[0]).powi(2)
                            + (*j as f64 - c[1]).powi(2)
                            + (*i as f64 - c[2]).powi(2)
                            < 35.0 * 35.0
                })
                .count()
        };
        assert!(
            near(&pushed) < near(&plain),
            "{} → {}",
            near(&plain),
            near(&pushed)
        );
    }
}
