//! What the scanner and the preprocessing add to the ideal images: imperfect skull stripping
//! (rims of extra-cerebral tissue left in, patches of cortex taken out), partial-volume blur,
//! a smooth multiplicative bias field, Rician noise, thick-slice acquisition along a random
//! axis resampled back to 1 mm (as many BraTS scans were), and a random global intensity
//! scale written as integers, as scanners do.
//!
//! The draws are split in two groups, [`Stripping::draw`] and [`Acquisition::draw`], each
//! taking its values from the case's stream in a fixed order, so a seed gives the same case
//! however the image model around them is arranged.

use ndarray::{Array3, Axis, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::field::{dilate, erode, gaussian_blur, thick_slices, LatticeField};

/// The skull-stripped brain mask of a case, with its imperfections.
pub(crate) struct Stripping {
    /// The stripped mask: the brain, in three cases in ten with patches of its outer
    /// 1–3 mm removed, and in about a third with rims of tissue outside it left in.
    pub(crate) mask: Array3<bool>,
    /// The left-over extra-cerebral rim and its relative intensity per modality (FLAIR, T1,
    /// T1ce, T2), if any.
    leftover: Option<(Array3<bool>, [f32; 4])>,
}

impl Stripping {
    /// Strips `brain` (every voxel of tissue or tumour) imperfectly.
    pub(crate) fn draw(rng: &mut ChaCha8Rng, brain: &Array3<bool>) -> Stripping {
        let shape = <[usize; 3]>::from(brain.dim());
        let patch = LatticeField::with_spacing_in(rng, shape, 15.0..40.0);
        let mut mask = brain.clone();
        // Eroded cortex: an over-eager stripper takes patches of the brain's surface.
        if rng.random_bool(0.3) {
            let depth = rng.random_range(1..=3);
            let thr = rng.random_range(-0.5f32..0.8);
            let inner = erode(brain, depth);
            Zip::indexed(&mut mask)
                .and(&inner)
                .for_each(|(k, j, i), m, &keep| {
                    if *m && !keep && patch.at(k as f64, j as f64, i as f64) > thr {
                        *m = false;
                    }
                });
        }
        // Left-over dura and bone: a timid one leaves patches of a rim outside it.
        let leftover = rng.random_bool(0.35).then(|| {
            let reach = rng.random_range(1..=4);
            let thr = rng.random_range(-0.8f32..0.6);
            let outer = dilate(brain, reach);
            let rim = Zip::indexed(&outer)
                .and(brain)
                .map_collect(|(k, j, i), &o, &b| {
                    o && !b && patch.at(k as f64 + 7.0, j as f64 + 7.0, i as f64 + 7.0) > thr
                });
            let look: [f32; 4] = [0; 4].map(|_| rng.random_range(0.1..1.3));
            (rim, look)
        });
        if let Some((rim, _)) = &leftover {
            Zip::from(&mut mask).and(rim).for_each(|m, &r| *m |= r);
        }
        Stripping { mask, leftover }
    }

    /// Paints the left-over rim into modality `m`'s ideal image, textured by `tex`.
    pub(crate) fn paint_leftover(&self, img: &mut Array3<f32>, m: usize, tex: &Array3<f32>) {
        if let Some((rim, look)) = &self.leftover {
            Zip::indexed(img).and(rim).for_each(|(k, j, i), v, &r| {
                if r {
                    *v = look[m] * (1.0 + 0.2 * tex[[k, j, i]]);
                }
            });
        }
    }
}

/// How a case's four images are acquired.
pub(crate) struct Acquisition {
    /// Partial-volume blur (Gaussian σ, voxels), shared by the modalities.
    blur: f64,
    /// Per modality, thick slices if any: axis, thickness (mm), offset of the first slice.
    thick: [Option<(usize, f64, f64)>; 4],
    /// Per modality, the bias field and its log-amplitude.
    bias: [(LatticeField, f32); 4],
    /// Per modality, the Rician noise level as a share of the white matter's intensity.
    noise: [f32; 4],
    /// Per modality, the global intensity scale.
    scale: [f32; 4],
}

impl Acquisition {
    /// Draws the acquisition of a case of grid `shape`.
    pub(crate) fn draw(rng: &mut ChaCha8Rng, shape: [usize; 3]) -> Acquisition {
        let blur = rng.random_range(0.3..0.9);
        // Thick slices in 60 % of the images, mostly axial (k), as in BraTS's older scans.
        let thick = [0; 4].map(|_| {
            rng.random_bool(0.6).then(|| {
                let axis = match rng.random_range(0..10) {
                    0..=5 => 0,
                    6 | 7 => 1,
                    _ => 2,
                };
                let t = rng.random_range(2.0..6.5);
                (axis, t, rng.random_range(0.0..t))
            })
        });
        let bias = [0; 4].map(|_| {
            (
                LatticeField::with_spacing_in(rng, shape, 50.0..100.0),
                rng.random_range(0.0..0.3),
            )
        });
        let noise = [0; 4].map(|_| rng.random_range(0.005..0.06));
        let scale = [0; 4].map(|_| rng.random_range(80f32.ln()..4000f32.ln()).exp());
        Acquisition {
            blur,
            thick,
            bias,
            noise,
            scale,
        }
    }

    /// Turns modality `m`'s ideal image into the written one: blur, bias, Rician noise (its
    /// level relative to `white`, the case's white-matter intensity in this modality; the
    /// noise of each slice drawn from a stream of `seed`, `m` and the slice, so any thread
    /// count gives the same image), thick slices, then the scale, rounded to integers of at
    /// least 1 inside `mask` and 0 outside it.
    pub(crate) fn acquire(
        &self,
        img: &mut Array3<f32>,
        m: usize,
        seed: u64,
        white: f32,
        mask: &Array3<bool>,
    ) {
        gaussian_blur(img, [self.blur; 3]);
        let (field, amp) = &self.bias[m];
        let sigma = self.noise[m] * white.max(0.05);
        img.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut plane)| {
                let mut prng = ChaCha8Rng::seed_from_u64(
                    seed ^ 0xA076_1D64_78BD_642F_u64.wrapping_mul((m * 4096 + k + 1) as u64),
                );
                for ((j, i), v) in plane.indexed_iter_mut() {
                    let b = (amp * field.at(k as f64, j as f64, i as f64)).exp();
                    let clean = *v * b;
                    let n1: f32 = prng.sample(StandardNormal);
                    let n2: f32 = prng.sample(StandardNormal);
                    *v = ((clean + sigma * n1).powi(2) + (sigma * n2).powi(2)).sqrt();
                }
            });
        if let Some((axis, t, offset)) = self.thick[m] {
            thick_slices(img, axis, t, offset);
        }
        let s = self.scale[m];
        Zip::from(img).and(mask).par_for_each(|v, &inside| {
            *v = if inside {
                (*v * s).round().max(1.0)
            } else {
                0.0
            };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ball(shape: [usize; 3], r: f64) -> Array3<bool> {
        let c = shape.map(|n| (n as f64 - 1.0) / 2.0);
        Array3::from_shape_fn(shape, |(k, j, i)| {
            let d2 =
                (k as f64 - c[0]).powi(2) + (j as f64 - c[1]).powi(2) + (i as f64 - c[2]).powi(2);
            d2 <= r * r
        })
    }

    #[test]
    fn stripping_only_touches_a_thin_shell_of_the_brain() {
        let brain = ball([40, 40, 40], 14.0);
        let inner = erode(&brain, 3);
        let outer = dilate(&brain, 4);
        let (mut eroded, mut leftover) = (0, 0);
        for seed in 0..40 {
            let s = Stripping::draw(&mut ChaCha8Rng::seed_from_u64(seed), &brain);
            Zip::from(&s.mask)
                .and(&inner)
                .and(&outer)
                .for_each(|&m, &deep, &near| {
                    // Deep brain is always kept, nothing beyond 4 voxels is ever added.
                    assert!(!deep || m, "seed {seed}: deep brain removed");
                    assert!(near || !m, "seed {seed}: mask far outside the brain");
                });
            eroded += usize::from(Zip::from(&s.mask).and(&brain).any(|&m, &b| b && !m));
            leftover += usize::from(s.leftover.is_some());
        }
        // 30 % and 35 % of cases; both happen, neither always.
        assert!((3..=25).contains(&eroded), "{eroded} of 40 eroded");
        assert!(
            (3..=25).contains(&leftover),
            "{leftover} of 40 with a left-over rim"
        );
    }

    #[test]
    fn acquisition_writes_positive_integers_inside_the_mask_and_zero_outside() {
        let shape = [24, 24, 24];
        let mask = ball(shape, 9.0);
        for seed in 0..8 {
            let acq = Acquisition::draw(&mut ChaCha8Rng::seed_from_u64(seed), shape);
            for m in 0..4 {
                let mut img = Array3::from_elem(shape, 0.8f32);
                acq.acquire(&mut img, m, seed, 0.8, &mask);
                Zip::from(&img).and(&mask).for_each(|&v, &inside| {
                    assert_eq!(v.fract(), 0.0);
                    if inside {
                        assert!(v >= 1.0, "seed {seed} modality {m}: {v} inside");
                    } else {
                        assert_eq!(v, 0.0, "seed {seed} modality {m}: {v} outside");
                    }
                });
                // The scale spans 80–4000: a uniform 0.8 lands between 0.5 × 80 and 2 × 4000.
                let (mut sum, mut n) = (0f64, 0usize);
                Zip::from(&img).and(&mask).for_each(|&v, &inside| {
                    if inside {
                        sum += f64::from(v);
                        n += 1;
                    }
                });
                let mean = sum / n as f64;
                assert!(
                    (40.0..8000.0).contains(&mean),
                    "seed {seed} modality {m}: mean {mean}"
                );
            }
            // Same seed, same image: the noise does not depend on the thread count or order.
            let mut a = Array3::from_elem(shape, 0.5f32);
            let mut b = a.clone();
            acq.acquire(&mut a, 1, seed, 0.5, &mask);
            acq.acquire(&mut b, 1, seed, 0.5, &mask);
            assert_eq!(a, b);
        }
    }
}
