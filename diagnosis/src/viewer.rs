//! The report's slice viewer: the case's four modalities, the mask and the atlas resampled
//! onto one world-aligned grid (RAS, isotropic, cropped to the brain), embedded compactly
//! in `report.html` and drawn by a small canvas viewer (`assets/viewer/`): axial, coronal
//! and sagittal slices, any modality, the mask on top (per label, with opacity), a
//! cross-hair that reads out RAS millimetres, the atlas region and the label, and a
//! radiological/neurological switch; when a model segmented the case, its probability maps
//! too (shown instead of the labels on request, read out at the cross-hair).
//!
//! Why a home-made viewer rather than a packaged one (NiiVue, Papaya): three orthogonal
//! slices of one grid are about 270 lines of plain JavaScript on a 2D canvas, work in any
//! browser without WebGL (headless and remote desktops included), and add ~15 KB to the
//! page; NiiVue alone is over 1 MB of minified code that needs WebGL2.
//!
//! Sampling is in world coordinates, so the viewer is right whatever the storage
//! orientation: viewer voxel `(x, y, z)` lies at `origin_mm + spacing_mm · (x, y, z)`, x
//! towards the patient's right, y anterior, z superior. Each volume is quantised to 8 bits
//! (images: the 1st–99th percentile window of the brain), gzip-compressed and base64
//! encoded; the browser inflates it with `DecompressionStream`.

use std::io::Write;

use brats_io::preprocess::brain_mask;
use brats_io::{Case, Compartment, LabelScheme, Modality, Volume};
use serde::Serialize;

use crate::atlas::GridAtlas;
use crate::encode::base64;
use crate::error::{Error, Result};
use crate::overlay::{colour_of, window};

/// Voxels per embedded volume above which the grid is coarsened (keeps a typical report
/// under ~15 MB: a 1 mm BraTS brain crop is about 3–4 million voxels).
pub const MAX_VOXELS: usize = 6_000_000;

/// Margin around the brain, mm.
const MARGIN_MM: f64 = 4.0;

/// One embedded 8-bit image.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerImage {
    /// `FLAIR`, `T1`, `T1ce`, `T2`.
    pub name: String,
    /// Intensity (original units) shown as black and as white.
    pub window: [f32; 2],
    /// gzip + base64 of `nx·ny·nz` bytes, x fastest.
    pub data: String,
}

/// One label of the mask.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerLabel {
    /// Voxel value.
    pub value: u8,
    /// Short name (`NCR`, `ED`, `ET`, …).
    pub name: String,
    /// What it is.
    pub description: String,
    /// `#rrggbb`, as in the overlay pictures.
    pub colour: String,
}

/// One embedded probability map (0–1 stored as 0–255).
#[derive(Debug, Clone, Serialize)]
pub struct ViewerProbability {
    /// What it is the probability of (`P(whole tumour)`, …).
    pub name: String,
    /// gzip + base64 of `nx·ny·nz` bytes, x fastest, `round(255 · p)`.
    pub data: String,
}

/// A place the viewer can jump to (a lesion's centroid, the tumour's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewerPlace {
    /// What is there (`lesion 2: left occipital lobe, 13.8 cm³`).
    pub name: String,
    /// The viewer voxel `[x, y, z]`.
    pub voxel: [usize; 3],
}

/// Everything the viewer shows, ready to embed.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerData {
    /// Format version of this JSON.
    pub version: u32,
    /// Case id.
    pub case_id: String,
    /// Grid size `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// Isotropic voxel size, mm.
    pub spacing_mm: f64,
    /// World RAS mm of voxel `(0, 0, 0)`.
    pub origin_mm: [f64; 3],
    /// The voxel the cross-hair starts on (the tumour centroid, else the brain's centre).
    pub focus: [usize; 3],
    /// The four modalities.
    pub images: Vec<ViewerImage>,
    /// gzip + base64 of the mask's label values (bytes, x fastest).
    pub labels: String,
    /// The label scheme's labels.
    pub label_table: Vec<ViewerLabel>,
    /// gzip + base64 of the atlas index (u16 little-endian, x fastest; 0 = no region).
    pub atlas: String,
    /// `region (side)` per atlas index; entry 0 is empty.
    pub atlas_regions: Vec<String>,
    /// The atlas's name (says how it was fitted).
    pub atlas_name: String,
    /// The model's probability maps, when a model segmented the case (the viewer can show
    /// one instead of the labels, and reads all out at the cross-hair).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probabilities: Vec<ViewerProbability>,
    /// Places to jump to, as buttons ([`ViewerData::with_places`]; with several lesions, the
    /// [`Diagnoser`](crate::Diagnoser) gives the tumour's centroid and each lesion's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<ViewerPlace>,
}

fn gzip_base64(bytes: &[u8]) -> Result<String> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .map(|z| base64(&z))
        .map_err(|e| Error::input("viewer", format!("compressing a volume: {e}")))
}

fn description(c: Compartment) -> &'static str {
    match c {
        Compartment::Core => "tumour core (necrotic / non-enhancing)",
        Compartment::Edema => "edema / FLAIR hyperintensity",
        Compartment::Enhancing => "enhancing tumour",
    }
}

impl ViewerData {
    /// Resamples `case`, `mask` (on the case's grid, values of `scheme`) and `atlas` (on
    /// the case's grid) onto the viewer grid; `focus_mm` is where the cross-hair starts.
    ///
    /// # Errors
    /// [`Error::Input`] when the mask or atlas grid differs from the case's or a modality
    /// is missing.
    pub fn build(
        case: &Case,
        mask: &Volume<u8>,
        scheme: &LabelScheme,
        atlas: &GridAtlas,
        focus_mm: Option<[f64; 3]>,
    ) -> Result<ViewerData> {
        Self::build_with_probabilities(case, mask, scheme, atlas, focus_mm, &[])
    }

    /// As [`ViewerData::build`], with probability maps (name, map on the case's grid, values
    /// in `[0, 1]`; e.g. the model's region probabilities,
    /// [`unet3d::predict::Prediction::region_probabilities`]) resampled alike.
    ///
    /// # Errors
    /// As [`ViewerData::build`], and [`Error::Input`] naming a map on another grid.
    pub fn build_with_probabilities(
        case: &Case,
        mask: &Volume<u8>,
        scheme: &LabelScheme,
        atlas: &GridAtlas,
        focus_mm: Option<[f64; 3]>,
        probabilities: &[(&str, &Volume<f32>)],
    ) -> Result<ViewerData> {
        let g = case.geometry();
        let shape = g.shape();
        if let Some((name, map)) = probabilities
            .iter()
            .find(|(_, m)| m.geometry().shape() != shape)
        {
            return Err(Error::input(
                "viewer",
                format!(
                    "the map {name} {:?} must lie on the case's grid {shape:?} (array order k, j, i)",
                    map.geometry().shape()
                ),
            ));
        }
        if mask.geometry().shape() != shape || atlas.index.shape() != shape {
            return Err(Error::input(
                "viewer",
                format!(
                    "mask {:?} and atlas {:?} must lie on the case's grid {:?} (array order k, j, i)",
                    mask.geometry().shape(),
                    atlas.index.shape(),
                    shape
                ),
            ));
        }
        // The brain (and the tumour) in voxels, then its world box.
        let brain = brain_mask(&case.images);
        let (mut lo, mut hi) = ([usize::MAX; 3], [0usize; 3]);
        for ((k, j, i), &b) in brain.indexed_iter() {
            if b || mask.data()[[k, j, i]] != 0 {
                for (a, v) in [i, j, k].into_iter().enumerate() {
                    lo[a] = lo[a].min(v);
                    hi[a] = hi[a].max(v);
                }
            }
        }
        if lo[0] == usize::MAX {
            let d = g.dim();
            (lo, hi) = ([0; 3], [d[0] - 1, d[1] - 1, d[2] - 1]);
        }
        let mut wlo = [f64::MAX; 3];
        let mut whi = [f64::MIN; 3];
        for ci in [lo[0], hi[0]] {
            for cj in [lo[1], hi[1]] {
                for ck in [lo[2], hi[2]] {
                    let w = g.voxel_to_world([ci as f64, cj as f64, ck as f64]);
                    for a in 0..3 {
                        wlo[a] = wlo[a].min(w[a] - MARGIN_MM);
                        whi[a] = whi[a].max(w[a] + MARGIN_MM);
                    }
                }
            }
        }
        let min_spacing = g.spacing().into_iter().fold(f64::MAX, f64::min);
        let mut s = min_spacing.max(1.0);
        let count = |s: f64| -> [usize; 3] {
            [0, 1, 2].map(|a| ((whi[a] - wlo[a]) / s).floor() as usize + 1)
        };
        let mut dims = count(s);
        let n = dims.iter().product::<usize>();
        if n > MAX_VOXELS {
            s *= (n as f64 / MAX_VOXELS as f64).cbrt() * 1.01;
            dims = count(s);
        }
        let [nx, ny, nz] = dims;
        let n = nx * ny * nz;

        // The case voxel nearest each viewer voxel, as a flat `[k, j, i]` offset (4 bytes a
        // voxel, not 32 for an optional triple); OUTSIDE when it falls off the case's grid.
        const OUTSIDE: u32 = u32::MAX;
        let d = g.dim();
        if d.iter().product::<usize>() >= OUTSIDE as usize {
            return Err(Error::input(
                "viewer",
                format!("a grid of {d:?} voxels is beyond the viewer's 2³² voxels"),
            ));
        }
        let mut source: Vec<u32> = Vec::with_capacity(n);
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let w = [
                        wlo[0] + s * x as f64,
                        wlo[1] + s * y as f64,
                        wlo[2] + s * z as f64,
                    ];
                    let p = g.world_to_voxel(w).map(f64::round);
                    let inside = p.iter().zip(d).all(|(&v, n)| v >= 0.0 && v < n as f64);
                    source.push(if inside {
                        ((p[2] as usize * d[1] + p[1] as usize) * d[0] + p[0] as usize) as u32
                    } else {
                        OUTSIDE
                    });
                }
            }
        }
        let kji = |f: u32| {
            let f = f as usize;
            [f / (d[0] * d[1]), (f / d[0]) % d[1], f % d[0]]
        };
        // `value` at every viewer voxel, `outside` off the grid.
        let sample = |outside: u8, value: &dyn Fn([usize; 3]) -> u8| -> Vec<u8> {
            source
                .iter()
                .map(|&f| if f == OUTSIDE { outside } else { value(kji(f)) })
                .collect()
        };
        let mut images = Vec::with_capacity(4);
        for m in Modality::ALL {
            let v = case.image(m);
            let (w0, w1) = window(v);
            let data = v.data();
            let bytes = sample(0, &|at| {
                let t = (data[at] - w0) / (w1 - w0);
                if t.is_finite() {
                    (t.clamp(0.0, 1.0) * 255.0).round() as u8
                } else {
                    0
                }
            });
            images.push(ViewerImage {
                name: match m {
                    Modality::Flair => "FLAIR",
                    Modality::T1 => "T1",
                    Modality::T1ce => "T1ce",
                    Modality::T2 => "T2",
                }
                .to_string(),
                window: [w0, w1],
                data: gzip_base64(&bytes)?,
            });
        }
        let labels = sample(0, &|at| mask.data()[at]);
        let probabilities = probabilities
            .iter()
            .map(|(name, map)| {
                let data = map.data();
                let bytes = sample(0, &|at| {
                    let p = data[at];
                    if p.is_finite() {
                        (p.clamp(0.0, 1.0) * 255.0).round() as u8
                    } else {
                        0
                    }
                });
                Ok(ViewerProbability {
                    name: (*name).to_string(),
                    data: gzip_base64(&bytes)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let atlas_bytes: Vec<u8> = source
            .iter()
            .flat_map(|&f| {
                let v = if f == OUTSIDE { 0 } else { atlas.index[kji(f)] };
                v.to_le_bytes()
            })
            .collect();
        let focus_world = focus_mm.unwrap_or([0, 1, 2].map(|a| (wlo[a] + whi[a]) / 2.0));
        let label_table = scheme
            .labels()
            .iter()
            .map(|l| {
                let c = colour_of(l.compartment);
                ViewerLabel {
                    value: l.value,
                    name: l.name.clone(),
                    description: description(l.compartment).to_string(),
                    colour: format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2),
                }
            })
            .collect();
        let mut atlas_regions = vec![String::new()];
        atlas_regions.extend(
            atlas
                .table
                .iter()
                .map(|e| format!("{} ({})", e.region, e.hemisphere.name())),
        );
        let mut viewer = ViewerData {
            version: 1,
            case_id: case.id.clone(),
            dims,
            spacing_mm: s,
            origin_mm: wlo,
            focus: [0; 3],
            images,
            labels: gzip_base64(&labels)?,
            label_table,
            atlas: gzip_base64(&atlas_bytes)?,
            atlas_regions,
            atlas_name: atlas.name.clone(),
            probabilities,
            places: Vec::new(),
        };
        viewer.focus = viewer.voxel_of(focus_world);
        Ok(viewer)
    }

    /// The viewer voxel nearest the world point `mm` (RAS), clamped to the viewer's grid.
    pub fn voxel_of(&self, mm: [f64; 3]) -> [usize; 3] {
        [0, 1, 2].map(|a| {
            let v = ((mm[a] - self.origin_mm[a]) / self.spacing_mm).round();
            (v.max(0.0) as usize).min(self.dims[a].saturating_sub(1))
        })
    }

    /// Adds places to jump to: `(name, world point RAS mm)`, in order.
    pub fn with_places(mut self, places: &[(String, [f64; 3])]) -> ViewerData {
        let added: Vec<ViewerPlace> = places
            .iter()
            .map(|(name, mm)| ViewerPlace {
                name: name.clone(),
                voxel: self.voxel_of(*mm),
            })
            .collect();
        self.places.extend(added);
        self
    }

    /// The viewer as an HTML section (data, canvases, script and style), to place in a
    /// page. Needs nothing from the network.
    pub fn to_html_section(&self) -> String {
        // `</` cannot occur in the JSON (base64 and plain names, with `/` escaped below),
        // so the script element cannot be closed early by the data.
        let json = serde_json::to_string(self)
            .unwrap_or_default()
            .replace("</", "<\\/");
        format!(
            "<section id=\"viewer\"><h2>Slice viewer</h2>\n<style>{css}</style>\n{markup}\n<script type=\"application/json\" id=\"viewer-data\">{json}</script>\n<script>{js}</script></section>\n",
            css = VIEWER_CSS,
            markup = VIEWER_HTML,
            js = VIEWER_JS,
        )
    }
}

const VIEWER_CSS: &str = include_str!("../assets/viewer/viewer.css");
const VIEWER_HTML: &str = include_str!("../assets/viewer/viewer.html");
const VIEWER_JS: &str = include_str!("../assets/viewer/viewer.js");
