//! Resampling of `[D, H, W]` arrays over the same field of view.
//!
//! Voxel centres follow `align_corners = false` (PyTorch's `interpolate`, MONAI's `Resize`):
//! destination index `d` samples source coordinate `(d + 0.5) · n_src / n_dst − 0.5`,
//! clamped to the volume. [`crate::Geometry::resampled`] uses the same mapping, so the
//! resampled array and its grid agree.

use ndarray::{Array3, ArrayView3, Axis};
use rayon::prelude::*;

/// One axis's sampling: for every destination index, the two source indices and the weight
/// of the second.
fn axis_taps(n_src: usize, n_dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = n_src as f64 / n_dst as f64;
    (0..n_dst)
        .map(|d| {
            let x = ((d as f64 + 0.5) * scale - 0.5).clamp(0.0, (n_src - 1) as f64);
            let lo = x.floor() as usize;
            let hi = (lo + 1).min(n_src - 1);
            (lo, hi, (x - lo as f64) as f32)
        })
        .collect()
}

fn axis_nearest(n_src: usize, n_dst: usize) -> Vec<usize> {
    let scale = n_src as f64 / n_dst as f64;
    (0..n_dst)
        .map(|d| (((d as f64 + 0.5) * scale).floor() as usize).min(n_src - 1))
        .collect()
}

/// Trilinear resampling to `shape` (`[D, H, W]`).
///
/// # Shapes
/// `src`: `[D, H, W]`; result: `shape`. Every entry of `shape` must be ≥ 1 and `src`
/// non-empty (checked by the callers' configs).
pub fn trilinear(src: ArrayView3<'_, f32>, shape: [usize; 3]) -> Array3<f32> {
    let s = src.shape();
    let (tk, tj, ti) = (
        axis_taps(s[0], shape[0]),
        axis_taps(s[1], shape[1]),
        axis_taps(s[2], shape[2]),
    );
    let mut out = Array3::<f32>::zeros(shape);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(tk.par_iter())
        .for_each(|(mut plane, &(k0, k1, wk))| {
            for (mut row, &(j0, j1, wj)) in plane.axis_iter_mut(Axis(0)).zip(&tj) {
                let r00 = src.slice(ndarray::s![k0, j0, ..]);
                let r01 = src.slice(ndarray::s![k0, j1, ..]);
                let r10 = src.slice(ndarray::s![k1, j0, ..]);
                let r11 = src.slice(ndarray::s![k1, j1, ..]);
                for (o, &(i0, i1, wi)) in row.iter_mut().zip(&ti) {
                    let lerp = |r: &ndarray::ArrayView1<f32>| r[i0] + (r[i1] - r[i0]) * wi;
                    let a = lerp(&r00) + (lerp(&r01) - lerp(&r00)) * wj;
                    let b = lerp(&r10) + (lerp(&r11) - lerp(&r10)) * wj;
                    *o = a + (b - a) * wk;
                }
            }
        });
    out
}

/// Nearest-neighbour resampling to `shape` (`[D, H, W]`), for labels and masks.
///
/// # Shapes
/// `src`: `[D, H, W]`; result: `shape`.
pub fn nearest<T: Copy + Send + Sync + Default>(
    src: ArrayView3<'_, T>,
    shape: [usize; 3],
) -> Array3<T> {
    let s = src.shape();
    let (nk, nj, ni) = (
        axis_nearest(s[0], shape[0]),
        axis_nearest(s[1], shape[1]),
        axis_nearest(s[2], shape[2]),
    );
    let mut out = Array3::<T>::default(shape);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(nk.par_iter())
        .for_each(|(mut plane, &k)| {
            for (mut row, &j) in plane.axis_iter_mut(Axis(0)).zip(&nj) {
                let r = src.slice(ndarray::s![k, j, ..]);
                for (o, &i) in row.iter_mut().zip(&ni) {
                    *o = r[i];
                }
            }
        });
    out
}
