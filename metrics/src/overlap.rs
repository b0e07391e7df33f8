//! Overlap metrics from confusion counts, with an explicit empty-mask policy.
//!
//! | metric | definition | undefined when |
//! |---|---|---|
//! | Dice | 2TP / (2TP + FP + FN) | both masks empty |
//! | IoU (Jaccard) | TP / (TP + FP + FN) | both masks empty |
//! | precision | TP / (TP + FP) | prediction empty |
//! | sensitivity (recall) | TP / (TP + FN) | truth empty |
//! | specificity | TN / (TN + FP) | truth covers every voxel |
//! | accuracy | (TP + TN) / N | never (N ≥ 1) |
//! | volume difference | (|P| − |T|) / |T| | truth empty |
//!
//! What an undefined value becomes is the [`EmptyPolicy`]:
//! - [`EmptyPolicy::Brats2023`] (default): 1 when *both* masks are empty (nothing to find,
//!   nothing found), 0 when exactly one is (the worst score); the volume difference is 0 when
//!   both are empty and +∞ when only the truth is. This is the BraTS 2023 challenge's rule.
//! - [`EmptyPolicy::Nan`]: NaN — MONAI's `ignore_empty=True`, where an empty truth makes a
//!   case undefined rather than perfect; aggregation then skips it and counts the skip.
//!
//! Metrics apply no activation and no threshold: they take masks.
//!
//! ```
//! use brats_metrics::{Confusion, EmptyPolicy};
//! use ndarray::Array3;
//! # fn main() -> brats_metrics::Result<()> {
//! let t = Array3::from_shape_fn([4, 4, 4], |(k, _, _)| k < 2);
//! let p = Array3::from_shape_fn([4, 4, 4], |(k, _, _)| k < 1);
//! let c = Confusion::from_masks(p.view(), t.view())?;
//! assert!((c.dice(EmptyPolicy::default()) - 2.0 / 3.0).abs() < 1e-12);
//! # Ok(()) }
//! ```

use ndarray::{ArrayView3, Zip};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a metric returns when its definition has 0/0 (empty masks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyPolicy {
    /// BraTS 2023: both empty → perfect (Dice 1, HD95 0); one empty → worst (Dice 0,
    /// HD95 = [`BRATS_MAX_DISTANCE_MM`]).
    #[default]
    Brats2023,
    /// Undefined → NaN (MONAI `ignore_empty=True` style).
    Nan,
}

impl EmptyPolicy {
    /// Parses `"brats2023"` or `"nan"`.
    ///
    /// # Errors
    /// [`Error::Config`] for any other name.
    pub fn by_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "brats2023" => Ok(EmptyPolicy::Brats2023),
            "nan" | "monai" => Ok(EmptyPolicy::Nan),
            other => Err(Error::config(
                "empty policy",
                format!("unknown {other:?} (expected brats2023 or nan)"),
            )),
        }
    }

    /// The value of a surface distance (HD, HD95, ASSD) when at least one mask is empty:
    /// `Brats2023` gives 0 mm when both are and [`BRATS_MAX_DISTANCE_MM`] when one is;
    /// `Nan` gives NaN.
    pub fn empty_distance(self, both_empty: bool) -> f64 {
        match (self, both_empty) {
            (EmptyPolicy::Nan, _) => f64::NAN,
            (EmptyPolicy::Brats2023, true) => 0.0,
            (EmptyPolicy::Brats2023, false) => BRATS_MAX_DISTANCE_MM,
        }
    }

    /// The value for a 0/0 ratio given whether both masks are empty.
    fn undefined(self, both_empty: bool) -> f64 {
        match (self, both_empty) {
            (EmptyPolicy::Nan, _) => f64::NAN,
            (EmptyPolicy::Brats2023, true) => 1.0,
            (EmptyPolicy::Brats2023, false) => 0.0,
        }
    }
}

/// The distance the BraTS 2023 rule assigns when exactly one mask is empty: 374 mm (the
/// diagonal of the 240×240×155 mm BraTS grid, 373.1 mm, rounded up).
pub const BRATS_MAX_DISTANCE_MM: f64 = 374.0;

/// True/false positives/negatives of a prediction against a truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Voxels in both.
    pub tp: u64,
    /// Voxels predicted but not true.
    pub fp: u64,
    /// Voxels true but not predicted.
    pub fn_: u64,
    /// Voxels in neither.
    pub tn: u64,
}

fn check_shapes<A, B>(p: &ArrayView3<'_, A>, t: &ArrayView3<'_, B>, what: &str) -> Result<()> {
    if p.shape() != t.shape() {
        return Err(Error::ShapeMismatch {
            what: what.into(),
            pred: p.shape().to_vec(),
            truth: t.shape().to_vec(),
        });
    }
    Ok(())
}

impl Confusion {
    /// Counts over two boolean masks.
    ///
    /// # Shapes
    /// `pred` and `truth`: the same `[D, H, W]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes differ.
    pub fn from_masks(pred: ArrayView3<'_, bool>, truth: ArrayView3<'_, bool>) -> Result<Self> {
        check_shapes(&pred, &truth, "masks")?;
        Ok(count(pred, truth, |&p| p, |&t| t))
    }

    /// Counts for one region of two label maps: a voxel is "in" when its label is in
    /// `labels`.
    ///
    /// # Shapes
    /// `pred` and `truth`: the same `[D, H, W]`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes differ.
    pub fn from_labels(
        pred: ArrayView3<'_, u8>,
        truth: ArrayView3<'_, u8>,
        labels: &[u8],
    ) -> Result<Self> {
        check_shapes(&pred, &truth, "label maps")?;
        let mut member = [false; 256];
        for &l in labels {
            member[l as usize] = true;
        }
        Ok(count(
            pred,
            truth,
            |&p| member[p as usize],
            |&t| member[t as usize],
        ))
    }

    /// Voxels in the prediction.
    pub fn pred_count(&self) -> u64 {
        self.tp + self.fp
    }

    /// Voxels in the truth.
    pub fn truth_count(&self) -> u64 {
        self.tp + self.fn_
    }

    /// All voxels.
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    fn both_empty(&self) -> bool {
        self.tp + self.fp + self.fn_ == 0
    }

    fn ratio(&self, num: u64, den: u64, policy: EmptyPolicy) -> f64 {
        if den == 0 {
            policy.undefined(self.both_empty())
        } else {
            num as f64 / den as f64
        }
    }

    /// Dice = 2TP / (2TP + FP + FN).
    pub fn dice(&self, policy: EmptyPolicy) -> f64 {
        if policy == EmptyPolicy::Nan && self.truth_count() == 0 {
            return f64::NAN;
        }
        self.ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_, policy)
    }

    /// IoU (Jaccard) = TP / (TP + FP + FN).
    pub fn iou(&self, policy: EmptyPolicy) -> f64 {
        if policy == EmptyPolicy::Nan && self.truth_count() == 0 {
            return f64::NAN;
        }
        self.ratio(self.tp, self.tp + self.fp + self.fn_, policy)
    }

    /// Precision = TP / (TP + FP).
    pub fn precision(&self, policy: EmptyPolicy) -> f64 {
        self.ratio(self.tp, self.tp + self.fp, policy)
    }

    /// Sensitivity (recall) = TP / (TP + FN).
    pub fn sensitivity(&self, policy: EmptyPolicy) -> f64 {
        self.ratio(self.tp, self.tp + self.fn_, policy)
    }

    /// Specificity = TN / (TN + FP).
    pub fn specificity(&self, policy: EmptyPolicy) -> f64 {
        self.ratio(self.tn, self.tn + self.fp, policy)
    }

    /// Accuracy = (TP + TN) / N.
    pub fn accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / self.total().max(1) as f64
    }

    /// Relative volume difference (|P| − |T|) / |T|.
    pub fn volume_difference(&self, policy: EmptyPolicy) -> f64 {
        let (p, t) = (self.pred_count() as f64, self.truth_count() as f64);
        if t == 0.0 {
            return match policy {
                EmptyPolicy::Nan => f64::NAN,
                EmptyPolicy::Brats2023 if p == 0.0 => 0.0,
                EmptyPolicy::Brats2023 => f64::INFINITY,
            };
        }
        (p - t) / t
    }
}

/// Parallel confusion counts over two equally shaped arrays.
fn count<A: Sync, B: Sync>(
    pred: ArrayView3<'_, A>,
    truth: ArrayView3<'_, B>,
    in_pred: impl Fn(&A) -> bool + Sync,
    in_truth: impl Fn(&B) -> bool + Sync,
) -> Confusion {
    let tally = |p: &[A], t: &[B]| {
        // Branch-free counts: 2·p + t indexes the four cells.
        let mut c = [0u64; 4];
        for (a, b) in p.iter().zip(t) {
            c[(usize::from(in_pred(a)) << 1) | usize::from(in_truth(b))] += 1;
        }
        c
    };
    let cells = match (pred.as_slice(), truth.as_slice()) {
        (Some(p), Some(t)) => p
            .par_chunks(1 << 16)
            .zip(t.par_chunks(1 << 16))
            .map(|(p, t)| tally(p, t))
            .reduce(
                || [0; 4],
                |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]],
            ),
        _ => {
            let mut c = [0u64; 4];
            Zip::from(&pred).and(&truth).for_each(|a, b| {
                c[(usize::from(in_pred(a)) << 1) | usize::from(in_truth(b))] += 1;
            });
            c
        }
    };
    Confusion {
        tn: cells[0],
        fn_: cells[1],
        fp: cells[2],
        tp: cells[3],
    }
}

/// Dice of two masks.
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub fn dice(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    policy: EmptyPolicy,
) -> Result<f64> {
    Ok(Confusion::from_masks(pred, truth)?.dice(policy))
}

/// IoU of two masks.
///
/// # Errors
/// [`Error::ShapeMismatch`].
pub fn iou(
    pred: ArrayView3<'_, bool>,
    truth: ArrayView3<'_, bool>,
    policy: EmptyPolicy,
) -> Result<f64> {
    Ok(Confusion::from_masks(pred, truth)?.iou(policy))
}
