//! Synthetic BraTS-like cases: a skull-stripped brain with a glioma, four modalities, labels
//! and a JSON of ground-truth facts — for tests, examples, benches and the quick-start.
//!
//! # What is modelled
//! Anatomy is defined in world millimetres relative to the brain centre (so left/right is
//! right whatever the stored orientation; the default affine is BraTS/SRI24's LPS one):
//! - cerebrum: an ellipsoid with an irregular surface, a folded cortical ribbon (grey
//!   matter 2.5–5 mm thick whose depth follows a folding field), sulci (thin CSF sheets lined
//!   with grey matter), a thin surface CSF layer and an interhemispheric fissure;
//! - lateral ventricles (curved), the third ventricle, thalami and basal ganglia (deep grey);
//! - cerebellum with folia and a white-matter core, and the brainstem.
//!
//! The tumour (glioma) sits anywhere in either hemisphere (or, one time in ten, in a
//! cerebellar hemisphere): an irregular core (radial shape from random harmonics) with a
//! necrotic centre and an enhancing rim that is sometimes patchy (the rest labelled
//! necrotic/non-enhancing core), surrounded by finger-like edema that spreads through white
//! matter and spares CSF. Sizes vary per seed.
//!
//! Intensities follow the sequences' relative contrasts: FLAIR (CSF dark, edema bright),
//! T1 (white matter bright, tumour dark), T1ce (enhancing rim bright), T2 (CSF, edema and
//! necrosis bright). Texture, partial-volume blur, a smooth multiplicative bias field per
//! modality and Rician noise are added; outside the brain every voxel is exactly 0, as in
//! skull-stripped BraTS data. Spacing is 1 mm; anatomy scales with the requested shape.
//!
//! ```
//! use brats_io::phantom::PhantomConfig;
//! # fn main() -> brats_io::Result<()> {
//! let case = PhantomConfig { shape: [64, 64, 48], ..Default::default() }.check()?.generate(3)?;
//! assert!(case.truth.volumes_cm3["WT"] > 0.0);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::atomic::atomic_write;
use crate::case::{Modality, Naming};
use crate::error::{Error, Result};
use crate::labels::{Compartment, LabelScheme};
use crate::nifti::NiftiWriter;
use crate::volume::{Geometry, Volume};

/// How the phantom's voxel axes point in the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PhantomOrientation {
    /// BraTS (SRI24) storage: i → Left, j → Posterior, k → Superior (affine diag(−1, −1, 1)).
    #[default]
    Lps,
    /// i → Right, j → Anterior, k → Superior.
    Ras,
}

/// Unchecked phantom parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhantomConfig {
    /// Grid size `(ni, nj, nk)`, NIfTI order (default 240×240×155, BraTS's).
    pub shape: [usize; 3],
    /// Label values written in the seg.
    pub scheme: LabelScheme,
    /// Stored orientation.
    pub orientation: PhantomOrientation,
    /// Rician noise σ as a fraction of white matter's T1 intensity (default 0.03).
    pub noise: f32,
    /// Strength of the multiplicative bias field (default 0.15: about ±15 % across the brain).
    pub bias: f32,
    /// Range of the tumour core's mean radius in mm at full size (default 8–22 mm); scaled
    /// with the grid.
    pub core_radius_mm: (f64, f64),
    /// Generate a tumour (false: a healthy brain with an all-zero seg).
    pub tumour: bool,
}

impl Default for PhantomConfig {
    fn default() -> Self {
        PhantomConfig {
            shape: [240, 240, 155],
            scheme: LabelScheme::brats2021(),
            orientation: PhantomOrientation::Lps,
            noise: 0.03,
            bias: 0.15,
            core_radius_mm: (8.0, 22.0),
            tumour: true,
        }
    }
}

/// Checked parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPhantom(PhantomConfig);

impl PhantomConfig {
    /// Validates every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field: a grid axis under 16 or over 1024, a negative or
    /// non-finite noise or bias, a radius range that is empty or not positive.
    pub fn check(self) -> Result<CheckedPhantom> {
        if self.shape.iter().any(|&n| !(16..=1024).contains(&n)) {
            return Err(Error::config(
                "shape",
                format!("every axis must be in 16..=1024, got {:?}", self.shape),
            ));
        }
        for (name, v) in [("noise", self.noise), ("bias", self.bias)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(Error::config(name, format!("must be in [0, 1], got {v}")));
            }
        }
        let (lo, hi) = self.core_radius_mm;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi && hi <= 40.0) {
            return Err(Error::config(
                "core_radius_mm",
                format!("need 0 < low ≤ high ≤ 40, got ({lo}, {hi})"),
            ));
        }
        Ok(CheckedPhantom(self))
    }
}

/// Facts about a generated case, written beside it as `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Case id.
    pub id: String,
    /// The seed that made it.
    pub seed: u64,
    /// Grid `(ni, nj, nk)`.
    pub shape: [usize; 3],
    /// Orientation code of the stored grid (e.g. `"LPS"`).
    pub orientation: String,
    /// Label scheme name.
    pub scheme: String,
    /// Whether there is a tumour.
    pub has_tumour: bool,
    /// Mean voxel index `(i, j, k)` of the whole tumour (`null` without one).
    pub centroid_voxel: Option<[f64; 3]>,
    /// The same point in world RAS millimetres.
    pub centroid_mm: Option<[f64; 3]>,
    /// `"left"` or `"right"` from the world x of the centroid relative to the brain's
    /// midline (x of the brain centre); `null` without a tumour.
    pub hemisphere: Option<String>,
    /// The generator's own site for the tumour centre: `frontal_lobe`, `parietal_lobe`,
    /// `temporal_lobe`, `occipital_lobe` or `cerebellum` (the site is read from the tumour centroid).
    pub site: Option<String>,
    /// The brain centre in world mm (the midline is its x).
    pub brain_centre_mm: [f64; 3],
    /// cm³ per label name (e.g. `NCR`, `ED`, `ET`) and per region (`WT`, `TC`, `ET`).
    pub volumes_cm3: BTreeMap<String, f64>,
    /// The tumour's subtype ([`crate::synth`] cases: `high_grade`, `high_grade_callosal`,
    /// `high_grade_multifocal`, `low_grade`, `metastasis`; absent for phantoms and healthy
    /// cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Number of lesions ([`crate::synth`] cases with a tumour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesions: Option<usize>,
    /// How the tissue intensities were drawn ([`crate::synth`] cases): `realistic` (around
    /// MRI's ordering of tissues per modality) or `random` (one case in ten: any contrast,
    /// where tumour may look like normal tissue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrast: Option<String>,
}

/// A generated case.
#[derive(Debug, Clone)]
pub struct PhantomCase {
    /// FLAIR, T1, T1ce, T2, integer-valued `f32`, shape `[k, j, i]`.
    pub images: [Volume<f32>; 4],
    /// Labels in the configured scheme.
    pub seg: Volume<u8>,
    /// The facts.
    pub truth: GroundTruth,
}

mod anatomy;
mod tumour;

use anatomy::*;
use tumour::*;

impl CheckedPhantom {
    /// The parameters.
    pub fn config(&self) -> &PhantomConfig {
        &self.0
    }

    /// The grid of every phantom of this configuration: 1 mm, BraTS-like affine.
    ///
    /// # Errors
    /// Only if the configuration's shape were invalid (checked already).
    pub fn geometry(&self) -> Result<Geometry> {
        let [ni, nj, _] = self.0.shape;
        let affine = match self.0.orientation {
            PhantomOrientation::Lps => [
                [-1.0, 0.0, 0.0, 0.0],
                [0.0, -1.0, 0.0, (nj - 1) as f64],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            PhantomOrientation::Ras => [
                [1.0, 0.0, 0.0, -((ni - 1) as f64)],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        };
        Geometry::new(self.0.shape, affine)
    }

    /// Generates the case for `seed` (same seed, same voxels, on any machine and thread
    /// count).
    ///
    /// # Errors
    /// Only configuration errors (none once checked); kept fallible for future options.
    pub fn generate(&self, seed: u64) -> Result<PhantomCase> {
        let cfg = &self.0;
        let geometry = self.geometry()?;
        let [ni, nj, nk] = cfg.shape;
        let s = (ni as f64 / 240.0)
            .min(nj as f64 / 240.0)
            .min(nk as f64 / 155.0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Brain centre in world mm: the grid centre, nudged.
        let mid = geometry.voxel_to_world([
            (ni as f64 - 1.0) / 2.0,
            (nj as f64 - 1.0) / 2.0,
            (nk as f64 - 1.0) / 2.0,
        ]);
        let jitter = [0, 1, 2].map(|_| rng.random_range(-3.0..3.0) * s);
        let centre = [
            mid[0] + jitter[0],
            mid[1] + jitter[1],
            mid[2] + jitter[2] - 2.0 * s,
        ];
        let anatomy = Anatomy {
            s,
            head: [0, 1, 2].map(|_| rng.random_range(0.92..1.06)),
            surface: Waves::new(&mut rng, 6, (1.0, 3.0)),
            folds: Waves::new(&mut rng, 7, (18.0, 32.0)),
            texture: Waves::new(&mut rng, 5, (8.0, 25.0)),
            cerebellum_folds: rng.random_range(1.1..1.4),
        };
        let tumour = cfg
            .tumour
            .then(|| make_tumour(&mut rng, &anatomy, cfg.core_radius_mm));
        // Scanner differences between cases: a global gain per modality and a noise level.
        let gain: [f32; 4] = [0; 4].map(|_| rng.random_range(0.75..1.3));
        let noise_level: f32 = rng.random_range(0.6..1.4);
        let bias: Vec<[f64; 7]> = (0..4)
            .map(|_| [0; 7].map(|_| rng.random_range(-1.0..1.0)))
            .collect();

        // Label and intensity maps, slice-parallel over k (deterministic: no RNG inside).
        let (value_core, value_edema, value_et) = (
            cfg.scheme.value_of(Compartment::Core),
            cfg.scheme.value_of(Compartment::Edema),
            cfg.scheme.value_of(Compartment::Enhancing),
        );
        let shape = [nk, nj, ni];
        let mut seg = Array3::<u8>::zeros(shape);
        let mut chans: [Array3<f32>; 4] = std::array::from_fn(|_| Array3::zeros(shape));
        {
            let [c0, c1, c2, c3] = &mut chans;
            seg.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(c0.axis_iter_mut(Axis(0)))
                .zip(c1.axis_iter_mut(Axis(0)))
                .zip(c2.axis_iter_mut(Axis(0)))
                .zip(c3.axis_iter_mut(Axis(0)))
                .enumerate()
                .for_each(|(k, ((((mut sg, mut f), mut t1), mut t1c), mut t2))| {
                    for j in 0..nj {
                        for i in 0..ni {
                            let w = geometry.voxel_to_world([i as f64, j as f64, k as f64]);
                            let p = [w[0] - centre[0], w[1] - centre[1], w[2] - centre[2]];
                            let (tissue, _) = anatomy.tissue(p);
                            if tissue == Tissue::Background {
                                continue;
                            }
                            let mut val = TISSUE[tissue as usize];
                            let tex = 1.0 + 0.04 * anatomy.texture.at(p.map(|x| x / s)) as f32;
                            val = val.map(|v| v * tex);
                            let mut label = 0u8;
                            if let Some(t) = &tumour {
                                let (l, v) = tumour_voxel(t, p, tissue, val);
                                label = match l {
                                    1 => value_core,
                                    2 => value_edema,
                                    3 => value_et,
                                    _ => 0,
                                };
                                val = v;
                            }
                            sg[[j, i]] = label;
                            f[[j, i]] = val[0];
                            t1[[j, i]] = val[1];
                            t1c[[j, i]] = val[2];
                            t2[[j, i]] = val[3];
                        }
                    }
                });
        }
        let brain: Array3<bool> = chans[1].mapv(|v| v > 0.0);

        // Partial volume, bias field and Rician noise, per modality.
        let sigma0 = cfg.noise * noise_level * TISSUE[Tissue::White as usize][1];
        let half = [ni, nj, nk].map(|n| n as f64 / 2.0);
        for (m, ch) in chans.iter_mut().enumerate() {
            blur_121(ch);
            let (g, sigma) = (gain[m], sigma0 * gain[m]);
            let b = bias[m];
            let strength = f64::from(cfg.bias);
            ch.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(brain.axis_iter(Axis(0)).into_par_iter())
                .enumerate()
                .for_each(|(k, (mut plane, bplane))| {
                    let mut prng = ChaCha8Rng::seed_from_u64(
                        seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul((m * 4096 + k + 1) as u64)),
                    );
                    for ((j, i), v) in plane.indexed_iter_mut() {
                        if !bplane[[j, i]] {
                            *v = 0.0;
                            continue;
                        }
                        let (x, y, z) = (
                            (i as f64 - half[0]) / half[0],
                            (j as f64 - half[1]) / half[1],
                            (k as f64 - half[2]) / half[2],
                        );
                        let field = (strength
                            * (b[0] * x
                                + b[1] * y
                                + b[2] * z
                                + 0.5 * (b[3] * x * y + b[4] * y * z + b[5] * x * z)
                                + 0.5 * b[6] * (x * x - y * y)))
                            .exp() as f32;
                        let clean = *v * field * g;
                        let n1: f32 = prng.sample(StandardNormal);
                        let n2: f32 = prng.sample(StandardNormal);
                        let noisy = ((clean + sigma * n1).powi(2) + (sigma * n2).powi(2)).sqrt();
                        // Integer-valued like scanner data; never 0 inside the brain.
                        *v = noisy.round().max(1.0);
                    }
                });
        }

        let [c0, c1, c2, c3] = chans;
        let images = [
            Volume::new(c0, geometry.clone())?,
            Volume::new(c1, geometry.clone())?,
            Volume::new(c2, geometry.clone())?,
            Volume::new(c3, geometry.clone())?,
        ];
        let id = format!("Phantom_{seed:05}");
        let site = tumour
            .as_ref()
            .map(|t| site_of(anatomy.normalise(t.core.centre)).to_string());
        let truth = facts(&id, seed, &cfg.scheme, &geometry, &seg, centre, site);
        let seg = Volume::new(seg, geometry)?;
        Ok(PhantomCase { images, seg, truth })
    }
}

/// Separable [1 2 1]/4 smoothing along each axis (partial-volume effect).
fn blur_121(a: &mut Array3<f32>) {
    for axis in 0..3 {
        let src = a.clone();
        let n = a.shape()[axis];
        if n < 3 {
            continue;
        }
        // Iterate lanes along `axis` in parallel.
        let lanes_src: Vec<_> = src.lanes(Axis(axis)).into_iter().collect();
        a.lanes_mut(Axis(axis))
            .into_iter()
            .zip(lanes_src)
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each(|(mut dst, s)| {
                for x in 0..n {
                    let l = s[x.saturating_sub(1)];
                    let r = s[(x + 1).min(n - 1)];
                    dst[x] = 0.25 * l + 0.5 * s[x] + 0.25 * r;
                }
            });
    }
}

/// The facts of a generated case: volumes per label and region, the tumour's centroid and
/// its hemisphere relative to the brain centre's x.
pub(crate) fn facts(
    id: &str,
    seed: u64,
    scheme: &LabelScheme,
    g: &Geometry,
    seg: &Array3<u8>,
    centre: [f64; 3],
    site: Option<String>,
) -> GroundTruth {
    let voxel_cm3 = g.voxel_volume_mm3() / 1000.0;
    let counts = LabelScheme::counts(seg);
    let mut volumes = BTreeMap::new();
    for l in scheme.labels() {
        let n = counts.get(&l.value).copied().unwrap_or(0);
        volumes.insert(l.name.clone(), n as f64 * voxel_cm3);
    }
    for region in crate::labels::TumourRegion::ALL {
        let n: usize = scheme
            .labels()
            .iter()
            .filter(|l| l.compartment.in_region(region))
            .map(|l| counts.get(&l.value).copied().unwrap_or(0))
            .sum();
        volumes.insert(region.name().to_string(), n as f64 * voxel_cm3);
    }
    let (mut n, mut sum) = (0usize, [0.0f64; 3]);
    for ((k, j, i), &v) in seg.indexed_iter() {
        if v != 0 {
            n += 1;
            sum[0] += i as f64;
            sum[1] += j as f64;
            sum[2] += k as f64;
        }
    }
    let centroid_voxel = (n > 0).then(|| sum.map(|x| x / n as f64));
    let centroid_mm = centroid_voxel.map(|c| g.voxel_to_world(c));
    let hemisphere = centroid_mm.map(|c| {
        if c[0] >= centre[0] {
            "right".to_string()
        } else {
            "left".to_string()
        }
    });
    GroundTruth {
        id: id.to_string(),
        seed,
        shape: g.dim(),
        orientation: g.orientation(),
        scheme: scheme.name().to_string(),
        has_tumour: n > 0,
        centroid_voxel,
        centroid_mm,
        hemisphere,
        site: site.filter(|_| n > 0),
        brain_centre_mm: centre,
        volumes_cm3: volumes,
        subtype: None,
        lesions: None,
        contrast: None,
    }
}

impl PhantomCase {
    /// Writes the case in BraTS layout: `dir/<id>/<id>_flair.nii.gz` … `<id>_seg.nii.gz`
    /// (or the 2023 suffixes) with images as int16, the seg as uint8, and `truth.json`.
    /// Returns the case folder. With [`Naming::Decathlon`], the Decathlon's layout instead
    /// ([`crate::decathlon::write_case`]; returns the 4D image); with [`Naming::NnUnet`],
    /// nnU-Net's ([`crate::nnunet::write_case`]; returns the case's prefix `imagesTr/<id>`).
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Json`] naming the file that could not be written.
    pub fn write(&self, dir: impl AsRef<Path>, naming: Naming) -> Result<PathBuf> {
        type WriteTask = fn(
            &Path,
            &str,
            &[Volume<f32>; 4],
            &Volume<u8>,
            &LabelScheme,
            &GroundTruth,
        ) -> Result<PathBuf>;
        let write_task: Option<WriteTask> = match naming {
            Naming::Decathlon => Some(crate::decathlon::write_case::<GroundTruth>),
            Naming::NnUnet => Some(crate::nnunet::write_case::<GroundTruth>),
            Naming::Brats2021 | Naming::Brats2023 => None,
        };
        if let Some(write_task) = write_task {
            return write_task(
                dir.as_ref(),
                &self.truth.id,
                &self.images,
                &self.seg,
                &LabelScheme::by_name(&self.truth.scheme)?,
                &self.truth,
            );
        }
        let case_dir = dir.as_ref().join(&self.truth.id);
        std::fs::create_dir_all(&case_dir).map_err(|e| Error::io(&case_dir, e))?;
        let writer = NiftiWriter::new();
        let files: Vec<(PathBuf, &Volume<f32>)> = Modality::ALL
            .iter()
            .zip(&self.images)
            .map(|(m, img)| {
                (
                    case_dir.join(format!("{}{}.nii.gz", self.truth.id, m.suffix(naming))),
                    img,
                )
            })
            .collect();
        files
            .par_iter()
            .map(|(path, img)| writer.write(path, &crate::files::to_i16(img)))
            .collect::<Result<Vec<()>>>()?;
        let seg_path = case_dir.join(format!("{}{}.nii.gz", self.truth.id, naming.seg_suffix()));
        writer.write(&seg_path, &self.seg)?;
        let json_path = case_dir.join("truth.json");
        let json = serde_json::to_vec_pretty(&self.truth).map_err(|e| Error::Json {
            path: json_path.clone(),
            source: e,
        })?;
        atomic_write(&json_path, |w| std::io::Write::write_all(w, &json))?;
        Ok(case_dir)
    }
}
