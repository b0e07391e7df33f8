//! Surface distances in millimetres: Hausdorff distance, HD95 and ASSD.
//!
//! # Definitions
//! - **Boundary** of a mask: its voxels with at least one of the 6 face neighbours in the
//!   background (outside the array counts as background) — `mask XOR erosion(mask)` with the
//!   3D cross, as `scipy.ndimage.binary_erosion`'s default that MONAI and medpy use.
//! - **Directed distances** A → B: for every boundary voxel of A, the Euclidean distance (in
//!   mm, anisotropic spacing honoured) to the nearest boundary voxel of B, from an exact
//!   Euclidean distance transform (Felzenszwalb–Huttenlocher, separable, linear time).
//! - **HD** = max of both directed maxima. **ASSD** = mean of all directed distances of
//!   both directions together.
//! - **HD95** ([`Hd95::MaxOfDirected`], the default) = the larger of the two directed 95th
//!   percentiles (linear interpolation, as `numpy.percentile`/`torch.quantile`) — MONAI's
//!   `HausdorffDistanceMetric(percentile=95)`. [`Hd95::Pooled`] takes the 95th percentile of
//!   both directions pooled — medpy's `hd95`.
//!
//! The work is done on the bounding box of the union of both masks (exact: every boundary
//! voxel lies inside it), not on the whole volume.
//!
//! Empty masks follow [`EmptyPolicy::empty_distance`]: both empty → 0 mm (`Brats2023`) or
//! NaN (`Nan`); exactly one empty → 374 mm (`Brats2023`) or NaN (`Nan`).
//!
//! ```
//! use brats_metrics::{distance::{surface_distances, Spacing}, EmptyPolicy};
//! use ndarray::Array3;
//! # fn main() -> brats_metrics::Result<()> {
//! let a = Array3::from_shape_fn([10, 10, 10], |(k, j, i)| (2..6).contains(&k) && (2..6).contains(&j) && (2..6).contains(&i));
//! let b = Array3::from_shape_fn([10, 10, 10], |(k, j, i)| (4..8).contains(&k) && (2..6).contains(&j) && (2..6).contains(&i));
//! let d = surface_distances(a.view(), b.view(), Spacing::new([2.0, 1.0, 1.0])?)?.expect("both non-empty");
//! assert_eq!(d.hausdorff(), 4.0); // shifted 2 voxels along an axis of 2 mm
//! # Ok(()) }
//! ```

use ndarray::{s, Array3, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::overlap::EmptyPolicy;

/// Voxel size in millimetres in **array axis order** `[D, H, W]` (= NIfTI `(k, j, i)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spacing([f64; 3]);

impl Spacing {
    /// Spacing along the array axes `[D, H, W]`.
    ///
    /// # Errors
    /// [`Error::Spacing`] when a value is not finite and positive.
    pub fn new(dhw: [f64; 3]) -> Result<Self> {
        if dhw.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(Error::Spacing {
                what: "spacing".into(),
                detail: format!("every value must be finite and > 0, got {dhw:?}"),
            });
        }
        Ok(Spacing(dhw))
    }

    /// Spacing given in NIfTI order `(i, j, k)` (as `pixdim` / `brats_io::Geometry::spacing`).
    ///
    /// # Errors
    /// [`Error::Spacing`] when a value is not finite and positive.
    pub fn from_ijk(ijk: [f64; 3]) -> Result<Self> {
        Spacing::new([ijk[2], ijk[1], ijk[0]])
    }

    /// 1 mm along every axis.
    pub fn unit() -> Self {
        Spacing([1.0; 3])
    }

    /// The values, `[D, H, W]`.
    pub fn dhw(&self) -> [f64; 3] {
        self.0
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_volume_mm3(&self) -> f64 {
        self.0.iter().product()
    }
}

/// Which HD95 definition to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hd95 {
    /// max(P95(pred → truth), P95(truth → pred)) — MONAI (default).
    #[default]
    MaxOfDirected,
    /// P95 of both directions' distances pooled — medpy.
    Pooled,
}

/// The directed boundary distances between two non-empty masks, in mm.
#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceDistances {
    /// For each boundary voxel of the prediction, the distance to the truth's boundary.
    pub pred_to_truth: Vec<f64>,
    /// For each boundary voxel of the truth, the distance to the prediction's boundary.
    pub truth_to_pred: Vec<f64>,
}

impl SurfaceDistances {
    /// Hausdorff distance: the largest directed distance.
    pub fn hausdorff(&self) -> f64 {
        self.pred_to_truth
            .iter()
            .chain(&self.truth_to_pred)
            .fold(0.0, |m, &d| f64::max(m, d))
    }

    /// The `q`-th percentile Hausdorff distance (`q` in `[0, 100]`) by `definition`.
    pub fn percentile_hausdorff(&self, q: f64, definition: Hd95) -> f64 {
        match definition {
            Hd95::MaxOfDirected => {
                percentile(&self.pred_to_truth, q).max(percentile(&self.truth_to_pred, q))
            }
            Hd95::Pooled => {
                let mut all = self.pred_to_truth.clone();
                all.extend_from_slice(&self.truth_to_pred);
                percentile(&all, q)
            }
        }
    }

    /// HD95 by `definition`.
    pub fn hd95(&self, definition: Hd95) -> f64 {
        self.percentile_hausdorff(95.0, definition)
    }

    /// Average symmetric surface distance: the mean of all directed distances of both
    /// directions together.
    pub fn assd(&self) -> f64 {
        let n = self.pred_to_truth.len() + self.truth_to_pred.len();
        let sum: f64 = self.pred_to_truth.iter().chain(&self.truth_to_pred).sum();
        sum / n.max(1) as f64
    }
}

/// Percentile with linear interpolation between closest ranks (`numpy.percentile` default).
/// NaN for an empty slice.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    let h = (v.len() - 1) as f64 * (q.clamp(0.0, 100.0) / 100.0);
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let (_, &mut x_lo, rest) = v.select_nth_unstable_by(lo, f64::total_cmp);
    if frac == 0.0 || rest.is_empty() {
        return x_lo;
    }
    let x_hi = rest.iter().copied().fold(f64::INFINITY, f64::min);
    x_lo + frac * (x_hi - x_lo)
}

/// Inclusive bounding box `[D, H, W]` of the voxels true in either mask.
fn union_bbox(
    a: ArrayView3<'_, bool>,
    b: ArrayView3<'_, bool>,
) -> Option<([usize; 3], [usize; 3])> {
    let planes: Vec<Option<([usize; 3], [usize; 3])>> = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .zip(b.axis_iter(Axis(0)).into_par_iter())
        .enumerate()
        .map(|(k, (pa, pb))| {
            let mut lo = [k, usize::MAX, usize::MAX];
            let mut hi = [k, 0, 0];
            let mut any = false;
            for (j, (ra, rb)) in pa.outer_iter().zip(pb.outer_iter()).enumerate() {
                for row in [ra, rb] {
                    // A branch-free OR over the row first: most rows are empty.
                    if !row.fold(false, |acc, &x| acc | x) {
                        continue;
                    }
                    let first = match row.as_slice() {
                        Some(r) => r.iter().position(|&x| x),
                        None => row.iter().position(|&x| x),
                    };
                    if let Some(first) = first {
                        let last = match row.as_slice() {
                            Some(r) => r.iter().rposition(|&x| x),
                            None => row.iter().rposition(|&x| x),
                        }
                        .unwrap_or(first);
                        any = true;
                        lo[1] = lo[1].min(j);
                        hi[1] = hi[1].max(j);
                        lo[2] = lo[2].min(first);
                        hi[2] = hi[2].max(last);
                    }
                }
            }
            any.then_some((lo, hi))
        })
        .collect();
    planes.into_iter().flatten().reduce(|(l1, h1), (l2, h2)| {
        (
            [0, 1, 2].map(|a| l1[a].min(l2[a])),
            [0, 1, 2].map(|a| h1[a].max(h2[a])),
        )
    })
}

/// Boundary voxels (6-connectivity, outside counts as background).
fn boundary(mask: &Array3<bool>) -> Array3<bool> {
    let mask = mask.as_standard_layout();
    let sh = mask.shape();
    let (nd, nh, nw) = (sh[0], sh[1], sh[2]);
    let plane = nh * nw;
    let mut out = Array3::from_elem([nd, nh, nw], false);
    let (Some(m), Some(o)) = (mask.as_slice(), out.as_slice_mut()) else {
        return out;
    };
    o.par_chunks_mut(plane.max(1))
        .enumerate()
        .for_each(|(k, op)| {
            for j in 0..nh {
                for i in 0..nw {
                    let idx = k * plane + j * nw + i;
                    if !m[idx] {
                        continue;
                    }
                    op[j * nw + i] = k == 0
                        || k + 1 == nd
                        || j == 0
                        || j + 1 == nh
                        || i == 0
                        || i + 1 == nw
                        || !m[idx - plane]
                        || !m[idx + plane]
                        || !m[idx - nw]
                        || !m[idx + nw]
                        || !m[idx - 1]
                        || !m[idx + 1];
                }
            }
        });
    out
}

/// Squared Euclidean distance (mm²) from every voxel to the nearest `true` voxel of
/// `features`; +∞ everywhere when there is none.
///
/// Pass 1 runs along the contiguous axis W with two sweeps (distance to the nearest feature
/// in the row); passes 2 (H) and 3 (D) take the lower envelope of parabolas
/// (Felzenszwalb–Huttenlocher) of the previous pass, lanes in parallel.
pub(crate) fn squared_edt(features: &Array3<bool>, spacing: Spacing) -> Array3<f64> {
    let features = features.as_standard_layout();
    let shape = features.raw_dim();
    let nw = shape[2];
    let [sd, sh, sw] = spacing.dhw();
    let mut d = Array3::<f64>::zeros(shape);
    if let (Some(out), Some(f)) = (d.as_slice_mut(), features.as_slice()) {
        out.par_chunks_mut(nw.max(1))
            .zip(f.par_chunks(nw.max(1)))
            .for_each(|(row, f)| {
                let mut last: Option<usize> = None;
                for (i, (o, &x)) in row.iter_mut().zip(f).enumerate() {
                    if x {
                        last = Some(i);
                    }
                    *o = last.map_or(f64::INFINITY, |l| (i - l) as f64);
                }
                let mut next: Option<usize> = None;
                for i in (0..row.len()).rev() {
                    if f[i] {
                        next = Some(i);
                    }
                    if let Some(n) = next {
                        row[i] = row[i].min((n - i) as f64);
                    }
                    let v = row[i] * sw;
                    row[i] = v * v;
                }
            });
    }
    // Pass 2 along H, one task per D-plane; pass 3 along D, one task per H-row. Each task
    // transposes its 2D slab so that every lane is contiguous, transforms, and writes back.
    let wh = sh * sh;
    d.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|plane| transform_columns(plane, wh));
    let wd = sd * sd;
    d.axis_iter_mut(Axis(1))
        .into_par_iter()
        .for_each(|slab| transform_columns(slab, wd));
    d
}

/// Replaces every column of `slab` (`[L, M]`: M lanes of length L along axis 0) by its 1D
/// squared-distance transform with weight `w`.
fn transform_columns(mut slab: ndarray::ArrayViewMut2<'_, f64>, w: f64) {
    let (l, m) = slab.dim();
    // Transposed copy: lane c is t[c*l .. (c+1)*l].
    let mut t = vec![0.0; l * m];
    for (r, row) in slab.outer_iter().enumerate() {
        for (c, x) in row.iter().enumerate() {
            t[c * l + r] = *x;
        }
    }
    let mut out = vec![0.0; l];
    let (mut v, mut z) = (Vec::with_capacity(l), Vec::with_capacity(l + 1));
    for lane in t.chunks_mut(l.max(1)) {
        if lane.iter().all(|x| x.is_infinite()) {
            continue; // nothing to propagate: the lane stays +∞
        }
        edt_1d(lane, &mut out, &mut v, &mut z, w);
        lane.copy_from_slice(&out);
    }
    for (r, mut row) in slab.outer_iter_mut().enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = t[c * l + r];
        }
    }
}

/// Felzenszwalb–Huttenlocher lower envelope of parabolas `w·(q − p)² + f(p)` over the
/// finite `f(p)`; +∞ everywhere when none is finite. The intersection test is done by
/// multiplication (the denominator is positive), so each site costs one division.
fn edt_1d(f: &[f64], d: &mut [f64], v: &mut Vec<usize>, z: &mut Vec<f64>, w: f64) {
    v.clear();
    z.clear();
    let g = |q: usize| f[q] + w * (q * q) as f64;
    for (q, fq) in f.iter().enumerate() {
        if !fq.is_finite() {
            continue;
        }
        if v.is_empty() {
            v.push(q);
            z.push(f64::NEG_INFINITY);
            z.push(f64::INFINITY);
            continue;
        }
        let gq = g(q);
        let mut k = v.len() - 1;
        loop {
            let p = v[k];
            let num = gq - g(p);
            let den = 2.0 * w * (q - p) as f64;
            // Pop while the new parabola's intersection lies left of the last boundary.
            if k > 0 && num <= z[k] * den {
                v.pop();
                z.pop();
                k -= 1;
                continue;
            }
            let s = num / den;
            v.push(q);
            z[k + 1] = s;
            z.push(f64::INFINITY);
            break;
        }
    }
    if v.is_empty() {
        d.fill(f64::INFINITY);
        return;
    }
    let mut k = 0;
    for (q, out) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let dq = q as f64 - v[k] as f64;
        *out = w * dq * dq + f[v[k]];
    }
}

/// Depth in millimetres of every voxel of `mask`: the Euclidean distance from its centre to
/// the centre of the nearest voxel outside the mask, the outside of the array counting as
/// outside (a mask voxel on the array's edge lies one voxel deep); 0 outside the mask.
///
/// ```
/// use brats_metrics::distance::{depth, Spacing};
/// use ndarray::Array3;
/// # fn main() -> brats_metrics::Result<()> {
/// let m = Array3::from_shape_fn([9, 9, 9], |(k, j, i)| (1..8).contains(&k) && (1..8).contains(&j) && (1..8).contains(&i));
/// let d = depth(m.view(), Spacing::new([2.0, 1.0, 1.0])?);
/// assert_eq!(d[[4, 4, 4]], 4.0); // four voxels of 1 mm to the side; 2 × 2 mm below
/// assert_eq!(d[[0, 4, 4]], 0.0);
/// # Ok(()) }
/// ```
pub fn depth(mask: ArrayView3<'_, bool>, spacing: Spacing) -> Array3<f64> {
    let [d, h, w] = [mask.dim().0, mask.dim().1, mask.dim().2];
    // Outside, with a one-voxel border of outside around the array.
    let mut outside = Array3::from_elem([d + 2, h + 2, w + 2], true);
    outside
        .slice_mut(s![1..=d, 1..=h, 1..=w])
        .zip_mut_with(&mask, |o, &m| *o = !m);
    let sq = squared_edt(&outside, spacing);
    sq.slice(s![1..=d, 1..=h, 1..=w]).mapv(f64::sqrt)
}

/// Directed boundary distances between two masks; `None` when either mask is empty.
///
/// # Shapes
/// `pred` and `truth`: the same `[D, H, W]`; `spacing` in the same axis order.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ.
pub fn surface_distances(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    spacing: Spacing,
) -> Result<Option<SurfaceDistances>> {
    if pred.shape() != truth.shape() {
        return Err(Error::ShapeMismatch {
            what: "masks".into(),
            pred: pred.shape().to_vec(),
            truth: truth.shape().to_vec(),
        });
    }
    let Some((lo, hi)) = union_bbox(pred, truth) else {
        return Ok(None);
    };
    let bx = s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]];
    let p = pred.slice(bx).to_owned();
    let t = truth.slice(bx).to_owned();
    if !p.iter().any(|&x| x) || !t.iter().any(|&x| x) {
        return Ok(None);
    }
    let (pb, tb) = rayon::join(|| boundary(&p), || boundary(&t));
    let (dt_to_truth, dt_to_pred) =
        rayon::join(|| squared_edt(&tb, spacing), || squared_edt(&pb, spacing));
    let pick = |edges: &Array3<bool>, dt: &Array3<f64>| -> Vec<f64> {
        edges
            .iter()
            .zip(dt.iter())
            .filter(|(e, _)| **e)
            .map(|(_, d)| d.sqrt())
            .collect()
    };
    Ok(Some(SurfaceDistances {
        pred_to_truth: pick(&pb, &dt_to_truth),
        truth_to_pred: pick(&tb, &dt_to_pred),
    }))
}

fn with_distances(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    spacing: Spacing,
    policy: EmptyPolicy,
    f: impl FnOnce(&SurfaceDistances) -> f64,
) -> Result<f64> {
    Ok(match surface_distances(pred, truth, spacing)? {
        Some(d) => f(&d),
        None => policy.empty_distance(!pred.iter().any(|&x| x) && !truth.iter().any(|&x| x)),
    })
}

/// Hausdorff distance in mm.
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub fn hausdorff(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    spacing: Spacing,
    policy: EmptyPolicy,
) -> Result<f64> {
    with_distances(pred, truth, spacing, policy, SurfaceDistances::hausdorff)
}

/// HD95 in mm (MONAI's definition).
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub fn hd95(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    spacing: Spacing,
    policy: EmptyPolicy,
) -> Result<f64> {
    with_distances(pred, truth, spacing, policy, |d| {
        d.hd95(Hd95::MaxOfDirected)
    })
}

/// Average symmetric surface distance in mm.
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub fn assd(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    spacing: Spacing,
    policy: EmptyPolicy,
) -> Result<f64> {
    with_distances(pred, truth, spacing, policy, SurfaceDistances::assd)
}
