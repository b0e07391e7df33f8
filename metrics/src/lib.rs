//! # brats_metrics — what training optimises and what evaluation reports
//!
//! Every definition here is written down, tested and selectable, because the field's worst
//! habit is silent disagreement about edge cases (empty masks, spacing, label numbering).
//!
//! - [`overlap`]: confusion counts, Dice, IoU, precision, sensitivity, specificity,
//!   accuracy, volume difference — with an [`EmptyPolicy`] (BraTS 2023 by default, or NaN).
//! - [`distance`]: boundaries, an exact Euclidean distance transform in millimetres
//!   (anisotropic [`Spacing`]), Hausdorff distance, HD95 (MONAI's definition by default) and
//!   ASSD, computed on the masks' joint bounding box.
//! - [`brats`]: label maps → WT/TC/ET (or any [`brats::RegionSpec`]) → every metric per case.
//! - [`aggregate`]: mean/std/median/min/max over cases with the number of skipped values,
//!   a bootstrap confidence interval of a mean; table, CSV and JSON output.
//! - `loss` (default feature `losses`): soft Dice, focal (softmax and sigmoid forms) and Dice + focal on candle
//!   tensors, stable in log space, with gradients.
//!
//! Metrics apply no activation and no threshold: give them masks or label maps.
//!
//! ```
//! use brats_metrics::{brats::{evaluate_case, EvalConfig, RegionSpec}, distance::Spacing};
//! use ndarray::Array3;
//! # fn main() -> brats_metrics::Result<()> {
//! let truth = Array3::from_shape_fn([16, 16, 16], |(k, j, i)| if (4..12).contains(&k) && (4..12).contains(&j) && (4..12).contains(&i) { 4u8 } else { 0 });
//! let pred = Array3::from_shape_fn([16, 16, 16], |(k, j, i)| if (5..12).contains(&k) && (4..12).contains(&j) && (4..12).contains(&i) { 4u8 } else { 0 });
//! let e = evaluate_case("c1", pred.view(), truth.view(), Spacing::from_ijk([1.0, 1.0, 2.0])?, &RegionSpec::brats2021(), EvalConfig::default())?;
//! println!("ET Dice {:.3}, HD95 {:.1} mm", e.regions["ET"].dice, e.regions["ET"].hd95);
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod brats;
pub mod distance;
pub mod error;
pub mod lesion;
#[cfg(feature = "losses")]
pub mod loss;
pub mod overlap;

pub use distance::{Hd95, Spacing, SurfaceDistances};
pub use error::{Error, Result};
pub use overlap::{Confusion, EmptyPolicy, BRATS_MAX_DISTANCE_MM};
