//! BraTS evaluation: label maps → WT/TC/ET (or any regions) → every metric, per case.
//!
//! A region is a set of label values. The BraTS regions come from `brats_io::LabelScheme`,
//! the workspace's one definition of the labels ([`RegionSpec::from_scheme`]):
//!
//! | scheme | WT | TC | ET |
//! |---|---|---|---|
//! | BraTS 2017–2021 | {1, 2, 4} | {1, 4} | {4} |
//! | BraTS 2023+ | {1, 2, 3} | {1, 3} | {3} |
//!
//! ```
//! use brats_metrics::brats::{evaluate_case, EvalConfig, RegionSpec};
//! use brats_metrics::distance::Spacing;
//! use ndarray::Array3;
//! # fn main() -> brats_metrics::Result<()> {
//! let truth = Array3::from_shape_fn([8, 8, 8], |(k, j, i)| if k > 2 && j > 2 && i > 2 { 2u8 } else { 0 });
//! let e = evaluate_case("demo", truth.view(), truth.view(), Spacing::unit(), &RegionSpec::brats2021(), EvalConfig::default())?;
//! assert_eq!(e.regions["WT"].dice, 1.0);
//! assert_eq!(e.regions["ET"].dice, 1.0); // both empty: BraTS 2023 rule
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use brats_io::{LabelScheme, TumourRegion};
use ndarray::ArrayView3;
use serde::{Deserialize, Serialize};

use crate::distance::{surface_distances, Hd95, Spacing};
use crate::error::{Error, Result};
use crate::overlap::{Confusion, EmptyPolicy};

/// A named set of label values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionSpec {
    /// Region name (`"WT"`, …).
    pub name: String,
    /// Label values that belong to it.
    pub labels: Vec<u8>,
}

impl RegionSpec {
    fn new(name: &str, labels: &[u8]) -> Self {
        RegionSpec {
            name: name.into(),
            labels: labels.to_vec(),
        }
    }

    /// WT, TC and ET of a label scheme, in that order, then each of its non-tumour labels
    /// on its own (BraTS 2024's resection cavity, `"RC"` {4}, as BraTS 2024 scores it).
    pub fn from_scheme(scheme: &LabelScheme) -> Vec<RegionSpec> {
        TumourRegion::ALL
            .iter()
            .map(|&region| RegionSpec {
                name: region.name().into(),
                labels: scheme
                    .labels()
                    .iter()
                    .filter(|l| l.compartment.in_region(region))
                    .map(|l| l.value)
                    .collect(),
            })
            .chain(
                scheme
                    .non_tumour()
                    .iter()
                    .map(|l| RegionSpec::new(&l.name, &[l.value])),
            )
            .collect()
    }

    /// BraTS 2017–2021 ([`LabelScheme::brats2021`]): WT {1,2,4}, TC {1,4}, ET {4}.
    pub fn brats2021() -> Vec<RegionSpec> {
        Self::from_scheme(&LabelScheme::brats2021())
    }

    /// BraTS 2023+ ([`LabelScheme::brats2023`]): WT {1,2,3}, TC {1,3}, ET {3}.
    pub fn brats2023() -> Vec<RegionSpec> {
        Self::from_scheme(&LabelScheme::brats2023())
    }

    /// One region `FG`: any non-zero value.
    pub fn binary() -> Vec<RegionSpec> {
        vec![Self::new("FG", &(1..=255).collect::<Vec<u8>>())]
    }

    /// A preset by name: a label scheme's name (see [`LabelScheme::by_name`]) or `binary`.
    ///
    /// # Errors
    /// [`Error::Config`] for another name.
    pub fn preset(name: &str) -> Result<Vec<RegionSpec>> {
        if name.eq_ignore_ascii_case("binary") {
            return Ok(Self::binary());
        }
        LabelScheme::by_name(name)
            .map(|s| Self::from_scheme(&s))
            .map_err(|_| {
                Error::config(
                    "labels",
                    format!(
                        "unknown scheme {name:?} (expected brats2021, brats2023, brats2024, decathlon or binary)"
                    ),
                )
            })
    }
}

/// Evaluation options.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalConfig {
    /// What undefined values become.
    pub empty: EmptyPolicy,
    /// HD95 definition.
    pub hd95: Hd95,
}

/// Every metric of one region of one case.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegionMetrics {
    /// Dice.
    pub dice: f64,
    /// IoU (Jaccard).
    pub iou: f64,
    /// Precision.
    pub precision: f64,
    /// Sensitivity (recall).
    pub sensitivity: f64,
    /// Specificity.
    pub specificity: f64,
    /// 95th-percentile Hausdorff distance, mm.
    pub hd95: f64,
    /// Hausdorff distance, mm.
    pub hd: f64,
    /// Average symmetric surface distance, mm.
    pub assd: f64,
    /// Predicted volume, cm³.
    pub volume_pred_cm3: f64,
    /// True volume, cm³.
    pub volume_truth_cm3: f64,
    /// The confusion counts behind the overlap metrics.
    pub confusion: Confusion,
}

impl RegionMetrics {
    /// Metric names in report order (those averaged by [`crate::aggregate`]).
    pub const NAMES: [&'static str; 10] = [
        "dice",
        "iou",
        "precision",
        "sensitivity",
        "specificity",
        "hd95",
        "hd",
        "assd",
        "volume_pred_cm3",
        "volume_truth_cm3",
    ];

    /// The metric called `name` (one of [`RegionMetrics::NAMES`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "dice" => self.dice,
            "iou" => self.iou,
            "precision" => self.precision,
            "sensitivity" => self.sensitivity,
            "specificity" => self.specificity,
            "hd95" => self.hd95,
            "hd" => self.hd,
            "assd" => self.assd,
            "volume_pred_cm3" => self.volume_pred_cm3,
            "volume_truth_cm3" => self.volume_truth_cm3,
            _ => return None,
        })
    }
}

/// All regions of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvaluation {
    /// Case id.
    pub case: String,
    /// Region name → metrics.
    pub regions: BTreeMap<String, RegionMetrics>,
}

/// Checks that every value is 0 or in one of the regions.
///
/// # Errors
/// [`Error::UnexpectedLabels`] listing each other value with its count.
pub fn check_labels(labels: ArrayView3<'_, u8>, regions: &[RegionSpec], what: &str) -> Result<()> {
    let mut allowed = [false; 256];
    allowed[0] = true;
    for r in regions {
        for &l in &r.labels {
            allowed[l as usize] = true;
        }
    }
    let mut counts = [0usize; 256];
    for &v in labels.iter() {
        counts[v as usize] += 1;
    }
    let unexpected: Vec<(u8, usize)> = (0..256)
        .filter(|&v| counts[v] > 0 && !allowed[v])
        .map(|v| (v as u8, counts[v]))
        .collect();
    if unexpected.is_empty() {
        return Ok(());
    }
    Err(Error::UnexpectedLabels {
        what: what.into(),
        allowed: (0..=255u8).filter(|&v| allowed[v as usize]).collect(),
        unexpected,
    })
}

/// Evaluates one case: for each region, overlap metrics, surface distances and volumes.
///
/// # Shapes
/// `pred` and `truth`: the same `[D, H, W]`; `spacing` in that axis order.
///
/// # Errors
/// [`Error::ShapeMismatch`]; [`Error::UnexpectedLabels`] naming `pred` or `truth` (prefixed
/// with the case id).
pub fn evaluate_case(
    case: &str,
    pred: ArrayView3<'_, u8>,
    truth: ArrayView3<'_, u8>,
    spacing: Spacing,
    regions: &[RegionSpec],
    cfg: EvalConfig,
) -> Result<CaseEvaluation> {
    if pred.shape() != truth.shape() {
        return Err(Error::ShapeMismatch {
            what: format!("case {case}"),
            pred: pred.shape().to_vec(),
            truth: truth.shape().to_vec(),
        });
    }
    check_labels(pred, regions, &format!("case {case} prediction"))?;
    check_labels(truth, regions, &format!("case {case} truth"))?;
    let voxel_cm3 = spacing.voxel_volume_mm3() / 1000.0;
    let mut out = BTreeMap::new();
    for region in regions {
        let mut member = [false; 256];
        for &l in &region.labels {
            member[l as usize] = true;
        }
        let p = pred.mapv(|v| member[v as usize]);
        let t = truth.mapv(|v| member[v as usize]);
        let c = Confusion::from_masks(p.view(), t.view())?;
        let policy = cfg.empty;
        let (hd95, hd, assd) = match surface_distances(p.view(), t.view(), spacing)? {
            Some(d) => (d.hd95(cfg.hd95), d.hausdorff(), d.assd()),
            None => {
                let v = policy.empty_distance(c.pred_count() + c.truth_count() == 0);
                (v, v, v)
            }
        };
        out.insert(
            region.name.clone(),
            RegionMetrics {
                dice: c.dice(policy),
                iou: c.iou(policy),
                precision: c.precision(policy),
                sensitivity: c.sensitivity(policy),
                specificity: c.specificity(policy),
                hd95,
                hd,
                assd,
                volume_pred_cm3: c.pred_count() as f64 * voxel_cm3,
                volume_truth_cm3: c.truth_count() as f64 * voxel_cm3,
                confusion: c,
            },
        );
    }
    Ok(CaseEvaluation {
        case: case.into(),
        regions: out,
    })
}

/// Dice of WT, TC and ET (in [`TumourRegion::ALL`] order) between two label maps of
/// `scheme`, with the BraTS 2023 empty-mask rule (both empty: 1).
///
/// # Shapes
/// `pred` and `truth`: the same `[D, H, W]`.
///
/// # Errors
/// [`Error::ShapeMismatch`]; [`Error::UnexpectedLabels`] when either map holds a value
/// outside the scheme.
pub fn region_dice(
    pred: ArrayView3<'_, u8>,
    truth: ArrayView3<'_, u8>,
    scheme: &LabelScheme,
) -> Result<[f64; 3]> {
    let regions = RegionSpec::from_scheme(scheme);
    check_labels(pred, &regions, "prediction")?;
    check_labels(truth, &regions, "truth")?;
    let mut out = [0.0; 3];
    for (d, region) in out.iter_mut().zip(TumourRegion::ALL) {
        let p = scheme.region_mask(&pred, region);
        let t = scheme.region_mask(&truth, region);
        *d = crate::overlap::dice(p.view(), t.view(), EmptyPolicy::Brats2023)?;
    }
    Ok(out)
}
