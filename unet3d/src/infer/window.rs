//! Sliding-window inference over a whole preprocessed case.
//!
//! Windows of `roi` voxels are placed on a regular grid whose step is `roi·(1 − overlap)`
//! (the last window flush with the far edge, as MONAI's `sliding_window_inference`); each
//! window's probabilities are weighted by a Gaussian importance map (σ = `roi · sigma_scale`,
//! default ⅛, centre weight 1, never zero) and accumulated in place into one
//! `[n_out, D, H, W]` sum plus one `[D, H, W]` weight sum, so memory is the volume's
//! probabilities plus a batch of windows — a 240×240×155 case cropped to its brain needs
//! about 100 MB beside the network's activations. Optional mirror test-time augmentation
//! averages the eight flips of each window.

use brats_io::progress::Progress;
use candle_core::{Device, Tensor};
use ndarray::{s, Array3, Array4, ArrayView4, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::UNet3d;

/// What the sliding window runs on each batch of windows: anything that turns
/// `[B, C, r, r, r]` into probabilities `[B, n_out, r, r, r]` — the [`UNet3d`], or a
/// closure (an ensemble, a model from elsewhere), as MONAI's inferer takes any callable.
pub trait WindowPredictor {
    /// Probabilities of a batch of windows.
    ///
    /// # Errors
    /// Whatever the model reports.
    fn predict_windows(&self, x: &Tensor) -> Result<Tensor>;

    /// Every window side must be a multiple of this (the network's total downsampling);
    /// the volume is zero-padded up to it. 1 for a predictor without such a constraint.
    fn divisor(&self) -> usize {
        1
    }
}

impl WindowPredictor for UNet3d {
    fn predict_windows(&self, x: &Tensor) -> Result<Tensor> {
        self.probabilities(x)
    }

    fn divisor(&self) -> usize {
        self.config().divisor()
    }
}

impl<F: Fn(&Tensor) -> Result<Tensor>> WindowPredictor for F {
    fn predict_windows(&self, x: &Tensor) -> Result<Tensor> {
        self(x)
    }
}

/// Sliding-window parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlidingWindowConfig {
    /// Window size `[D, H, W]`, each a multiple of the predictor's divisor (16 for the
    /// U-Net; shrunk to the volume when larger).
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
    /// Validates every field; the checked form is what [`sliding_window`] takes.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check(self) -> Result<CheckedWindow> {
        self.check_divisor(1)
    }

    /// As [`SlidingWindowConfig::check`], and every window side a multiple of `divisor`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn check_divisor(self, divisor: usize) -> Result<CheckedWindow> {
        let divisor = divisor.max(1);
        if self.roi.iter().any(|&r| r == 0 || r % divisor != 0) {
            return Err(Error::config(
                "roi",
                format!(
                    "every axis must be a positive multiple of {divisor}, got {:?}",
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
        Ok(CheckedWindow(self))
    }
}

/// A validated [`SlidingWindowConfig`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckedWindow(SlidingWindowConfig);

impl CheckedWindow {
    /// The settings.
    pub fn config(&self) -> &SlidingWindowConfig {
        &self.0
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
/// The volume is zero-padded up to a multiple of the predictor's divisor (and to the
/// window) where needed and the result cropped back. `progress` advances by one per window.
///
/// # Errors
/// [`Error::Config`] when a window side is not a multiple of the predictor's divisor;
/// [`Error::Shape`] when the volume is empty or the predictor's output is not
/// `[B, n_out, r, r, r]`; the predictor's errors.
pub fn sliding_window(
    predictor: &dyn WindowPredictor,
    image: ArrayView4<'_, f32>,
    cfg: &CheckedWindow,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Array4<f32>> {
    let divisor = predictor.divisor().max(1);
    let cfg = cfg.0.check_divisor(divisor)?.0;
    let [c, d, h, w]: [usize; 4] = image.shape().try_into().map_err(|_| {
        Error::shape(
            "sliding-window input",
            "[C, D, H, W]",
            format!("{:?}", image.shape()),
        )
    })?;
    if c == 0 || d * h * w == 0 {
        return Err(Error::shape(
            "sliding-window input",
            "[C > 0, D > 0, H > 0, W > 0]",
            format!("{:?}", image.shape()),
        ));
    }
    let dims = [d, h, w];
    let up = |n: usize| n.div_ceil(divisor) * divisor;
    let roi: [usize; 3] = [0, 1, 2].map(|a| cfg.roi[a].min(up(dims[a])));
    let padded: [usize; 3] = [0, 1, 2].map(|a| up(dims[a]).max(roi[a]));
    let work;
    let img = if padded != dims {
        let mut p = Array4::<f32>::zeros([c, padded[0], padded[1], padded[2]]);
        p.slice_mut(s![.., ..d, ..h, ..w]).assign(&image);
        work = p;
        work.view()
    } else {
        image
    };
    let importance = gaussian_importance(roi, cfg.sigma_scale);
    // The output channels are known from the first output; every later one must match.
    let mut channels: Option<usize> = None;
    let mut acc: Option<Array4<f32>> = None;
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
    progress.start("windows", starts.len() as u64);
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
            let p = predictor.predict_windows(&x)?;
            let n_out = match p.dims() {
                [b, n, r0, r1, r2]
                    if *b == batch.len()
                        && [*r0, *r1, *r2] == roi
                        && channels.is_none_or(|k| k == *n) =>
                {
                    *n
                }
                other => {
                    return Err(Error::shape(
                        "predictor output",
                        format!(
                            "[{}, {}, {}, {}, {}]",
                            batch.len(),
                            channels.map_or("n_out".to_string(), |k| k.to_string()),
                            roi[0],
                            roi[1],
                            roi[2]
                        ),
                        format!("{other:?}"),
                    ))
                }
            };
            channels = Some(n_out);
            let p: Vec<f32> = p
                .flatten_all()?
                .to_dtype(candle_core::DType::F32)?
                .to_vec1()?;
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
        let (Some(sum), Some(n_out)) = (sum, channels) else {
            continue;
        };
        let acc =
            acc.get_or_insert_with(|| Array4::zeros([n_out, padded[0], padded[1], padded[2]]));
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
            progress.advance(1);
        }
    }
    progress.finish();
    let acc = acc.ok_or_else(|| Error::shape("sliding-window input", "at least one window", 0))?;
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
    fn closure_predictors_and_their_bad_outputs() {
        use brats_io::progress::NoProgress;
        use candle_core::DType;
        let image = Array4::<f32>::ones([2, 20, 16, 16]);
        let cfg = SlidingWindowConfig {
            roi: [16, 16, 16],
            overlap: 0.5,
            ..SlidingWindowConfig::default()
        }
        .check()
        .unwrap();
        let dev = Device::Cpu;
        // A constant two-channel predictor: every voxel gets (0.25, 0.75).
        let two = |x: &Tensor| -> Result<Tensor> {
            let d = x.dims();
            let a = Tensor::full(0.25f32, (d[0], 1, d[2], d[3], d[4]), x.device())?;
            let b = Tensor::full(0.75f32, (d[0], 1, d[2], d[3], d[4]), x.device())?;
            Ok(Tensor::cat(&[&a, &b], 1)?)
        };
        let p = sliding_window(&two, image.view(), &cfg, &dev, &NoProgress).unwrap();
        assert_eq!(p.shape(), &[2, 20, 16, 16]);
        assert!(p
            .index_axis(Axis(0), 1)
            .iter()
            .all(|&v| (v - 0.75).abs() < 1e-6));
        // Wrong window shape.
        let wrong = |x: &Tensor| -> Result<Tensor> {
            Ok(Tensor::zeros(
                (x.dims()[0], 1, 8, 8, 8),
                DType::F32,
                x.device(),
            )?)
        };
        let err = sliding_window(&wrong, image.view(), &cfg, &dev, &NoProgress).unwrap_err();
        assert!(err.to_string().contains("predictor output"), "{err}");
        // Channels that change between calls are an error, not a panic.
        let calls = std::cell::Cell::new(0usize);
        let varying = |x: &Tensor| -> Result<Tensor> {
            calls.set(calls.get() + 1);
            let d = x.dims();
            Ok(Tensor::zeros(
                (d[0], calls.get(), d[2], d[3], d[4]),
                DType::F32,
                x.device(),
            )?)
        };
        let err = sliding_window(&varying, image.view(), &cfg, &dev, &NoProgress).unwrap_err();
        assert!(err.to_string().contains("predictor output"), "{err}");
    }

    #[test]
    fn importance_is_positive_centred_and_symmetric() {
        let g = gaussian_importance([16, 32, 48], 0.125);
        assert!(g.iter().all(|&v| v > 0.0 && v <= 1.0));
        assert!((g[[8, 16, 24]] - g[[7, 15, 23]]).abs() < 1e-6);
        assert!(g[[0, 0, 0]] < 1e-3);
        assert_eq!(g[[0, 0, 0]], g[[15, 31, 47]]);
    }
}
