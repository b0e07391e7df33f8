//! Body side → hemisphere, and the rules a symptom brings adjusted for the company it keeps.

use super::Resolved;
use crate::intake::Handedness;
use crate::lexicon::Side;
use crate::model::{Hemisphere, Laterality, Rule, Strength};

pub(super) const HEARING_LOSS: &str = "HP:0000365";
const FACIAL_PALSY: &str = "HP:0010628";
const NEGLECT: &str = "X-HEMINEGLECT";
const HEMIPARESIS: [&str; 3] = ["HP:0001269", "HP:0002301", "HP:0004374"];
/// Dyscalculia, dysgraphia, finger agnosia, left–right disorientation.
pub(super) const GERSTMANN: [&str; 4] = ["HP:0002442", "HP:0010526", "HP:0010525", "HP:6000000"];

/// The rules for one reported symptom, adjusted for the company it keeps:
/// * facial weakness on the same side as a hemiparesis is an upper-motor-neuron sign of
///   the opposite hemisphere (lower face, with the limbs), not a nerve or brainstem sign;
/// * neglect reported for one side points to the opposite parietal lobe (right-sided
///   neglect → left parietal), whatever the dominance.
pub(super) fn adjusted_rules(
    code: &str,
    stored: &[Rule],
    r: &Resolved,
    all: &[Resolved],
) -> Vec<Rule> {
    let lateral = matches!(r.side, Some(Side::Left | Side::Right));
    if code == FACIAL_PALSY
        && lateral
        && all
            .iter()
            .any(|o| HEMIPARESIS.contains(&o.code.as_str()) && o.side == r.side)
    {
        let rule = |region: &str, strength| {
            Rule {
            rule: "R-UMN-FACE".into(),
            symptom: code.into(),
            region: region.into(),
            laterality: Laterality::Contralateral,
            strength,
            qualifier: None,
            source: "upper-motor-neuron facial weakness with hemiparesis (domain reference, section 1.1 R-CONTRA-MOTOR)".into(),
        }
        };
        return vec![
            rule("frontal_lobe", Strength::Moderate),
            rule("basal_ganglia", Strength::Weak),
        ];
    }
    if code == NEGLECT && lateral {
        return stored
            .iter()
            .map(|x| Rule {
                laterality: Laterality::Contralateral,
                ..x.clone()
            })
            .collect();
    }
    stored.to_vec()
}

/// The hemisphere a rule predicts from the reported side, with a certainty and a note.
pub(super) fn side_to_hemisphere(
    laterality: Laterality,
    side: Option<Side>,
    handedness: Handedness,
) -> (Option<Hemisphere>, f64, Option<String>) {
    let body = side.map(|s| match s {
        Side::Left => Hemisphere::Left,
        Side::Right => Hemisphere::Right,
        Side::Bilateral => Hemisphere::Bilateral,
    });
    match laterality {
        Laterality::Contralateral => (body.map(Hemisphere::opposite), 1.0, None),
        Laterality::Ipsilateral => (body, 1.0, None),
        Laterality::Midline => (Some(Hemisphere::Midline), 1.0, None),
        Laterality::None => (None, 1.0, None),
        Laterality::Dominant | Laterality::NonDominant => {
            let (certainty, note) = match handedness {
                Handedness::Right => (0.96, None),
                Handedness::Unknown => (
                    0.9,
                    Some("handedness not given: left-hemisphere language dominance assumed".to_string()),
                ),
                Handedness::Left | Handedness::Ambidextrous => (
                    0.7,
                    Some("left-handed: about 70 % are left-dominant for language, so the side is less certain".to_string()),
                ),
            };
            if matches!(handedness, Handedness::Left | Handedness::Ambidextrous) {
                // Either hemisphere may be dominant: the sign suggests both.
                return (Some(Hemisphere::Bilateral), certainty, note);
            }
            let dominant = Hemisphere::Left;
            let h = if laterality == Laterality::Dominant {
                dominant
            } else {
                dominant.opposite()
            };
            (Some(h), certainty, note)
        }
    }
}
