//! Aggregation over cases: mean, std, median, min, max — with the count of values skipped —
//! and a bootstrap confidence interval of a mean ([`bootstrap_mean`]).
//!
//! NaN values (undefined under [`crate::EmptyPolicy::Nan`]) are skipped and counted in
//! `skipped`; a column of only NaN stays NaN (it never turns into 0). `std` is the
//! population standard deviation (`numpy.std`, ddof 0).
//!
//! ```
//! use brats_metrics::aggregate::Summary;
//! let s = Summary::of(&[0.5, f64::NAN, 1.0]);
//! assert_eq!((s.n, s.skipped, s.mean), (2, 1, 0.75));
//! assert!(Summary::of(&[f64::NAN]).mean.is_nan());
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::brats::{CaseEvaluation, RegionMetrics, RegionSpec};
use crate::{Error, Result};

/// Statistics of one metric over cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean of the defined values.
    pub mean: f64,
    /// Population standard deviation of the defined values.
    pub std: f64,
    /// Median of the defined values.
    pub median: f64,
    /// Smallest defined value.
    pub min: f64,
    /// Largest defined value.
    pub max: f64,
    /// How many values were defined.
    pub n: usize,
    /// How many were NaN and skipped.
    pub skipped: usize,
}

impl Summary {
    /// Summarises `values`, skipping NaN.
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        let skipped = values.len() - v.len();
        if v.is_empty() {
            return Summary {
                mean: f64::NAN,
                std: f64::NAN,
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n: 0,
                skipped,
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        };
        Summary {
            mean,
            std: var.sqrt(),
            median,
            min: v[0],
            max: v[n - 1],
            n,
            skipped,
        }
    }
}

/// A percentile-bootstrap confidence interval of a mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// Coverage asked for (0.95 for a 95 % interval).
    pub level: f64,
    /// How many resamples it rests on.
    pub resamples: usize,
}

/// Percentile-bootstrap interval of the mean of `values` (NaN skipped, as in
/// [`Summary::of`]): the mean of `resamples` draws of n values with replacement, and the
/// `(1 − level) / 2` and `(1 + level) / 2` quantiles of those means. Deterministic given
/// `seed`. `None` when no value is defined; a single value gives a zero-width interval.
///
/// With ten cases a subtype's mean Dice is uncertain by ±0.1 or more; this says how much,
/// so that two models (or a model and a target) are not told apart by noise.
///
/// # Errors
/// [`Error::Config`] for a level outside (0, 1) or zero resamples.
///
/// ```
/// use brats_metrics::aggregate::bootstrap_mean;
/// let ci = bootstrap_mean(&[0.0, 1.0, 1.0, 1.0, 0.0, 1.0], 0.95, 2000, 7)?.unwrap();
/// assert!(ci.lo < 4.0 / 6.0 && 4.0 / 6.0 < ci.hi);
/// assert!(ci.lo >= 0.0 && ci.hi <= 1.0);
/// # Ok::<(), brats_metrics::Error>(())
/// ```
pub fn bootstrap_mean(
    values: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<Option<Interval>> {
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::Config {
            field: "level".into(),
            reason: format!("must lie in (0, 1), got {level}"),
        });
    }
    if resamples == 0 {
        return Err(Error::Config {
            field: "resamples".into(),
            reason: "must be at least 1".into(),
        });
    }
    let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return Ok(None);
    }
    let n = v.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| v[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    // Nearest-rank quantiles: the interval is made of means that occurred.
    let at = |q: f64| means[((q * resamples as f64).ceil() as usize).clamp(1, resamples) - 1];
    Ok(Some(Interval {
        lo: at((1.0 - level) / 2.0),
        hi: at((1.0 + level) / 2.0),
        level,
        resamples,
    }))
}

/// Cases and their per-region, per-metric summaries: what `evaluate --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Every case.
    pub cases: Vec<CaseEvaluation>,
    /// Region → metric → summary.
    pub summary: BTreeMap<String, BTreeMap<String, Summary>>,
    /// Region names in report order.
    #[serde(skip)]
    order: Vec<String>,
}

impl Evaluation {
    /// Aggregates cases evaluated with `regions`.
    pub fn new(cases: Vec<CaseEvaluation>, regions: &[RegionSpec]) -> Self {
        let mut summary = BTreeMap::new();
        for r in regions {
            let mut per_metric = BTreeMap::new();
            for m in RegionMetrics::NAMES {
                let values: Vec<f64> = cases
                    .iter()
                    .filter_map(|c| c.regions.get(&r.name).and_then(|x| x.get(m)))
                    .collect();
                per_metric.insert(m.to_string(), Summary::of(&values));
            }
            summary.insert(r.name.clone(), per_metric);
        }
        Evaluation {
            cases,
            summary,
            order: regions.iter().map(|r| r.name.clone()).collect(),
        }
    }

    /// A fixed-width table: one row per case and region, then the means (± std) with the
    /// skip counts.
    pub fn table(&self) -> String {
        let cols = [
            "dice",
            "iou",
            "precision",
            "sensitivity",
            "specificity",
            "hd95",
            "assd",
        ];
        let mut s = String::new();
        let _ = write!(s, "{:<24} {:<6}", "case", "region");
        for c in cols {
            let _ = write!(s, " {c:>13}");
        }
        let _ = writeln!(s, " {:>10} {:>10}", "pred cm³", "truth cm³");
        for case in &self.cases {
            for r in &self.order {
                if let Some(m) = case.regions.get(r) {
                    let _ = write!(s, "{:<24} {:<6}", case.case, r);
                    for c in cols {
                        let _ = write!(s, " {:>13.4}", m.get(c).unwrap_or(f64::NAN));
                    }
                    let _ = writeln!(
                        s,
                        " {:>10.3} {:>10.3}",
                        m.volume_pred_cm3, m.volume_truth_cm3
                    );
                }
            }
        }
        for r in &self.order {
            if let Some(per) = self.summary.get(r) {
                let _ = write!(s, "{:<24} {:<6}", "mean ± std", r);
                for c in cols {
                    let x = per[c];
                    let _ = write!(s, " {:>13}", format!("{:.3}±{:.3}", x.mean, x.std));
                }
                let skipped: usize = cols.iter().map(|c| per[*c].skipped).max().unwrap_or(0);
                let _ = writeln!(s, "  (n={}, skipped≤{skipped})", per["dice"].n);
            }
        }
        s
    }

    /// Writes CSV (RFC 4180, through the `csv` crate): `case,region,` then every metric of
    /// [`RegionMetrics::NAMES`], one row per case and region; a metric that does not apply
    /// is `NaN`.
    ///
    /// # Errors
    /// Errors of `w`.
    pub fn write_csv(&self, w: impl std::io::Write) -> std::io::Result<()> {
        let mut out = csv::Writer::from_writer(w);
        let header = ["case", "region"].into_iter().chain(RegionMetrics::NAMES);
        out.write_record(header)?;
        for case in &self.cases {
            for r in &self.order {
                if let Some(x) = case.regions.get(r) {
                    let values = RegionMetrics::NAMES
                        .iter()
                        .map(|m| x.get(m).unwrap_or(f64::NAN).to_string());
                    let row = [case.case.clone(), r.clone()].into_iter().chain(values);
                    out.write_record(row)?;
                }
            }
        }
        out.flush()
    }
}
