//! Synthetic BraTS cases made from real anatomy, for training networks that must work on
//! real scans.
//!
//! Where [`crate::phantom`] draws a geometric brain (quick, any grid size — for tests), this
//! generator starts every case from a real brain: the tissue map of a T1 template on the
//! BraTS grid (embedded; see `assets/anatomy/README.md`), warped per case (`anatomy.rs`:
//! random affine, smooth deformation, atrophy), with a tumour grown inside it that pushes
//! the tissue around it (`tumour.rs`: high-grade and lower-grade gliomas, metastases,
//! callosal butterflies; edema along white matter), imaged with domain randomisation
//! (`imaging.rs`: contrasts, texture, tumour heterogeneity; `artefacts.rs`: blur, bias,
//! noise, thick slices, skull-stripping imperfections, scale; `vessels.rs`: the veins,
//! sinuses and dura that enhance on T1ce without being tumour; `field.rs`: the smooth random
//! fields, filters and morphology).
//! Cases have the real BraTS grid, array layout and header
//! (240 × 240 × 155, 1 mm, LPS), labels in either BraTS scheme, and are reproducible from
//! their seed on any machine and thread count.
//!
//! ```no_run
//! use brats_io::synth::SynthConfig;
//! # fn main() -> brats_io::Result<()> {
//! let gen = SynthConfig::default().check()?;
//! let case = gen.generate(7)?;
//! println!("{:?} {:.0} cm³", case.truth.subtype, case.truth.volumes_cm3["WT"]);
//! # Ok(()) }
//! ```

mod anatomy;
mod artefacts;
mod field;
mod imaging;
mod tumour;
mod vessels;

use ndarray::Zip;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::{Compartment, LabelScheme};
use crate::phantom::{facts, PhantomCase};
use crate::volume::Volume;

pub use tumour::Subtype;

/// The largest whole tumour (cm³) a case has: BraTS's range is about 5–250 cm³. A drawn
/// tumour beyond it is made smaller (less edema first) until it fits.
pub const MAX_WHOLE_TUMOUR_CM3: f64 = 250.0;

/// Unchecked generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    /// Label values written in the seg.
    pub scheme: LabelScheme,
    /// Only these subtypes (empty: drawn at their natural frequencies, see [`Subtype`]).
    pub subtypes: Vec<Subtype>,
    /// Share of cases without any tumour (default 0.03), so a network also sees brains with
    /// nothing to mark.
    pub healthy_share: f64,
    /// Share of cases whose tissue contrasts are drawn fully at random instead of around
    /// MRI's ordering (default 0.1): the SynthSeg-style augmentation that asks a network to
    /// segment from shape. A seed's anatomy and tumour do not depend on it (they are drawn
    /// first); only whether its contrasts are random, and what follows, does.
    pub random_contrast_share: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            scheme: LabelScheme::brats2021(),
            subtypes: Vec::new(),
            healthy_share: 0.03,
            random_contrast_share: 0.1,
        }
    }
}

/// Checked generator settings; the embedded anatomy is decoded.
#[derive(Debug, Clone)]
pub struct SynthGenerator(SynthConfig);

impl SynthConfig {
    /// Validates the settings and decodes the embedded anatomy.
    ///
    /// # Errors
    /// [`Error::Config`] for a healthy or random-contrast share outside `[0, 1]`;
    /// [`Error::InvalidNifti`] if the embedded anatomy is damaged.
    pub fn check(self) -> Result<SynthGenerator> {
        for (field, share) in [
            ("healthy_share", self.healthy_share),
            ("random_contrast_share", self.random_contrast_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(Error::config(
                    field,
                    format!("must be in [0, 1], got {share}"),
                ));
            }
        }
        anatomy::template()?;
        Ok(SynthGenerator(self))
    }
}

impl SynthGenerator {
    /// The settings.
    pub fn config(&self) -> &SynthConfig {
        &self.0
    }

    /// Generates the case for `seed`: `Synth_{seed}`, four modalities, its seg and the
    /// facts (with `subtype`).
    ///
    /// # Errors
    /// Only if the embedded anatomy were damaged (checked already).
    pub fn generate(&self, seed: u64) -> Result<PhantomCase> {
        let cfg = &self.0;
        let t = anatomy::template()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_5717_0000_0001);
        let shape = <[usize; 3]>::from(t.tissue.dim());
        let mut warp = anatomy::Warp::random(&mut rng, shape);
        let healthy = rng.random_bool(cfg.healthy_share);
        let subtype = if cfg.subtypes.is_empty() {
            Subtype::draw(&mut rng)
        } else {
            cfg.subtypes[rng.random_range(0..cfg.subtypes.len())]
        };
        let mut plan = (!healthy).then(|| tumour::Plan::draw(&mut rng, subtype, &warp, t));
        // A whole tumour beyond the range is redrawn smaller (about 1 case in 25 before, up
        // to 651 cm³); cases within it are exactly as before, since this draws nothing.
        let max_voxels = (MAX_WHOLE_TUMOUR_CM3 * 1000.0 / t.geometry.voxel_volume_mm3()) as usize;
        let (tissue, parts) = loop {
            if let Some(p) = &plan {
                warp.pushes = p.pushes();
            }
            let tissue = warp.tissue_map(t);
            let parts = plan.as_ref().map_or_else(
                || ndarray::Array3::zeros(tissue.dim()),
                |p| p.paint(&tissue),
            );
            let whole = parts.iter().filter(|&&p| p != 0).count();
            if whole <= max_voxels || !plan.as_mut().is_some_and(tumour::Plan::shrink) {
                break (tissue, parts);
            }
        };
        let (images, mask, random_contrast) =
            imaging::form_images(&mut rng, seed, &tissue, &parts, cfg.random_contrast_share);
        let (core, edema, et) = (
            cfg.scheme.value_of(Compartment::Core),
            cfg.scheme.value_of(Compartment::Edema),
            cfg.scheme.value_of(Compartment::Enhancing),
        );
        let seg = Zip::from(&parts).and(&mask).map_collect(|&p, &inside| {
            if !inside {
                return 0;
            }
            match tumour::Part::from_u8(p) {
                tumour::Part::None => 0,
                tumour::Part::Edema => edema,
                tumour::Part::Necrosis | tumour::Part::NonEnhancing => core,
                tumour::Part::Enhancing => et,
            }
        });
        let geometry = t.geometry.clone();
        let centre = geometry.voxel_to_world([t.centre[2], t.centre[1], t.centre[0]]);
        let id = format!("Synth_{seed:06}");
        let mut truth = facts(&id, seed, &cfg.scheme, &geometry, &seg, centre, None);
        truth.subtype = plan.as_ref().map(|p| {
            if p.callosal {
                format!("{}_callosal", p.subtype.name())
            } else if p.subtype == Subtype::HighGrade && p.lesions.len() > 1 {
                format!("{}_multifocal", p.subtype.name())
            } else {
                p.subtype.name().to_string()
            }
        });
        truth.lesions = plan.as_ref().map(|p| p.lesions.len());
        truth.contrast = Some(
            if random_contrast {
                "random"
            } else {
                "realistic"
            }
            .into(),
        );
        let [c0, c1, c2, c3] = images;
        Ok(PhantomCase {
            images: [
                Volume::new(c0, geometry.clone())?,
                Volume::new(c1, geometry.clone())?,
                Volume::new(c2, geometry.clone())?,
                Volume::new(c3, geometry.clone())?,
            ],
            seg: Volume::new(seg, geometry)?,
            truth,
        })
    }
}
