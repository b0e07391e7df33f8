//! Does the tumour lie where the symptoms say it should?
//!
//! Every localising symptom is judged on its own, on two axes:
//! * **region** — it is *explained* when one of the regions it points to is, contains or
//!   lies within (the knowledge base's region hierarchy: `pons` ⊂ `brainstem`) a region
//!   holding at least [`MIN_REGION_SHARE`] of the tumour (or the primary region), or is
//!   anatomically one with it for this purpose ([`RELATED`]: a callosal tumour gives a
//!   bilateral frontal syndrome; a pineal mass compresses the tectum, Parinaud; sellar and
//!   hypothalamic masses share bitemporal hemianopia and diabetes insipidus; either part of
//!   the cerebellum gives gait ataxia); *adjacent* when it borders such a region
//!   ([`ADJACENT`]); otherwise it points to a *distant* region;
//! * **side** — the knowledge base has already turned each symptom's body side into a
//!   hemisphere with its laterality rule (contralateral motor and sensory signs, ipsilateral
//!   cerebellar and ear signs, crossed brainstem signs, language by handedness). It agrees,
//!   disagrees, is undecided (no side reported), or does not apply (a midline tumour).
//!   Language-dominance signs of a left-handed or ambidextrous patient do not vote: about
//!   30 % of them are not left-dominant.
//!
//! Each symptom carries the strength of its strongest rule (strong, moderate, weak). The
//! verdict:
//! * `indeterminate` — no tumour, or no localising symptom;
//! * `discordant` — moderate or strong evidence points to the other side or to a distant
//!   region, and nothing at least as strong is explained; weak evidence alone never makes
//!   `discordant`;
//! * `concordant` — explained evidence (region and side agree, or side not applicable) and
//!   no contradiction of moderate or strong weight;
//! * `partially_concordant` — the rest: the side agrees but the region is only adjacent or
//!   differs, the region agrees but the side is undecided, or strong support outweighs a
//!   contradiction.
//!
//! Confidence comes from the strength of the evidence that decides the verdict (strong 0.9,
//! moderate 0.7, weak 0.5; partial verdicts 0.6 of that), not from a ratio of scores. The
//! symptoms the tumour does not explain are listed.

use serde::{Deserialize, Serialize};
use symptom_kb::{
    Handedness, Hemisphere, KnowledgeBase, Laterality, Side, Strength, Suspected, Suspicion,
};

use crate::localize::{RegionOverlap, TumourFinding};

/// A tumour region counts for the region match from this share of the tumour.
pub const MIN_REGION_SHARE: f64 = 0.1;

/// The cross-check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Symptoms point where the tumour is (region and side).
    Concordant,
    /// Partly: side right and region adjacent or different, or region right and side
    /// undecided, or support outweighing a contradiction.
    PartiallyConcordant,
    /// Moderate or strong evidence points to the other side or a distant region.
    Discordant,
    /// Nothing to compare (no tumour, or no localising symptom).
    Indeterminate,
}

impl Verdict {
    /// `concordant`, `partially_concordant`, `discordant`, `indeterminate`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Concordant => "concordant",
            Verdict::PartiallyConcordant => "partially_concordant",
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

impl Stance {
    /// `supporting`, `contradicting`, `silent` (as in the JSON).
    pub fn name(self) -> &'static str {
        match self {
            Stance::Supporting => "supporting",
            Stance::Contradicting => "contradicting",
            Stance::Silent => "silent",
        }
    }
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
    /// The side of the body, ear or visual field the patient gave (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// The patient's words it was understood from (absent for a code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
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
    /// The localising symptoms the tumour does not explain (labels).
    #[serde(default)]
    pub unexplained: Vec<String>,
}

/// Regions that count as one for explaining a symptom, both ways (see the module docs).
pub const RELATED: [(&str, &str); 4] = [
    ("corpus_callosum", "frontal_lobe"),
    ("pineal_region", "midbrain"),
    ("pituitary_sellar", "hypothalamus"),
    ("cerebellar_hemisphere", "cerebellar_vermis"),
];

/// Regions that border each other (either order).
pub const ADJACENT: [(&str, &str); 30] = [
    ("frontal_lobe", "parietal_lobe"),
    ("frontal_lobe", "temporal_lobe"),
    ("frontal_lobe", "insula"),
    ("frontal_lobe", "basal_ganglia"),
    ("parietal_lobe", "occipital_lobe"),
    ("parietal_lobe", "temporal_lobe"),
    ("parietal_lobe", "insula"),
    ("parietal_lobe", "corpus_callosum"),
    ("temporal_lobe", "occipital_lobe"),
    ("temporal_lobe", "insula"),
    ("temporal_lobe", "basal_ganglia"),
    ("temporal_lobe", "thalamus"),
    ("insula", "basal_ganglia"),
    ("basal_ganglia", "thalamus"),
    ("basal_ganglia", "ventricles"),
    ("thalamus", "midbrain"),
    ("thalamus", "hypothalamus"),
    ("thalamus", "pineal_region"),
    ("thalamus", "ventricles"),
    ("corpus_callosum", "ventricles"),
    ("hypothalamus", "ventricles"),
    ("pineal_region", "ventricles"),
    ("pineal_region", "cerebellar_vermis"),
    ("midbrain", "pons"),
    ("pons", "medulla"),
    ("pons", "cerebellopontine_angle"),
    ("pons", "cerebellum"),
    ("medulla", "cerebellum"),
    ("cerebellopontine_angle", "cerebellum"),
    ("occipital_lobe", "corpus_callosum"),
];

/// How a symptom's regions relate to the tumour's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Distant,
    Adjacent,
    Explained,
}

/// How a symptom's side relates to the tumour's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SideCall {
    Agrees,
    Disagrees,
    Undecided,
    NotApplicable,
}

fn rank(s: Strength) -> u8 {
    match s {
        Strength::Strong => 3,
        Strength::Moderate => 2,
        Strength::Weak => 1,
    }
}

fn rank_confidence(r: u8) -> f64 {
    match r {
        3 => 0.9,
        2 => 0.7,
        1 => 0.5,
        _ => 0.0,
    }
}

/// One localising symptom, judged.
struct Judged {
    code: String,
    label: String,
    strength: u8,
    place: Place,
    side: SideCall,
    points_to: Vec<String>,
    /// The lesion it was judged against (id, name), when not the whole tumour.
    lesion: Option<(usize, String)>,
}

fn site(region: &str, h: Option<Hemisphere>) -> String {
    match h {
        Some(h) => format!("{region}@{}", h.name()),
        None => region.to_string(),
    }
}

/// A place the tumour occupies, for judging a symptom: the whole tumour, or one of its
/// lesions when it has several.
struct TumourSite<'a> {
    /// Its regions: those holding at least [`MIN_REGION_SHARE`] of it, and its primary.
    regions: Vec<&'a str>,
    hemisphere: Option<Hemisphere>,
    /// The lesion's id and how it is named (`frontal_lobe@left, 0.9 cm³`); `None` for the
    /// whole tumour.
    lesion: Option<(usize, String)>,
}

/// The whole tumour first, then each lesion when there are at least two.
fn tumour_sites(finding: &TumourFinding) -> Vec<TumourSite<'_>> {
    fn regions<'a>(list: &'a [RegionOverlap], primary: Option<&'a str>) -> Vec<&'a str> {
        list.iter()
            .filter(|r| r.fraction >= MIN_REGION_SHARE)
            .map(|r| r.region.as_str())
            .chain(primary)
            .collect()
    }
    let mut sites = vec![TumourSite {
        regions: regions(&finding.regions, finding.primary_region.as_deref()),
        hemisphere: finding.hemisphere,
        lesion: None,
    }];
    if finding.lesions.len() >= 2 {
        sites.extend(finding.lesions.iter().map(|l| TumourSite {
            regions: regions(&l.regions, l.primary_region.as_deref()),
            hemisphere: Some(l.hemisphere),
            lesion: Some((l.id, l.name())),
        }));
    }
    sites
}

/// Compares a finding with a suspicion. A finding with several lesions is judged symptom by
/// symptom against the whole tumour and against each lesion, and each symptom keeps its
/// best match (the whole tumour's when no lesion does better).
pub fn cross_check(
    kb: &KnowledgeBase,
    finding: &TumourFinding,
    suspicion: &Suspicion,
) -> CrossCheck {
    let sites = tumour_sites(finding);
    let related = |a: &str, b: &str| {
        kb.is_within(a, b)
            || kb.is_within(b, a)
            || RELATED.iter().any(|&(x, y)| {
                (kb.is_within(a, x) && kb.is_within(b, y))
                    || (kb.is_within(a, y) && kb.is_within(b, x))
            })
    };
    let adjacent = |a: &str, b: &str| {
        ADJACENT.iter().any(|&(x, y)| {
            (kb.is_within(a, x) && kb.is_within(b, y)) || (kb.is_within(a, y) && kb.is_within(b, x))
        })
    };
    let place_of = |t: &TumourSite, s: &Suspected| {
        if t.regions.iter().any(|r| related(r, &s.region)) {
            Place::Explained
        } else if t.regions.iter().any(|r| adjacent(r, &s.region)) {
            Place::Adjacent
        } else {
            Place::Distant
        }
    };
    let uncertain_dominance = matches!(
        suspicion.handedness,
        Handedness::Left | Handedness::Ambidextrous
    );
    let side_of = |t: &TumourSite, s: &Suspected| -> SideCall {
        let by_dominance = !s.evidence.is_empty()
            && s.evidence
                .iter()
                .all(|e| matches!(e.laterality, Laterality::Dominant | Laterality::NonDominant));
        match (s.hemisphere, t.hemisphere) {
            (_, Some(Hemisphere::Midline) | None) => SideCall::NotApplicable,
            (Some(Hemisphere::Midline | Hemisphere::Bilateral), _) => SideCall::NotApplicable,
            (None, _) => SideCall::Undecided,
            _ if uncertain_dominance && by_dominance => SideCall::Undecided,
            (Some(Hemisphere::Left | Hemisphere::Right), Some(Hemisphere::Bilateral)) => {
                SideCall::Agrees
            }
            (Some(a), Some(b)) if a == b => SideCall::Agrees,
            _ => SideCall::Disagrees,
        }
    };
    // Judge each localising symptom by its best-placed candidate.
    let mut judged: Vec<Judged> = Vec::new();
    for r in &suspicion.resolved {
        if judged.iter().any(|j| j.code == r.code) {
            continue;
        }
        let mine: Vec<(&Suspected, Strength)> = suspicion
            .suspected
            .iter()
            .filter_map(|s| {
                s.evidence
                    .iter()
                    // A syndrome's evidence names all its symptoms ("A+B+C").
                    .filter(|e| e.symptom.split('+').any(|c| c == r.code))
                    .map(|e| e.strength)
                    .min_by_key(|st| std::cmp::Reverse(rank(*st)))
                    .map(|st| (s, st))
            })
            .collect();
        if mine.is_empty() {
            continue;
        }
        let label = mine
            .iter()
            .flat_map(|(s, _)| s.evidence.iter())
            .find(|e| e.symptom == r.code)
            .map_or_else(|| r.code.clone(), |e| e.label.clone());
        let score = |t: &TumourSite, (s, st): &(&Suspected, Strength)| {
            let side_rank = match side_of(t, s) {
                SideCall::Agrees | SideCall::NotApplicable => 2,
                SideCall::Undecided => 1,
                SideCall::Disagrees => 0,
            };
            (place_of(t, s), side_rank, rank(*st))
        };
        // The best-placed candidate against each site; a lesion only where it does
        // strictly better than the whole tumour (and the earlier of equal lesions).
        let mut best = None;
        for t in &sites {
            for m in &mine {
                let sc = score(t, m);
                if best.as_ref().is_none_or(|(b, _, _)| sc > *b) {
                    best = Some((sc, t, m));
                }
            }
        }
        let Some((_, at, best)) = best else {
            continue;
        };
        judged.push(Judged {
            code: r.code.clone(),
            label,
            strength: mine.iter().map(|(_, st)| rank(*st)).max().unwrap_or(1),
            place: place_of(at, best.0),
            side: side_of(at, best.0),
            lesion: at.lesion.clone(),
            points_to: mine
                .iter()
                .map(|(s, _)| site(&s.region, s.hemisphere))
                .collect(),
        });
    }
    let supports = |j: &Judged| {
        j.place == Place::Explained && matches!(j.side, SideCall::Agrees | SideCall::NotApplicable)
    };
    let contradicts = |j: &Judged| j.place == Place::Distant || j.side == SideCall::Disagrees;
    let support = judged
        .iter()
        .filter(|j| supports(j))
        .map(|j| j.strength)
        .max()
        .unwrap_or(0);
    let contra = judged
        .iter()
        .filter(|j| contradicts(j))
        .map(|j| j.strength)
        .max()
        .unwrap_or(0);
    let region_explained = judged.iter().any(|j| j.place == Place::Explained);
    let side_agrees = judged.iter().any(|j| j.side == SideCall::Agrees);
    let region_match = (!judged.is_empty() && finding.found).then_some(region_explained);
    let hemisphere_match = if !finding.found {
        None
    } else {
        let (mut pro, mut con) = (0u32, 0u32);
        for j in &judged {
            match j.side {
                SideCall::Agrees => pro += u32::from(j.strength),
                SideCall::Disagrees => con += u32::from(j.strength),
                _ => {}
            }
        }
        (pro + con > 0).then_some(pro >= con)
    };
    let mut explanation = Vec::new();
    let (verdict, confidence) = if !finding.found {
        explanation.push(
            "No tumour was found in the mask: there is no site to compare the symptoms with."
                .into(),
        );
        (Verdict::Indeterminate, 0.0)
    } else if judged.is_empty() {
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
        (Verdict::Indeterminate, 0.0)
    } else if contra >= 2 && contra >= support {
        (Verdict::Discordant, rank_confidence(contra))
    } else if support > 0 && contra < 2 {
        (Verdict::Concordant, rank_confidence(support))
    } else if support > 0
        || side_agrees
        || region_explained
        || judged.iter().any(|j| j.place == Place::Adjacent)
    {
        let decisive = support.max(judged.iter().map(|j| j.strength).max().unwrap_or(1));
        (
            Verdict::PartiallyConcordant,
            0.6 * rank_confidence(decisive),
        )
    } else {
        explanation.push(
            "Only weak evidence points elsewhere; weak evidence alone does not make the finding discordant."
                .into(),
        );
        (Verdict::Indeterminate, 0.0)
    };
    let tumour_site = site(
        finding.primary_region.as_deref().unwrap_or("?"),
        finding.hemisphere,
    );
    let unexplained: Vec<String> = judged
        .iter()
        .filter(|j| contradicts(j) || (j.place != Place::Explained))
        .map(|j| j.label.clone())
        .collect();
    if finding.found && !judged.is_empty() {
        let lead: Vec<String> = suspicion
            .suspected
            .iter()
            .take(3)
            .map(|s| site(&s.region, s.hemisphere))
            .collect();
        let lesions = match sites.len() {
            0 | 1 => String::new(),
            n => format!(
                " in {} lesions ({})",
                n - 1,
                sites
                    .iter()
                    .filter_map(|t| t.lesion.as_ref())
                    .map(|(id, name)| format!("{id}: {name}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        explanation.push(format!(
            "Tumour: {tumour_site}{lesions}. Leading suspicion from the symptoms: {}.",
            lead.join(", ")
        ));
        explanation.push(match region_match {
            Some(true) => "Region: symptoms point to a region the tumour (or one of its lesions) occupies, or one anatomically tied to it.".into(),
            _ if judged.iter().any(|j| j.place == Place::Adjacent) => "Region: the symptoms point next to the tumour, not into it.".into(),
            _ => "Region: none of the suspected regions is where the tumour lies.".into(),
        });
        explanation.push(match hemisphere_match {
            Some(true) => "Side: the lateralising symptoms agree with the tumour's side.".into(),
            Some(false) => "Side: the lateralising symptoms point to the other hemisphere.".into(),
            None => "Side: not decided (no lateralising symptom, or a midline tumour).".into(),
        });
        if !unexplained.is_empty() {
            explanation.push(format!(
                "Not explained by the tumour: {}.",
                unexplained.join(", ")
            ));
        }
    }
    // Per-symptom stances.
    let mut evidence = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // A symptom may be understood from several clauses: its first side given, and every
    // wording.
    let side_of = |code: &str| {
        suspicion
            .resolved
            .iter()
            .filter(|x| x.code == code)
            .find_map(|x| x.side)
    };
    let said_of = |code: &str| {
        let mut words: Vec<&str> = Vec::new();
        for t in suspicion
            .resolved
            .iter()
            .filter(|x| x.code == code)
            .filter_map(|x| x.text.as_deref())
        {
            if !words.contains(&t) {
                words.push(t);
            }
        }
        (!words.is_empty()).then(|| words.join(" / "))
    };
    for r in &suspicion.resolved {
        if !seen.insert(r.code.clone()) {
            continue;
        }
        let (side, said) = (side_of(&r.code), said_of(&r.code));
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
                side,
                said,
            });
            continue;
        }
        let Some(j) = judged.iter().find(|j| j.code == r.code) else {
            evidence.push(SymptomEvidence {
                symptom: r.code.clone(),
                label: r.code.clone(),
                stance: Stance::Silent,
                points_to: Vec::new(),
                reason: "no localisation rule applies".into(),
                side,
                said,
            });
            continue;
        };
        let strength = ["", "weak", "moderate", "strong"][usize::from(j.strength.min(3))];
        // Judged against one lesion of several: say which.
        let lesion = j
            .lesion
            .as_ref()
            .map(|(id, name)| format!("lesion {id} ({name})"));
        let (stance, reason) = if !finding.found {
            (Stance::Silent, "no tumour to compare with".to_string())
        } else if supports(j) {
            (
                Stance::Supporting,
                format!(
                    "points to {} ({strength})",
                    lesion.as_deref().unwrap_or(&tumour_site)
                ),
            )
        } else if j.side == SideCall::Disagrees && j.place != Place::Distant {
            (
                Stance::Contradicting,
                match &lesion {
                    Some(l) => format!("region of {l}, other side ({strength})"),
                    None => format!("right region, other side ({strength})"),
                },
            )
        } else if j.place == Place::Adjacent {
            (
                Stance::Contradicting,
                format!(
                    "points next to {} ({strength})",
                    lesion.as_deref().unwrap_or("the tumour")
                ),
            )
        } else if j.place == Place::Explained {
            (
                Stance::Supporting,
                match &lesion {
                    Some(l) => format!("region of {l}, side not reported ({strength})"),
                    None => format!("right region, side not reported ({strength})"),
                },
            )
        } else {
            (
                Stance::Contradicting,
                format!("points to another region ({strength})"),
            )
        };
        evidence.push(SymptomEvidence {
            symptom: r.code.clone(),
            label: j.label.clone(),
            stance,
            points_to: j.points_to.clone(),
            reason,
            side,
            said,
        });
    }
    for u in &suspicion.unmatched {
        let nearest: Vec<&str> = u.candidates.iter().map(|c| c.phrase.as_str()).collect();
        evidence.push(SymptomEvidence {
            symptom: String::new(),
            label: u.text.clone(),
            stance: Stance::Silent,
            points_to: Vec::new(),
            reason: if nearest.is_empty() {
                "not understood by the knowledge base".into()
            } else {
                format!(
                    "not understood by the knowledge base (nearest: {})",
                    nearest.join("; ")
                )
            },
            side: None,
            said: None,
        });
    }
    for u in &suspicion.negated {
        evidence.push(SymptomEvidence {
            symptom: String::new(),
            label: u.text.clone(),
            stance: Stance::Silent,
            points_to: Vec::new(),
            reason: "denied by the patient".into(),
            side: None,
            said: None,
        });
    }
    CrossCheck {
        verdict,
        region_match,
        hemisphere_match,
        confidence,
        explanation,
        evidence,
        unexplained,
    }
}
