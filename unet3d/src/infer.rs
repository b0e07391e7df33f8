//! Sliding-window inference over a whole preprocessed case, and the post-processing
//! BraTS pipelines apply to the label map.
//!
//! Windows of `roi` voxels are placed on a regular grid whose step is `roi·(1 − overlap)`
//! (the last window flush with the far edge, as MONAI's `sliding_window_inference`); each
//! window's probabilities are weighted by a Gaussian importance map (σ = `roi · sigma_scale`,
//! default ⅛, centre weight 1, never zero) and accumulated in place into one
//! `[n_out, D, H, W]` sum plus one `[D, H, W]` weight sum, so memory is the volume's
//! probabilities plus a batch of windows — a 240×240×155 case cropped to its brain needs
//! about 100 MB beside the network's activations. Optional mirror test-time augmentation
//! averages the eight flips of each window.

use candle_core::{Device, Tensor};
use indicatif::ProgressBar;
use ndarray::{s, Array3, Array4, ArrayView4, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::UNet3d;

/// Sliding-window parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlidingWindowConfig {
    /// Window size `[D, H, W]`, each a multiple of 16 (shrunk to the volume when larger).
    pub roi: [usize; 3],
    /// Fraction of a window shared with its neighbour along each axis, in `[0, 1)`.
    pub overlap: f64,
    /// σ of the Gaussian importance map as a fraction of the window size (MONAI: 0.125).
    pub sigma_scale: f64,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// Average the eight mirrored versions of every window (8× slower).
    pub mirror_tta: bool,
}

impl Default for SlidingWindowConfig {
    fn default() -> Self {
        SlidingWindowConfig {
            roi: [128, 128, 128],
            overlap: 0.5,
            sigma_scale: 0.125,
            batch_size: 1,
            mirror_tta: false,
        }
    }
}

impl SlidingWindowConfig {
    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(&self) -> Result<()> {
        if self.roi.iter().any(|&r| r == 0 || r % 16 != 0) {
            return Err(Error::config(
                "roi",
                format!(
                    "every axis must be a positive multiple of 16, got {:?}",
                    self.roi
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.overlap) {
            return Err(Error::config(
                "overlap",
                format!("must be in [0, 1), got {}", self.overlap),
            ));
        }
        if !(self.sigma_scale.is_finite() && self.sigma_scale > 0.0) {
            return Err(Error::config(
                "sigma_scale",
                format!("must be finite and > 0, got {}", self.sigma_scale),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be ≥ 1, got 0"));
        }
        Ok(())
    }
}

/// Start positions along one axis of length `n` for windows of `r` (`r ≤ n`).
pub fn window_starts(n: usize, r: usize, overlap: f64) -> Vec<usize> {
    if r >= n {
        return vec![0];
    }
    let step = ((r as f64 * (1.0 - overlap)).floor() as usize).max(1);
    let count = (n - r).div_ceil(step) + 1;
    (0..count).map(|i| (i * step).min(n - r)).collect()
}

/// The Gaussian importance map `[D, H, W]` of a window (centre 1, every weight > 0).
pub fn gaussian_importance(roi: [usize; 3], sigma_scale: f64) -> Array3<f32> {
    let axis = |n: usize| -> Vec<f64> {
        let sigma = n as f64 * sigma_scale;
        let c = (n as f64 - 1.0) / 2.0;
        (0..n)
            .map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp())
            .collect()
    };
    let (a, b, c) = (axis(roi[0]), axis(roi[1]), axis(roi[2]));
    let mut m = Array3::from_shape_fn(roi, |(z, y, x)| (a[z] * b[y] * c[x]) as f32);
    let max = m.iter().cloned().fold(0.0f32, f32::max);
    let min_pos = m
        .iter()
        .cloned()
        .filter(|&v| v > 0.0)
        .fold(f32::MAX, f32::min);
    m.mapv_inplace(|v| (v / max).max(min_pos / max).max(f32::MIN_POSITIVE));
    m
}

/// Probabilities `[n_out, D, H, W]` of a whole preprocessed image `[C, D, H, W]`.
///
/// The volume is zero-padded up to a multiple of 16 (and to the window) where needed and
/// the result cropped back. `progress`, when given, advances by one per window.
///
/// # Errors
/// [`Error::Config`] for an invalid configuration; [`Error::Shape`] when the channel count
/// is not the network's or the volume is empty.
pub fn sliding_window(
    net: &UNet3d,
    image: ArrayView4<'_, f32>,
    cfg: &SlidingWindowConfig,
    device: &Device,
    progress: Option<&ProgressBar>,
) -> Result<Array4<f32>> {
    cfg.check()?;
    let [c, d, h, w]: [usize; 4] = image.shape().try_into().map_err(|_| {
        Error::shape(
            "sliding-window input",
            "[C, D, H, W]",
            format!("{:?}", image.shape()),
        )
    })?;
    if c != net.config().in_channels || d * h * w == 0 {
        return Err(Error::shape(
            "sliding-window input",
            format!("[{}, D > 0, H > 0, W > 0]", net.config().in_channels),
            format!("{:?}", image.shape()),
        ));
    }
    let dims = [d, h, w];
    let up16 = |n: usize| n.div_ceil(16) * 16;
    let roi: [usize; 3] = [0, 1, 2].map(|a| cfg.roi[a].min(up16(dims[a])));
    let padded: [usize; 3] = [0, 1, 2].map(|a| up16(dims[a]).max(roi[a]));
    let work;
    let img = if padded != dims {
        let mut p = Array4::<f32>::zeros([c, padded[0], padded[1], padded[2]]);
        p.slice_mut(s![.., ..d, ..h, ..w]).assign(&image);
        work = p;
        work.view()
    } else {
        image
    };
    let n_out = net.config().n_classes;
    let importance = gaussian_importance(roi, cfg.sigma_scale);
    let mut acc = Array4::<f32>::zeros([n_out, padded[0], padded[1], padded[2]]);
    let mut wsum = Array3::<f32>::zeros(padded);
    let starts: Vec<[usize; 3]> = {
        let (zs, ys, xs) = (
            window_starts(padded[0], roi[0], cfg.overlap),
            window_starts(padded[1], roi[1], cfg.overlap),
            window_starts(padded[2], roi[2], cfg.overlap),
        );
        let mut v = Vec::new();
        for &z in &zs {
            for &y in &ys {
                for &x in &xs {
                    v.push([z, y, x]);
                }
            }
        }
        v
    };
    if let Some(pb) = progress {
        pb.set_length(starts.len() as u64);
    }
    let win_len = c * roi[0] * roi[1] * roi[2];
    let flips: Vec<[bool; 3]> = if cfg.mirror_tta {
        (0..8)
            .map(|m| [m & 1 != 0, m & 2 != 0, m & 4 != 0])
            .collect()
    } else {
        vec![[false; 3]]
    };
    for batch in starts.chunks(cfg.batch_size) {
        let mut sum: Option<Array4<f32>> = None; // [B·n_out, r, r, r] summed over flips
        for flip in &flips {
            let mut buf = Vec::with_capacity(batch.len() * win_len);
            for st in batch {
                let v = img.slice(s![
                    ..,
                    st[0]..st[0] + roi[0],
                    st[1]..st[1] + roi[1],
                    st[2]..st[2] + roi[2]
                ]);
                buf.extend(flipped(v, *flip).iter().copied());
            }
            let x = Tensor::from_vec(buf, (batch.len(), c, roi[0], roi[1], roi[2]), device)?;
            let p = net.probabilities(&x)?;
            let p: Vec<f32> = p.flatten_all()?.to_vec1()?;
            let p = Array4::from_shape_vec([batch.len() * n_out, roi[0], roi[1], roi[2]], p)
                .map_err(|e| Error::shape("network output", "window shape", e.to_string()))?;
            // Un-flip (a copy only when some axis was flipped) and add in place.
            let p = if flip.contains(&true) {
                flipped(p.view(), *flip).to_owned()
            } else {
                p
            };
            sum = Some(match sum {
                None => p,
                Some(mut s) => {
                    s += &p;
                    s
                }
            });
        }
        let Some(sum) = sum else { continue };
        let scale = 1.0 / flips.len() as f32;
        for (bi, st) in batch.iter().enumerate() {
            let region = s![
                st[0]..st[0] + roi[0],
                st[1]..st[1] + roi[1],
                st[2]..st[2] + roi[2]
            ];
            for k in 0..n_out {
                Zip::from(acc.index_axis_mut(Axis(0), k).slice_mut(region))
                    .and(sum.index_axis(Axis(0), bi * n_out + k))
                    .and(&importance)
                    .for_each(|a, &p, &g| *a += p * scale * g);
            }
            Zip::from(wsum.slice_mut(region))
                .and(&importance)
                .for_each(|a, &g| *a += g);
            if let Some(pb) = progress {
                pb.inc(1);
            }
        }
    }
    let mut out = acc.slice_move(s![.., ..d, ..h, ..w]);
    let wsum = wsum.slice(s![..d, ..h, ..w]);
    for mut ch in out.outer_iter_mut() {
        Zip::from(&mut ch).and(&wsum).for_each(|a, &ws| *a /= ws);
    }
    Ok(out)
}

/// The view with the spatial axes (the last three) reversed where `flip` says.
fn flipped<'a>(v: ArrayView4<'a, f32>, flip: [bool; 3]) -> ArrayView4<'a, f32> {
    let mut v = v;
    for (a, &f) in flip.iter().enumerate() {
        if f {
            v.invert_axis(Axis(a + 1));
        }
    }
    v
}

/// Post-processing of a label map (both steps off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PostprocessConfig {
    /// Drop connected tumour components (26-connectivity, any non-zero label) smaller than
    /// this many voxels; 0 keeps everything.
    pub min_component_voxels: usize,
    /// When the whole map holds fewer enhancing voxels than this, relabel them as
    /// necrotic/non-enhancing core — the BraTS practice that avoids a Dice of 0 on cases
    /// without enhancement (where any false-positive ET voxel scores 0 under the challenge's
    /// empty-region rule); 0 disables it.
    pub et_to_core_below_voxels: usize,
}

/// What [`postprocess`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostprocessReport {
    /// Components removed.
    pub components_removed: usize,
    /// Voxels set to background.
    pub voxels_removed: usize,
    /// Enhancing voxels relabelled as core.
    pub et_relabelled: usize,
}

/// Applies `cfg` to a label map in `scheme`'s values, in place.
pub fn postprocess(
    labels: &mut Array3<u8>,
    scheme: &brats_io::LabelScheme,
    cfg: &PostprocessConfig,
) -> PostprocessReport {
    let mut report = PostprocessReport::default();
    if cfg.min_component_voxels > 0 {
        let fg = labels.mapv(|v| v != 0);
        let (comp, sizes) = connected_components(&fg);
        for (v, &c) in labels.iter_mut().zip(comp.iter()) {
            if c > 0 && sizes[c as usize] < cfg.min_component_voxels {
                *v = 0;
                report.voxels_removed += 1;
            }
        }
        report.components_removed = sizes
            .iter()
            .skip(1)
            .filter(|&&n| n > 0 && n < cfg.min_component_voxels)
            .count();
    }
    if cfg.et_to_core_below_voxels > 0 {
        let et = scheme.value_of(brats_io::Compartment::Enhancing);
        let core = scheme.value_of(brats_io::Compartment::Core);
        let n_et = labels.iter().filter(|&&v| v == et && et != 0).count();
        if n_et > 0 && n_et < cfg.et_to_core_below_voxels && core != 0 {
            labels.mapv_inplace(|v| if v == et { core } else { v });
            report.et_relabelled = n_et;
        }
    }
    report
}

/// 26-connected components of `mask`: a map of component ids (0 = background, 1..) and
/// each id's size (`sizes[0]` is 0).
pub fn connected_components(mask: &Array3<bool>) -> (Array3<u32>, Vec<usize>) {
    let (d, h, w) = mask.dim();
    let mut comp = Array3::<u32>::zeros((d, h, w));
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for ((z, y, x), &m) in mask.indexed_iter() {
        if !m || comp[[z, y, x]] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        let mut n = 0usize;
        comp[[z, y, x]] = id;
        stack.push([z, y, x]);
        while let Some([cz, cy, cx]) = stack.pop() {
            n += 1;
            for dz in -1i64..=1 {
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (nz, ny, nx) = (cz as i64 + dz, cy as i64 + dy, cx as i64 + dx);
                        if nz < 0 || ny < 0 || nx < 0 {
                            continue;
                        }
                        let q = [nz as usize, ny as usize, nx as usize];
                        if q[0] < d && q[1] < h && q[2] < w && mask[q] && comp[q] == 0 {
                            comp[q] = id;
                            stack.push(q);
                        }
                    }
                }
            }
        }
        sizes.push(n);
    }
    (comp, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_axis_and_end_flush() {
        assert_eq!(window_starts(64, 64, 0.5), vec![0]);
        assert_eq!(window_starts(32, 64, 0.5), vec![0]);
        assert_eq!(window_starts(160, 128, 0.5), vec![0, 32]);
        assert_eq!(window_starts(240, 128, 0.5), vec![0, 64, 112]);
        assert_eq!(window_starts(100, 10, 0.0).len(), 10);
        for (n, r, o) in [(97, 32, 0.25), (200, 48, 0.5), (17, 16, 0.9)] {
            let st = window_starts(n, r, o);
            assert_eq!(*st.last().unwrap() + r, n);
            for pair in st.windows(2) {
                assert!(pair[1] > pair[0] && pair[1] - pair[0] <= r);
            }
        }
    }

    #[test]
    fn importance_is_positive_centred_and_symmetric() {
        let g = gaussian_importance([16, 32, 48], 0.125);
        assert!(g.iter().all(|&v| v > 0.0 && v <= 1.0));
        assert!((g[[8, 16, 24]] - g[[7, 15, 23]]).abs() < 1e-6);
        assert!(g[[0, 0, 0]] < 1e-3);
        assert_eq!(g[[0, 0, 0]], g[[15, 31, 47]]);
    }

    #[test]
    fn components_and_postprocessing() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut l = Array3::<u8>::zeros((10, 10, 10));
        l.slice_mut(s![1..5, 1..5, 1..5]).fill(2);
        l[[2, 2, 2]] = 4;
        l[[8, 8, 8]] = 1; // isolated voxel
        l[[9, 9, 9]] = 1; // touches it diagonally: one component of 2
        let (_, sizes) = connected_components(&l.mapv(|v| v != 0));
        assert_eq!(sizes, vec![0, 64, 2]);
        let cfg = PostprocessConfig {
            min_component_voxels: 3,
            et_to_core_below_voxels: 5,
        };
        let r = postprocess(&mut l, &scheme, &cfg);
        assert_eq!(
            (r.components_removed, r.voxels_removed, r.et_relabelled),
            (1, 2, 1)
        );
        assert_eq!(l[[8, 8, 8]], 0);
        assert_eq!(l[[2, 2, 2]], 1);
        assert_eq!(l.iter().filter(|&&v| v != 0).count(), 64);
    }
}
