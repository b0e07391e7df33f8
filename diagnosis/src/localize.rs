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
//! * **Lesions**: the whole tumour's 26-connected components (the BraTS lesion-wise
//!   evaluation's) of at least [`MIN_LESION_CM3`], largest first, each measured the same way
//!   on its own. Several metastases, or a glioma with a satellite, are one tumour to the
//!   volumes but several sites to the symptoms: a small lesion in the motor cortex explains
//!   a hemiparesis that the bulk, elsewhere, does not (the cross-check judges each lesion).

use std::collections::BTreeMap;

use brats_io::components::connected_components;
use brats_io::{Geometry, LabelScheme, TumourRegion, Volume};
use serde::{Deserialize, Serialize};
use symptom_kb::Hemisphere;

use crate::atlas::GridAtlas;
use crate::error::{Error, Result};

/// Share of the tumour on the smaller side from which it is called `bilateral`.
pub const BILATERAL_SHARE: f64 = 0.2;

/// A component of the whole tumour is a lesion of its own (listed, and judged by the
/// cross-check) from this volume, cm³: 100 voxels of 1 mm, twice the smallest metastasis
/// BraTS-METS annotates with any regularity. Smaller specks still count in the whole tumour's
/// volumes and regions.
pub const MIN_LESION_CM3: f64 = 0.1;

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
    /// The whole tumour's lesions (components of at least [`MIN_LESION_CM3`]), largest
    /// first; one for a single mass, none for a site given without imaging.
    #[serde(default)]
    pub lesions: Vec<Lesion>,
    /// Components of the whole tumour smaller than [`MIN_LESION_CM3`] (not in `lesions`).
    #[serde(default)]
    pub small_components: usize,
}

/// One lesion: a 26-connected component of the whole tumour, measured on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesion {
    /// 1, 2, … by decreasing volume.
    pub id: usize,
    /// Its whole-tumour voxels.
    pub voxels: usize,
    /// Volumes of WT, TC, ET in cm³.
    pub volumes_cm3: BTreeMap<String, f64>,
    /// The region holding the largest share of its core (of the lesion, without a core).
    pub primary_region: Option<String>,
    /// Its side, by the same rule as the whole tumour's.
    pub hemisphere: Hemisphere,
    /// `tumour_core` or `whole_tumour`.
    pub basis: String,
    /// Centroid, voxel `(i, j, k)`.
    pub centroid_voxel: [f64; 3],
    /// Centroid in world mm (RAS).
    pub centroid_mm: [f64; 3],
    /// Bounding box.
    pub bbox_voxel: BoundingBox,
    /// Overlap with every atlas region it touches (fractions of this lesion), largest first.
    pub regions: Vec<RegionOverlap>,
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

impl Lesion {
    /// Its whole-tumour volume, cm³.
    pub fn wt_cm3(&self) -> f64 {
        self.volumes_cm3.get("WT").copied().unwrap_or(0.0)
    }

    /// How reports name it: `occipital_lobe@right, 6.1 cm³`.
    pub fn name(&self) -> String {
        format!(
            "{}@{}, {:.1} cm³",
            self.primary_region
                .as_deref()
                .unwrap_or("outside the atlas"),
            self.hemisphere.name(),
            self.wt_cm3()
        )
    }
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
            lesions: Vec::new(),
            small_components: 0,
        }
    }
}

/// Measures a label map (values of `scheme`) against an atlas on the same grid: the whole
/// tumour, and each of its lesions (26-connected components of at least
/// [`MIN_LESION_CM3`]) on its own.
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
    let et = scheme.region_mask(labels, TumourRegion::Et);
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
    // The lesions: components of at least MIN_LESION_CM3, largest first (ties: the first
    // found); each component id's slot among them.
    let (component, sizes) = connected_components(&wt);
    let mut listed: Vec<usize> = (1..sizes.len())
        .filter(|&id| sizes[id] as f64 * vox_cm3 >= MIN_LESION_CM3)
        .collect();
    listed.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut slot = vec![None; sizes.len()];
    for (n, &id) in listed.iter().enumerate() {
        slot[id] = Some(n);
    }
    let regions_n = atlas.table.len() + 1;
    let mut whole = Tally::new(regions_n);
    let mut lesions: Vec<Tally> = listed.iter().map(|_| Tally::new(regions_n)).collect();
    for ((k, j, i), &w) in wt.indexed_iter() {
        if !w {
            continue;
        }
        let voxel = Voxel {
            ijk: [i, j, k],
            region: atlas.index[[k, j, i]] as usize,
            core: tc[[k, j, i]],
            enhancing: et[[k, j, i]],
            left: geo.voxel_to_world([i as f64, j as f64, k as f64])[0] < atlas.midline_x_mm,
        };
        whole.add(&voxel);
        if let Some(n) = slot[component[[k, j, i]] as usize] {
            lesions[n].add(&voxel);
        }
    }
    let whole = whole.place(atlas, geo, vox_cm3);
    let mut finding = TumourFinding {
        found: whole.is_some(),
        source: "mask".into(),
        primary_region: None,
        hemisphere: None,
        basis: None,
        volumes_cm3: whole
            .as_ref()
            .map_or_else(|| volumes(0.0, 0.0, 0.0), |p| p.volumes_cm3.clone()),
        label_volumes_cm3: label_volumes,
        centroid_voxel: None,
        centroid_mm: None,
        bbox_voxel: None,
        side_shares: None,
        regions: Vec::new(),
        outside_atlas_fraction: 0.0,
        atlas: atlas.name.clone(),
        lesions: lesions
            .iter()
            .zip(1..)
            .filter_map(|(t, id)| t.place(atlas, geo, vox_cm3).map(|p| p.lesion(id)))
            .collect(),
        small_components: sizes.len().saturating_sub(1) - listed.len(),
    };
    let Some(p) = whole else {
        return Ok(finding);
    };
    finding.primary_region = p.primary_region;
    finding.hemisphere = Some(p.hemisphere);
    finding.basis = Some(p.basis.into());
    finding.centroid_voxel = Some(p.centroid_voxel);
    finding.centroid_mm = Some(p.centroid_mm);
    finding.bbox_voxel = Some(p.bbox);
    finding.side_shares = Some(SideShares {
        left: p.left,
        right: p.right,
        midline_x_mm: atlas.midline_x_mm,
    });
    finding.regions = p.regions;
    finding.outside_atlas_fraction = p.outside_atlas_fraction;
    Ok(finding)
}

/// `{WT, TC, ET}` in cm³.
fn volumes(wt: f64, tc: f64, et: f64) -> BTreeMap<String, f64> {
    [("WT", wt), ("TC", tc), ("ET", et)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// One whole-tumour voxel, as a tally needs it.
struct Voxel {
    ijk: [usize; 3],
    /// 0 outside the atlas, else 1 + the index of its atlas entry.
    region: usize,
    core: bool,
    enhancing: bool,
    /// Left of the mid-sagittal plane (world x).
    left: bool,
}

/// What is counted over a set of whole-tumour voxels (the whole tumour, or one lesion).
struct Tally {
    n: usize,
    core: usize,
    enhancing: usize,
    sum: [f64; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    /// Per atlas index: (whole-tumour voxels, core voxels).
    per_region: Vec<(usize, usize)>,
    /// Voxels left of the midline: (whole tumour, core).
    left: (usize, usize),
}

/// Where a set of voxels lies (see the module docs for primary region and side).
struct Placed {
    wt: usize,
    volumes_cm3: BTreeMap<String, f64>,
    primary_region: Option<String>,
    hemisphere: Hemisphere,
    basis: &'static str,
    centroid_voxel: [f64; 3],
    centroid_mm: [f64; 3],
    bbox: BoundingBox,
    left: f64,
    right: f64,
    regions: Vec<RegionOverlap>,
    outside_atlas_fraction: f64,
}

impl Tally {
    fn new(regions: usize) -> Tally {
        Tally {
            n: 0,
            core: 0,
            enhancing: 0,
            sum: [0.0; 3],
            lo: [usize::MAX; 3],
            hi: [0; 3],
            per_region: vec![(0, 0); regions],
            left: (0, 0),
        }
    }

    fn add(&mut self, v: &Voxel) {
        self.n += 1;
        self.core += usize::from(v.core);
        self.enhancing += usize::from(v.enhancing);
        for a in 0..3 {
            self.sum[a] += v.ijk[a] as f64;
            self.lo[a] = self.lo[a].min(v.ijk[a]);
            self.hi[a] = self.hi[a].max(v.ijk[a]);
        }
        self.per_region[v.region].0 += 1;
        self.per_region[v.region].1 += usize::from(v.core);
        if v.left {
            self.left.0 += 1;
            self.left.1 += usize::from(v.core);
        }
    }

    /// `None` for an empty set.
    fn place(&self, atlas: &GridAtlas, geo: &Geometry, vox_cm3: f64) -> Option<Placed> {
        if self.n == 0 {
            return None;
        }
        let use_core = self.core > 0;
        let (n_basis, left) = if use_core {
            (self.core, self.left.1)
        } else {
            (self.n, self.left.0)
        };
        let mut regions: Vec<RegionOverlap> = self
            .per_region
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
                    fraction: n as f64 / self.n as f64,
                    core_voxels: c,
                }
            })
            .collect();
        regions.sort_by(|a, b| b.voxels.cmp(&a.voxels).then(a.region.cmp(&b.region)));
        let key = |r: &RegionOverlap| if use_core { r.core_voxels } else { r.voxels };
        let primary_region = regions
            .iter()
            .filter(|r| key(r) > 0)
            .max_by(|a, b| key(a).cmp(&key(b)).then(b.region.cmp(&a.region)))
            .map(|r| r.region.clone());
        let l = left as f64 / n_basis as f64;
        let r = (n_basis - left) as f64 / n_basis as f64;
        let centroid_voxel = self.sum.map(|s| s / self.n as f64);
        Some(Placed {
            wt: self.n,
            volumes_cm3: volumes(
                self.n as f64 * vox_cm3,
                self.core as f64 * vox_cm3,
                self.enhancing as f64 * vox_cm3,
            ),
            primary_region,
            hemisphere: if l.min(r) >= BILATERAL_SHARE {
                Hemisphere::Bilateral
            } else if l > r {
                Hemisphere::Left
            } else {
                Hemisphere::Right
            },
            basis: if use_core {
                "tumour_core"
            } else {
                "whole_tumour"
            },
            centroid_voxel,
            centroid_mm: geo.voxel_to_world(centroid_voxel),
            bbox: BoundingBox {
                min: self.lo,
                max: self.hi,
            },
            left: l,
            right: r,
            regions,
            outside_atlas_fraction: self.per_region[0].0 as f64 / self.n as f64,
        })
    }
}

impl Placed {
    fn lesion(self, id: usize) -> Lesion {
        Lesion {
            id,
            voxels: self.wt,
            volumes_cm3: self.volumes_cm3,
            primary_region: self.primary_region,
            hemisphere: self.hemisphere,
            basis: self.basis.into(),
            centroid_voxel: self.centroid_voxel,
            centroid_mm: self.centroid_mm,
            bbox_voxel: self.bbox,
            regions: self.regions,
        }
    }
}
