//! Red flags: how soon the patient must be seen, with the reasons, at the top of every
//! report.
//!
//! * **emergency** — raised intracranial pressure with vomiting or a falling level of
//!   consciousness (papilledema or raised-pressure signs with vomiting, drowsiness or
//!   confusion); a sudden severe headache with visual loss (pituitary apoplexy); a dilated
//!   unreactive pupil (herniation); repeated or prolonged seizures; weakness or consciousness
//!   that is getting rapidly worse (over hours, or from one day to the next);
//! * **urgent** — a tumour with a new focal deficit, a first seizure, papilledema alone, a
//!   sudden severe headache alone, weakness or confusion getting gradually worse (점점, over
//!   weeks: the usual course of a tumour, not an emergency by itself);
//! * **routine** — the rest.
//!
//! Decision support: the rules flag what a triage nurse or neurosurgeon would want to see
//! first; they do not replace a clinical assessment.

use serde::{Deserialize, Serialize};
use symptom_kb::{Intake, Suspicion};

use crate::localize::TumourFinding;

/// How soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// The same day, through the emergency department.
    Emergency,
    /// Within days.
    Urgent,
    /// Usual referral.
    Routine,
}

impl Urgency {
    /// `emergency`, `urgent`, `routine`.
    pub fn name(self) -> &'static str {
        match self {
            Urgency::Emergency => "emergency",
            Urgency::Urgent => "urgent",
            Urgency::Routine => "routine",
        }
    }
}

/// The triage and its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triage {
    /// How soon.
    pub urgency: Urgency,
    /// Why (empty for routine without any flag).
    pub reasons: Vec<String>,
}

const PAPILLEDEMA: &str = "HP:0001085";
const RAISED_ICP: &str = "HP:0002516";
const HYDROCEPHALUS: &str = "HP:0000238";
const VOMITING: &str = "HP:0002013";
const DROWSY: &str = "HP:0002329";
const CONFUSED: &str = "HP:0001289";
const THUNDERCLAP: &str = "X-THUNDERCLAP";
const FIXED_PUPIL: &str = "X-FIXED-PUPIL";
const REPEATED_SEIZURES: &str = "X-REPEATED-SEIZURES";
const VISUAL_LOSS: [&str; 4] = ["HP:0000572", "HP:0030521", "HP:0012377", "HP:0001123"];
const WEAKNESS: [&str; 4] = ["HP:0001269", "HP:0002301", "HP:0004374", "HP:0001324"];
const SEIZURES: [&str; 7] = [
    "HP:0001250",
    "HP:0007359",
    "HP:0002197",
    "HP:0002069",
    "HP:0011153",
    "HP:0002266",
    "HP:0002384",
];

/// Words that say a complaint is getting worse quickly, over hours or from one day to the
/// next (Korean and English): with weakness or a falling level of consciousness, an
/// emergency.
const RAPID: [&str; 16] = [
    "급격히",
    "급속히",
    "빠르게",
    "하루가 다르게",
    "몇 시간 만에",
    "시간마다",
    "rapidly",
    "quickly",
    "by the hour",
    "hour by hour",
    "within hours",
    "over hours",
    "worse every day",
    "worse every hour",
    "worse by the day",
    "worse each day",
];

/// Words that say a complaint is getting worse, without saying quickly: the progressive
/// course typical of a tumour, over weeks. With weakness or confusion, urgent (a
/// progressive deficit is seen within days), not an emergency.
const GRADUAL: [&str; 12] = [
    "점점",
    "갈수록",
    "서서히",
    "조금씩",
    "심해지",
    "나빠지",
    "getting worse",
    "worsening",
    "worse and worse",
    "gradually",
    "progressively",
    "more and more",
];

/// Whether `lower` says one of `words`, not denied just before ("not getting worse",
/// "isn't worsening", "no worse").
fn says(lower: &str, words: &[&str]) -> bool {
    words.iter().any(|w| {
        lower.match_indices(w).any(|(at, _)| {
            let before = lower[..at].trim_end();
            !(before.ends_with(" not")
                || before == "not"
                || before.ends_with("n't")
                || before.ends_with(" no")
                || before == "no"
                || before.ends_with("안"))
        })
    })
}

/// Triages an intake (and the finding, when there is one).
pub fn triage(intake: &Intake, suspicion: &Suspicion, finding: &TumourFinding) -> Triage {
    let has = |c: &str| suspicion.resolved.iter().any(|r| r.code == c);
    let any = |cs: &[&str]| cs.iter().any(|c| has(c));
    let mut emergency = Vec::new();
    let mut urgent = Vec::new();
    let pressure = any(&[PAPILLEDEMA, RAISED_ICP, HYDROCEPHALUS]);
    if pressure && any(&[VOMITING, DROWSY, CONFUSED]) {
        emergency.push(
            "raised intracranial pressure with vomiting or a falling level of consciousness"
                .to_string(),
        );
    } else if pressure {
        urgent.push("papilledema or raised intracranial pressure".to_string());
    }
    if has(THUNDERCLAP) && any(&VISUAL_LOSS) {
        emergency.push(
            "sudden severe headache with visual loss: possible pituitary apoplexy".to_string(),
        );
    } else if has(THUNDERCLAP) {
        urgent.push("sudden severe headache".to_string());
    }
    if has(FIXED_PUPIL) {
        emergency.push("dilated unreactive pupil: possible herniation".to_string());
    }
    if has(REPEATED_SEIZURES) {
        emergency.push("repeated or prolonged seizures".to_string());
    } else if any(&SEIZURES) {
        urgent.push("seizure".to_string());
    }
    // Worsening, said in the same entry as weakness or reduced consciousness: rapid is an
    // emergency, gradual (the course of most tumours) urgent.
    let mut progressive = None;
    for r in &suspicion.resolved {
        if !(WEAKNESS.contains(&r.code.as_str()) || r.code == DROWSY || r.code == CONFUSED) {
            continue;
        }
        let text = intake
            .symptoms
            .get(r.index)
            .and_then(|s| s.text.as_deref())
            .unwrap_or_default();
        let lower = text.to_lowercase();
        if says(&lower, &RAPID) {
            emergency.push(format!("rapidly worsening: {text:?}"));
            progressive = None;
            break;
        }
        if progressive.is_none() && says(&lower, &GRADUAL) {
            progressive = Some(format!("progressively worsening: {text:?}"));
        }
    }
    urgent.extend(progressive);
    let focal = suspicion.suspected.iter().any(|s| s.score > 0.0);
    if finding.found && focal {
        urgent.push("a tumour with focal neurological signs".to_string());
    }
    let (urgency, reasons) = if !emergency.is_empty() {
        (Urgency::Emergency, emergency)
    } else if !urgent.is_empty() {
        (Urgency::Urgent, urgent)
    } else {
        (Urgency::Routine, Vec::new())
    };
    Triage { urgency, reasons }
}
