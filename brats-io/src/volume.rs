//! [`Volume`] and [`Geometry`]: voxels plus the grid they live on.
//!
//! # Axis order
//! NIfTI indexes a voxel as `(i, j, k)` with `i` varying fastest on disk. A [`Volume`] keeps
//! the voxels in that same byte order, which as a C-contiguous array is `[k][j][i]`:
//! `data[[k, j, i]]`, array shape `[nk, nj, ni]` = `[D, H, W]`. [`Geometry::dim`] and
//! [`Geometry::spacing`] are in NIfTI order `(i, j, k)`; [`Geometry::shape`] is the array
//! shape `[k, j, i]`. Convert on purpose, never by accident.
//!
//! # World coordinates
//! The affine maps a voxel `(i, j, k, 1)` to RAS+ world millimetres (x grows to the patient's
//! Right, y to Anterior, z to Superior), NIfTI's own convention. Left/right must come from
//! here, never from array indices.

use std::sync::Arc;

use ndarray::Array3;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default tolerance when comparing two affines (element-wise absolute difference:
/// millimetres for the translation column, unitless for the rotation/zoom part).
///
/// NIfTI stores affines as `f32`, and tools that rewrite a file round the sform
/// differently, so exact equality is too strict; `1e-3` is well below any real voxel size.
pub const AFFINE_TOLERANCE: f64 = 1e-3;

/// The grid of a volume: size, spacing and the voxel → RAS-millimetre affine.
///
/// Built from a NIfTI header by the reader (sform when `sform_code > 0`, else qform, else
/// spacing only), or by hand with [`Geometry::new`] / [`Geometry::from_spacing`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Geometry {
    dim: [usize; 3],
    spacing: [f64; 3],
    affine: [[f64; 4]; 4],
    #[serde(skip)]
    inverse: [[f64; 3]; 3],
    /// The NIfTI header the geometry was read from, kept so that a volume written on this
    /// grid (a mask for a case) carries the same header, sform and qform.
    #[serde(skip)]
    source_header: Option<Arc<nifti::NiftiHeader>>,
}

impl PartialEq for Geometry {
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim && self.affine == other.affine
    }
}

impl Geometry {
    /// A grid of `dim = (ni, nj, nk)` voxels with the given voxel → world affine (RAS mm).
    ///
    /// Spacing is the length of each of the affine's first three columns.
    ///
    /// # Errors
    /// [`Error::Config`] when a dimension is zero or the affine is not finite, not affine
    /// (last row ≠ `0 0 0 1`) or singular.
    pub fn new(dim: [usize; 3], affine: [[f64; 4]; 4]) -> Result<Self> {
        if dim.contains(&0) {
            return Err(Error::config(
                "dim",
                format!("every dimension must be ≥ 1, got {dim:?}"),
            ));
        }
        if affine.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::config(
                "affine",
                format!("must be finite, got {affine:?}"),
            ));
        }
        if affine[3] != [0.0, 0.0, 0.0, 1.0] {
            return Err(Error::config(
                "affine",
                format!("last row must be [0, 0, 0, 1], got {:?}", affine[3]),
            ));
        }
        let m = [
            [affine[0][0], affine[0][1], affine[0][2]],
            [affine[1][0], affine[1][1], affine[1][2]],
            [affine[2][0], affine[2][1], affine[2][2]],
        ];
        let inverse = invert3(&m)
            .ok_or_else(|| Error::config("affine", format!("linear part is singular: {m:?}")))?;
        let spacing =
            [0, 1, 2].map(|c| (m[0][c].powi(2) + m[1][c].powi(2) + m[2][c].powi(2)).sqrt());
        Ok(Geometry {
            dim,
            spacing,
            affine,
            inverse,
            source_header: None,
        })
    }

    /// An axis-aligned RAS grid with the given spacing (mm) and origin at voxel `(0, 0, 0)`.
    ///
    /// # Errors
    /// [`Error::Config`] when a dimension is zero or a spacing is not finite and positive.
    pub fn from_spacing(dim: [usize; 3], spacing: [f64; 3]) -> Result<Self> {
        if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(Error::config(
                "spacing",
                format!("must be finite and > 0, got {spacing:?}"),
            ));
        }
        Geometry::new(
            dim,
            [
                [spacing[0], 0.0, 0.0, 0.0],
                [0.0, spacing[1], 0.0, 0.0],
                [0.0, 0.0, spacing[2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        )
    }

    pub(crate) fn with_source_header(mut self, header: nifti::NiftiHeader) -> Self {
        self.source_header = Some(Arc::new(header));
        self
    }

    /// The header this grid was read from, if it came from a file and is unchanged.
    pub(crate) fn source_header(&self) -> Option<&nifti::NiftiHeader> {
        self.source_header.as_deref()
    }

    /// Number of voxels along `(i, j, k)`, NIfTI order.
    pub fn dim(&self) -> [usize; 3] {
        self.dim
    }

    /// The array shape `[nk, nj, ni]` (= `[D, H, W]`) of a volume on this grid.
    pub fn shape(&self) -> [usize; 3] {
        [self.dim[2], self.dim[1], self.dim[0]]
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.dim.iter().product()
    }

    /// Always false: a geometry has at least one voxel.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Voxel size in millimetres along `(i, j, k)`.
    pub fn spacing(&self) -> [f64; 3] {
        self.spacing
    }

    /// Volume of one voxel in mm³ (absolute determinant of the affine's linear part).
    pub fn voxel_volume_mm3(&self) -> f64 {
        let a = &self.affine;
        (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
            .abs()
    }

    /// The 4×4 voxel `(i, j, k, 1)` → RAS world millimetre affine, row-major.
    pub fn affine(&self) -> [[f64; 4]; 4] {
        self.affine
    }

    /// World RAS millimetres of a (possibly fractional) voxel coordinate `(i, j, k)`.
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        let a = &self.affine;
        [0, 1, 2].map(|r| a[r][0] * ijk[0] + a[r][1] * ijk[1] + a[r][2] * ijk[2] + a[r][3])
    }

    /// Fractional voxel coordinate `(i, j, k)` of a world RAS millimetre point.
    pub fn world_to_voxel(&self, xyz: [f64; 3]) -> [f64; 3] {
        let d = [
            xyz[0] - self.affine[0][3],
            xyz[1] - self.affine[1][3],
            xyz[2] - self.affine[2][3],
        ];
        let m = &self.inverse;
        [0, 1, 2].map(|r| m[r][0] * d[0] + m[r][1] * d[1] + m[r][2] * d[2])
    }

    /// The orientation code, one letter per voxel axis `(i, j, k)`: the world direction that
    /// axis points to (`R`/`L`, `A`/`P`, `S`/`I`), e.g. `"RAS"` or `"LPS"`, as nibabel's
    /// `aff2axcodes`. Axes are matched greedily by the largest absolute component.
    pub fn orientation(&self) -> String {
        let mut used = [false; 3];
        let mut code = String::with_capacity(3);
        // Assign the most clearly aligned axis first so that oblique grids stay consistent.
        let mut order: Vec<usize> = (0..3).collect();
        let strength = |c: usize| {
            let col = [self.affine[0][c], self.affine[1][c], self.affine[2][c]];
            let n = self.spacing[c];
            col.iter().map(|v| v.abs() / n).fold(0.0, f64::max)
        };
        order.sort_by(|&a, &b| strength(b).total_cmp(&strength(a)));
        let mut letters = ['?'; 3];
        for c in order {
            let mut best = None;
            for (w, taken) in used.iter().enumerate() {
                if *taken {
                    continue;
                }
                let v = self.affine[w][c];
                if best.is_none_or(|(_, bv): (usize, f64)| v.abs() > bv.abs()) {
                    best = Some((w, v));
                }
            }
            if let Some((w, v)) = best {
                used[w] = true;
                letters[c] = if v >= 0.0 {
                    ['R', 'A', 'S'][w]
                } else {
                    ['L', 'P', 'I'][w]
                };
            }
        }
        code.extend(letters);
        code
    }

    /// True when `other` has the same dims and an affine within `tol` element-wise.
    pub fn same_grid(&self, other: &Geometry, tol: f64) -> bool {
        self.dim == other.dim && self.max_affine_difference(other) <= tol
    }

    /// Largest element-wise absolute difference between the two affines.
    pub fn max_affine_difference(&self, other: &Geometry) -> f64 {
        self.affine
            .iter()
            .flatten()
            .zip(other.affine.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// The grid of the sub-block that starts at voxel `start = (i, j, k)` (may be negative,
    /// i.e. padding) and has `dim` voxels: same orientation and spacing, shifted origin.
    ///
    /// # Errors
    /// [`Error::Config`] when a dimension is zero.
    pub fn cropped(&self, start: [i64; 3], dim: [usize; 3]) -> Result<Geometry> {
        let origin = self.voxel_to_world(start.map(|s| s as f64));
        let mut affine = self.affine;
        for (r, o) in origin.iter().enumerate() {
            affine[r][3] = *o;
        }
        Geometry::new(dim, affine)
    }

    /// The grid obtained by resampling this one to `dim` voxels over the same field of view
    /// (voxel centres placed as with `align_corners = false`: old coordinate
    /// `(new + 0.5) · old_n / new_n − 0.5`).
    ///
    /// # Errors
    /// [`Error::Config`] when a dimension is zero.
    pub fn resampled(&self, dim: [usize; 3]) -> Result<Geometry> {
        if dim.contains(&0) {
            return Err(Error::config(
                "dim",
                format!("every dimension must be ≥ 1, got {dim:?}"),
            ));
        }
        let f = [0, 1, 2].map(|a| self.dim[a] as f64 / dim[a] as f64);
        let shift = f.map(|f| 0.5 * f - 0.5);
        let origin = self.voxel_to_world(shift);
        let mut affine = self.affine;
        for r in 0..3 {
            for c in 0..3 {
                affine[r][c] *= f[c];
            }
            affine[r][3] = origin[r];
        }
        Geometry::new(dim, affine)
    }
}

/// Inverse of a 3×3 matrix, `None` when (nearly) singular.
fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    let scale = m.iter().flatten().map(|v| v.abs()).fold(0.0, f64::max);
    if !det.is_finite() || det.abs() <= 1e-12 * scale.powi(3).max(f64::MIN_POSITIVE) {
        return None;
    }
    let inv_det = 1.0 / det;
    Some([
        [
            c00 * inv_det,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det,
        ],
        [
            c01 * inv_det,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det,
        ],
        [
            c02 * inv_det,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det,
        ],
    ])
}

/// Voxels on a grid.
///
/// # Shapes
/// `data` is C-contiguous with shape `[nk, nj, ni]` (`[D, H, W]`), i.e. `geometry.shape()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    data: Array3<T>,
    geometry: Geometry,
}

impl<T: Clone> Volume<T> {
    /// Pairs voxels with their grid.
    ///
    /// # Shapes
    /// `data`: `[nk, nj, ni]` = `geometry.shape()`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the array's shape is not `geometry.shape()`.
    pub fn new(data: Array3<T>, geometry: Geometry) -> Result<Self> {
        if data.shape() != geometry.shape() {
            return Err(Error::shape(
                "volume data",
                format!("{:?} ([k, j, i] of the geometry)", geometry.shape()),
                format!("{:?}", data.shape()),
            ));
        }
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        Ok(Volume { data, geometry })
    }

    /// The voxels, shape `[k, j, i]`.
    pub fn data(&self) -> &Array3<T> {
        &self.data
    }

    /// The voxels, mutable (the shape cannot change).
    pub fn data_mut(&mut self) -> ndarray::ArrayViewMut3<'_, T> {
        self.data.view_mut()
    }

    /// The grid.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Voxels and grid, by value.
    pub fn into_parts(self) -> (Array3<T>, Geometry) {
        (self.data, self.geometry)
    }

    /// The voxels as one C-order slice (`k` slowest, `i` fastest).
    pub fn as_slice(&self) -> &[T] {
        // ok: `new` guarantees standard layout, so as_slice always succeeds.
        self.data.as_slice().unwrap_or(&[])
    }

    /// A volume on the same grid with every voxel mapped through `f`.
    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> Volume<U> {
        Volume {
            data: self.data.map(f),
            geometry: self.geometry.clone(),
        }
    }
}
