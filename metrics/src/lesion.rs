//! Lesion-wise (instance) evaluation as the BraTS challenge has scored it since 2023: the
//! package `brats-evaluation` (0.0.10) running `panoptica` (2.1.7) with its glioma
//! configuration (`config_gli.yaml`), reproduced here and checked against fixtures the
//! package made (`tests/fixtures/lesionwise/`, within 1e-6 for Dice/NSD, 1e-3 mm for
//! HD95, exactly for the counts).
//!
//! Per region group (a set of label values, e.g. whole tumour = {1, 2, 3}):
//! 1. **Instances**: 26-connected components of the group's mask, in prediction and
//!    reference separately (`cc3d`'s default).
//! 2. **Matching**: maximum bipartite matching on Dice — the assignment minimising
//!    Σ(1 − Dice) over pairs with Dice ≥ 10⁻⁶ (other pairs cost 1 + 10⁻⁶), as
//!    `scipy.optimize.linear_sum_assignment`; a pair is a match when its cost is below 1.
//!    TP = matches, FP = predicted instances − TP, FN = reference instances − TP;
//!    precision, recall (undefined when their denominator is 0), RQ (the F1:
//!    TP / (TP + FP/2 + FN/2); 0 when TP = 0 and anything exists, NaN when nothing does).
//! 3. **Instance metrics** of each match (that reference instance against that predicted
//!    instance): Dice, NSD and HD95; `lesion_*` are their mean and population standard
//!    deviation over the matches. With no match: Dice and NSD 0 and HD95 +∞ when any
//!    instance exists, NaN when none does; the standard deviations NaN.
//! 4. **Global metrics** of the group's binary masks: Dice, NSD and HD95; when the masks
//!    do not overlap at all, the same edge values as 3. As in the package (panoptica's
//!    `_calc_global_bin_metric` calls the metrics without the voxel spacing), the global
//!    HD95 is in **voxel units**, not mm, and the global NSD's tolerance is 0.5 voxel — the
//!    same as mm only on a 1 mm grid such as BraTS's.
//!
//! Surface metrics use [`surface_distances`] (6-connected
//! boundaries, exact Euclidean distances in mm). **HD95** is the 95th percentile of both
//! directions pooled ([`Hd95::Pooled`]); **NSD** at a tolerance of the smallest voxel
//! spacing is `(a + b) / (a + b + (1 − a) + (1 − b))` with `a`, `b` the shares of each
//! boundary within tolerance of the other — panoptica's formula (each direction weighs the
//! same, whatever its number of boundary voxels).
//!
//! The challenge's leaderboard ([`LesionMetrics::leaderboard_global_hd95`]) replaces an
//! infinite global HD95 by 373 mm, the diagonal of the SRI24 box.

use std::collections::{BTreeMap, HashMap};

use brats_io::components::connected_components;
use ndarray::{s, Array3, ArrayView3, Zip};
use serde::Serialize;

use crate::distance::{surface_distances, Hd95, Spacing, SurfaceDistances};
use crate::error::{Error, Result};

/// The leaderboard's penalty for an infinite HD95, mm (the SRI24 box's diagonal).
pub const LEADERBOARD_HD95_PENALTY_MM: f64 = 373.0;

/// NSD tolerance of the global metrics (the package's default without a spacing).
const GLOBAL_NSD_TOLERANCE: f64 = 0.5;

/// Pairs with a Dice below this never match.
const MATCH_THRESHOLD: f64 = 1e-6;

/// A region group: its name and the label values it merges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LesionGroup {
    /// `wt`, `tc`, `et`, `netc`, `snfh`, `rc`.
    pub name: String,
    /// Label values in the group.
    pub labels: Vec<u8>,
}

impl LesionGroup {
    fn new(name: &str, labels: &[u8]) -> LesionGroup {
        LesionGroup {
            name: name.into(),
            labels: labels.to_vec(),
        }
    }

    /// The glioma configuration on BraTS 2023 labels (1 NETC, 2 SNFH, 3 ET, 4 RC):
    /// `snfh` {2}, `et` {3}, `netc` {1}, `rc` {4}, `tc` {1, 3}, `wt` {1, 2, 3}.
    pub fn glioma_brats2023() -> Vec<LesionGroup> {
        vec![
            LesionGroup::new("snfh", &[2]),
            LesionGroup::new("et", &[3]),
            LesionGroup::new("netc", &[1]),
            LesionGroup::new("rc", &[4]),
            LesionGroup::new("tc", &[1, 3]),
            LesionGroup::new("wt", &[1, 2, 3]),
        ]
    }

    /// The same groups on BraTS 2021 labels (1 NCR, 2 ED, 4 ET; no resection cavity):
    /// `snfh` {2}, `et` {4}, `netc` {1}, `tc` {1, 4}, `wt` {1, 2, 4}.
    pub fn glioma_brats2021() -> Vec<LesionGroup> {
        vec![
            LesionGroup::new("snfh", &[2]),
            LesionGroup::new("et", &[4]),
            LesionGroup::new("netc", &[1]),
            LesionGroup::new("tc", &[1, 4]),
            LesionGroup::new("wt", &[1, 2, 4]),
        ]
    }

    /// The same groups on the Medical Segmentation Decathlon's labels (1 edema, 2
    /// non-enhancing tumour, 3 ET): `snfh` {1}, `et` {3}, `netc` {2}, `tc` {2, 3}, `wt`
    /// {1, 2, 3}.
    pub fn glioma_decathlon() -> Vec<LesionGroup> {
        vec![
            LesionGroup::new("snfh", &[1]),
            LesionGroup::new("et", &[3]),
            LesionGroup::new("netc", &[2]),
            LesionGroup::new("tc", &[2, 3]),
            LesionGroup::new("wt", &[1, 2, 3]),
        ]
    }

    /// The groups for a label scheme by name (`brats2021`, `brats2023` and `brats2024`,
    /// `decathlon`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the accepted schemes.
    pub fn glioma(scheme: &str) -> Result<Vec<LesionGroup>> {
        match scheme {
            "brats2021" => Ok(LesionGroup::glioma_brats2021()),
            "brats2023" | "brats2024" => Ok(LesionGroup::glioma_brats2023()),
            "decathlon" => Ok(LesionGroup::glioma_decathlon()),
            other => Err(Error::Config {
                field: "lesion-wise label scheme".into(),
                reason: format!("{other:?}; expected brats2021, brats2023, brats2024 or decathlon"),
            }),
        }
    }
}

/// One matched pair of instances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LesionMatch {
    /// Reference instance (component id, 1-based).
    pub reference: u32,
    /// Predicted instance.
    pub prediction: u32,
    /// Reference instance volume, mm³.
    pub reference_volume_mm3: f64,
    /// Dice of the pair.
    pub dice: f64,
    /// NSD of the pair.
    pub nsd: f64,
    /// HD95 of the pair, mm.
    pub hd95: f64,
}

/// One region group's lesion-wise result (panoptica's keys in brackets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LesionMetrics {
    /// Matched instances (panoptica: `tp`).
    pub tp: usize,
    /// Unmatched predicted instances (panoptica: `fp`).
    pub fp: usize,
    /// Unmatched reference instances (panoptica: `fn`).
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// Predicted instances.
    pub n_pred: usize,
    /// Reference instances.
    pub n_ref: usize,
    /// TP / (TP + FP), `None` when nothing was predicted (panoptica: `prec`).
    pub precision: Option<f64>,
    /// TP / (TP + FN), `None` when the reference is empty (panoptica: `rec`).
    pub recall: Option<f64>,
    /// Recognition quality, the F1 of detection (panoptica: `rq`).
    pub f1: f64,
    /// Mean instance Dice over the matches (panoptica: `sq_dsc`).
    pub lesion_dice: f64,
    /// Its population standard deviation (panoptica: `sq_dsc_std`).
    pub lesion_dice_std: f64,
    /// Mean instance NSD (panoptica: `sq_nsd`).
    pub lesion_nsd: f64,
    /// Its standard deviation (panoptica: `sq_nsd_std`).
    pub lesion_nsd_std: f64,
    /// Mean instance HD95, mm (panoptica: `sq_hd95`).
    pub lesion_hd95: f64,
    /// Its standard deviation (panoptica: `sq_hd95_std`).
    pub lesion_hd95_std: f64,
    /// Dice of the group's binary masks (panoptica: `global_bin_dsc`).
    pub global_dice: f64,
    /// NSD of the binary masks (panoptica: `global_bin_nsd`).
    pub global_nsd: f64,
    /// HD95 of the binary masks, mm (panoptica: `global_bin_hd95`).
    pub global_hd95: f64,
    /// The matches.
    pub matches: Vec<LesionMatch>,
}

impl LesionMetrics {
    /// The global HD95 as the challenge's results parser reports it: +∞ becomes 373 mm.
    pub fn leaderboard_global_hd95(&self) -> f64 {
        if self.global_hd95.is_infinite() {
            LEADERBOARD_HD95_PENALTY_MM
        } else {
            self.global_hd95
        }
    }
}

/// Edge value of a metric when nothing matched (panoptica's zero-TP handling of the
/// glioma configuration): NaN when no instance exists at all, else `value`.
fn zero_tp(n_pred: usize, n_ref: usize, value: f64) -> f64 {
    if n_pred + n_ref == 0 {
        f64::NAN
    } else {
        value
    }
}

fn nsd(d: &SurfaceDistances, tolerance: f64) -> f64 {
    let share = |v: &[f64]| v.iter().filter(|&&x| x <= tolerance).count() as f64 / v.len() as f64;
    let miss = |v: &[f64]| v.iter().filter(|&&x| x > tolerance).count() as f64 / v.len() as f64;
    let (a, b) = (share(&d.truth_to_pred), share(&d.pred_to_truth));
    let (fp, fn_) = (miss(&d.truth_to_pred), miss(&d.pred_to_truth));
    (a + b) / (a + b + fp + fn_ + f64::MIN_POSITIVE)
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Inclusive bounding box `[D, H, W]` of every component id (index 0 unused).
fn boxes(comp: &Array3<u32>, n: usize) -> Vec<([usize; 3], [usize; 3])> {
    let mut b = vec![([usize::MAX; 3], [0usize; 3]); n + 1];
    for ((k, j, i), &c) in comp.indexed_iter() {
        if c != 0 {
            let (lo, hi) = &mut b[c as usize];
            for (a, v) in [k, j, i].into_iter().enumerate() {
                lo[a] = lo[a].min(v);
                hi[a] = hi[a].max(v);
            }
        }
    }
    b
}

/// Evaluates one region group (`labels`) of a prediction against a reference.
///
/// # Shapes
/// `pred` and `truth`: label maps of the same `[D, H, W]`; `spacing` in that axis order.
///
/// # Errors
/// [`Error::ShapeMismatch`] when the shapes differ.
pub fn evaluate_group(
    pred: ArrayView3<'_, u8>,
    truth: ArrayView3<'_, u8>,
    labels: &[u8],
    spacing: Spacing,
) -> Result<LesionMetrics> {
    if pred.shape() != truth.shape() {
        return Err(Error::ShapeMismatch {
            what: "label maps".into(),
            pred: pred.shape().to_vec(),
            truth: truth.shape().to_vec(),
        });
    }
    let p = pred.mapv(|v| labels.contains(&v));
    let r = truth.mapv(|v| labels.contains(&v));
    let (pc, p_sizes) = connected_components(&p);
    let (rc, r_sizes) = connected_components(&r);
    let (n_pred, n_ref) = (p_sizes.len() - 1, r_sizes.len() - 1);
    let tolerance = spacing.dhw().into_iter().fold(f64::INFINITY, f64::min);
    let voxel_mm3: f64 = spacing.dhw().iter().product();

    // Overlap of every (reference, prediction) pair that touches.
    let mut inter: HashMap<(u32, u32), usize> = HashMap::new();
    Zip::from(&rc).and(&pc).for_each(|&a, &b| {
        if a != 0 && b != 0 {
            *inter.entry((a, b)).or_insert(0) += 1;
        }
    });
    let dice_of = |a: u32, b: u32, n: usize| {
        2.0 * n as f64 / (r_sizes[a as usize] + p_sizes[b as usize]) as f64
    };
    let mut cost = vec![vec![1.0 + MATCH_THRESHOLD; n_pred]; n_ref];
    for (&(a, b), &n) in &inter {
        let d = dice_of(a, b, n);
        if d >= MATCH_THRESHOLD {
            cost[a as usize - 1][b as usize - 1] = 1.0 - d;
        }
    }
    let assignment = linear_sum_assignment(&cost);
    let (rb, pb) = (boxes(&rc, n_ref), boxes(&pc, n_pred));
    let mut matches = Vec::new();
    for (i, j) in assignment {
        if cost[i][j] >= 1.0 {
            continue;
        }
        let (a, b) = (i as u32 + 1, j as u32 + 1);
        // The pair's masks on the union of their boxes (exact for the surfaces: no voxel
        // of either instance lies outside it).
        let (lo, hi) = (
            [0, 1, 2].map(|x| rb[a as usize].0[x].min(pb[b as usize].0[x])),
            [0, 1, 2].map(|x| rb[a as usize].1[x].max(pb[b as usize].1[x])),
        );
        let bx = s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]];
        let rm = rc.slice(bx).mapv(|v| v == a);
        let pm = pc.slice(bx).mapv(|v| v == b);
        // A matched pair overlaps, so neither mask is empty.
        let Some(d) = surface_distances(pm.view(), rm.view(), spacing)? else {
            continue;
        };
        matches.push(LesionMatch {
            reference: a,
            prediction: b,
            reference_volume_mm3: r_sizes[a as usize] as f64 * voxel_mm3,
            dice: dice_of(a, b, inter.get(&(a, b)).copied().unwrap_or(0)),
            nsd: nsd(&d, tolerance),
            hd95: d.percentile_hausdorff(95.0, Hd95::Pooled),
        });
    }
    matches.sort_by_key(|m| m.reference);
    let tp = matches.len();
    let (fp, fn_) = (n_pred - tp, n_ref - tp);
    let stats = |f: fn(&LesionMatch) -> f64, edge: f64| -> (f64, f64) {
        if tp == 0 {
            (zero_tp(n_pred, n_ref, edge), f64::NAN)
        } else {
            mean_std(&matches.iter().map(f).collect::<Vec<_>>())
        }
    };
    let (lesion_dice, lesion_dice_std) = stats(|m| m.dice, 0.0);
    let (lesion_nsd, lesion_nsd_std) = stats(|m| m.nsd, 0.0);
    let (lesion_hd95, lesion_hd95_std) = stats(|m| m.hd95, f64::INFINITY);

    let overlap = Zip::from(&p)
        .and(&r)
        .fold(0usize, |n, &a, &b| n + usize::from(a && b));
    let (global_dice, global_nsd, global_hd95) = if overlap == 0 {
        (
            zero_tp(n_pred, n_ref, 0.0),
            zero_tp(n_pred, n_ref, 0.0),
            zero_tp(n_pred, n_ref, f64::INFINITY),
        )
    } else {
        let (np, nr): (usize, usize) = (p_sizes.iter().sum(), r_sizes.iter().sum());
        // The package computes global metrics without the voxel spacing: distances in
        // voxel units, NSD at its default tolerance of 0.5.
        match surface_distances(p.view(), r.view(), Spacing::new([1.0; 3])?)? {
            // Overlapping masks are never empty.
            None => (f64::NAN, f64::NAN, f64::NAN),
            Some(d) => (
                2.0 * overlap as f64 / (np + nr) as f64,
                nsd(&d, GLOBAL_NSD_TOLERANCE),
                d.percentile_hausdorff(95.0, Hd95::Pooled),
            ),
        }
    };
    let f1 = if tp == 0 {
        zero_tp(n_pred, n_ref, 0.0)
    } else {
        tp as f64 / (tp as f64 + 0.5 * fp as f64 + 0.5 * fn_ as f64)
    };
    Ok(LesionMetrics {
        tp,
        fp,
        fn_,
        n_pred,
        n_ref,
        precision: (tp + fp > 0).then(|| tp as f64 / (tp + fp) as f64),
        recall: (tp + fn_ > 0).then(|| tp as f64 / (tp + fn_) as f64),
        f1,
        lesion_dice,
        lesion_dice_std,
        lesion_nsd,
        lesion_nsd_std,
        lesion_hd95,
        lesion_hd95_std,
        global_dice,
        global_nsd,
        global_hd95,
        matches,
    })
}

/// Evaluates every group; the result is keyed by group name.
///
/// # Errors
/// As (panoptica: `evaluate_group`).
pub fn evaluate_lesionwise(
    pred: ArrayView3<'_, u8>,
    truth: ArrayView3<'_, u8>,
    groups: &[LesionGroup],
    spacing: Spacing,
) -> Result<BTreeMap<String, LesionMetrics>> {
    groups
        .iter()
        .map(|g| {
            Ok((
                g.name.clone(),
                evaluate_group(pred, truth, &g.labels, spacing)?,
            ))
        })
        .collect()
}

/// Minimum-cost assignment of a rectangular cost matrix (rows × columns): every row is
/// assigned a distinct column when rows ≤ columns, else every column a distinct row.
/// Returns `(row, column)` pairs sorted by row. The Hungarian method with potentials
/// (Jonker–Volgenant style shortest augmenting paths), O(n² m).
pub fn linear_sum_assignment(cost: &[Vec<f64>]) -> Vec<(usize, usize)> {
    let n_rows = cost.len();
    let n_cols = cost.first().map_or(0, Vec::len);
    if n_rows == 0 || n_cols == 0 {
        return Vec::new();
    }
    // Work with rows ≤ columns; transpose otherwise.
    let transposed = n_rows > n_cols;
    let (n, m) = if transposed {
        (n_cols, n_rows)
    } else {
        (n_rows, n_cols)
    };
    let c = |i: usize, j: usize| if transposed { cost[j][i] } else { cost[i][j] };
    // 1-based arrays as in the classic formulation; p[j] = row assigned to column j.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = c(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out: Vec<(usize, usize)> = (1..=m)
        .filter(|&j| p[j] != 0)
        .map(|j| {
            let (row, col) = (p[j] - 1, j - 1);
            if transposed {
                (col, row)
            } else {
                (row, col)
            }
        })
        .collect();
    out.sort_unstable();
    out
}

/// The lesion-wise figures the command line reports per case and region (the issue's
/// `lesion_wise` object): counts, detection precision/recall/F1, and the lesion-wise mean
/// Dice, NSD and HD95 over the matches, plus the global ones. Undefined values are `None`
/// (`null` in JSON); an infinite HD95 is reported as the leaderboard's 373 mm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LesionSummary {
    /// Matched instances.
    pub tp: usize,
    /// Unmatched predicted instances.
    pub fp: usize,
    /// Unmatched reference instances.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// TP / (TP + FP).
    pub precision: Option<f64>,
    /// TP / (TP + FN).
    pub recall: Option<f64>,
    /// Detection F1 (panoptica's RQ).
    pub f1: Option<f64>,
    /// Mean Dice over the matches (panoptica's `sq_dsc`).
    pub dice: Option<f64>,
    /// Mean NSD over the matches.
    pub nsd: Option<f64>,
    /// Mean HD95 over the matches, mm (∞ → 373).
    pub hd95: Option<f64>,
    /// Dice of the binary masks.
    pub global_dice: Option<f64>,
    /// NSD of the binary masks.
    pub global_nsd: Option<f64>,
    /// HD95 of the binary masks (∞ → 373).
    pub global_hd95: Option<f64>,
}

fn defined(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(if v.is_infinite() {
        LEADERBOARD_HD95_PENALTY_MM
    } else {
        v
    })
}

impl From<&LesionMetrics> for LesionSummary {
    fn from(m: &LesionMetrics) -> LesionSummary {
        LesionSummary {
            tp: m.tp,
            fp: m.fp,
            fn_: m.fn_,
            precision: m.precision,
            recall: m.recall,
            f1: defined(m.f1),
            dice: defined(m.lesion_dice),
            nsd: defined(m.lesion_nsd),
            hd95: defined(m.lesion_hd95),
            global_dice: defined(m.global_dice),
            global_nsd: defined(m.global_nsd),
            global_hd95: defined(m.global_hd95),
        }
    }
}

/// Mean, sample standard deviation and median of one figure over cases, undefined values
/// left out — the aggregation of the challenge's results parser (pandas' `mean`, `std`,
/// `median`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Mean.
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1), `None` below two values.
    pub std: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// How many cases had a value.
    pub n: usize,
}

impl Spread {
    /// Over `values` (`None` left out).
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().flatten().collect();
        let n = v.len();
        if n == 0 {
            return Spread {
                mean: None,
                std: None,
                median: None,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
        });
        v.sort_by(f64::total_cmp);
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            mean: Some(mean),
            std,
            median: Some(median),
            n,
        }
    }
}

/// Every figure of [`LesionSummary`] aggregated over cases.
pub fn aggregate(cases: &[LesionSummary]) -> BTreeMap<&'static str, Spread> {
    let count =
        |f: fn(&LesionSummary) -> usize| Spread::of(cases.iter().map(|c| Some(f(c) as f64)));
    let value = |f: fn(&LesionSummary) -> Option<f64>| Spread::of(cases.iter().map(f));
    BTreeMap::from([
        ("tp", count(|c| c.tp)),
        ("fp", count(|c| c.fp)),
        ("fn", count(|c| c.fn_)),
        ("precision", value(|c| c.precision)),
        ("recall", value(|c| c.recall)),
        ("f1", value(|c| c.f1)),
        ("dice", value(|c| c.dice)),
        ("nsd", value(|c| c.nsd)),
        ("hd95", value(|c| c.hd95)),
        ("global_dice", value(|c| c.global_dice)),
        ("global_nsd", value(|c| c.global_nsd)),
        ("global_hd95", value(|c| c.global_hd95)),
    ])
}
