//! Where a tumour mask lies: volumes, centroid, bounding box, overlap with each atlas
//! region, the primary region and the hemisphere.
//!
//! * **Primary region**: the atlas region (with its side) holding the largest share of the
//!   tumour core (TC: necrosis + enhancing); of the whole tumour when there is no core.
//! * **Hemisphere**: from world x (RAS, through the affine — never from array indices)
//!   relative to the brain's mid-sagittal plane ([`GridAtlas::midline_x_mm`]). The same
//!   basis (TC, else WT) is split into the voxels left and right of the plane;
//!   when the smaller side holds at least [`BILATERAL_SHARE`] (20 %) of it the tumour is
//!   `bilateral`, else it takes the larger side. A primary region that is a midline
//!   structure (brainstem, vermis, ventricles) still gets the side of the tumour's bulk.

use std::collections::BTreeMap;

use brats_io::{Geometry, LabelScheme, TumourRegion, Volume};
use ndarray::Array3;
use serde::{Deserialize, Serialize};
use symptom_kb::Hemisphere;

use crate::atlas::GridAtlas;
use crate::error::{Error, Result};

/// Share of the tumour on the smaller side from which it is called `bilateral`.
pub const BILATERAL_SHARE: f64 = 0.2;

/// Overlap of the tumour with one atlas region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionOverlap {
    /// Region id.
    pub region: String,
    /// Side of that atlas region.
    pub hemisphere: Hemisphere,
    /// Whole-tumour voxels in it.
    pub voxels: usize,
    /// Share of the whole tumour.
    pub fraction: f64,
    /// Tumour-core voxels in it.
    pub core_voxels: usize,
}

/// Voxel bounding box, inclusive, NIfTI order `(i, j, k)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// First voxel.
    pub min: [usize; 3],
    /// Last voxel.
    pub max: [usize; 3],
}

/// Everything measured about a tumour mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TumourFinding {
    /// False when the mask holds no tumour voxel (a valid outcome: "no tumour found").
    pub found: bool,
    /// How the site was obtained: `mask` or `location` (given without imaging).
    pub source: String,
    /// Region holding the largest share of the core (or of the whole tumour).
    pub primary_region: Option<String>,
    /// Side of the tumour (see the module docs).
    pub hemisphere: Option<Hemisphere>,
    /// Which part of the tumour decided primary region and side: `tumour_core` or
    /// `whole_tumour`.
    pub basis: Option<String>,
    /// Volumes of WT, TC, ET in cm³.
    pub volumes_cm3: BTreeMap<String, f64>,
    /// Volume of every label of the scheme (by name: NCR, ED, ET…) in cm³.
    pub label_volumes_cm3: BTreeMap<String, f64>,
    /// Whole-tumour centroid, voxel `(i, j, k)`.
    pub centroid_voxel: Option<[f64; 3]>,
    /// Whole-tumour centroid in world mm (RAS).
    pub centroid_mm: Option<[f64; 3]>,
    /// Whole-tumour bounding box.
    pub bbox_voxel: Option<BoundingBox>,
    /// Share of the basis left and right of the mid-sagittal plane.
    pub side_shares: Option<SideShares>,
    /// Overlap with every atlas region the tumour touches, largest first.
    pub regions: Vec<RegionOverlap>,
    /// Share of the whole tumour outside every atlas region.
    pub outside_atlas_fraction: f64,
    /// The atlas used.
    pub atlas: String,
}

/// Left/right split of the tumour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SideShares {
    /// Share left of the midline.
    pub left: f64,
    /// Share right of the midline.
    pub right: f64,
    /// World x of the midline used (mm).
    pub midline_x_mm: f64,
}

impl TumourFinding {
    /// A finding for a site given without imaging (e.g. from a radiology report).
    pub fn from_location(region: &str, hemisphere: Option<Hemisphere>) -> TumourFinding {
        TumourFinding {
            found: true,
            source: "location".into(),
            primary_region: Some(region.to_string()),
            hemisphere,
            basis: None,
            volumes_cm3: BTreeMap::new(),
            label_volumes_cm3: BTreeMap::new(),
            centroid_voxel: None,
            centroid_mm: None,
            bbox_voxel: None,
            side_shares: None,
            regions: vec![RegionOverlap {
                region: region.to_string(),
                hemisphere: hemisphere.unwrap_or(Hemisphere::Midline),
                voxels: 0,
                fraction: 1.0,
                core_voxels: 0,
            }],
            outside_atlas_fraction: 0.0,
            atlas: "none".into(),
        }
    }
}

/// Measures a label map (values of `scheme`) against an atlas on the same grid.
///
/// # Errors
/// [`Error::Input`] when the mask's shape differs from the atlas grid's;
/// [`Error::Io`] when the mask holds labels outside `scheme`.
pub fn localise(
    mask: &Volume<u8>,
    scheme: &LabelScheme,
    atlas: &GridAtlas,
) -> Result<TumourFinding> {
    let labels = mask.data();
    if labels.shape() != atlas.index.shape() {
        return Err(Error::input(
            "mask",
            format!(
                "shape {:?} differs from the case grid {:?}",
                labels.shape(),
                atlas.index.shape()
            ),
        ));
    }
    scheme.check(labels, "tumour mask")?;
    let geo: &Geometry = mask.geometry();
    let vox_cm3 = geo.voxel_volume_mm3() / 1000.0;
    let wt = scheme.region_mask(labels, TumourRegion::Wt);
    let tc = scheme.region_mask(labels, TumourRegion::Tc);
    let count = |m: &Array3<bool>| m.iter().filter(|&&b| b).count();
    let (n_wt, n_tc) = (count(&wt), count(&tc));
    let mut volumes = BTreeMap::new();
    volumes.insert("WT".to_string(), n_wt as f64 * vox_cm3);
    volumes.insert("TC".to_string(), n_tc as f64 * vox_cm3);
    volumes.insert(
        "ET".to_string(),
        count(&scheme.region_mask(labels, TumourRegion::Et)) as f64 * vox_cm3,
    );
    let counts = LabelScheme::counts(labels);
    let label_volumes = scheme
        .labels()
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                counts.get(&l.value).copied().unwrap_or(0) as f64 * vox_cm3,
            )
        })
        .collect();
    let mut finding = TumourFinding {
        found: n_wt > 0,
        source: "mask".into(),
        primary_region: None,
        hemisphere: None,
        basis: None,
        volumes_cm3: volumes,
        label_volumes_cm3: label_volumes,
        centroid_voxel: None,
        centroid_mm: None,
        bbox_voxel: None,
        side_shares: None,
        regions: Vec::new(),
        outside_atlas_fraction: 0.0,
        atlas: atlas.name.clone(),
    };
    if n_wt == 0 {
        return Ok(finding);
    }
    let use_core = n_tc > 0;
    let basis = if use_core { &tc } else { &wt };
    let n_basis = if use_core { n_tc } else { n_wt };
    let mut sum = [0.0f64; 3];
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut per_region = vec![(0usize, 0usize); atlas.table.len() + 1];
    let (mut left, mut right) = (0usize, 0usize);
    for ((k, j, i), &w) in wt.indexed_iter() {
        if !w {
            continue;
        }
        let ijk = [i, j, k];
        for a in 0..3 {
            sum[a] += ijk[a] as f64;
            lo[a] = lo[a].min(ijk[a]);
            hi[a] = hi[a].max(ijk[a]);
        }
        let idx = atlas.index[[k, j, i]] as usize;
        let in_basis = basis[[k, j, i]];
        per_region[idx].0 += 1;
        if tc[[k, j, i]] {
            per_region[idx].1 += 1;
        }
        if in_basis {
            let x = geo.voxel_to_world([i as f64, j as f64, k as f64])[0];
            if x < atlas.midline_x_mm {
                left += 1;
            } else {
                right += 1;
            }
        }
    }
    let centroid = sum.map(|s| s / n_wt as f64);
    finding.centroid_voxel = Some(centroid);
    finding.centroid_mm = Some(geo.voxel_to_world(centroid));
    finding.bbox_voxel = Some(BoundingBox { min: lo, max: hi });
    finding.outside_atlas_fraction = per_region[0].0 as f64 / n_wt as f64;
    let mut regions: Vec<RegionOverlap> = per_region
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, (n, _))| *n > 0)
        .map(|(idx, &(n, c))| {
            let e = &atlas.table[idx - 1];
            RegionOverlap {
                region: e.region.clone(),
                hemisphere: e.hemisphere,
                voxels: n,
                fraction: n as f64 / n_wt as f64,
                core_voxels: c,
            }
        })
        .collect();
    regions.sort_by(|a, b| b.voxels.cmp(&a.voxels).then(a.region.cmp(&b.region)));
    let key = |r: &RegionOverlap| if use_core { r.core_voxels } else { r.voxels };
    finding.primary_region = regions
        .iter()
        .filter(|r| key(r) > 0)
        .max_by(|a, b| key(a).cmp(&key(b)).then(b.region.cmp(&a.region)))
        .map(|r| r.region.clone());
    finding.regions = regions;
    finding.basis = Some(
        if use_core {
            "tumour_core"
        } else {
            "whole_tumour"
        }
        .into(),
    );
    let (l, r) = (left as f64 / n_basis as f64, right as f64 / n_basis as f64);
    finding.side_shares = Some(SideShares {
        left: l,
        right: r,
        midline_x_mm: atlas.midline_x_mm,
    });
    finding.hemisphere = Some(if l.min(r) >= BILATERAL_SHARE {
        Hemisphere::Bilateral
    } else if l > r {
        Hemisphere::Left
    } else {
        Hemisphere::Right
    });
    Ok(finding)
}
