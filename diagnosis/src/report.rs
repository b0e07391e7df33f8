//! The report: `report.json` (schema below, stable: fields are only ever added),
//! `report.md`, a self-contained `report.html` (pictures embedded as data URIs; opens
//! offline) and the overlay PNGs. Every file is written atomically.
//!
//! # `report.json` schema (`brain-tumour-seg/report/1`)
//! ```text
//! schema               "brain-tumour-seg/report/1"
//! disclaimer           "Decision support, not a diagnosis. …"
//! urgency              "emergency" | "urgent" | "routine"
//! urgency_reasons      [string]
//! case_id              string | null
//! source               "mask" | "model" | "location"
//! verdict              "concordant" | "partially_concordant" | "discordant" | "indeterminate"
//! hemisphere_match     true | false | null
//! region_match         true | false | null
//! confidence           number in [0, 1]
//! explanation          [string]
//! unexplained          [string] (localising symptoms the tumour does not explain)
//! tumour               { found, source, primary_region, hemisphere, basis,
//!                        volumes_cm3 {WT, TC, ET}, label_volumes_cm3 {NCR|NETC, ED|SNFH, ET},
//!                        centroid_voxel [i, j, k], centroid_mm [x, y, z] (RAS),
//!                        bbox_voxel {min, max}, side_shares {left, right, midline_x_mm},
//!                        regions [{region, hemisphere, voxels, fraction, core_voxels}],
//!                        outside_atlas_fraction, atlas,
//!                        lesions [{id, voxels, volumes_cm3 {WT, TC, ET}, primary_region,
//!                        hemisphere, basis, centroid_voxel, centroid_mm, bbox_voxel,
//!                        regions}] (components of at least 0.1 cm³, largest first),
//!                        small_components (smaller ones, not listed) }
//! suspected_regions    [{region, hemisphere, score}]
//! evidence             [{symptom, label, stance: supporting|contradicting|silent,
//!                        points_to [string], reason, side?, said?}] (side: the side the
//!                        patient gave; said: the words it was understood from)
//! non_localising       [{symptom, label, reason}]
//! unmatched            [{index, text, candidates [{code, score, kind, phrase}]}] (clauses)
//! handedness           "right" | "left" | "ambidextrous" | "unknown"
//! referrals            {region, departments, capabilities [{capability, reason}],
//!                        hospitals [{id, name_ko, name_en, address, departments,
//!                        matched_capabilities, missing_capabilities, distance_km, sample}],
//!                        note}
//! images               {axial, coronal, sagittal: file names; lesion_N_axial through each
//!                        of up to 4 lesions when there are several; certainty_axial,
//!                        certainty_coronal, certainty_sagittal when a model segmented the
//!                        case} (absent without imaging)
//! segmentation         {model, timings_s, mirror_tta, confidence {expected_dice [WT, TC, ET],
//!                        uncertain_cm3, called_cm3, expected_cm3}, doubtful,
//!                        input_check {brain_cm3, t1_flair, t1_t2, shift_mm, turn_mm}, input_warnings [string],
//!                        file_scheme (bts diagnose: the written segmentation.nii.gz's)}
//!                        (when a model segmented the case)
//! evaluation           {WT, TC, ET Dice} (when a ground truth was given)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use symptom_kb::Hemisphere;

use crate::crosscheck::{CrossCheck, Verdict};
use crate::urgency::{Triage, Urgency};

fn routine() -> Urgency {
    Urgency::Routine
}
pub use crate::encode::base64;
use crate::error::{Error, Result};
use crate::localize::TumourFinding;
use crate::referral::Referral;
use crate::viewer::ViewerData;

/// Report schema id.
pub const SCHEMA: &str = "brain-tumour-seg/report/1";

/// The prefix of the certainty pictures' names in [`Report::images`] (`certainty_axial`,
/// `certainty_coronal`, `certainty_sagittal`).
pub const CERTAINTY: &str = "certainty";

/// The prefix of the pictures through each lesion of a several-lesion tumour in
/// [`Report::images`] (`lesion_2_axial`).
pub const LESION: &str = "lesion_";

/// The sentence every report carries.
pub const DISCLAIMER: &str = "Decision support, not a diagnosis. This report was produced automatically from images and a symptom questionnaire; a qualified clinician must review the images and the patient before any decision.";

/// A suspected region in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspectedRegion {
    /// Region id.
    pub region: String,
    /// Hemisphere, when the symptoms decide it.
    pub hemisphere: Option<Hemisphere>,
    /// Score (sum of evidence weights).
    pub score: f64,
}

/// Everything in `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// [`DISCLAIMER`].
    pub disclaimer: String,
    /// How soon the patient must be seen ([`crate::urgency`]).
    #[serde(default = "routine")]
    pub urgency: Urgency,
    /// Why.
    #[serde(default)]
    pub urgency_reasons: Vec<String>,
    /// Case id.
    pub case_id: Option<String>,
    /// `mask`, `model` or `location`.
    pub source: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Side axis.
    pub hemisphere_match: Option<bool>,
    /// Region axis.
    pub region_match: Option<bool>,
    /// Confidence.
    pub confidence: f64,
    /// Reasons.
    pub explanation: Vec<String>,
    /// Localising symptoms the tumour does not explain.
    #[serde(default)]
    pub unexplained: Vec<String>,
    /// The finding.
    pub tumour: TumourFinding,
    /// Suspected regions.
    pub suspected_regions: Vec<SuspectedRegion>,
    /// Per-symptom stances.
    pub evidence: Vec<crate::crosscheck::SymptomEvidence>,
    /// Non-localising symptoms.
    pub non_localising: Vec<symptom_kb::query::NonLocalising>,
    /// Texts the knowledge base did not understand.
    pub unmatched: Vec<symptom_kb::query::Unmatched>,
    /// Handedness used for language dominance.
    pub handedness: symptom_kb::Handedness,
    /// Referral.
    pub referrals: Referral,
    /// Overlay file names by view.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, String>,
    /// Segmentation details when a model produced the mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<serde_json::Value>,
    /// Dice against a ground truth, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<BTreeMap<String, f64>>,
}

impl Report {
    /// Assembles a report.
    pub fn new(
        case_id: Option<String>,
        source: &str,
        finding: TumourFinding,
        suspicion: &symptom_kb::Suspicion,
        check: CrossCheck,
        referrals: Referral,
        triage: Triage,
    ) -> Report {
        Report {
            schema: SCHEMA.into(),
            disclaimer: DISCLAIMER.into(),
            urgency: triage.urgency,
            urgency_reasons: triage.reasons,
            case_id,
            source: source.into(),
            verdict: check.verdict,
            hemisphere_match: check.hemisphere_match,
            region_match: check.region_match,
            confidence: check.confidence,
            explanation: check.explanation,
            unexplained: check.unexplained,
            tumour: finding,
            suspected_regions: suspicion
                .suspected
                .iter()
                .map(|s| SuspectedRegion {
                    region: s.region.clone(),
                    hemisphere: s.hemisphere,
                    score: s.score,
                })
                .collect(),
            evidence: check.evidence,
            non_localising: suspicion.non_localising.clone(),
            unmatched: suspicion.unmatched.clone(),
            handedness: suspicion.handedness,
            referrals,
            images: BTreeMap::new(),
            segmentation: None,
            evaluation: None,
        }
    }

    /// The report as Markdown (pictures referenced by file name).
    pub fn to_markdown(&self) -> String {
        let mut m = String::new();
        let t = &self.tumour;
        m.push_str("# Brain tumour report\n\n");
        m.push_str(&format!("> **{}**\n\n", self.disclaimer));
        m.push_str(&format!(
            "## Urgency: **{}**\n\n",
            self.urgency.name().to_uppercase()
        ));
        for r in &self.urgency_reasons {
            m.push_str(&format!("- {r}\n"));
        }
        if !self.urgency_reasons.is_empty() {
            m.push('\n');
        }
        if let Some(id) = &self.case_id {
            m.push_str(&format!("Case: `{id}` · site from: {}\n\n", self.source));
        }
        m.push_str(&format!(
            "## Verdict: **{}** (confidence {:.0} %)\n\n- region match: {}\n- hemisphere match: {}\n",
            self.verdict.name(),
            self.confidence * 100.0,
            tri(self.region_match),
            tri(self.hemisphere_match)
        ));
        for e in &self.explanation {
            m.push_str(&format!("- {e}\n"));
        }
        m.push_str("\n## Tumour\n\n");
        if !t.found {
            m.push_str("No tumour was found in the mask.\n");
        } else {
            m.push_str(&format!(
                "- primary region: **{}**, hemisphere: **{}** (decided by the {})\n",
                t.primary_region.as_deref().unwrap_or("-"),
                t.hemisphere.map_or("-", Hemisphere::name),
                t.basis
                    .as_deref()
                    .unwrap_or("given location")
                    .replace('_', " ")
            ));
            if !t.volumes_cm3.is_empty() {
                let v = |k: &str| t.volumes_cm3.get(k).copied().unwrap_or(0.0);
                m.push_str(&format!(
                    "- volumes: whole tumour {:.1} cm³, tumour core {:.1} cm³, enhancing {:.1} cm³\n",
                    v("WT"),
                    v("TC"),
                    v("ET")
                ));
            }
            if let Some(c) = t.centroid_mm {
                m.push_str(&format!(
                    "- centroid: ({:.1}, {:.1}, {:.1}) mm RAS\n",
                    c[0], c[1], c[2]
                ));
            }
            if t.lesions.len() >= 2 {
                m.push_str(&format!(
                    "\n{} separate lesions{}; each is compared with the symptoms on its own:\n\n\
                     | lesion | region | side | whole tumour | core | enhancing | centroid (mm RAS) |\n\
                     |---:|---|---|---:|---:|---:|---|\n",
                    t.lesions.len(),
                    match t.small_components {
                        0 => String::new(),
                        n => format!(" (and {n} smaller than {} cm³, not listed)", crate::localize::MIN_LESION_CM3),
                    }
                ));
                for l in &t.lesions {
                    let v = |k: &str| l.volumes_cm3.get(k).copied().unwrap_or(0.0);
                    let c = l.centroid_mm;
                    m.push_str(&format!(
                        "| {} | {} | {} | {:.2} cm³ | {:.2} cm³ | {:.2} cm³ | ({:.0}, {:.0}, {:.0}) |\n",
                        l.id,
                        cell(l.primary_region.as_deref().unwrap_or("-")),
                        l.hemisphere.name(),
                        v("WT"),
                        v("TC"),
                        v("ET"),
                        c[0],
                        c[1],
                        c[2]
                    ));
                }
            }
            if t.source == "mask" {
                m.push_str(
                    "
| region | side | voxels | share of tumour |
|---|---|---:|---:|
",
                );
                for r in &t.regions {
                    m.push_str(&format!(
                        "| {} | {} | {} | {:.1} % |\n",
                        cell(&r.region),
                        r.hemisphere.name(),
                        r.voxels,
                        r.fraction * 100.0
                    ));
                }
                m.push_str(&format!(
                    "\nAtlas: {}; outside every atlas region: {:.1} %.\n",
                    t.atlas,
                    t.outside_atlas_fraction * 100.0
                ));
            }
        }
        if let Some(c) = self
            .segmentation
            .as_ref()
            .and_then(|s| s.get("confidence"))
            .and_then(|c| serde_json::from_value::<unet3d::infer::Confidence>(c.clone()).ok())
        {
            m.push_str(&format!("\nThe model's certainty: {}.\n", c.summary()));
            if let Some(why) = c.doubt() {
                m.push_str(&format!(
                    "\n**The model doubts this map** ({why}). Check the mask against the images before relying on its site or volumes.\n"
                ));
            }
        }
        for why in self
            .segmentation
            .as_ref()
            .and_then(|s| s.get("input_warnings"))
            .and_then(|w| serde_json::from_value::<Vec<String>>(w.clone()).ok())
            .unwrap_or_default()
        {
            m.push_str(&format!(
                "\n**Check the input:** {why}. The model segmented it all the same and may misread it without doubting itself.\n"
            ));
        }
        if let Some(e) = &self.evaluation {
            m.push_str("\nDice against the ground truth: ");
            m.push_str(
                &e.iter()
                    .map(|(k, v)| format!("{k} {v:.3}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            m.push('\n');
        }
        if !self.images.is_empty() {
            m.push_str("\n## Images\n\nRadiological convention: the patient's right is on the image's left (marked R/L).\n\n");
            // The overlays, then one through each lesion, then the model's certainty with
            // what it shows.
            let (certainty, overlays): (Vec<_>, Vec<_>) = self
                .images
                .iter()
                .partition(|(view, _)| view.starts_with(CERTAINTY));
            let (lesions, overlays): (Vec<_>, Vec<_>) = overlays
                .into_iter()
                .partition(|(view, _)| view.starts_with(LESION));
            for (view, file) in overlays {
                m.push_str(&format!("![{view}]({file})\n\n"));
            }
            if !lesions.is_empty() {
                m.push_str("Each lesion on an axial slice through its own centroid (the blue ticks on the panels' edges point to it):\n\n");
            }
            for (view, file) in lesions {
                m.push_str(&format!("![{view}]({file})\n\n"));
            }
            if !certainty.is_empty() {
                m.push_str("The model's certainty: its probability of whole tumour over FLAIR and of enhancing tumour over T1ce, dark violet (0.05) to yellow (1), with the map outlined in white. Colour past an outline, or green and blue inside one, is where it hesitated: check those parts of the map first.\n\n");
            }
            for (view, file) in certainty {
                m.push_str(&format!("![{view}]({file})\n\n"));
            }
        }
        m.push_str("\n## Symptoms\n\n| symptom | side | as the patient said it | stance | points to | why |\n|---|---|---|---|---|---|\n");
        for e in &self.evidence {
            m.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&if e.symptom.is_empty() {
                    e.label.clone()
                } else {
                    format!("{} ({})", e.label, e.symptom)
                }),
                e.side.map_or("", |s| s.name()),
                cell(e.said.as_deref().unwrap_or("")),
                e.stance.name(),
                cell(&e.points_to.join(", ")),
                cell(&e.reason)
            ));
        }
        m.push_str(&format!(
            "\nHandedness used for language dominance: {}.\n",
            format!("{:?}", self.handedness).to_lowercase()
        ));
        m.push_str("\n## Referral\n\n");
        let r = &self.referrals;
        if let Some(region) = &r.region {
            m.push_str(&format!(
                "For **{region}**: departments {}.\n\n",
                r.departments.join(", ")
            ));
        }
        for c in &r.capabilities {
            m.push_str(&format!(
                "- needs `{}`: {}\n",
                c.capability.name(),
                c.reason
            ));
        }
        if let Some(note) = &r.note {
            m.push_str(&format!("\n> {note}\n"));
        }
        m.push_str(
            "\n| hospital | departments | has | lacks | distance |\n|---|---|---|---|---:|\n",
        );
        for h in &r.hospitals {
            m.push_str(&format!(
                "| {} / {}{} | {} | {} | {} | {} |\n",
                cell(&h.name_ko),
                cell(&h.name_en),
                if h.sample { " (sample data)" } else { "" },
                cell(&h.departments.join(", ")),
                h.matched_capabilities
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                h.missing_capabilities
                    .iter()
                    .map(|c| c.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                h.distance_km.map_or("-".into(), |d| format!("{d:.0} km"))
            ));
        }
        m.push_str(&format!("\n---\n*{}*\n", self.disclaimer));
        m
    }

    /// The report as one self-contained HTML page: [`Report::to_markdown`] rendered by
    /// `pulldown-cmark` (CommonMark with tables). `images` maps each file name in
    /// [`Report::images`] to its PNG bytes, embedded as data URIs. Raw HTML in the Markdown
    /// (which could only come from patient or hospital text) is shown as text, not
    /// interpreted.
    ///
    /// With `viewer`, the interactive slice viewer ([`ViewerData::to_html_section`]) comes
    /// before the static pictures.
    pub fn to_html(
        &self,
        images: &BTreeMap<String, Vec<u8>>,
        viewer: Option<&ViewerData>,
    ) -> String {
        use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
        let md = self.to_markdown();
        let events = Parser::new_ext(&md, Options::ENABLE_TABLES).map(|e| match e {
            Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest_url = match images.get(dest_url.as_ref()) {
                    Some(png) => CowStr::from(format!("data:image/png;base64,{}", base64(png))),
                    None => dest_url,
                };
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
            e => e,
        });
        let mut body = String::with_capacity(md.len() * 2);
        html::push_html(&mut body, events);
        if let Some(v) = viewer {
            let section = v.to_html_section();
            match body.find("<h2>Images</h2>") {
                Some(at) => body.insert_str(at, &section),
                None => body.push_str(&section),
            }
        }
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Brain tumour report{}</title>\n<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}blockquote{{background:#fff3cd;border-left:4px solid #c90;margin:1em 0;padding:0 8px}}img{{max-width:100%}}code{{background:#eee;padding:0 3px}}</style></head>\n<body>\n{body}</body></html>\n",
            self.case_id.as_deref().map(|c| format!(" — {}", escape(c))).unwrap_or_default()
        )
    }
}

fn tri(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not decided by the symptoms",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table cell's text: pipes escaped and line breaks folded, so patient or hospital text
/// cannot break the Markdown table it sits in.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// Paths of a written report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// Overlay PNGs.
    pub images: Vec<PathBuf>,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(brats_io::atomic_write_bytes(path, bytes)?)
}

/// Writes the report and its pictures into `dir` (created when missing). `pictures` maps
/// view names to PNG bytes; their file names are recorded in the report.
///
/// # Errors
/// [`Error::File`] / [`Error::Io`] naming the file.
pub fn write_report(
    dir: &Path,
    report: &mut Report,
    pictures: &[(String, Vec<u8>)],
    viewer: Option<&ViewerData>,
) -> Result<ReportFiles> {
    std::fs::create_dir_all(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        message: format!("cannot create the report folder: {e}"),
    })?;
    let mut images = Vec::new();
    let mut bytes_by_name = BTreeMap::new();
    for (view, png) in pictures {
        let name = format!("overlay_{view}.png");
        let path = dir.join(&name);
        write_atomic(&path, png)?;
        report.images.insert(view.clone(), name.clone());
        bytes_by_name.insert(name, png.clone());
        images.push(path);
    }
    let json = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| Error::File {
        path: json.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&json, text.as_bytes())?;
    let markdown = dir.join("report.md");
    write_atomic(&markdown, report.to_markdown().as_bytes())?;
    let html = dir.join("report.html");
    write_atomic(&html, report.to_html(&bytes_by_name, viewer).as_bytes())?;
    Ok(ReportFiles {
        json,
        markdown,
        html,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_cannot_break_their_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
