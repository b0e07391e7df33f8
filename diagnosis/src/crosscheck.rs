//! Does the tumour lie where the symptoms say it should?
//!
//! Two axes are judged separately:
//! * **region** — a suspected region matches when it is, contains or lies within (the
//!   knowledge base's region hierarchy: `pons` ⊂ `brainstem`) a region holding at least
//!   [`MIN_REGION_SHARE`] of the tumour, or the primary region. `region_match` is true when
//!   one of the leading suspicions (score ≥ half the top score) matches, false when none
//!   does, null without any localising symptom.
//! * **hemisphere** — the knowledge base has already turned each symptom's body side into
//!   a hemisphere with its laterality rule (contralateral motor and sensory signs,
//!   ipsilateral cerebellar and ear signs, crossed brainstem signs, language by
//!   handedness). Among the suspicions that match the region (or, when none does, the
//!   leading ones), those with a side vote with their scores for or against the tumour's
//!   side; null when none has a side or the tumour has none (a given location without a
//!   side). A bilateral tumour agrees with either side. Language-dominance signs (aphasia,
//!   Gerstmann, neglect) of a left-handed or ambidextrous patient do not vote: about 30 %
//!   of them are not left-dominant, too many to call a right-sided tumour discordant.
//!
//! Verdict: `indeterminate` when no tumour was found or no symptom localises (only
//! non-localising symptoms never give `concordant`); `concordant` when the region matches
//! and the side does not contradict; otherwise `discordant`. Confidence is the share of
//! the suspicion score that agrees with the finding (for `discordant`, that disagrees).

use serde::{Deserialize, Serialize};
use symptom_kb::{Handedness, Hemisphere, KnowledgeBase, Laterality, Suspected, Suspicion};

use crate::localize::TumourFinding;

/// A tumour region counts for the region match from this share of the tumour.
pub const MIN_REGION_SHARE: f64 = 0.1;

/// The cross-check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Symptoms point where the tumour is.
    Concordant,
    /// Symptoms point elsewhere (region or side).
    Discordant,
    /// Nothing to compare (no tumour, or no localising symptom).
    Indeterminate,
}

impl Verdict {
    /// `concordant`, `discordant`, `indeterminate`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Concordant => "concordant",
            Verdict::Discordant => "discordant",
            Verdict::Indeterminate => "indeterminate",
        }
    }
}

/// How one reported symptom relates to the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stance {
    /// Points to the tumour's region and side.
    Supporting,
    /// Points elsewhere.
    Contradicting,
    /// Says nothing about the site (non-localising, not understood, or no rule).
    Silent,
}

/// One symptom's part in the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymptomEvidence {
    /// Symptom code (empty when the text was not understood).
    pub symptom: String,
    /// English label or the text as given.
    pub label: String,
    /// Supporting, contradicting or silent.
    pub stance: Stance,
    /// The regions (and sides) it points to, e.g. `frontal_lobe@right`.
    pub points_to: Vec<String>,
    /// Why.
    pub reason: String,
}

/// The cross-check result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossCheck {
    /// Verdict.
    pub verdict: Verdict,
    /// Region axis (null: the symptoms do not decide it).
    pub region_match: Option<bool>,
    /// Side axis (null: the symptoms or the finding do not decide it).
    pub hemisphere_match: Option<bool>,
    /// Share of the suspicion score behind the verdict, in `[0, 1]`.
    pub confidence: f64,
    /// One line per reason, for people.
    pub explanation: Vec<String>,
    /// Every symptom as supporting, contradicting or silent.
    pub evidence: Vec<SymptomEvidence>,
}

fn site(region: &str, h: Option<Hemisphere>) -> String {
    match h {
        Some(h) => format!("{region}@{}", h.name()),
        None => region.to_string(),
    }
}

/// Compares a finding with a suspicion.
pub fn cross_check(
    kb: &KnowledgeBase,
    finding: &TumourFinding,
    suspicion: &Suspicion,
) -> CrossCheck {
    let tumour_regions: Vec<&str> = finding
        .regions
        .iter()
        .filter(|r| r.fraction >= MIN_REGION_SHARE)
        .map(|r| r.region.as_str())
        .chain(finding.primary_region.as_deref())
        .collect();
    let region_ok = |s: &Suspected| {
        tumour_regions
            .iter()
            .any(|r| kb.is_within(r, &s.region) || kb.is_within(&s.region, r))
    };
    let uncertain_dominance = matches!(
        suspicion.handedness,
        Handedness::Left | Handedness::Ambidextrous
    );
    let side_ok = |s: &Suspected| -> Option<bool> {
        let by_dominance = s
            .evidence
            .iter()
            .all(|e| matches!(e.laterality, Laterality::Dominant | Laterality::NonDominant));
        if uncertain_dominance && by_dominance && !s.evidence.is_empty() {
            return None;
        }
        match (s.hemisphere, finding.hemisphere) {
            (Some(Hemisphere::Left | Hemisphere::Right), Some(Hemisphere::Bilateral)) => Some(true),
            (
                Some(a @ (Hemisphere::Left | Hemisphere::Right)),
                Some(b @ (Hemisphere::Left | Hemisphere::Right)),
            ) => Some(a == b),
            _ => None,
        }
    };
    let top = suspicion.suspected.first().map_or(0.0, |s| s.score);
    let leading: Vec<&Suspected> = suspicion
        .suspected
        .iter()
        .filter(|s| s.score >= 0.5 * top && s.score > 0.0)
        .collect();
    let matching: Vec<&Suspected> = suspicion
        .suspected
        .iter()
        .filter(|s| region_ok(s))
        .collect();
    let mut explanation = Vec::new();
    let (region_match, hemisphere_match) = if suspicion.suspected.is_empty() || !finding.found {
        (None, None)
    } else {
        let rm = leading.iter().any(|s| region_ok(s));
        let pool: &[&Suspected] = if matching.is_empty() {
            &leading
        } else {
            &matching
        };
        let (mut pro, mut con) = (0.0, 0.0);
        for s in pool {
            match side_ok(s) {
                Some(true) => pro += s.score,
                Some(false) => con += s.score,
                None => {}
            }
        }
        let hm = (pro + con > 0.0).then_some(pro >= con);
        (Some(rm), hm)
    };
    let total: f64 = suspicion.suspected.iter().map(|s| s.score).sum();
    let agreeing: f64 = suspicion
        .suspected
        .iter()
        .filter(|s| region_ok(s) && side_ok(s) != Some(false))
        .map(|s| s.score)
        .sum();
    let verdict = if !finding.found {
        explanation.push(
            "No tumour was found in the mask: there is no site to compare the symptoms with."
                .into(),
        );
        Verdict::Indeterminate
    } else if suspicion.suspected.is_empty() {
        explanation.push(if suspicion.non_localising.is_empty() {
            "No reported symptom localises to a brain region.".into()
        } else {
            format!(
                "Only non-localising symptoms were reported ({}); they cannot confirm or contradict the site.",
                suspicion
                    .non_localising
                    .iter()
                    .map(|n| n.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        Verdict::Indeterminate
    } else if region_match == Some(true) && hemisphere_match != Some(false) {
        Verdict::Concordant
    } else {
        Verdict::Discordant
    };
    let tumour_site = site(
        finding.primary_region.as_deref().unwrap_or("?"),
        finding.hemisphere,
    );
    if verdict != Verdict::Indeterminate {
        let lead = leading
            .iter()
            .map(|s| site(&s.region, s.hemisphere))
            .collect::<Vec<_>>()
            .join(", ");
        explanation.push(format!(
            "Tumour: {tumour_site}. Leading suspicion from the symptoms: {lead}."
        ));
        match region_match {
            Some(true) => explanation.push("Region: the symptoms point to a region the tumour occupies (region hierarchy included).".into()),
            Some(false) => explanation.push("Region: none of the leading suspected regions is where the tumour lies.".into()),
            None => {}
        }
        match hemisphere_match {
            Some(true) => explanation.push("Side: the lateralising symptoms agree with the tumour's side.".into()),
            Some(false) => explanation.push("Side: the lateralising symptoms point to the other hemisphere.".into()),
            None => explanation.push("Side: not decided (no lateralising symptom for the matching region, or no side for the tumour).".into()),
        }
    }
    let confidence = match verdict {
        Verdict::Indeterminate => 0.0,
        Verdict::Concordant => (agreeing / total.max(1e-12)).clamp(0.0, 1.0),
        Verdict::Discordant => (1.0 - agreeing / total.max(1e-12)).clamp(0.0, 1.0),
    };
    // Per-symptom stances.
    let mut evidence = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in &suspicion.resolved {
        if !seen.insert((r.index, r.code.clone())) {
            continue;
        }
        if let Some(n) = suspicion
            .non_localising
            .iter()
            .find(|n| n.symptom == r.code)
        {
            evidence.push(SymptomEvidence {
                symptom: r.code.clone(),
                label: n.label.clone(),
                stance: Stance::Silent,
                points_to: Vec::new(),
                reason: n.reason.clone(),
            });
            continue;
        }
        let mine: Vec<&Suspected> = suspicion
            .suspected
            .iter()
            .filter(|s| s.evidence.iter().any(|e| e.symptom == r.code))
            .collect();
        let label = mine
            .iter()
            .flat_map(|s| s.evidence.iter())
            .find(|e| e.symptom == r.code)
            .map_or_else(|| r.code.clone(), |e| e.label.clone());
        let points_to: Vec<String> = mine.iter().map(|s| site(&s.region, s.hemisphere)).collect();
        let (stance, reason) = if mine.is_empty() {
            (Stance::Silent, "no localisation rule applies".to_string())
        } else if !finding.found {
            (Stance::Silent, "no tumour to compare with".to_string())
        } else if mine
            .iter()
            .any(|s| region_ok(s) && side_ok(s) != Some(false))
        {
            (Stance::Supporting, format!("points to {tumour_site}"))
        } else if mine.iter().any(|s| region_ok(s)) {
            (
                Stance::Contradicting,
                "right region, other side".to_string(),
            )
        } else {
            (
                Stance::Contradicting,
                "points to another region".to_string(),
            )
        };
        evidence.push(SymptomEvidence {
            symptom: r.code.clone(),
            label,
            stance,
            points_to,
            reason,
        });
    }
    for u in &suspicion.unmatched {
        evidence.push(SymptomEvidence {
            symptom: String::new(),
            label: u.text.clone(),
            stance: Stance::Silent,
            points_to: Vec::new(),
            reason: "not understood by the knowledge base".into(),
        });
    }
    CrossCheck {
        verdict,
        region_match,
        hemisphere_match,
        confidence,
        explanation,
        evidence,
    }
}
