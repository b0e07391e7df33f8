//! Post-processing of a predicted label map: small components removed, components that lie
//! as a thin sheet along the edge of the head removed, too little enhancement relabelled as
//! core, and specks of core beside a tumour's main core relabelled as edema.

use brats_io::components::connected_components;
use ndarray::{Array3, ArrayView3};
use serde::{Deserialize, Serialize};

use super::decide::Decision;

/// The decision and the post-processing of its label map (argmax, and every step off, by
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct PostprocessConfig {
    /// How the probabilities become labels before the steps below (argmax when absent, as
    /// models exported before it was a choice were).
    #[serde(default)]
    pub decision: Decision,
    /// Drop connected tumour components (26-connectivity, any non-zero label) smaller than
    /// this many mm³ (on BraTS's 1 mm grid, voxels; on another grid the same volume, so that
    /// a 5 mm-slice scan does not lose a lesion five times as large); 0 keeps everything.
    /// Read from model files of before session 27 as `min_component_voxels`, which were
    /// calibrated on 1 mm grids.
    #[serde(alias = "min_component_voxels")]
    pub min_component_mm3: usize,
    /// Drop tumour components none of whose voxels lies this many millimetres deep inside
    /// the head (the voxels where an image holds signal; depth = distance to the nearest
    /// voxel without): rims of tissue that skull stripping left on the brain, and vessels
    /// and sinuses along its surface, are sheets a few millimetres thick along that edge,
    /// not parenchymal tumour. A compact lesion that shallow has a radius under half of it
    /// (under 2.5 mm, 65 mm³, for 5 mm). 0 disables it; needs the [`Head`].
    #[serde(default)]
    pub min_depth_mm: f64,
    /// When the whole map holds less enhancement than this many mm³, relabel as
    /// necrotic/non-enhancing core the enhancement of each tumour component whose core
    /// outnumbers its enhancing voxels — the BraTS practice that avoids a Dice of 0 on cases
    /// without enhancement (where any false-positive ET voxel scores 0 under the challenge's
    /// empty-region rule), applied where it is right: a few enhancing voxels inside a
    /// non-enhancing mass (a lower-grade glioma) become core, while a small lesion that is
    /// mostly enhancement (a ring-enhancing metastasis of a few millimetres, in its edema)
    /// keeps it. 0 disables it. Read from older model files as `et_to_core_below_voxels`.
    #[serde(alias = "et_to_core_below_voxels")]
    pub et_to_core_below_mm3: usize,
    /// Relabel as edema each tumour-core component (26-connected, necrosis and enhancement
    /// together) smaller than this many mm³ that is not the largest core of its tumour
    /// component: the specks of core a network leaves in the edema beside a lesion's core. The
    /// BraTS lesion-wise evaluation (since 2023) counts each as a false lesion, and a reader
    /// sees a second focus that is not there; a small lesion's own core, the only one in its
    /// edema, is kept whatever its size. Applied last. 0 disables it (model files of before
    /// session 30).
    #[serde(default)]
    pub min_core_fragment_mm3: usize,
}

/// What [`postprocess`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostprocessReport {
    /// Components removed (small and shallow together).
    pub components_removed: usize,
    /// Of those, components removed because they lay too shallow.
    #[serde(default)]
    pub shallow_components_removed: usize,
    /// Voxels set to background.
    pub voxels_removed: usize,
    /// Enhancing voxels relabelled as core.
    pub et_relabelled: usize,
    /// Core components relabelled as edema (see
    /// [`PostprocessConfig::min_core_fragment_mm3`]).
    #[serde(default)]
    pub core_fragments_relabelled: usize,
    /// Their voxels.
    #[serde(default)]
    pub core_fragment_voxels: usize,
}

/// The head a label map lies in, for [`PostprocessConfig::min_depth_mm`].
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Voxels where any image holds signal, on the label map's grid.
    pub mask: ArrayView3<'a, bool>,
    /// Voxel size in millimetres along the array axes `[D, H, W]`.
    pub spacing: [f64; 3],
}

impl PostprocessConfig {
    /// Checks the values a model file or a caller may get wrong.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming `postprocess.min_depth_mm` when it is not a finite
    /// number ≥ 0.
    pub fn check(&self) -> crate::Result<()> {
        if !(self.min_depth_mm.is_finite() && self.min_depth_mm >= 0.0) {
            return Err(crate::Error::config(
                "postprocess.min_depth_mm",
                format!(
                    "must be a finite number of millimetres ≥ 0 (0 = off), got {}",
                    self.min_depth_mm
                ),
            ));
        }
        Ok(())
    }
}

/// Applies `cfg` to a label map in `scheme`'s values, in place; `voxel_mm3` is the volume
/// of one of its voxels (the thresholds are volumes). `head` is needed when
/// `cfg.min_depth_mm > 0`.
///
/// # Errors
/// [`crate::Error::Config`] when `cfg` fails [`PostprocessConfig::check`], `voxel_mm3` is
/// not a positive number, or the depth step is on without a `head`;
/// [`crate::Error::Shape`] when the head's mask is not on the label map's grid; the metrics
/// crate's error for a spacing that is not positive.
pub fn postprocess(
    labels: &mut Array3<u8>,
    scheme: &brats_io::LabelScheme,
    cfg: &PostprocessConfig,
    voxel_mm3: f64,
    head: Option<Head<'_>>,
) -> crate::Result<PostprocessReport> {
    cfg.check()?;
    let min_component = voxels_of(cfg.min_component_mm3, voxel_mm3)?;
    let below = voxels_of(cfg.et_to_core_below_mm3, voxel_mm3)?;
    let depth = (cfg.min_depth_mm > 0.0)
        .then(|| {
            let head = head.ok_or_else(|| {
                crate::Error::config(
                    "postprocess.min_depth_mm",
                    format!(
                        "{} mm needs the head mask and the voxel size (none given)",
                        cfg.min_depth_mm
                    ),
                )
            })?;
            head_depth(labels.dim(), head)
        })
        .transpose()?;
    let mut report = PostprocessReport::default();
    let mut components = None;
    if min_component > 0 || depth.is_some() {
        let (comp, sizes) = connected_components(&labels.mapv(|v| v != 0));
        if min_component > 0 {
            (report.components_removed, report.voxels_removed) =
                remove_small(labels, &comp, &sizes, min_component);
        }
        if let Some(depth) = &depth {
            let (c, v) = remove_shallow(labels, &comp, sizes.len(), depth, cfg.min_depth_mm);
            report.shallow_components_removed = c;
            report.components_removed += c;
            report.voxels_removed += v;
        }
        components = Some((comp, sizes));
    }
    if below > 0 && relabels_enhancement(count_enhancing(labels.view(), scheme), below, scheme) {
        // Removing whole components leaves the labelling of the rest valid.
        let (comp, sizes) =
            components.unwrap_or_else(|| connected_components(&labels.mapv(|v| v != 0)));
        report.et_relabelled = relabel_where_core_dominates(labels, &comp, sizes.len(), scheme);
        components = Some((comp, sizes));
    }
    let fragment = voxels_of(cfg.min_core_fragment_mm3, voxel_mm3)?;
    if fragment > 0 && scheme.value_of(brats_io::Compartment::Edema) != 0 {
        // Relabelling within the tumour leaves its components as they were.
        let (comp, _) =
            components.unwrap_or_else(|| connected_components(&labels.mapv(|v| v != 0)));
        (
            report.core_fragments_relabelled,
            report.core_fragment_voxels,
        ) = relabel_core_fragments(labels, &comp, scheme, fragment);
    }
    Ok(report)
}

/// Relabels as edema every core component (core and enhancing voxels, 26-connected) under
/// `min` voxels that is not the largest core of its tumour component (of `comp`, the
/// labelling of the map's foreground; the first found of equal largest ones); returns
/// (components, voxels) relabelled.
fn relabel_core_fragments(
    labels: &mut Array3<u8>,
    comp: &Array3<u32>,
    scheme: &brats_io::LabelScheme,
    min: usize,
) -> (usize, usize) {
    let (core, et) = (
        scheme.value_of(brats_io::Compartment::Core),
        scheme.value_of(brats_io::Compartment::Enhancing),
    );
    let edema = scheme.value_of(brats_io::Compartment::Edema);
    let is_core = |v: u8| v != 0 && (v == core || v == et);
    let (cores, sizes) = connected_components(&labels.mapv(is_core));
    // Each core component's tumour component, and each tumour component's largest core.
    let mut tumour_of = vec![0u32; sizes.len()];
    for (&c, &t) in cores.iter().zip(comp.iter()) {
        if c > 0 {
            tumour_of[c as usize] = t;
        }
    }
    let mut largest: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for c in 1..sizes.len() {
        let best = largest.entry(tumour_of[c]).or_insert(c);
        if sizes[c] > sizes[*best] {
            *best = c;
        }
    }
    let fragment: Vec<bool> = (0..sizes.len())
        .map(|c| c > 0 && sizes[c] < min && largest.get(&tumour_of[c]) != Some(&c))
        .collect();
    let mut voxels = 0;
    for (v, &c) in labels.iter_mut().zip(cores.iter()) {
        if fragment[c as usize] {
            *v = edema;
            voxels += 1;
        }
    }
    (fragment.iter().filter(|&&f| f).count(), voxels)
}

/// The voxels of `voxel_mm3` that a threshold of `mm3` stands for: the fewest whose volume
/// reaches it (a hair of rounding in the affine does not add a voxel); 0 stays 0.
///
/// # Errors
/// [`crate::Error::Config`] when `voxel_mm3` is not a finite number > 0.
pub fn voxels_of(mm3: usize, voxel_mm3: f64) -> crate::Result<usize> {
    if !(voxel_mm3.is_finite() && voxel_mm3 > 0.0) {
        return Err(crate::Error::config(
            "voxel volume",
            format!("must be a finite number of mm³ > 0, got {voxel_mm3}"),
        ));
    }
    Ok((mm3 as f64 / voxel_mm3 - 1e-6).ceil().max(0.0) as usize)
}

/// Depth (mm) of every voxel of the head, checked to lie on the label map's grid.
fn head_depth(dim: (usize, usize, usize), head: Head<'_>) -> crate::Result<Array3<f64>> {
    if head.mask.dim() != dim {
        return Err(crate::Error::shape(
            "head mask",
            format!("the label map's shape {dim:?}"),
            format!("{:?}", head.mask.dim()),
        ));
    }
    let spacing = brats_metrics::Spacing::new(head.spacing)?;
    Ok(brats_metrics::distance::depth(head.mask, spacing))
}

/// Sets to background the voxels of the components (of `comp`, `n` labels including
/// background) whose deepest voxel is less than `min_mm` deep; returns (components, voxels)
/// removed. Components already removed have no voxels left and are not counted.
fn remove_shallow(
    labels: &mut Array3<u8>,
    comp: &Array3<u32>,
    n: usize,
    depth: &Array3<f64>,
    min_mm: f64,
) -> (usize, usize) {
    // Per component: its deepest voxel still labelled (none when it has none left). A
    // labelled voxel always lies in a component (c > 0).
    let mut deepest = vec![None::<f64>; n];
    for ((&v, &c), &d) in labels.iter().zip(comp.iter()).zip(depth.iter()) {
        if v != 0 {
            let m = &mut deepest[c as usize];
            *m = Some(m.map_or(d, |x| x.max(d)));
        }
    }
    let shallow: Vec<bool> = deepest
        .iter()
        .map(|m| m.is_some_and(|d| d < min_mm))
        .collect();
    let mut voxels = 0;
    for (v, &c) in labels.iter_mut().zip(comp.iter()) {
        if *v != 0 && shallow[c as usize] {
            *v = 0;
            voxels += 1;
        }
    }
    (shallow.iter().filter(|&&s| s).count(), voxels)
}

/// Whether the enhancement step of [`postprocess`] applies (see
/// [`PostprocessConfig::et_to_core_below_mm3`], in voxels) to a map with `n_et` enhancing voxels: the
/// scheme has a core label and there are some, fewer than `below`.
fn relabels_enhancement(n_et: usize, below: usize, scheme: &brats_io::LabelScheme) -> bool {
    scheme.value_of(brats_io::Compartment::Core) != 0 && n_et > 0 && n_et < below
}

/// Relabels as core the enhancing voxels of each component (of `comp`, `n` labels including
/// background) whose core voxels outnumber its enhancing ones; returns the voxels relabelled.
fn relabel_where_core_dominates(
    labels: &mut Array3<u8>,
    comp: &Array3<u32>,
    n: usize,
    scheme: &brats_io::LabelScheme,
) -> usize {
    let et = scheme.value_of(brats_io::Compartment::Enhancing);
    let core = scheme.value_of(brats_io::Compartment::Core);
    // Per component: enhancing and core voxels.
    let mut counts = vec![(0usize, 0usize); n];
    for (&v, &c) in labels.iter().zip(comp.iter()) {
        if v == et {
            counts[c as usize].0 += 1;
        } else if v == core {
            counts[c as usize].1 += 1;
        }
    }
    let mut relabelled = 0;
    for (v, &c) in labels.iter_mut().zip(comp.iter()) {
        let (n_et, n_core) = counts[c as usize];
        if *v == et && n_et <= n_core {
            *v = core;
            relabelled += 1;
        }
    }
    relabelled
}

/// Sets the voxels of components smaller than `min` to background; returns (components,
/// voxels) removed. `comp`/`sizes` are the labelling of `labels`' foreground.
fn remove_small(
    labels: &mut Array3<u8>,
    comp: &Array3<u32>,
    sizes: &[usize],
    min: usize,
) -> (usize, usize) {
    let mut voxels = 0;
    for (v, &c) in labels.iter_mut().zip(comp.iter()) {
        if c > 0 && sizes[c as usize] < min {
            *v = 0;
            voxels += 1;
        }
    }
    let components = sizes.iter().skip(1).filter(|&&n| n > 0 && n < min).count();
    (components, voxels)
}

/// Enhancing voxels of a label map (0 when the scheme has no enhancing label).
pub fn count_enhancing(labels: ArrayView3<'_, u8>, scheme: &brats_io::LabelScheme) -> usize {
    let et = scheme.value_of(brats_io::Compartment::Enhancing);
    if et == 0 {
        return 0;
    }
    labels.iter().filter(|&&v| v == et).count()
}

/// Chooses the post-processing thresholds on labelled cases the network has not trained
/// on, as the BraTS entries do on their cross-validation folds: every pair of a
/// `min_component_mm3` and an `et_to_core_below_mm3` candidate is applied to each
/// case's raw prediction and scored by region Dice (empty regions as BraTS 2023 scores
/// them); [`Calibration::best`] is the pair to ship, by the mean over WT, TC and ET.
///
/// Cases are added one at a time (nothing is kept but the sums). Relabelling ET as core
/// leaves WT and TC unchanged, and every enhancement threshold that applies relabels the same
/// voxels, so each component size needs at most one more ET score.
#[derive(Debug, Clone)]
pub struct Calibration {
    scheme: brats_io::LabelScheme,
    decision: Decision,
    min_depth_mm: f64,
    min_component: Vec<usize>,
    et_to_core: Vec<usize>,
    sums: Vec<[f64; 3]>,
    cases: usize,
}

/// One candidate of a [`Calibration`] with its mean region Dice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationRow {
    /// The candidate thresholds.
    pub config: PostprocessConfig,
    /// Mean Dice over the cases added, WT, TC, ET.
    pub dice: [f64; 3],
}

impl CalibrationRow {
    /// Mean of the three regions' Dice.
    pub fn mean(&self) -> f64 {
        self.dice.iter().sum::<f64>() / 3.0
    }
}

impl Calibration {
    /// The grid to search (each list sorted and deduplicated; 0 = step off is always a
    /// candidate, so the calibration can only choose post-processing that helps).
    pub fn new(
        scheme: &brats_io::LabelScheme,
        min_component: &[usize],
        et_to_core: &[usize],
    ) -> Self {
        let grid = |v: &[usize]| {
            let mut g: Vec<usize> = v.iter().copied().chain([0]).collect();
            g.sort_unstable();
            g.dedup();
            g
        };
        let (min_component, et_to_core) = (grid(min_component), grid(et_to_core));
        let sums = vec![[0.0; 3]; min_component.len() * et_to_core.len()];
        Self {
            scheme: scheme.clone(),
            decision: Decision::Argmax,
            min_depth_mm: 0.0,
            min_component,
            et_to_core,
            sums,
            cases: 0,
        }
    }

    /// Declares that the predictions passed to [`Calibration::add`] went through the depth
    /// step ([`PostprocessConfig::min_depth_mm`]) already — a fixed step, not searched — so
    /// that every candidate carries it.
    pub fn after_depth_step(mut self, min_depth_mm: f64) -> Self {
        self.min_depth_mm = min_depth_mm;
        self
    }

    /// Declares the decision the predictions passed to [`Calibration::add`] were made with
    /// (not searched: it needs the probabilities), so that every candidate carries it.
    pub fn after_decision(mut self, decision: Decision) -> Self {
        self.decision = decision;
        self
    }

    /// Scores every candidate on one case: `raw` is the prediction without post-processing
    /// (or with the depth step only, see [`Calibration::after_depth_step`]), on voxels of
    /// `voxel_mm3`.
    ///
    /// # Errors
    /// Shapes that differ, a value outside the scheme in either map, a voxel volume that is
    /// not positive.
    pub fn add(
        &mut self,
        raw: ArrayView3<'_, u8>,
        truth: ArrayView3<'_, u8>,
        voxel_mm3: f64,
    ) -> crate::Result<()> {
        if raw.dim() != truth.dim() {
            return Err(crate::Error::shape(
                "calibration truth",
                format!("the prediction's shape {:?}", raw.dim()),
                format!("{:?}", truth.dim()),
            ));
        }
        let (comp, sizes) = connected_components(&raw.mapv(|v| v != 0));
        let n_et = self.et_to_core.len();
        let et_to_core = self
            .et_to_core
            .iter()
            .map(|&e| voxels_of(e, voxel_mm3))
            .collect::<crate::Result<Vec<_>>>()?;
        for (mi, &m) in self.min_component.iter().enumerate() {
            let mut l = raw.to_owned();
            remove_small(&mut l, &comp, &sizes, voxels_of(m, voxel_mm3)?);
            let dice = brats_metrics::brats::region_dice(l.view(), truth, &self.scheme)?;
            let et_voxels = count_enhancing(l.view(), &self.scheme);
            let applies = |e: usize| relabels_enhancement(et_voxels, e, &self.scheme);
            let relabelled_et = if et_to_core.iter().any(|&e| applies(e)) {
                relabel_where_core_dominates(&mut l, &comp, sizes.len(), &self.scheme);
                brats_metrics::brats::region_dice(l.view(), truth, &self.scheme)?[2]
            } else {
                dice[2]
            };
            for (ei, &e) in et_to_core.iter().enumerate() {
                let et_dice = if applies(e) { relabelled_et } else { dice[2] };
                let s = &mut self.sums[mi * n_et + ei];
                s[0] += dice[0];
                s[1] += dice[1];
                s[2] += et_dice;
            }
        }
        self.cases += 1;
        Ok(())
    }

    /// Cases added so far.
    pub fn cases(&self) -> usize {
        self.cases
    }

    /// Every candidate with its mean Dice, smallest thresholds first.
    pub fn rows(&self) -> Vec<CalibrationRow> {
        let n = self.cases.max(1) as f64;
        let mut out = Vec::with_capacity(self.sums.len());
        for (mi, &m) in self.min_component.iter().enumerate() {
            for (ei, &e) in self.et_to_core.iter().enumerate() {
                let s = self.sums[mi * self.et_to_core.len() + ei];
                out.push(CalibrationRow {
                    config: PostprocessConfig {
                        decision: self.decision,
                        min_component_mm3: m,
                        min_depth_mm: self.min_depth_mm,
                        et_to_core_below_mm3: e,
                        // Not searched: it moves region Dice by little and is chosen on
                        // lesion-wise scores (`bts export --min-core-fragment`).
                        min_core_fragment_mm3: 0,
                    },
                    dice: s.map(|v| v / n),
                });
            }
        }
        out
    }

    /// The candidate to ship: the one with the smallest thresholds (component size first,
    /// then enhancement) whose mean Dice is within [`Calibration::TOLERANCE`] of the highest
    /// — the least change to the network's output that the cases cannot tell from the best.
    /// `None` before any case was added.
    pub fn best(&self) -> Option<CalibrationRow> {
        if self.cases == 0 {
            return None;
        }
        let rows = self.rows();
        let top = rows
            .iter()
            .map(CalibrationRow::mean)
            .fold(f64::MIN, f64::max);
        rows.into_iter().find(|r| r.mean() >= top - Self::TOLERANCE)
    }

    /// Mean-Dice differences below this are treated as ties by [`Calibration::best`]: on a
    /// few dozen cases they are noise (one case's Dice moving by 0.03 in one region).
    pub const TOLERANCE: f64 = 1e-3;
}

#[cfg(test)]
mod tests {
    use ndarray::s;

    use super::*;

    #[test]
    fn components_and_postprocessing() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut l = Array3::<u8>::zeros((10, 10, 10));
        l.slice_mut(s![1..5, 1..5, 1..5]).fill(2);
        l.slice_mut(s![3..5, 3..5, 3..5]).fill(1); // a core of 8 voxels
        l[[2, 2, 2]] = 4; // one enhancing voxel beside it
        l[[8, 8, 8]] = 1; // isolated voxel
        l[[9, 9, 9]] = 1; // touches it diagonally: one component of 2
        let (_, sizes) = connected_components(&l.mapv(|v| v != 0));
        assert_eq!(sizes, vec![0, 64, 2]);
        let cfg = PostprocessConfig {
            decision: Decision::Argmax,
            min_component_mm3: 3,
            et_to_core_below_mm3: 5,
            ..Default::default()
        };
        let r = postprocess(&mut l, &scheme, &cfg, 1.0, None).unwrap();
        assert_eq!(
            (r.components_removed, r.voxels_removed, r.et_relabelled),
            (1, 2, 1)
        );
        assert_eq!(l[[8, 8, 8]], 0);
        assert_eq!(l[[2, 2, 2]], 1);
        assert_eq!(l.iter().filter(|&&v| v != 0).count(), 64);
    }

    #[test]
    fn thresholds_are_volumes_whatever_the_voxel_size() {
        let scheme = brats_io::LabelScheme::brats2021();
        // A lesion of 8 voxels with 3 enhancing voxels at its edge, the rest core.
        let lesion = || {
            let mut l = Array3::<u8>::zeros((6, 6, 6));
            l.slice_mut(s![1..3, 1..3, 1..3]).fill(1);
            l.slice_mut(s![1..2, 1..3, 1..2]).fill(4);
            l[[2, 1, 1]] = 4;
            l
        };
        let cfg = PostprocessConfig {
            min_component_mm3: 20,
            ..Default::default()
        };
        // 8 voxels of 1 mm³ are under 20 mm³: removed. Of 5 mm³ (1 × 1 × 5 mm, a thick-slice
        // grid), 40 mm³: kept.
        let mut l = lesion();
        assert_eq!(
            postprocess(&mut l, &scheme, &cfg, 1.0, None)
                .unwrap()
                .voxels_removed,
            8
        );
        let mut l = lesion();
        assert_eq!(
            postprocess(&mut l, &scheme, &cfg, 5.0, None)
                .unwrap()
                .voxels_removed,
            0
        );
        // Enhancement: 3 voxels, under 10 mm³ on 1 mm voxels (relabelled, the core dominates),
        // 15 mm³ on 5 mm³ voxels (kept).
        let cfg = PostprocessConfig {
            et_to_core_below_mm3: 10,
            ..Default::default()
        };
        let mut l = lesion();
        assert_eq!(
            postprocess(&mut l, &scheme, &cfg, 1.0, None)
                .unwrap()
                .et_relabelled,
            3
        );
        let mut l = lesion();
        assert_eq!(
            postprocess(&mut l, &scheme, &cfg, 5.0, None)
                .unwrap()
                .et_relabelled,
            0
        );
        // The fewest voxels whose volume reaches the threshold; rounding in an affine's
        // determinant does not add one.
        assert_eq!(voxels_of(500, 1.0).unwrap(), 500);
        assert_eq!(voxels_of(500, 1.0 - 1e-12).unwrap(), 500);
        assert_eq!(voxels_of(500, 1.0 + 1e-12).unwrap(), 500);
        assert_eq!(voxels_of(500, 0.9375 * 0.9375 * 5.0).unwrap(), 114);
        assert_eq!(voxels_of(0, 8.0).unwrap(), 0);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = postprocess(&mut lesion(), &scheme, &cfg, bad, None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("voxel volume"), "{e}");
        }
    }

    #[test]
    fn small_enhancement_stays_where_it_is_the_lesion() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut l = Array3::<u8>::zeros((16, 16, 16));
        // A lower-grade-like mass: a non-enhancing core of 27 voxels in edema, with three
        // enhancing voxels at its edge.
        l.slice_mut(s![1..7, 1..7, 1..7]).fill(2);
        l.slice_mut(s![2..5, 2..5, 2..5]).fill(1);
        l.slice_mut(s![5..6, 3..6, 3..4]).fill(4);
        // A small metastasis elsewhere: an enhancing shell of 26 voxels round one necrotic
        // voxel, in its edema.
        l.slice_mut(s![8..15, 8..15, 8..15]).fill(2);
        l.slice_mut(s![10..13, 10..13, 10..13]).fill(4);
        l[[11, 11, 11]] = 1;
        let cfg = PostprocessConfig {
            decision: Decision::Argmax,
            min_component_mm3: 0,
            et_to_core_below_mm3: 100,
            ..Default::default()
        };
        let r = postprocess(&mut l, &scheme, &cfg, 1.0, None).unwrap();
        assert_eq!(r.et_relabelled, 3);
        assert_eq!(
            l[[5, 3, 3]],
            1,
            "enhancement in the non-enhancing mass is core"
        );
        assert_eq!(l[[10, 10, 10]], 4, "the metastasis keeps its rim");
        assert_eq!(l.iter().filter(|&&v| v == 4).count(), 26);
        // Above the threshold nothing changes.
        let mut m = l.clone();
        m.slice_mut(s![5..6, 3..6, 3..4]).fill(4);
        let before = m.clone();
        let cfg = PostprocessConfig {
            decision: Decision::Argmax,
            min_component_mm3: 0,
            et_to_core_below_mm3: 29,
            ..Default::default()
        };
        assert_eq!(
            postprocess(&mut m, &scheme, &cfg, 1.0, None)
                .unwrap()
                .et_relabelled,
            0
        );
        assert_eq!(m, before);
    }

    #[test]
    fn core_specks_beside_a_lesions_core_become_edema_and_a_small_lesions_core_stays() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut l = Array3::<u8>::zeros((20, 20, 20));
        // A lesion: edema with a core of 27 voxels (rim and necrosis), and two specks of
        // core in its edema, 2 and 8 voxels, apart from the core and from each other.
        l.slice_mut(s![1..12, 1..12, 1..12]).fill(2);
        l.slice_mut(s![2..5, 2..5, 2..5]).fill(4);
        l[[3, 3, 3]] = 1;
        l[[9, 9, 9]] = 4;
        l[[9, 9, 10]] = 1;
        l.slice_mut(s![7..9, 2..4, 8..10]).fill(1);
        // A second lesion far away: a core of 4 voxels, the only one in its edema.
        l.slice_mut(s![14..19, 14..19, 14..19]).fill(2);
        l.slice_mut(s![16..18, 16..18, 16..17]).fill(4);
        let wt_before = l.iter().filter(|&&v| v != 0).count();
        let run = |l: &mut Array3<u8>, mm3: usize, voxel_mm3: f64| {
            let cfg = PostprocessConfig {
                min_core_fragment_mm3: mm3,
                ..Default::default()
            };
            postprocess(l, &scheme, &cfg, voxel_mm3, None).unwrap()
        };
        let mut a = l.clone();
        let r = run(&mut a, 5, 1.0);
        assert_eq!(
            (r.core_fragments_relabelled, r.core_fragment_voxels),
            (1, 2)
        );
        assert_eq!((a[[9, 9, 9]], a[[9, 9, 10]]), (2, 2), "the 2-voxel speck");
        assert_eq!(a[[7, 2, 8]], 1, "8 voxels: not under 5");
        assert_eq!(a[[16, 16, 16]], 4, "a small lesion's only core stays");
        assert_eq!(a[[3, 3, 3]], 1);
        let mut b = l.clone();
        let r = run(&mut b, 100, 1.0);
        assert_eq!(
            (r.core_fragments_relabelled, r.core_fragment_voxels),
            (2, 10)
        );
        assert_eq!(b[[7, 2, 8]], 2);
        assert_eq!(b[[16, 16, 16]], 4, "whatever the threshold");
        assert_eq!(
            b.slice(s![2..5, 2..5, 2..5])
                .iter()
                .filter(|&&v| v == 2)
                .count(),
            0
        );
        // The whole tumour does not change, nor anything at 0 (off).
        assert_eq!(b.iter().filter(|&&v| v != 0).count(), wt_before);
        let mut c = l.clone();
        assert_eq!(run(&mut c, 0, 1.0), PostprocessReport::default());
        assert_eq!(c, l);
        // A volume: on 2 × 2 × 2 mm voxels, 20 mm³ is 3 voxels, so the 2-voxel speck goes
        // and the 8-voxel one stays.
        let mut d = l.clone();
        assert_eq!(run(&mut d, 20, 8.0).core_fragments_relabelled, 1);
        // Model files without the field read it as off.
        let old: PostprocessConfig =
            serde_json::from_str(r#"{"min_component_mm3": 500, "et_to_core_below_mm3": 300}"#)
                .unwrap();
        assert_eq!(old.min_core_fragment_mm3, 0);
    }

    #[test]
    fn calibration_picks_the_thresholds_that_help_and_no_more() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut cal = Calibration::new(&scheme, &[3, 50], &[5, 20]);
        // Case 1: a lower-grade-like tumour (non-enhancing core in edema); the network calls
        // three core voxels enhancing and adds a false island of two voxels.
        let mut truth = Array3::<u8>::zeros((12, 12, 12));
        truth.slice_mut(s![1..5, 1..5, 1..5]).fill(2);
        truth.slice_mut(s![2..4, 2..4, 2..4]).fill(1);
        let mut raw = truth.clone();
        raw[[2, 2, 2]] = 4;
        raw[[2, 2, 3]] = 4;
        raw[[2, 3, 2]] = 4;
        raw[[10, 10, 10]] = 2;
        raw[[10, 10, 11]] = 2;
        cal.add(raw.view(), truth.view(), 1.0).unwrap();
        // Case 2: a real enhancing rim of 10 voxels, found exactly.
        let mut truth = Array3::<u8>::zeros((12, 12, 12));
        truth.slice_mut(s![1..5, 1..5, 1..5]).fill(2);
        truth.slice_mut(s![2..4, 2..4, 2..4]).fill(1);
        truth.slice_mut(s![6..8, 6..11, 6..7]).fill(4);
        cal.add(truth.view(), truth.view(), 1.0).unwrap();
        assert_eq!(cal.cases(), 2);
        let rows = cal.rows();
        assert_eq!(rows.len(), 9, "0 joins each grid");
        let best = cal.best().unwrap();
        // 3 drops the island and keeps both tumours; 50 would drop the 10-voxel rim's
        // component; 5 relabels case 1's three ET voxels, 20 would also erase case 2's rim.
        assert_eq!(
            best.config,
            PostprocessConfig {
                decision: Decision::Argmax,
                min_component_mm3: 3,
                et_to_core_below_mm3: 5,
                ..Default::default()
            }
        );
        assert_eq!(best.dice, [1.0, 1.0, 1.0]);
        let off = rows[0];
        assert_eq!(off.config, PostprocessConfig::default());
        assert!(off.dice[2] < 0.51 && off.dice[0] < 1.0, "{off:?}");
        // The shortcut for relabelling agrees with running the post-processing.
        let mut l = raw.clone();
        postprocess(&mut l, &scheme, &best.config, 1.0, None).unwrap();
        assert_eq!(l, {
            let mut t = Array3::<u8>::zeros((12, 12, 12));
            t.slice_mut(s![1..5, 1..5, 1..5]).fill(2);
            t.slice_mut(s![2..4, 2..4, 2..4]).fill(1);
            t
        });
        let bad = Array3::<u8>::zeros((3, 3, 3));
        let e = cal
            .add(bad.view(), truth.view(), 1.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("calibration truth"), "{e}");
    }

    #[test]
    fn sheets_along_the_edge_of_the_head_go_and_lesions_stay() {
        let scheme = brats_io::LabelScheme::brats2021();
        // A head of 30 × 30 × 30 voxels of 1 mm inside a 34-voxel array, 2 mm along D.
        let mut head = Array3::from_elem((34, 34, 34), false);
        head.slice_mut(s![2..32, 2..32, 2..32]).fill(true);
        let spacing = [2.0, 1.0, 1.0];
        let mut l = Array3::<u8>::zeros((34, 34, 34));
        // A sheet 3 voxels (3 mm) thick along the left face of the head: 3 × 20 × 20 with
        // core inside, the look of a skull-stripping leftover called tumour.
        l.slice_mut(s![6..26, 5..25, 2..5]).fill(2);
        l.slice_mut(s![8..24, 7..23, 3..4]).fill(1);
        // A compact lesion touching the opposite face: 6 × 6 × 6 voxels, reaching 6 mm deep.
        l.slice_mut(s![12..18, 12..18, 26..32]).fill(4);
        // A deep lesion in the middle.
        l.slice_mut(s![14..18, 14..18, 14..18]).fill(1);
        let before = l.clone();
        let cfg = PostprocessConfig {
            decision: Decision::Argmax,
            min_depth_mm: 5.0,
            ..Default::default()
        };
        let h = Head {
            mask: head.view(),
            spacing,
        };
        let r = postprocess(&mut l, &scheme, &cfg, 1.0, Some(h)).unwrap();
        assert_eq!(r.shallow_components_removed, 1);
        assert_eq!(r.components_removed, 1);
        assert_eq!(r.voxels_removed, 20 * 20 * 3);
        assert!(
            l.slice(s![.., .., 2..5]).iter().all(|&v| v == 0),
            "the sheet goes"
        );
        assert_eq!(
            l.slice(s![.., .., 5..]),
            before.slice(s![.., .., 5..]),
            "both lesions stay"
        );
        // 7 mm: the lesion at the face (6 mm deep) goes too; the step off changes nothing.
        let mut m = before.clone();
        let deeper = PostprocessConfig {
            decision: Decision::Argmax,
            min_depth_mm: 7.0,
            ..Default::default()
        };
        let r = postprocess(&mut m, &scheme, &deeper, 1.0, Some(h)).unwrap();
        assert_eq!(r.shallow_components_removed, 2);
        assert_eq!(m.iter().filter(|&&v| v != 0).count(), 64);
        let mut m = before.clone();
        let r = postprocess(&mut m, &scheme, &PostprocessConfig::default(), 1.0, Some(h)).unwrap();
        assert_eq!((r, m), (PostprocessReport::default(), before.clone()));
        // Components removed as small are not counted again as shallow.
        let mut m = before.clone();
        let both = PostprocessConfig {
            decision: Decision::Argmax,
            min_component_mm3: 100,
            min_depth_mm: 5.0,
            ..Default::default()
        };
        let r = postprocess(&mut m, &scheme, &both, 1.0, Some(h)).unwrap();
        assert_eq!((r.components_removed, r.shallow_components_removed), (2, 1));
    }

    #[test]
    fn the_depth_step_rejects_what_it_cannot_use() {
        let scheme = brats_io::LabelScheme::brats2021();
        let mut l = Array3::<u8>::zeros((8, 8, 8));
        l[[4, 4, 4]] = 2;
        let head = Array3::from_elem((8, 8, 8), true);
        let on = PostprocessConfig {
            decision: Decision::Argmax,
            min_depth_mm: 5.0,
            ..Default::default()
        };
        let e = postprocess(&mut l, &scheme, &on, 1.0, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("postprocess.min_depth_mm") && e.contains("head mask"),
            "{e}"
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let cfg = PostprocessConfig {
                decision: Decision::Argmax,
                min_depth_mm: bad,
                ..Default::default()
            };
            let e = postprocess(&mut l, &scheme, &cfg, 1.0, None)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("postprocess.min_depth_mm") && e.contains("≥ 0"),
                "{e}"
            );
        }
        let small = Array3::from_elem((8, 8, 7), true);
        let h = Head {
            mask: small.view(),
            spacing: [1.0; 3],
        };
        let e = postprocess(&mut l, &scheme, &on, 1.0, Some(h))
            .unwrap_err()
            .to_string();
        assert!(e.contains("head mask") && e.contains("(8, 8, 7)"), "{e}");
        let h = Head {
            mask: head.view(),
            spacing: [1.0, 0.0, 1.0],
        };
        let e = postprocess(&mut l, &scheme, &on, 1.0, Some(h))
            .unwrap_err()
            .to_string();
        assert!(e.contains("spacing"), "{e}");
        assert_eq!(l[[4, 4, 4]], 2, "nothing changed on an error");
    }
}
