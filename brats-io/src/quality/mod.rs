//! Checks that a case's four images are what a model trained on skull-stripped BraTS scans
//! expects, before anyone trusts its map: that the scan is skull-stripped (the brain mask
//! is no larger than a brain), that FLAIR and T2 are not swapped, and that the four images
//! are co-registered (no image's content lies millimetres off the others'; [`align`]).
//!
//! A swap of FLAIR and T2 is the classic mix-up of converted scans (a series named
//! `T2_FLAIR` matched as T2, or files renamed by hand): both show edema bright, so a network
//! still finds the tumour, but it reads the core differently, and nothing in its own
//! probabilities says so. The two differ in the fluid: cerebrospinal fluid is dark on T1 and
//! on FLAIR (the fluid signal is nulled) and bright on T2. So over the brain, T1 agrees
//! with FLAIR more than with T2 (rank correlation), whatever the scanner's levels are; when
//! the files called FLAIR and T2 show the opposite by more than [`SWAP_MARGIN`], they look
//! swapped.
//!
//! ```
//! use brats_io::quality::InputCheck;
//! use brats_io::{Geometry, Volume};
//! use ndarray::Array3;
//!
//! # fn main() -> brats_io::Result<()> {
//! // A toy brain inside a zero background: fluid (dark on FLAIR and T1, bright on T2) and
//! // tissue.
//! let g = Geometry::from_spacing([24, 24, 24], [1.0; 3])?;
//! let inside = |n: usize| (2..22).contains(&n);
//! let image = |fluid: f32, tissue: f32| {
//!     let data = Array3::from_shape_fn([24, 24, 24], |(k, j, i)| match (inside(k) && inside(j) && inside(i), k < 10) {
//!         (false, _) => 0.0,
//!         (true, true) => fluid,
//!         (true, false) => tissue,
//!     });
//!     Volume::new(data, g.clone())
//! };
//! let (flair, t1, t2) = (image(10.0, 60.0)?, image(20.0, 80.0)?, image(100.0, 50.0)?);
//! let images = [flair, t1.clone(), t1, t2];
//! let check = InputCheck::of(&images)?;
//! assert!(check.warnings().is_empty());
//! let swapped = [images[3].clone(), images[1].clone(), images[2].clone(), images[0].clone()];
//! assert!(InputCheck::of(&swapped)?.flair_t2_swapped().is_some());
//! # Ok(()) }
//! ```

use ndarray::ArrayView3;
use serde::{Deserialize, Serialize};

pub mod align;

use crate::error::{Error, Result};
use crate::preprocess::brain_mask;
use crate::volume::Volume;

/// A skull-stripped adult brain, ventricles and sulci included, holds at most about 2 L (the
/// intracranial volume); BraTS's masks hold 1.1–1.8 L. A mask over this volume includes skull,
/// scalp or neck: a network trained on stripped brains only then sees tissue it never saw.
pub const LARGEST_BRAIN_CM3: f64 = 2500.0;

/// By how much T1's rank correlation with the image called T2 must exceed its correlation
/// with the image called FLAIR before the two look swapped. On correctly labelled cases T1
/// agrees with FLAIR more than with T2: by +0.44 on the real BraTS case, by +0.23 to +1.67 on
/// 118 of 119 of the generator's MRI-like cases (one, whose drawn T2 has no grey–white
/// contrast, by −0.22). A swap turns the sign, so 0.2 leaves room on both sides.
pub const SWAP_MARGIN: f64 = 0.2;

/// At most this many brain voxels (an even stride through the brain) enter the rank
/// correlations: enough for two decimals, and a few milliseconds.
pub const MAX_SAMPLES: usize = 200_000;

/// Fewer brain voxels than this, or a constant image, and the correlations are not computed.
pub const MIN_SAMPLES: usize = 1_000;

/// What the input checks found; [`InputCheck::warnings`] says what is wrong, for people.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputCheck {
    /// Volume of the brain mask ([`brain_mask`]), cm³.
    pub brain_cm3: f64,
    /// Spearman rank correlation of T1 with FLAIR over the brain (`None`: too few voxels or a
    /// constant image).
    pub t1_flair: Option<f64>,
    /// Spearman rank correlation of T1 with T2 over the brain.
    pub t1_t2: Option<f64>,
    /// How far each image's content (FLAIR, T1, T1ce, T2) lies from where the other three
    /// put it, mm along the image axes `(i, j, k)`, in whole voxels up to
    /// [`align::MAX_SHIFT`] ([`align`]); `None` when the brain is too small to tell or an
    /// image is flat.
    #[serde(default)]
    pub shift_mm: Option<[[f64; 3]; 4]>,
    /// How far, at most, a part of each image's content (FLAIR, T1, T1ce, T2) lies from
    /// where its own overall displacement puts it, mm: the inner brain's octants are matched
    /// one by one ([`align`]), and an image turned or warped against the others moves them
    /// different ways, while a shift moves them all alike. `None` when fewer than four parts
    /// could be measured.
    #[serde(default)]
    pub turn_mm: Option<[f64; 4]>,
}

/// The modalities in the order of a case's images.
const MODALITIES: [&str; 4] = ["FLAIR", "T1", "T1ce", "T2"];

impl InputCheck {
    /// Checks four co-registered images (FLAIR, T1, T1ce, T2), computing their brain mask.
    ///
    /// # Errors
    /// [`Error::Shape`] for a number of images other than four or grids of different sizes.
    pub fn of(images: &[Volume<f32>]) -> Result<Self> {
        check_images(images)?;
        let brain = brain_mask(images);
        Self::with_brain(images, brain.view())
    }

    /// As [`InputCheck::of`], with the brain mask already computed (on the images' grid).
    ///
    /// # Errors
    /// [`Error::Shape`] as [`InputCheck::of`], or a mask on another grid.
    pub fn with_brain(images: &[Volume<f32>], brain: ArrayView3<bool>) -> Result<Self> {
        let shape = check_images(images)?;
        if brain.shape() != shape {
            return Err(Error::shape(
                "brain mask",
                format!("{shape:?}"),
                format!("{:?}", brain.shape()),
            ));
        }
        let voxels = brain.iter().filter(|&&b| b).count();
        let voxel_cm3 = images[0].geometry().voxel_volume_mm3() / 1000.0;
        let stride = voxels.div_ceil(MAX_SAMPLES).max(1);
        let sample: Vec<usize> = brain
            .iter()
            .enumerate()
            .filter_map(|(n, &b)| b.then_some(n))
            .step_by(stride)
            .collect();
        let values = |img: &Volume<f32>| -> Vec<f32> {
            let s = img.as_slice();
            sample.iter().map(|&n| s[n]).collect()
        };
        let (flair, t1, t2) = (
            ranks(&values(&images[0])),
            ranks(&values(&images[1])),
            ranks(&values(&images[3])),
        );
        let enough = sample.len() >= MIN_SAMPLES;
        let spacing = images[0].geometry().spacing();
        let found = align::displacements(images, brain);
        let shift_mm = found.as_ref().map(|d| {
            d.overall
                .map(|v| [0, 1, 2].map(|a| v[a] as f64 * spacing[a]))
        });
        let turn_mm = found.and_then(|d| {
            let turns = d.parts.map(|parts| turn_of(&parts, spacing));
            turns
                .iter()
                .all(Option::is_some)
                .then(|| turns.map(Option::unwrap_or_default))
        });
        Ok(Self {
            brain_cm3: voxels as f64 * voxel_cm3,
            t1_flair: enough.then(|| pearson(&t1, &flair)).flatten(),
            t1_t2: enough.then(|| pearson(&t1, &t2)).flatten(),
            shift_mm,
            turn_mm,
        })
    }

    /// Why the scan looks not skull-stripped (its brain mask is larger than any brain), or
    /// `None`.
    pub fn not_skull_stripped(&self) -> Option<String> {
        (self.brain_cm3 > LARGEST_BRAIN_CM3).then(|| {
            format!(
                "the images hold signal over {:.0} cm³, more than any brain ({LARGEST_BRAIN_CM3:.0} cm³ at most): \
                 the scan looks not skull-stripped, and the model has only seen skull-stripped brains",
                self.brain_cm3
            )
        })
    }

    /// Why FLAIR and T2 look swapped (T1 agrees with the image called T2 more than with the
    /// one called FLAIR, by over [`SWAP_MARGIN`]), or `None`.
    pub fn flair_t2_swapped(&self) -> Option<String> {
        let (f, t) = (self.t1_flair?, self.t1_t2?);
        (t - f > SWAP_MARGIN).then(|| {
            format!(
                "FLAIR and T2 look swapped: T1 agrees more with the image given as T2 (rank correlation {t:+.2}) \
                 than with the one given as FLAIR ({f:+.2}), yet fluid is dark on T1 and FLAIR and bright on T2; \
                 check which file is which"
            )
        })
    }

    /// Why the images look not co-registered (an image's content lies at least
    /// [`align::SHIFT_MM`] off the other three's along an axis, or a part of it at least
    /// [`align::TURN_MM`] off where the rest of it puts it), or `None`.
    pub fn misregistered(&self) -> Option<String> {
        let shifts = self.shift_mm?;
        let off: Vec<String> = shifts
            .iter()
            .zip(MODALITIES)
            .filter(|(v, _)| v.iter().any(|x| x.abs() >= align::SHIFT_MM))
            .map(|(v, name)| format!("{name} by ({:+.0}, {:+.0}, {:+.0}) mm", v[0], v[1], v[2]))
            .collect();
        let turned: Vec<String> = self
            .turn_mm
            .unwrap_or_default()
            .iter()
            .zip(MODALITIES)
            .filter(|(&t, _)| t >= align::TURN_MM)
            .map(|(t, name)| format!("{name} by up to {t:.1} mm"))
            .collect();
        let mut found = Vec::new();
        if !off.is_empty() {
            found.push(format!(
                "against the others, {} along the image axes (i, j, k)",
                off.join(", ")
            ));
        }
        if !turned.is_empty() {
            found.push(format!(
                "parts of {} lie off where the rest of the image puts them (turned or warped against the others)",
                turned.join(", ")
            ));
        }
        (!found.is_empty()).then(|| {
            format!(
                "the images look not co-registered: {}; \
                 the model reads the four images voxel by voxel, so register them to one another first",
                found.join("; ")
            )
        })
    }

    /// Every problem found, for people (empty when the input looks as expected).
    pub fn warnings(&self) -> Vec<String> {
        [
            self.not_skull_stripped(),
            self.flair_t2_swapped(),
            self.misregistered(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Four images of one size; returns the size.
fn check_images(images: &[Volume<f32>]) -> Result<[usize; 3]> {
    if images.len() != 4 {
        return Err(Error::shape(
            "case images",
            "4 (FLAIR, T1, T1ce, T2)",
            images.len(),
        ));
    }
    let shape = images[0].geometry().shape();
    for img in &images[1..] {
        if img.geometry().shape() != shape {
            return Err(Error::shape(
                "case images",
                format!("one grid {shape:?}"),
                format!("{:?}", img.geometry().shape()),
            ));
        }
    }
    Ok(shape)
}

/// The largest distance, mm, between a part's displacement and the mean of the parts'
/// displacements (voxels along `(i, j, k)`, scaled by `spacing`); `None` for fewer than four
/// parts.
fn turn_of(parts: &[[f64; 3]], spacing: [f64; 3]) -> Option<f64> {
    if parts.len() < 4 {
        return None;
    }
    let n = parts.len() as f64;
    let mean = [0, 1, 2].map(|a| parts.iter().map(|p| p[a]).sum::<f64>() / n);
    parts
        .iter()
        .map(|p| {
            [0, 1, 2]
                .map(|a| ((p[a] - mean[a]) * spacing[a]).powi(2))
                .iter()
                .sum::<f64>()
                .sqrt()
        })
        .max_by(f64::total_cmp)
}

/// Ranks from 1, ties sharing their mean rank (as Spearman's correlation needs); NaN sorts
/// last.
fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut rank = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let mean = (start + end + 1) as f64 / 2.0;
        for &o in &order[start..end] {
            rank[o] = mean;
        }
        start = end;
    }
    rank
}

/// Pearson's correlation, `None` when either side is constant.
fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;
    use ndarray::Array3;

    #[test]
    fn ranks_share_ties_and_match_spearman() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        // A monotone map keeps the rank correlation at exactly 1; a reversing one, -1.
        let x: Vec<f32> = (0..50).map(|i| (i * 7 % 50) as f32).collect();
        let up: Vec<f32> = x.iter().map(|v| v.powi(3) + 2.0).collect();
        let down: Vec<f32> = x.iter().map(|v| -v.exp()).collect();
        let r = ranks(&x);
        assert!((pearson(&r, &ranks(&up)).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&r, &ranks(&down)).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&r, &ranks(&[1.0; 50])), None);
    }

    fn volume(data: Array3<f32>) -> Volume<f32> {
        let (nk, nj, ni) = data.dim();
        let g = Geometry::from_spacing([ni, nj, nk], [1.0, 1.0, 2.0]).unwrap();
        Volume::new(data, g).unwrap()
    }

    #[test]
    fn brain_volume_and_skull_stripping() {
        // 5 × 6 × 16 = 480 voxels of 2 mm³ inside a zero background: 0.96 cm³.
        let img = volume(Array3::from_shape_fn([10, 10, 20], |(k, j, i)| {
            if (2..7).contains(&k) && (2..8).contains(&j) && (2..18).contains(&i) {
                1.0
            } else {
                0.0
            }
        }));
        let images = [img.clone(), img.clone(), img.clone(), img];
        let c = InputCheck::of(&images).unwrap();
        assert!((c.brain_cm3 - 0.96).abs() < 1e-9, "{}", c.brain_cm3);
        assert!(c.not_skull_stripped().is_none());
        // Constant images: nothing to correlate, no swap claimed.
        assert_eq!((c.t1_flair, c.t1_t2), (None, None));
        assert!(c.warnings().is_empty());
        let big = InputCheck {
            brain_cm3: 2600.0,
            t1_flair: None,
            t1_t2: None,
            shift_mm: None,
            turn_mm: None,
        };
        assert!(big.not_skull_stripped().unwrap().contains("2600 cm³"));
        assert_eq!(big.warnings().len(), 1);
    }

    #[test]
    fn a_swap_needs_the_margin() {
        let c = |f, t| InputCheck {
            brain_cm3: 1500.0,
            t1_flair: Some(f),
            t1_t2: Some(t),
            shift_mm: None,
            turn_mm: None,
        };
        assert!(c(0.4, -0.1).flair_t2_swapped().is_none());
        assert!(c(0.1, 0.25).flair_t2_swapped().is_none()); // within the margin: no claim
        let why = c(-0.1, 0.4).flair_t2_swapped().unwrap();
        assert!(why.contains("+0.40") && why.contains("-0.10"), "{why}");
        assert_eq!(c(-0.1, 0.4).warnings(), vec![why]);
    }

    /// Four modalities of one textured ball (tissue classes from a smooth field of bumps,
    /// each modality its own intensity per class: T2 reverses T1 and FLAIR, T1ce is bright on one), with `moved`'s
    /// content shifted by `by` voxels (k, j, i) and the shared brain mask applied after, as
    /// a skull stripping done after a failed registration would.
    fn textured(moved: usize, by: [isize; 3]) -> Vec<Volume<f32>> {
        let n = 56;
        let bumps: Vec<[f64; 3]> = (0..60u64)
            .map(|b| {
                let h = |s: u64| ((b * 2654435761 + s * 40503) % 1000) as f64 / 1000.0;
                [h(1), h(2), h(3)].map(|v| 8.0 + v * (n as f64 - 16.0))
            })
            .collect();
        let class = |k: isize, j: isize, i: isize| -> usize {
            let f: f64 = bumps
                .iter()
                .map(|c| {
                    let d2 = (k as f64 - c[0]).powi(2)
                        + (j as f64 - c[1]).powi(2)
                        + (i as f64 - c[2]).powi(2);
                    (-d2 / 18.0).exp()
                })
                .sum();
            usize::from(f > 0.3) + usize::from(f > 0.8)
        };
        let levels = [
            [90.0, 60.0, 45.0],
            [80.0, 50.0, 20.0],
            [40.0, 50.0, 120.0],
            [30.0, 40.0, 100.0],
        ];
        let centre = n as f64 / 2.0;
        (0..4)
            .map(|m| {
                let s = if m == moved { by } else { [0; 3] };
                volume(Array3::from_shape_fn([n, n, n], |(k, j, i)| {
                    let r2 = [k, j, i]
                        .iter()
                        .map(|&v| (v as f64 + 0.5 - centre).powi(2))
                        .sum::<f64>();
                    if r2 > 24.0f64.powi(2) {
                        return 0.0;
                    }
                    let (k, j, i) = (k as isize - s[0], j as isize - s[1], i as isize - s[2]);
                    levels[m][class(k, j, i)] as f32
                }))
            })
            .collect()
    }

    #[test]
    fn a_moved_image_is_found_and_named() {
        // volume() gives spacing (1, 1, 2) mm along (i, j, k).
        let still = InputCheck::of(&textured(0, [0; 3])).unwrap();
        assert_eq!(still.shift_mm, Some([[0.0; 3]; 4]));
        assert!(still.misregistered().is_none());
        // T1ce moved by 2 voxels along k and -3 along i: (-3, 0, +4) mm along (i, j, k).
        let moved = InputCheck::of(&textured(2, [2, 0, -3])).unwrap();
        let d = moved.shift_mm.unwrap();
        assert_eq!(d[2], [-3.0, 0.0, 4.0]);
        for m in [0, 1, 3] {
            assert_eq!(d[m], [0.0; 3], "image {m} is where the others put it");
        }
        // The ball's texture is a few sparse blobs per octant, too little for its parts to be
        // matched once an image moves (its turn is tested on the generator's cases, where a
        // shift leaves every part's turn under 1.1 mm): only the shifts are checked here.
        let why = moved.misregistered().unwrap();
        assert!(
            why.contains("T1ce by (-3, +0, +4) mm") && !why.contains("FLAIR by ("),
            "{why}"
        );
        // One voxel along i is 1 mm, under the 2 mm that is reported.
        let slight = InputCheck::of(&textured(1, [0, 0, 1])).unwrap();
        assert_eq!(slight.shift_mm.unwrap()[1], [1.0, 0.0, 0.0]);
        assert!(!slight.misregistered().unwrap_or_default().contains(" by ("));
    }

    #[test]
    fn a_turn_is_how_far_the_parts_spread_and_is_named_apart_from_a_shift() {
        // Parts moved alike (a shift) spread by nothing; parts moved ±1 voxel along i about
        // their mean spread by 1 voxel, 2 mm where i's voxels are 2 mm.
        let alike = [[1.0, -2.0, 0.5]; 8];
        assert_eq!(turn_of(&alike, [1.0, 1.0, 1.0]), Some(0.0));
        let turned: Vec<[f64; 3]> = (0..8)
            .map(|r| [if r % 2 == 0 { 1.0 } else { -1.0 }, 0.0, 0.0])
            .collect();
        assert_eq!(turn_of(&turned, [2.0, 1.0, 1.0]), Some(2.0));
        assert_eq!(
            turn_of(&turned[..3], [1.0; 3]),
            None,
            "fewer than four parts"
        );
        // The untouched ball's images are not turned.
        let c = InputCheck::of(&textured(0, [0; 3])).unwrap();
        assert!(
            c.turn_mm.unwrap().iter().all(|&t| t < align::TURN_MM),
            "{c:?}"
        );
        assert!(c.misregistered().is_none());
        let c = |shift: [f64; 3], turn: f64| InputCheck {
            brain_cm3: 1500.0,
            t1_flair: None,
            t1_t2: None,
            shift_mm: Some([[0.0; 3], [0.0; 3], shift, [0.0; 3]]),
            turn_mm: Some([0.6, 0.7, turn, 0.5]),
        };
        assert!(c([0.0, 0.0, 1.0], 1.9).misregistered().is_none());
        let why = c([0.0, 0.0, 1.0], 3.12).misregistered().unwrap();
        assert!(
            why.contains("parts of T1ce by up to 3.1 mm") && !why.contains("FLAIR"),
            "{why}"
        );
        assert!(!why.contains("T1ce by ("), "its shift is under 2 mm: {why}");
        let both = c([3.0, 0.0, 0.0], 2.5).misregistered().unwrap();
        assert!(
            both.contains("T1ce by (+3, +0, +0) mm") && both.contains("T1ce by up to 2.5 mm"),
            "{both}"
        );
        assert_eq!(c([3.0, 0.0, 0.0], 2.5).warnings(), vec![both]);
    }

    #[test]
    fn too_little_brain_to_tell() {
        // The 480-voxel brick of the test above has no voxel 7 voxels deep.
        let img = volume(Array3::from_shape_fn([10, 10, 20], |(k, j, i)| {
            f32::from((2..7).contains(&k) && (2..8).contains(&j) && (2..18).contains(&i))
                * (i as f32 + 1.0)
        }));
        let c = InputCheck::of(&[img.clone(), img.clone(), img.clone(), img]).unwrap();
        assert_eq!((c.shift_mm, c.turn_mm), (None, None));
        assert!(c.misregistered().is_none());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let a = volume(Array3::from_elem([4, 4, 4], 1.0));
        let b = volume(Array3::from_elem([5, 4, 4], 1.0));
        let e = InputCheck::of(&[a.clone(), a.clone(), a.clone()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("case images") && e.contains('3'), "{e}");
        let e = InputCheck::of(&[a.clone(), a.clone(), a.clone(), b])
            .unwrap_err()
            .to_string();
        assert!(e.contains("[5, 4, 4]"), "{e}");
        let mask = Array3::from_elem([4, 4, 3], true);
        let e = InputCheck::with_brain(&[a.clone(), a.clone(), a.clone(), a], mask.view())
            .unwrap_err()
            .to_string();
        assert!(e.contains("brain mask"), "{e}");
    }
}
