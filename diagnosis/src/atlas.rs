//! Atlases: a labelled volume plus a table (label → region id and hemisphere), brought onto
//! a case's grid through world coordinates; and the built-in lobe-level atlas that needs no
//! file.
//!
//! # A user's atlas
//! Any NIfTI label volume registered to the case's space (e.g. a lobe or gyrus atlas in MNI
//! or SRI24 space) with a table as CSV (`value,region,hemisphere`, header required) or JSON
//! (`[{"value": 1, "region": "frontal_lobe", "hemisphere": "left"}, …]`). Region ids are
//! the knowledge base's (`frontal_lobe`, `pons`, …); hemisphere is `left`, `right`,
//! `midline` or `bilateral`. [`Atlas::on_grid`] samples it at every case voxel's world
//! position (both affines, nearest neighbour), so storage orientation and voxel size may
//! differ from the case's.
//!
//! # The built-in atlas
//! [`builtin_on_grid`] parcellates the case's own brain mask into frontal, parietal,
//! temporal and occipital lobes, insula, basal ganglia, thalamus, ventricles, cerebellar
//! hemispheres and vermis, and brainstem, per hemisphere. It works in RAS world coordinates
//! (from the affine): the brain mask's extent along x, y and z (0.5th–99.5th percentile of
//! its voxels' positions) is mapped to `[−1, 1]`, and each voxel is assigned by boxes
//! placed at the proportional positions these structures have in the MNI152 brain
//! (extent x −70…70, y −104…70, z −72…80 mm): for example the occipital lobe is behind
//! y = −69 mm (normalised −0.6), the frontal lobe in front of y ≈ −13 mm (0.05), the
//! temporal lobe lateral (|x| > 28 mm) and below z ≈ 8 mm, the cerebellum behind y = −43 mm
//! and below z = −11 mm. Left and right are split at the middle of the brain's x extent.
//!
//! It is a proportional (Talairach-style) parcellation, not a registration: boundaries are
//! straight planes, so near a boundary (central sulcus, Sylvian fissure, tentorium) it can
//! be wrong by a centimetre or more, and brains with large mass effect or resections shift
//! it further. Measured on ten phantoms (`tests/localise.rs`, seeds 0–9), whose generator
//! decides the site by its own rule from the tumour centre: the side is right in 10/10,
//! the primary region (largest share of the core) equals the generator's site in 9/10, and
//! the site holds ≥ 10 % of the tumour in 10/10. Agreement with a reference atlas on a real
//! template brain has not been measured (no template is available offline here) — bring a
//! registered atlas when lobe-level accuracy matters.

use std::collections::BTreeMap;
use std::path::Path;

use brats_io::{Geometry, NiftiReader, Volume};
use ndarray::{Array3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use symptom_kb::Hemisphere;

use crate::error::{Error, Result};

/// One row of an atlas table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtlasEntry {
    /// Voxel value in the atlas volume (> 0).
    pub value: u32,
    /// Knowledge-base region id.
    pub region: String,
    /// Side.
    pub hemisphere: Hemisphere,
}

/// A labelled volume and its table.
#[derive(Debug, Clone)]
pub struct Atlas {
    /// Atlas name (file stem, or `builtin-lobes`).
    pub name: String,
    labels: Array3<u32>,
    geometry: Geometry,
    table: Vec<AtlasEntry>,
}

/// Name of the built-in registered atlas ([`Atlas::sri24`]).
pub const SRI24: &str = "sri24";

/// The least brain-mask Dice at which the SRI24 atlas is trusted on a case (below it the
/// case is not in SRI24 space, or its anatomy is too far from the template's).
pub const SRI24_MIN_FIT: f64 = 0.85;

impl GridAtlas {
    /// Dice between the case's brain mask and the atlas's labelled voxels: how well the
    /// atlas fits this brain (1 for a perfect fit).
    pub fn brain_fit(&self, brain: &Array3<bool>) -> f64 {
        let (mut both, mut a, mut b) = (0usize, 0usize, 0usize);
        for (&x, &m) in self.index.iter().zip(brain.iter()) {
            let l = x != 0;
            both += usize::from(l && m);
            a += usize::from(l);
            b += usize::from(m);
        }
        if a + b == 0 {
            0.0
        } else {
            2.0 * both as f64 / (a + b) as f64
        }
    }
}

/// An atlas sampled on a case grid: a label index per voxel (0 = none, `n` = `table[n-1]`).
#[derive(Debug, Clone)]
pub struct GridAtlas {
    /// Atlas name.
    pub name: String,
    /// Per voxel, 0 or 1 + the index of its entry in `table`; array order `[k, j, i]`.
    pub index: Array3<u16>,
    /// The entries.
    pub table: Vec<AtlasEntry>,
    /// World x (mm, RAS) of the mid-sagittal plane used to tell left from right.
    pub midline_x_mm: f64,
}

fn parse_hemisphere(s: &str, at: &str) -> Result<Hemisphere> {
    match s.trim().to_ascii_lowercase().as_str() {
        "left" | "l" => Ok(Hemisphere::Left),
        "right" | "r" => Ok(Hemisphere::Right),
        "midline" | "m" => Ok(Hemisphere::Midline),
        "bilateral" | "b" => Ok(Hemisphere::Bilateral),
        other => Err(Error::atlas(
            at,
            format!("hemisphere {other:?}: expected left, right, midline or bilateral"),
        )),
    }
}

impl Atlas {
    /// Reads an atlas volume (integer labels; float files must hold whole numbers) and its
    /// table (`.csv` or `.json`).
    ///
    /// # Errors
    /// Reading errors naming the file; [`Error::Atlas`] naming the file and line/field for
    /// a malformed table, a duplicate or zero value, or non-integer voxel values.
    pub fn load(volume: &Path, table: &Path) -> Result<Atlas> {
        let img = NiftiReader::new().read_f32(volume)?;
        let what = volume.display().to_string();
        let mut bad = 0usize;
        let labels = img.data().mapv(|v| {
            if v >= 0.0 && v.fract() == 0.0 && v < 65_535.0 {
                v as u32
            } else {
                bad += 1;
                0
            }
        });
        if bad > 0 {
            return Err(Error::atlas(
                what,
                format!(
                    "{bad} voxels are not whole numbers in 0..65535 (a label volume was expected)"
                ),
            ));
        }
        let table = read_table(table)?;
        let name = volume
            .file_name()
            .map(|s| {
                s.to_string_lossy()
                    .trim_end_matches(".gz")
                    .trim_end_matches(".nii")
                    .to_string()
            })
            .unwrap_or_else(|| "atlas".into());
        Atlas::new(name, Volume::new(labels, img.geometry().clone())?, table)
    }

    /// An atlas from a label volume and table.
    ///
    /// # Errors
    /// [`Error::Atlas`] for a zero or duplicate value in the table, or an empty table.
    pub fn new(
        name: impl Into<String>,
        labels: Volume<u32>,
        table: Vec<AtlasEntry>,
    ) -> Result<Atlas> {
        let name = name.into();
        if table.is_empty() {
            return Err(Error::atlas(&name, "the label table is empty"));
        }
        if table.len() >= u16::MAX as usize {
            return Err(Error::atlas(&name, "more than 65534 labels"));
        }
        let mut seen = std::collections::HashSet::new();
        for (n, e) in table.iter().enumerate() {
            if e.value == 0 {
                return Err(Error::atlas(
                    format!("{name} table[{n}]"),
                    "value 0 is reserved for 'no region'",
                ));
            }
            if !seen.insert(e.value) {
                return Err(Error::atlas(
                    format!("{name} table[{n}]"),
                    format!("value {} listed twice", e.value),
                ));
            }
        }
        let (labels, geometry) = labels.into_parts();
        Ok(Atlas {
            name,
            labels,
            geometry,
            table,
        })
    }

    /// The built-in registered atlas on the BraTS (SRI24) grid (`assets/atlas/`: 45 labels,
    /// every knowledge-base region split by hemisphere; see its README for provenance and
    /// how each region was drawn), decoded once.
    ///
    /// # Errors
    /// [`Error::Atlas`] if the embedded asset is damaged (a build problem, not an input).
    pub fn sri24() -> Result<&'static Atlas> {
        static A: std::sync::OnceLock<std::result::Result<Atlas, String>> =
            std::sync::OnceLock::new();
        A.get_or_init(|| {
            let build = || -> Result<Atlas> {
                let vol = NiftiReader::new().read_labels_bytes(
                    "<embedded sri24_atlas.nii.gz>",
                    include_bytes!("../assets/atlas/sri24_atlas.nii.gz"),
                )?;
                let table = parse_table(
                    include_str!("../assets/atlas/sri24_atlas.csv"),
                    "<embedded sri24_atlas.csv>",
                    false,
                )?;
                Atlas::new(SRI24, vol.map(|&v| u32::from(v)), table)
            };
            build().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::atlas(SRI24, e.clone()))
    }

    /// The atlas's brain: its labelled voxels, on its own grid.
    pub fn brain(&self) -> (Array3<bool>, &Geometry) {
        (self.labels.mapv(|v| v != 0), &self.geometry)
    }

    /// The label volume (a copy, with its grid).
    ///
    /// # Errors
    /// None in practice (the atlas was built from a volume of this grid).
    pub fn labels(&self) -> Result<Volume<u32>> {
        Ok(Volume::new(self.labels.clone(), self.geometry.clone())?)
    }

    /// The table.
    pub fn table(&self) -> &[AtlasEntry] {
        &self.table
    }

    /// Samples the atlas at every voxel of `grid` (nearest neighbour through both affines).
    /// Voxel values missing from the table count as no region.
    ///
    /// # Errors
    /// [`Error::Atlas`] when fewer than 1 % of the `brain` voxels fall on a labelled atlas
    /// voxel (an atlas in another space, or not registered).
    pub fn on_grid(&self, grid: &Geometry, brain: &Array3<bool>) -> Result<GridAtlas> {
        self.on_grid_mapped(grid, brain, None)
    }

    /// As [`Atlas::on_grid`], with case world points first mapped into the atlas's world by
    /// `map` (a registration).
    ///
    /// # Errors
    /// As [`Atlas::on_grid`].
    pub fn on_grid_mapped(
        &self,
        grid: &Geometry,
        brain: &Array3<bool>,
        map: Option<&crate::register::AffineMap>,
    ) -> Result<GridAtlas> {
        let lookup: BTreeMap<u32, u16> = self
            .table
            .iter()
            .enumerate()
            .map(|(n, e)| (e.value, n as u16 + 1))
            .collect();
        let shape = grid.shape();
        if brain.shape() != shape {
            return Err(Error::input(
                "brain mask",
                format!("shape {:?}, expected the case's {:?}", brain.shape(), shape),
            ));
        }
        let [ad, ah, aw] = self.geometry.shape();
        let mut index = Array3::<u16>::zeros(shape);
        index
            .axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(k, mut plane)| {
                for ((j, i), out) in plane.indexed_iter_mut() {
                    let mut w = grid.voxel_to_world([i as f64, j as f64, k as f64]);
                    if let Some(m) = map {
                        w = m.apply(w);
                    }
                    let v = self.geometry.world_to_voxel(w);
                    let [vi, vj, vk] = v.map(|x| x.round());
                    if vi < 0.0 || vj < 0.0 || vk < 0.0 {
                        continue;
                    }
                    let (vi, vj, vk) = (vi as usize, vj as usize, vk as usize);
                    if vi < aw && vj < ah && vk < ad {
                        *out = lookup.get(&self.labels[[vk, vj, vi]]).copied().unwrap_or(0);
                    }
                }
            });
        let n_brain = brain.iter().filter(|&&b| b).count();
        let covered = brain
            .iter()
            .zip(index.iter())
            .filter(|(&b, &x)| b && x != 0)
            .count();
        if n_brain == 0 || (covered as f64) < 0.01 * n_brain as f64 {
            return Err(Error::atlas(
                &self.name,
                format!(
                    "labels cover {covered} of the brain's {n_brain} voxels: the atlas does not overlap the brain (is it registered to this case's space?)"
                ),
            ));
        }
        let midline_x_mm = brain_extent(grid, brain).map_or(0.0, |e| (e[0].0 + e[0].1) / 2.0);
        Ok(GridAtlas {
            name: self.name.clone(),
            index,
            table: self.table.clone(),
            midline_x_mm,
        })
    }
}

fn read_table(path: &Path) -> Result<Vec<AtlasEntry>> {
    let what = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::atlas(&what, format!("cannot read the label table: {e}")))?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    parse_table(&text, &what, ext.as_deref() == Some("json"))
}

fn parse_table(text: &str, what: &str, json: bool) -> Result<Vec<AtlasEntry>> {
    let what = what.to_string();
    if json {
        return serde_json::from_str(text).map_err(|e| {
            Error::atlas(
                &what,
                format!(
                    "line {} column {}: {e} (expected [{{\"value\", \"region\", \"hemisphere\"}}])",
                    e.line(),
                    e.column()
                ),
            )
        });
    }
    let rows = brats_io::table::read_csv(text)
        .map_err(|e| Error::atlas(format!("{what} line {}", e.line), e.problem))?;
    let mut rows = rows.into_iter();
    let header: Vec<String> = rows
        .next()
        .map(|r| {
            r.fields
                .iter()
                .map(|c| c.trim().to_ascii_lowercase())
                .collect()
        })
        .ok_or_else(|| Error::atlas(&what, "empty label table"))?;
    let col = |name: &str| {
        header.iter().position(|c| c == name).ok_or_else(|| {
            Error::atlas(
                &what,
                format!("header lacks a {name:?} column (need value,region,hemisphere)"),
            )
        })
    };
    let (cv, cr, ch) = (col("value")?, col("region")?, col("hemisphere")?);
    let mut out = Vec::new();
    for row in rows {
        let at = format!("{what} line {}", row.line);
        let get = |c: usize| {
            row.fields.get(c).map(|f| f.trim()).ok_or_else(|| {
                Error::atlas(
                    &at,
                    format!("{} columns, expected {}", row.fields.len(), header.len()),
                )
            })
        };
        let v = get(cv)?;
        let value: u32 = v
            .parse()
            .map_err(|_| Error::atlas(&at, format!("value {v:?} is not a whole number")))?;
        out.push(AtlasEntry {
            value,
            region: get(cr)?.to_string(),
            hemisphere: parse_hemisphere(get(ch)?, &at)?,
        });
    }
    Ok(out)
}

/// World (RAS mm) extent of the brain along x, y, z: the 0.5th and 99.5th percentiles of
/// its voxels' positions. `None` for an empty mask.
pub fn brain_extent(grid: &Geometry, brain: &Array3<bool>) -> Option<[(f64, f64); 3]> {
    let mut xs: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    // Every voxel is too many for a percentile; a regular sub-sample is plenty.
    let n = brain.iter().filter(|&&b| b).count();
    if n == 0 {
        return None;
    }
    let step = (n / 200_000).max(1);
    for ((k, j, i), _) in brain.indexed_iter().filter(|(_, &b)| b).step_by(step) {
        let w = grid.voxel_to_world([i as f64, j as f64, k as f64]);
        for a in 0..3 {
            xs[a].push(w[a]);
        }
    }
    Some([0, 1, 2].map(|a| {
        let v = &mut xs[a];
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        (at(0.005), at(0.995))
    }))
}

/// The built-in atlas's regions, in table order.
const BUILTIN: [(&str, bool); 11] = [
    ("frontal_lobe", true),
    ("parietal_lobe", true),
    ("temporal_lobe", true),
    ("occipital_lobe", true),
    ("insula", true),
    ("basal_ganglia", true),
    ("thalamus", true),
    ("ventricles", false),
    ("cerebellar_hemisphere", true),
    ("cerebellar_vermis", false),
    ("brainstem", false),
];

/// The built-in region of a point in normalised brain coordinates (x right, y anterior,
/// z superior, each in about `[−1, 1]`); the name and whether it is paired.
pub fn builtin_region(q: [f64; 3]) -> (&'static str, bool) {
    let [x, y, z] = q;
    let ax = x.abs();
    let pick = |i: usize| BUILTIN[i];
    // Posterior fossa: below the tentorium.
    if z < -0.2 && y < -0.3 {
        return if ax < 0.12 { pick(9) } else { pick(8) };
    }
    if z < -0.25 && ax < 0.22 && y < 0.05 {
        return pick(10);
    }
    // Deep structures.
    if (0.02..0.18).contains(&ax) && (-0.3..0.3).contains(&y) && (0.05..0.3).contains(&z) {
        return pick(7);
    }
    if ax < 0.3 && (-0.25..0.1).contains(&y) && (-0.2..0.2).contains(&z) {
        return pick(6);
    }
    if (0.1..0.45).contains(&ax) && (0.1..0.5).contains(&y) && (-0.25..0.25).contains(&z) {
        return pick(5);
    }
    if (0.45..0.62).contains(&ax) && (-0.1..0.48).contains(&y) && (-0.25..0.2).contains(&z) {
        return pick(4);
    }
    // Lobes.
    if y < -0.6 {
        return pick(3);
    }
    if y < 0.45 && ((z < 0.05 && ax > 0.4) || (z < -0.2 && ax > 0.2)) {
        return pick(2);
    }
    if y > 0.05 {
        return pick(0);
    }
    pick(1)
}

/// Builds the built-in atlas on the case grid from its brain mask.
///
/// # Errors
/// [`Error::Input`] when the mask is empty or misshapen.
pub fn builtin_on_grid(grid: &Geometry, brain: &Array3<bool>) -> Result<GridAtlas> {
    if brain.shape() != grid.shape() {
        return Err(Error::input(
            "brain mask",
            format!(
                "shape {:?}, expected the case's {:?}",
                brain.shape(),
                grid.shape()
            ),
        ));
    }
    let ext = brain_extent(grid, brain)
        .ok_or_else(|| Error::input("brain mask", "is empty: no brain to parcellate"))?;
    let centre = ext.map(|(a, b)| (a + b) / 2.0);
    let half = ext.map(|(a, b)| ((b - a) / 2.0).max(1.0));
    // Table: paired regions get a left and a right entry, unpaired a midline one.
    let mut table = Vec::new();
    let mut ids: BTreeMap<(&str, Hemisphere), u16> = BTreeMap::new();
    for (name, paired) in BUILTIN {
        let sides: &[Hemisphere] = if paired {
            &[Hemisphere::Left, Hemisphere::Right]
        } else {
            &[Hemisphere::Midline]
        };
        for &h in sides {
            table.push(AtlasEntry {
                value: table.len() as u32 + 1,
                region: name.to_string(),
                hemisphere: h,
            });
            ids.insert((name, h), table.len() as u16);
        }
    }
    let mut index = Array3::<u16>::zeros(grid.shape());
    index
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(brain.axis_iter(Axis(0)).into_par_iter())
        .enumerate()
        .for_each(|(k, (mut plane, bplane))| {
            for ((j, i), out) in plane.indexed_iter_mut() {
                if !bplane[[j, i]] {
                    continue;
                }
                let w = grid.voxel_to_world([i as f64, j as f64, k as f64]);
                let q = [0, 1, 2].map(|a| (w[a] - centre[a]) / half[a]);
                let (name, paired) = builtin_region(q);
                let h = if !paired {
                    Hemisphere::Midline
                } else if q[0] < 0.0 {
                    Hemisphere::Left
                } else {
                    Hemisphere::Right
                };
                *out = ids.get(&(name, h)).copied().unwrap_or(0);
            }
        });
    Ok(GridAtlas {
        name: "builtin-lobes".into(),
        index,
        table,
        midline_x_mm: centre[0],
    })
}
