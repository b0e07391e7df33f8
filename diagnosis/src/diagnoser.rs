//! The [`Diagnoser`]: case → (segment with a model | given mask) → localise → intake →
//! suspect → cross-check → referral → report.

use std::collections::BTreeMap;
use std::path::Path;

use brats_io::preprocess::brain_mask;
use brats_io::render::Canvas;
use brats_io::{Case, LabelScheme, Modality, TumourRegion, Volume, AFFINE_TOLERANCE};
use symptom_kb::{Hemisphere, Intake, KnowledgeBase, Suspicion};
use unet3d::predict::{PredictOptions, Predictor};

use crate::atlas::{brain_extent, builtin_on_grid, Atlas, GridAtlas};
use crate::crosscheck::{cross_check, CrossCheck};
use crate::error::{Error, Result};
use crate::localize::{localise, TumourFinding};
use crate::overlay::{render, render_certainty, render_through, View};
use crate::referral::{refer, Referral};
use crate::report::{write_report, Report, ReportFiles, CERTAINTY, LESION};
use crate::viewer::ViewerData;

/// Where the tumour is: from imaging, or given.
#[derive(Debug, Clone, Copy)]
pub enum Site<'a> {
    /// A loaded case and its tumour mask (label values of `scheme`, on the case's grid).
    Mask {
        /// The case.
        case: &'a Case,
        /// The mask.
        mask: &'a Volume<u8>,
        /// Its label scheme.
        scheme: &'a LabelScheme,
    },
    /// A site without imaging (`region@side`, e.g. from a radiology report).
    Location {
        /// Region id.
        region: &'a str,
        /// Side, if known.
        hemisphere: Option<Hemisphere>,
    },
}

/// Everything a diagnosis produced.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The finding.
    pub finding: TumourFinding,
    /// What the symptoms suggest.
    pub suspicion: Suspicion,
    /// The verdict.
    pub check: CrossCheck,
    /// Where to go.
    pub referral: Referral,
    /// The report (JSON-serialisable).
    pub report: Report,
    /// Overlay PNGs by view name (empty without imaging).
    pub pictures: Vec<(String, Vec<u8>)>,
    /// The slice viewer's data for `report.html` (without imaging, or with pictures off:
    /// none).
    pub viewer: Option<ViewerData>,
}

impl Diagnosis {
    /// Writes `report.json`, `report.md`, `report.html` and the overlays into `dir`.
    ///
    /// # Errors
    /// File errors naming the file.
    pub fn write(&mut self, dir: &Path) -> Result<ReportFiles> {
        write_report(dir, &mut self.report, &self.pictures, self.viewer.as_ref())
    }
}

/// The most lesions pictured on their own (the largest first).
pub const MAX_LESION_PICTURES: usize = 4;

/// Composes the knowledge base, an atlas and (optionally) a segmentation model.
#[derive(Debug)]
pub struct Diagnoser<'kb> {
    kb: &'kb KnowledgeBase,
    atlas: Option<Atlas>,
    hospital_limit: usize,
    pictures: bool,
    predict: PredictOptions,
}

/// Parses `region@side` (`frontal_lobe@left`, `pons`, `cerebellar_hemisphere@R`).
///
/// # Errors
/// [`Error::Location`] for a bad side; [`Error::Kb`] naming an unknown region with the
/// closest ids.
pub fn parse_location(kb: &KnowledgeBase, text: &str) -> Result<(String, Option<Hemisphere>)> {
    let (region, side) = match text.split_once('@') {
        Some((r, s)) => (r.trim(), Some(s.trim())),
        None => (text.trim(), None),
    };
    if region.is_empty() {
        return Err(Error::Location {
            given: text.into(),
            problem: "expected REGION or REGION@SIDE, e.g. frontal_lobe@left".into(),
        });
    }
    kb.require_region(region)?;
    let hemisphere = match side.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("left" | "l") => Some(Hemisphere::Left),
        Some("right" | "r") => Some(Hemisphere::Right),
        Some("midline" | "m") => Some(Hemisphere::Midline),
        Some("bilateral" | "b") => Some(Hemisphere::Bilateral),
        Some(other) => {
            return Err(Error::Location {
                given: text.into(),
                problem: format!("side {other:?}: expected left, right, midline or bilateral"),
            })
        }
    };
    Ok((region.to_string(), hemisphere))
}

impl<'kb> Diagnoser<'kb> {
    /// A diagnoser with the built-in atlas, five hospitals, pictures on.
    pub fn new(kb: &'kb KnowledgeBase) -> Diagnoser<'kb> {
        Diagnoser {
            kb,
            atlas: None,
            hospital_limit: 5,
            pictures: true,
            predict: PredictOptions::default(),
        }
    }

    /// How [`Diagnoser::segment_and_diagnose`] segments (default: the model's own window and
    /// post-processing; set `window` to change, for example, mirror test-time augmentation).
    pub fn predict_options(mut self, opts: PredictOptions) -> Diagnoser<'kb> {
        self.predict = opts;
        self
    }

    /// Uses `atlas` instead of the built-in one.
    ///
    /// # Errors
    /// [`Error::Kb`] naming a region id of the atlas table that the knowledge base does not
    /// know.
    pub fn with_atlas(mut self, atlas: Atlas) -> Result<Diagnoser<'kb>> {
        for e in atlas.table() {
            self.kb.require_region(&e.region)?;
        }
        self.atlas = Some(atlas);
        Ok(self)
    }

    /// Number of hospitals to list.
    pub fn hospital_limit(mut self, n: usize) -> Diagnoser<'kb> {
        self.hospital_limit = n.max(1);
        self
    }

    /// Whether to render overlay pictures (on by default).
    pub fn pictures(mut self, on: bool) -> Diagnoser<'kb> {
        self.pictures = on;
        self
    }

    /// The atlas on a case's grid.
    ///
    /// # Errors
    /// [`Error::Atlas`] when the atlas does not overlap the brain; [`Error::Input`] for an
    /// empty brain.
    ///
    /// Without a user atlas: the built-in registered atlas ([`Atlas::sri24`]) when the case
    /// lies in SRI24 space (as BraTS cases do) and the atlas fits its brain (brain-mask Dice
    /// at least [`crate::atlas::SRI24_MIN_FIT`]); otherwise the proportional atlas, with the
    /// reason in its name (which the report prints).
    pub fn atlas_for(&self, case: &Case) -> Result<GridAtlas> {
        let brain = brain_mask(&case.images);
        if let Some(a) = &self.atlas {
            return a.on_grid(case.geometry(), &brain);
        }
        let fit = Atlas::sri24()
            .and_then(|a| a.on_grid(case.geometry(), &brain))
            .map(|g| {
                let f = g.brain_fit(&brain);
                (g, f)
            });
        if let Ok((g, f)) = &fit {
            if *f >= crate::atlas::SRI24_MIN_FIT {
                let mut g = g.clone();
                g.name = format!(
                    "sri24 (registered atlas, the case is in BraTS/SRI24 space; brain-mask Dice {f:.2})"
                );
                return Ok(g);
            }
        }
        // Not in SRI24 space (or not fitting): an affine registration of the brain masks.
        let direct = fit.as_ref().map_or(0.0, |(_, f)| *f);
        let registered = Atlas::sri24().ok().and_then(|a| {
            let (atlas_brain, atlas_grid) = a.brain();
            let map =
                crate::register::register_masks(&brain, case.geometry(), &atlas_brain, atlas_grid)?;
            let g = a.on_grid_mapped(case.geometry(), &brain, Some(&map)).ok()?;
            // An implausible map (a brain squeezed onto a blob) fits nothing.
            let f = if map.is_plausible() {
                g.brain_fit(&brain)
            } else {
                0.0
            };
            Some((g, f))
        });
        match registered {
            Some((mut g, f)) if f >= crate::atlas::SRI24_MIN_FIT => {
                g.name = format!(
                    "sri24 (affine registration of the brain masks, 12 parameters; brain-mask Dice {f:.2})"
                );
                Ok(g)
            }
            other => {
                let f = other.map_or(direct, |(_, f)| f.max(direct));
                let mut g = builtin_on_grid(case.geometry(), &brain)?;
                g.name = format!(
                    "{} (proportional; WARNING: the SRI24 atlas could not be registered to this brain: best plausible brain-mask Dice {f:.2})",
                    g.name
                );
                Ok(g)
            }
        }
    }

    /// Localises a mask on a case.
    ///
    /// # Errors
    /// [`Error::Input`] when the mask's grid differs from the case's; label errors.
    pub fn localise(
        &self,
        case: &Case,
        mask: &Volume<u8>,
        scheme: &LabelScheme,
    ) -> Result<TumourFinding> {
        check_grid(case, mask, "mask")?;
        let atlas = self.atlas_for(case)?;
        localise(mask, scheme, &atlas)
    }

    /// Runs the whole chain for a site and an intake.
    ///
    /// # Errors
    /// Unknown symptom codes or an invalid intake ([`Error::Kb`]), an unknown region,
    /// mask/case grid mismatch, atlas errors.
    pub fn diagnose(&self, site: Site<'_>, intake: &Intake) -> Result<Diagnosis> {
        self.diagnose_inner(site, intake, None)
    }

    /// As [`Diagnoser::diagnose`], with the model's region probabilities for a
    /// [`Site::Mask`] (whole tumour, tumour core, enhancing tumour on the case's grid, as
    /// [`unet3d::predict::Prediction::region_probabilities`] gives them): with pictures,
    /// the model's certainty is pictured in the three planes (`certainty_axial`, `_coronal`,
    /// `_sagittal`, [`render_certainty`](crate::overlay::render_certainty)) and the slice viewer can show
    /// each map. [`Diagnoser::segment_and_diagnose`] does this itself.
    ///
    /// # Errors
    /// As [`Diagnoser::diagnose`], and [`Error::Input`] for maps on another grid than the
    /// case's.
    pub fn diagnose_with_probabilities(
        &self,
        site: Site<'_>,
        intake: &Intake,
        region_probabilities: &[Volume<f32>; 3],
    ) -> Result<Diagnosis> {
        self.diagnose_inner(site, intake, Some(region_probabilities))
    }

    fn diagnose_inner(
        &self,
        site: Site<'_>,
        intake: &Intake,
        probabilities: Option<&[Volume<f32>; 3]>,
    ) -> Result<Diagnosis> {
        let suspicion = self.kb.suspect(intake)?;
        let (finding, imaging) = match site {
            Site::Mask { case, mask, scheme } => {
                check_grid(case, mask, "mask")?;
                for p in probabilities.into_iter().flatten() {
                    check_grid(case, p, "region probabilities")?;
                }
                let atlas = self.atlas_for(case)?;
                let finding = localise(mask, scheme, &atlas)?;
                (finding, Some((case, mask, scheme, atlas)))
            }
            Site::Location { region, hemisphere } => {
                self.kb.require_region(region)?;
                (TumourFinding::from_location(region, hemisphere), None)
            }
        };
        let check = cross_check(self.kb, &finding, &suspicion);
        let referral = refer(self.kb, &finding, intake, &suspicion, self.hospital_limit)?;
        let case_id = imaging.as_ref().map(|(case, ..)| case.id.clone());
        let (pictures, viewer) = match &imaging {
            Some((case, mask, scheme, atlas)) if self.pictures => {
                let centre = picture_centre(case, &finding);
                let caption = self.caption(&finding, &check);
                let (flair, t1ce) = (case.image(Modality::Flair), case.image(Modality::T1ce));
                let mut pictures: Vec<(String, Vec<u8>)> = View::ALL
                    .iter()
                    .map(|&v| {
                        let c = render(v, flair, t1ce, Some(mask), scheme, centre, &caption);
                        (v.name().to_string(), c.to_png())
                    })
                    .collect();
                // Several lesions: each on an axial slice through its own centroid (the
                // whole tumour's may lie between them, in none).
                if finding.lesions.len() >= 2 {
                    for l in finding.lesions.iter().take(MAX_LESION_PICTURES) {
                        let what = format!("lesion {}'s centroid", l.id);
                        let c = render_through(
                            View::Axial,
                            flair,
                            t1ce,
                            Some(mask),
                            scheme,
                            (l.centroid_mm, &what),
                            &[self.lesion_line(l, finding.lesions.len())],
                        );
                        pictures.push((format!("{LESION}{}_axial", l.id), c.to_png()));
                    }
                }
                let mut maps = Vec::new();
                if let Some([whole, core, enhancing]) = probabilities {
                    // In the three planes, as the overlays: a hesitant front or pole shows
                    // on a coronal or sagittal slice that an axial one can miss.
                    for view in View::ALL {
                        let c = render_certainty(
                            view, flair, t1ce, whole, enhancing, mask, scheme, centre,
                        );
                        pictures.push((format!("{CERTAINTY}_{}", view.name()), c.to_png()));
                    }
                    maps = vec![
                        ("P(whole tumour)", whole),
                        ("P(tumour core)", core),
                        ("P(enhancing)", enhancing),
                    ];
                }
                let mut viewer = ViewerData::build_with_probabilities(
                    case,
                    mask,
                    scheme,
                    atlas,
                    finding.centroid_mm,
                    &maps,
                )?;
                // Several lesions: buttons to each, and back to the whole tumour's centroid.
                if let (Some(c), true) = (finding.centroid_mm, finding.lesions.len() >= 2) {
                    let mut places = vec![("종양 중심 · the tumour's centroid".to_string(), c)];
                    places.extend(finding.lesions.iter().map(|l| {
                        let (ko, en, cm3) = self.lesion_site(l);
                        (
                            format!("병변 {} · lesion {}: {ko} — {en}, {cm3:.1} cm³", l.id, l.id),
                            l.centroid_mm,
                        )
                    }));
                    viewer = viewer.with_places(&places);
                }
                (pictures, Some(viewer))
            }
            _ => (Vec::new(), None),
        };
        let report = Report::new(
            case_id,
            &finding.source.clone(),
            finding.clone(),
            &suspicion,
            check.clone(),
            referral.clone(),
            crate::urgency::triage(intake, &suspicion, &finding),
        );
        Ok(Diagnosis {
            finding,
            suspicion,
            check,
            referral,
            report,
            pictures,
            viewer,
        })
    }

    /// A site in Korean and English: `("좌측 전두엽", "left frontal lobe")`.
    fn site_names(&self, id: &str, side: Option<Hemisphere>) -> (String, String) {
        let (ko, en) = self
            .kb
            .region(id)
            .map_or((id, id), |r| (r.name_ko.as_str(), r.name_en.as_str()));
        let (side_ko, side_en) = match side {
            Some(Hemisphere::Left) => ("좌측 ", "left "),
            Some(Hemisphere::Right) => ("우측 ", "right "),
            Some(Hemisphere::Midline) => ("정중부 ", "midline "),
            Some(Hemisphere::Bilateral) => ("양측 ", "bilateral "),
            None => ("", ""),
        };
        (
            format!("{side_ko}{ko}"),
            format!("{side_en}{}", en.to_lowercase()),
        )
    }

    /// A lesion's site in Korean and English, and its whole-tumour volume (cm³).
    fn lesion_site(&self, l: &crate::localize::Lesion) -> (String, String, f64) {
        let (ko, en) = l.primary_region.as_deref().map_or_else(
            || {
                (
                    "아틀라스 밖".to_string(),
                    "outside the atlas regions".to_string(),
                )
            },
            |id| self.site_names(id, Some(l.hemisphere)),
        );
        (ko, en, l.wt_cm3())
    }

    /// The caption of a lesion's picture: `병변 2/3 · Lesion 2 of 3: 우측 후두엽 — right
    /// occipital lobe, 6.1 cm³`.
    fn lesion_line(&self, l: &crate::localize::Lesion, of: usize) -> String {
        let (ko, en, cm3) = self.lesion_site(l);
        format!(
            "병변 {}/{of} · Lesion {} of {of}: {ko} — {en}, {cm3:.1} cm³",
            l.id, l.id
        )
    }

    /// The overlay pictures' caption, in Korean and English: the tumour's site, then the
    /// symptoms with their stance (wrapped to about 900 pixels).
    fn caption(&self, finding: &TumourFinding, check: &CrossCheck) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(id) = &finding.primary_region {
            let (ko, en) = self.site_names(id, finding.hemisphere);
            lines.push(format!("종양 위치 · Tumour site: {ko} — {en}"));
        }
        let mut line = String::from("증상 · Symptoms:");
        let mut any = false;
        for e in &check.evidence {
            let label = self
                .kb
                .symptom(&e.symptom)
                .map_or(e.label.as_str(), |s| s.label_ko.as_str());
            let item = format!(" {label} ({})", e.stance.name());
            if any && Canvas::text_font_width(&format!("{line},{item}"), 15.0) > 900 {
                lines.push(format!("{line},"));
                line = String::from("   ");
                line.push_str(item.trim_start());
            } else {
                if any {
                    line.push(',');
                }
                line.push_str(&item);
            }
            any = true;
        }
        if any {
            lines.push(line);
        }
        lines
    }

    /// Segments `case` with `predictor` and the diagnoser's predict options, then
    /// [`Diagnoser::diagnose`]s; the report records the model, the timings and whether
    /// mirror TTA was used, the model's certainty (and whether it doubts its map), the input
    /// checks and their warnings (a scan not skull-stripped, FLAIR and T2 swapped, images not
    /// co-registered), and, when the case has a ground truth, its Dice per region. With
    /// pictures, the model's certainty is pictured too and the viewer can show its
    /// probabilities ([`Diagnoser::diagnose_with_probabilities`]). Returns the mask too.
    ///
    /// # Errors
    /// Segmentation errors (missing modality, all-zero image) and those of `diagnose`.
    pub fn segment_and_diagnose(
        &self,
        case: &Case,
        predictor: &Predictor,
        intake: &Intake,
        progress: &dyn brats_io::progress::Progress,
    ) -> Result<(Diagnosis, Volume<u8>)> {
        // With pictures, the region probabilities too, for the certainty picture.
        let opts = PredictOptions {
            region_probabilities: self.predict.region_probabilities || self.pictures,
            ..self.predict
        };
        let pred = predictor.predict_case(case, &opts, progress)?;
        let scheme = predictor.scheme().clone();
        let mut d = self.diagnose_inner(
            Site::Mask {
                case,
                mask: &pred.labels,
                scheme: &scheme,
            },
            intake,
            pred.region_probabilities.as_ref(),
        )?;
        d.report.source = "model".into();
        d.report.segmentation = Some(serde_json::json!({
            "model": {
                "epoch": predictor.meta().epoch,
                "best_score": predictor.meta().best_score,
                "scheme": scheme.name(),
                "filters": predictor.meta().model.filters,
            },
            "timings_s": pred.timings,
            "mirror_tta": pred.window.mirror_tta,
            "confidence": pred.confidence,
            "doubtful": pred.confidence.doubtful(),
            "input_check": pred.input,
            "input_warnings": pred.input_warnings(),
        }));
        // A BraTS 2023 truth (ET = 3) is compared in the model's scheme.
        if let Some(truth) = predictor.truth_of(case)? {
            d.report.evaluation = Some(dice_by_region(&pred.labels, &truth, &scheme)?);
        }
        Ok((d, pred.labels))
    }
}

/// Where the pictures cut through the case: the tumour's centroid, else the brain's middle.
fn picture_centre(case: &Case, finding: &TumourFinding) -> [f64; 3] {
    finding.centroid_mm.unwrap_or_else(|| {
        let brain = brain_mask(&case.images);
        brain_extent(case.geometry(), &brain).map_or([0.0; 3], |e| e.map(|(a, b)| (a + b) / 2.0))
    })
}

/// `volume` (named `what` in the error: the mask, …) must lie on the case's grid (same
/// dims, affine within tolerance).
fn check_grid<T: Clone>(case: &Case, volume: &Volume<T>, what: &str) -> Result<()> {
    let (a, b) = (case.geometry(), volume.geometry());
    if a.dim() != b.dim() {
        return Err(Error::input(
            what,
            format!("grid {:?} differs from the case's {:?}", b.dim(), a.dim()),
        ));
    }
    let diff = a.max_affine_difference(b);
    if diff > AFFINE_TOLERANCE {
        return Err(Error::input(
            what,
            format!(
                "affine differs from the case's by up to {diff:.4} (tolerance {AFFINE_TOLERANCE})"
            ),
        ));
    }
    Ok(())
}

/// Dice of WT, TC, ET between a prediction and a truth in one scheme
/// ([`brats_metrics::brats::region_dice`]), by region name.
///
/// # Errors
/// [`Error::Input`] naming the ground truth when the shapes differ or a label is outside
/// the scheme.
pub fn dice_by_region(
    pred: &Volume<u8>,
    truth: &Volume<u8>,
    scheme: &LabelScheme,
) -> Result<BTreeMap<String, f64>> {
    let dice = brats_metrics::brats::region_dice(pred.data().view(), truth.data().view(), scheme)
        .map_err(|e| Error::input("ground truth", e.to_string()))?;
    Ok(TumourRegion::ALL
        .iter()
        .zip(dice)
        .map(|(r, d)| (r.name().to_string(), d))
        .collect())
}
