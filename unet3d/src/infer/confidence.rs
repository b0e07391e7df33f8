//! How sure the network was of its own map, from its probabilities alone (no reference).
//!
//! For each BraTS region the *expected Dice* is the Dice between the region's probability
//! map `p` and its own decision `H = {p > 0.5}`, over the brain:
//! `2·Σ_H p / (Σ p + |H|)`. It is 1 when every voxel is decided with certainty and falls as
//! probability spreads into voxels that were not called, or called voxels are barely over
//! one half. It is a statement about the model, not about the truth: a model can be sure
//! and wrong. The uncertain volume is where the whole-tumour probability lies between 0.25
//! and 0.75.
//!
//! [`Confidence::doubtful`] is the warning `bts segment`, `bts evaluate` and the report use:
//! expected whole-tumour Dice under [`DOUBT_BELOW`] with at least [`DOUBT_MIN_CM3`] of
//! expected tumour. The threshold was chosen on 30 development cases (seeds 8100000000…,
//! half of them with fully random contrasts) and then checked once on the 150 held-out
//! cases of the model card: with the shipped model it flagged all 14 cases whose WT Dice
//! was under 0.7 and all 8 with a false island over 5 cm³, and 6 of the 136 others. Both
//! were measured with mirror TTA (the shipped default); a single pass gives sharper
//! probabilities, and the model then rates itself higher than it should.

use brats_io::LabelScheme;
use ndarray::{Array4, ArrayView3, Axis, Zip};
use serde::{Deserialize, Serialize};

use super::decide::region_membership;
use crate::error::{Error, Result};
use crate::model::Output;

/// The model's certainty about one prediction.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Confidence {
    /// Expected Dice of WT, TC, ET (`None` for a region with less than one voxel's worth of
    /// probability and no voxel called: nothing there, with certainty).
    pub expected_dice: [Option<f64>; 3],
    /// Volume (cm³) where the whole-tumour probability is between 0.25 and 0.75.
    pub uncertain_cm3: f64,
    /// Volume (cm³) where the whole-tumour probability is over 0.5.
    pub called_cm3: f64,
    /// The whole-tumour volume (cm³) the probabilities add up to (`Σ p` times a voxel's
    /// volume).
    pub expected_cm3: f64,
}

/// Expected whole-tumour Dice under which a map is [`Confidence::doubtful`].
pub const DOUBT_BELOW: f64 = 0.8;

/// Expected tumour (cm³) under which a low expected Dice is not a doubt (a healthy brain's
/// faint probabilities).
pub const DOUBT_MIN_CM3: f64 = 1.0;

impl Confidence {
    /// Whether the network doubts its whole-tumour map: expected WT Dice under
    /// [`DOUBT_BELOW`] while its probabilities add up to at least [`DOUBT_MIN_CM3`] of
    /// tumour. Such maps should be checked against the images before anything is read
    /// from them (out-of-distribution contrasts, swapped modalities, small lesions).
    pub fn doubtful(&self) -> bool {
        self.expected_cm3 >= DOUBT_MIN_CM3 && self.expected_dice[0].is_some_and(|d| d < DOUBT_BELOW)
    }

    /// Why the map is doubted, for people (`None` when it is not [`Confidence::doubtful`]).
    pub fn doubt(&self) -> Option<String> {
        self.doubtful().then(|| {
            format!(
                "expected whole-tumour Dice {:.2}, under {DOUBT_BELOW}; the usual causes are contrasts unlike the MRI it was trained on, modalities in the wrong order, or a small lesion",
                self.expected_dice[0].unwrap_or(0.0)
            )
        })
    }

    /// One line for people: the expected Dice per region and the uncertain volume.
    pub fn summary(&self) -> String {
        let ed = |r: usize| self.expected_dice[r].map_or("-".to_string(), |d| format!("{d:.2}"));
        format!(
            "expected Dice WT {} / TC {} / ET {}, {:.1} cm³ uncertain (the model's own estimate, no reference)",
            ed(0),
            ed(1),
            ed(2),
            self.uncertain_cm3
        )
    }
}

/// The [`Confidence`] of probabilities `[n_out, D, H, W]` over the voxels where `brain` is
/// true; `voxel_cm3` is one voxel's volume.
///
/// # Errors
/// [`Error::Shape`] when `brain` is not the probabilities' grid, or when the channels do
/// not fit `output` and `scheme` (as [`region_probabilities`](super::region_probabilities)).
pub fn confidence(
    probs: &Array4<f32>,
    brain: ArrayView3<'_, bool>,
    output: Output,
    scheme: &LabelScheme,
    voxel_cm3: f64,
) -> Result<Confidence> {
    if probs.shape()[1..] != *brain.shape() {
        return Err(Error::shape(
            "brain mask",
            format!("{:?} (the probabilities' grid)", &probs.shape()[1..]),
            format!("{:?}", brain.shape()),
        ));
    }
    let member = region_membership(probs.shape()[0], output, scheme)?;
    // One pass, no region maps: per voxel, each region's probability (its channels summed
    // in order, in f32, as the decision sums them); per region Σp, Σ_H p and |H| in f64,
    // and the uncertain band of WT.
    let (mut sum, mut sum_called, mut called, mut band) =
        ([0.0f64; 3], [0.0f64; 3], [0usize; 3], 0usize);
    Zip::from(probs.lanes(Axis(0)))
        .and(&brain)
        .for_each(|lane, &b| {
            if !b {
                return;
            }
            for r in 0..3 {
                let mut p = 0.0f32;
                for (&v, m) in lane.iter().zip(&member) {
                    if m[r] {
                        p += v;
                    }
                }
                let p = f64::from(p);
                sum[r] += p;
                if p > 0.5 {
                    sum_called[r] += p;
                    called[r] += 1;
                }
                if r == 0 && (0.25..=0.75).contains(&p) {
                    band += 1;
                }
            }
        });
    let mut out = Confidence {
        uncertain_cm3: band as f64 * voxel_cm3,
        called_cm3: called[0] as f64 * voxel_cm3,
        expected_cm3: sum[0] * voxel_cm3,
        ..Confidence::default()
    };
    for r in 0..3 {
        out.expected_dice[r] = (called[r] > 0 || sum[r] >= 1.0)
            .then(|| 2.0 * sum_called[r] / (sum[r] + called[r] as f64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array3, Array4};

    use super::*;
    use crate::infer::decide::tests::voxels;

    #[test]
    fn certain_maps_score_one_and_doubt_lowers_it() {
        let scheme = LabelScheme::brats2021();
        let brain = Array3::from_elem((1, 1, 4), true);
        // Two edema voxels, two background voxels, all certain.
        let sure = voxels(&[
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, 0.0],
        ]);
        let c = confidence(&sure, brain.view(), Output::Softmax, &scheme, 0.001).unwrap();
        assert_eq!(c.expected_dice[0], Some(1.0));
        // No core and no enhancing tumour, with certainty.
        assert_eq!(c.expected_dice[1], None);
        assert_eq!(c.expected_dice[2], None);
        assert_eq!(c.uncertain_cm3, 0.0);
        assert!((c.called_cm3 - 0.002).abs() < 1e-12);
        assert!((c.expected_cm3 - 0.002).abs() < 1e-9);
        // The same call, barely: WT 0.6 and 0.6 called, 0.4 and 0.4 not.
        let unsure = voxels(&[
            [0.4, 0.0, 0.6, 0.0],
            [0.4, 0.0, 0.6, 0.0],
            [0.6, 0.0, 0.4, 0.0],
            [0.6, 0.0, 0.4, 0.0],
        ]);
        let c = confidence(&unsure, brain.view(), Output::Softmax, &scheme, 0.001).unwrap();
        // 2·1.2 / (2.0 + 2) = 0.6.
        assert!((c.expected_dice[0].unwrap() - 0.6).abs() < 1e-6, "{c:?}");
        assert!((c.uncertain_cm3 - 0.004).abs() < 1e-12);
        assert!((c.expected_cm3 - 0.002).abs() < 1e-6);
        // Outside the brain nothing counts.
        let none = Array3::from_elem((1, 1, 4), false);
        let c = confidence(&unsure, none.view(), Output::Softmax, &scheme, 0.001).unwrap();
        assert_eq!(c.expected_dice, [None, None, None]);
        assert_eq!(c.called_cm3, 0.0);
    }

    #[test]
    fn doubt_needs_low_expected_dice_and_some_tumour() {
        let c = |d: Option<f64>, cm3: f64| Confidence {
            expected_dice: [d, None, None],
            expected_cm3: cm3,
            ..Confidence::default()
        };
        assert!(c(Some(0.5), 20.0).doubtful());
        assert!(c(Some(0.0), 1.5).doubtful()); // tumour expected, none called
        assert!(!c(Some(0.85), 20.0).doubtful());
        assert!(!c(Some(0.3), 0.2).doubtful()); // a healthy brain's faint probabilities
        assert!(!c(None, 0.0).doubtful());
        assert!(c(Some(0.5), 20.0)
            .doubt()
            .is_some_and(|w| w.contains("0.50")));
        assert_eq!(c(Some(0.85), 20.0).doubt(), None);
        let s = c(Some(0.5), 20.0).summary();
        assert!(s.contains("WT 0.50 / TC - / ET -"), "{s}");
    }

    #[test]
    fn probability_with_no_call_scores_zero() {
        // Enhancing probability 0.4 in three voxels: 1.2 voxels' worth, none called.
        let scheme = LabelScheme::brats2021();
        let brain = Array3::from_elem((1, 1, 3), true);
        let p = voxels(&[[0.0, 0.0, 0.6, 0.4]; 3]);
        let c = confidence(&p, brain.view(), Output::Softmax, &scheme, 0.001).unwrap();
        assert_eq!(c.expected_dice[2], Some(0.0));
        assert_eq!(c.expected_dice[0], Some(1.0));
    }

    #[test]
    fn wrong_grids_and_channels_are_errors() {
        let scheme = LabelScheme::brats2021();
        let p = voxels(&[[1.0, 0.0, 0.0, 0.0]; 2]);
        let brain = Array3::from_elem((1, 1, 3), true);
        let e = confidence(&p, brain.view(), Output::Softmax, &scheme, 0.001).unwrap_err();
        assert!(e.to_string().contains("brain mask"), "{e}");
        let p3 = Array4::<f32>::zeros((3, 1, 1, 3));
        let e = confidence(&p3, brain.view(), Output::Softmax, &scheme, 0.001).unwrap_err();
        assert!(e.to_string().contains("softmax probabilities"), "{e}");
        let p2 = Array4::<f32>::zeros((2, 1, 1, 3));
        let e = confidence(&p2, brain.view(), Output::SigmoidRegions, &scheme, 0.001).unwrap_err();
        assert!(e.to_string().contains("region sigmoid"), "{e}");
    }
}
