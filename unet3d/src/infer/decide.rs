//! The decision: probabilities → classes → label values of the scheme, nothing outside the
//! brain.

use brats_io::LabelScheme;
use ndarray::{Array3, Array4, ArrayView3, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Output;

/// How softmax probabilities become classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The most probable class of each voxel.
    #[default]
    Argmax,
    /// BraTS's nested regions: whole tumour where the tumour classes' probabilities sum to
    /// more than 0.5, tumour core where the core and enhancing classes' do, enhancing tumour
    /// where the enhancing class's does; the innermost region names the voxel. Argmax leaves
    /// out a voxel that is tumour with probability 0.6 when that is split between edema and
    /// core (0.40 background, 0.30 and 0.30). Thresholding each region's own probability is
    /// the decision BraTS's region-wise scores reward.
    Regions,
}

impl Decision {
    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Argmax => "argmax",
            Decision::Regions => "regions",
        }
    }
}

/// Class map from probabilities `[n_out, D, H, W]`: for softmax, `decision`; for region
/// sigmoids, thresholds at 0.5 with the inner region winning (the same as
/// [`Decision::Regions`], whatever `decision` says).
///
/// # Errors
/// [`Error::Shape`] when softmax probabilities do not have one channel per class of
/// `scheme`; label errors.
pub fn classes_from_probabilities(
    probs: &Array4<f32>,
    output: Output,
    decision: Decision,
    scheme: &LabelScheme,
) -> Result<Array3<u8>> {
    let shape = [probs.shape()[1], probs.shape()[2], probs.shape()[3]];
    match output {
        Output::Softmax if decision == Decision::Regions => {
            let [wt, tc, et] = region_probabilities(probs, output, scheme)?;
            let m = |p: Array3<f32>| p.mapv(|p| p > 0.5);
            let labels = scheme.from_regions(&m(wt), &m(tc), &m(et))?;
            Ok(scheme.to_classes(&labels, "region decision")?)
        }
        Output::Softmax => {
            let mut best = Array3::<f32>::from_elem(shape, f32::NEG_INFINITY);
            let mut cls = Array3::<u8>::zeros(shape);
            for (c, ch) in probs.axis_iter(Axis(0)).enumerate() {
                Zip::from(&mut best)
                    .and(&mut cls)
                    .and(&ch)
                    .for_each(|b, k, &p| {
                        if p > *b {
                            *b = p;
                            *k = c as u8;
                        }
                    });
            }
            Ok(cls)
        }
        Output::SigmoidRegions => {
            let m = |i: usize| probs.index_axis(Axis(0), i).mapv(|p| p > 0.5);
            let labels = scheme.from_regions(&m(0), &m(1), &m(2))?;
            Ok(scheme.to_classes(&labels, "region output")?)
        }
    }
}

/// The regions (WT, TC, ET) each of `channels` output channels counts towards: for
/// softmax, the scheme's own membership of its classes; for region sigmoids, one region
/// each.
///
/// # Errors
/// [`Error::Shape`] when softmax probabilities do not have one channel per class of
/// `scheme`, or region sigmoids not three channels.
pub(crate) fn region_membership(
    channels: usize,
    output: Output,
    scheme: &LabelScheme,
) -> Result<Vec<[bool; 3]>> {
    match output {
        Output::Softmax => {
            let member = scheme.class_regions();
            if channels != member.len() {
                return Err(Error::shape(
                    "softmax probabilities",
                    format!(
                        "{} channels (the classes of {})",
                        member.len(),
                        scheme.name()
                    ),
                    channels,
                ));
            }
            Ok(member)
        }
        Output::SigmoidRegions => {
            if channels != 3 {
                return Err(Error::shape(
                    "region sigmoid probabilities",
                    "3 channels (WT, TC, ET)",
                    channels,
                ));
            }
            Ok(vec![
                [true, false, false],
                [false, true, false],
                [false, false, true],
            ])
        }
    }
}

/// The probability of each BraTS region, `[WT, TC, ET]`, from probabilities
/// `[n_out, D, H, W]`: the sum of the channels that count towards it
/// ([`region_membership`]).
///
/// # Errors
/// As [`region_membership`].
pub fn region_probabilities(
    probs: &Array4<f32>,
    output: Output,
    scheme: &LabelScheme,
) -> Result<[Array3<f32>; 3]> {
    let shape = [probs.shape()[1], probs.shape()[2], probs.shape()[3]];
    let member = region_membership(probs.shape()[0], output, scheme)?;
    Ok([0, 1, 2].map(|r| {
        let mut sum = Array3::<f32>::zeros(shape);
        for (ch, m) in probs.axis_iter(Axis(0)).zip(&member) {
            if m[r] {
                sum += &ch;
            }
        }
        sum
    }))
}

/// Probabilities `[n_out, D, H, W]` → label values of `scheme` by `decision`, background
/// wherever `brain` is false.
///
/// # Shapes
/// `probs`: `[n_out, D, H, W]`; `brain` and the result: `[D, H, W]`.
///
/// # Errors
/// [`Error::Shape`] when `brain` is not the probabilities' grid; label errors.
pub fn decide(
    probs: &Array4<f32>,
    brain: ArrayView3<'_, bool>,
    output: Output,
    decision: Decision,
    scheme: &LabelScheme,
) -> Result<Array3<u8>> {
    if probs.shape()[1..] != *brain.shape() {
        return Err(Error::shape(
            "brain mask",
            format!("{:?} (the probabilities' grid)", &probs.shape()[1..]),
            format!("{:?}", brain.shape()),
        ));
    }
    let mut classes = classes_from_probabilities(probs, output, decision, scheme)?;
    Zip::from(&mut classes).and(&brain).for_each(|c, &b| {
        if !b {
            *c = 0
        }
    });
    Ok(scheme.from_classes(&classes, "prediction")?)
}

#[cfg(test)]
pub(crate) mod tests {
    use ndarray::{Array3, Array4};

    use super::*;

    /// Softmax probabilities of single voxels, one column each, classes in scheme order.
    pub(crate) fn voxels(p: &[[f32; 4]]) -> Array4<f32> {
        Array4::from_shape_fn((4, 1, 1, p.len()), |(c, _, _, i)| p[i][c])
    }

    #[test]
    fn regions_threshold_each_nested_region() {
        // Classes of brats2021: background, NCR (1), ED (2), ET (4).
        let scheme = LabelScheme::brats2021();
        let p = voxels(&[
            [0.40, 0.30, 0.30, 0.00], // tumour 0.6, core 0.3: edema (argmax: background)
            [0.10, 0.30, 0.20, 0.40], // core 0.7, enhancing 0.4: NCR (argmax: ET)
            [0.10, 0.10, 0.20, 0.60], // enhancing 0.6: ET
            [0.60, 0.20, 0.10, 0.10], // tumour 0.4: background
            [0.20, 0.05, 0.70, 0.05], // edema
        ]);
        let brain = Array3::from_elem((1, 1, 5), true);
        let by = |d| decide(&p, brain.view(), Output::Softmax, d, &scheme).unwrap();
        let regions = by(Decision::Regions);
        assert_eq!(regions.iter().copied().collect::<Vec<_>>(), [2, 1, 4, 0, 2]);
        let argmax = by(Decision::Argmax);
        assert_eq!(argmax.iter().copied().collect::<Vec<_>>(), [0, 4, 4, 0, 2]);
        // The other scheme's values, same decision.
        let s23 = LabelScheme::brats2023();
        let r23 = decide(&p, brain.view(), Output::Softmax, Decision::Regions, &s23).unwrap();
        assert_eq!(r23.iter().copied().collect::<Vec<_>>(), [2, 1, 3, 0, 2]);
        // Nothing outside the brain.
        let outside = Array3::from_elem((1, 1, 5), false);
        let none = decide(
            &p,
            outside.view(),
            Output::Softmax,
            Decision::Regions,
            &scheme,
        )
        .unwrap();
        assert!(none.iter().all(|&v| v == 0));
    }

    #[test]
    fn regions_need_one_channel_per_class() {
        let scheme = LabelScheme::brats2021();
        let p = Array4::<f32>::from_elem((3, 1, 1, 2), 1.0 / 3.0);
        let e = classes_from_probabilities(&p, Output::Softmax, Decision::Regions, &scheme)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("softmax probabilities") && e.contains('4') && e.contains('3'),
            "{e}"
        );
        let brain = Array3::from_elem((1, 2, 2), true);
        let e = decide(&p, brain.view(), Output::Softmax, Decision::Argmax, &scheme).unwrap_err();
        assert!(e.to_string().contains("brain mask"), "{e}");
    }

    #[test]
    fn sigmoid_regions_ignore_the_decision() {
        let scheme = LabelScheme::brats2021();
        // Channels WT, TC, ET.
        let p = Array4::from_shape_fn((3, 1, 1, 3), |(c, _, _, i)| match (c, i) {
            (0, _) => 0.9,
            (1, 1 | 2) => 0.8,
            (2, 2) => 0.7,
            _ => 0.1,
        });
        for d in [Decision::Argmax, Decision::Regions] {
            let c = classes_from_probabilities(&p, Output::SigmoidRegions, d, &scheme).unwrap();
            assert_eq!(c.iter().copied().collect::<Vec<_>>(), [2, 1, 3]);
        }
    }

    #[test]
    fn decision_reads_from_config_names() {
        let d: Decision = serde_json::from_str("\"regions\"").unwrap();
        assert_eq!(d, Decision::Regions);
        assert_eq!(d.name(), "regions");
        assert!(serde_json::from_str::<Decision>("\"vote\"").is_err());
        // Older model files have no decision: argmax.
        let post: crate::infer::PostprocessConfig =
            serde_json::from_str(r#"{"min_component_voxels": 64, "et_to_core_below_voxels": 200}"#)
                .unwrap();
        assert_eq!(post.decision, Decision::Argmax);
        // ... and their thresholds under the names of then, counted on 1 mm grids.
        assert_eq!(
            (post.min_component_mm3, post.et_to_core_below_mm3),
            (64, 200)
        );
    }
}
