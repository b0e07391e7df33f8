//! One free text → symptoms, clause by clause, each clause with its own side word.

use super::{KnowledgeBase, Resolved, Unmatched};
use crate::lexicon::Side;
use crate::model::Qualifier;

impl KnowledgeBase {
    /// One free text → symptoms, clause by clause ([`crate::text::clauses`]), each clause
    /// with its own side word. A text that as a whole is a known phrase (exactly, or as a
    /// synonym) stays one complaint, so phrases with a connective inside ("온몸이 굳고
    /// 떨림") are not cut apart; known multi-word phrases that span clauses are kept too.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn resolve_text(
        &self,
        index: usize,
        text: &str,
        explicit_side: Option<Side>,
        explicit_q: Option<Qualifier>,
        resolved: &mut Vec<Resolved>,
        unmatched: &mut Vec<Unmatched>,
        negated: &mut Vec<Unmatched>,
    ) {
        use crate::lexicon::MatchKind;
        let whole = self.find(text);
        let one = whole
            .matches
            .first()
            .is_some_and(|m| m.kind != MatchKind::Contained && m.score >= 0.95);
        let mut parts = if one {
            vec![text.to_string()]
        } else {
            crate::text::clauses(text)
        };
        if parts.is_empty() {
            parts.push(text.to_string());
        }
        let mut found = std::collections::BTreeSet::new();
        for clause in &parts {
            let look = self.find(clause);
            // "no motivation" is itself a complaint: a clause that is a known phrase is
            // never a denial.
            let known = look
                .matches
                .first()
                .is_some_and(|m| m.kind != MatchKind::Contained && m.score >= 0.95);
            if !known && denies(clause) {
                negated.push(Unmatched {
                    index,
                    text: clause.clone(),
                    candidates: look.matches.into_iter().take(3).collect(),
                });
                continue;
            }
            // Every phrase found inside the clause counts; otherwise its best match.
            let contained: Vec<_> = look
                .matches
                .iter()
                .filter(|m| m.kind == MatchKind::Contained)
                .collect();
            let chosen: Vec<_> = match look.matches.first() {
                Some(best) if best.kind != MatchKind::Contained && best.score >= 0.9 => vec![best],
                Some(_) if !contained.is_empty() => contained,
                Some(best) => vec![best],
                None => vec![],
            };
            if chosen.is_empty() {
                unmatched.push(Unmatched {
                    index,
                    text: clause.clone(),
                    candidates: self.view.lexicon.nearest(clause, 3),
                });
                continue;
            }
            for m in chosen {
                found.insert(m.code.clone());
                let side = if look.eye && VISUAL_FIELD.contains(&m.code.as_str()) {
                    // 왼쪽 눈 names an eye, not a half of the visual field.
                    None
                } else {
                    look.side
                };
                resolved.push(Resolved {
                    index,
                    code: m.code.clone(),
                    side: explicit_side.or(side),
                    qualifier: explicit_q.or(look.qualifier),
                    how: format!("{:?} match {:.2} on {:?}", m.kind, m.score, m.phrase)
                        .to_lowercase(),
                });
            }
        }
        if parts.len() > 1 {
            for m in whole.matches.iter().filter(|m| {
                m.kind == MatchKind::Contained
                    && crate::lexicon::key(&m.phrase).contains(' ')
                    && !found.contains(&m.code)
                    && !parts
                        .iter()
                        .any(|c| crate::lexicon::key(c).contains(&crate::lexicon::key(&m.phrase)))
            }) {
                resolved.push(Resolved {
                    index,
                    code: m.code.clone(),
                    side: explicit_side.or(whole.side),
                    qualifier: explicit_q.or(whole.qualifier),
                    how: format!(
                        "contained match {:.2} on {:?} across clauses",
                        m.score, m.phrase
                    ),
                });
            }
        }
    }
}

/// Visual-field symptoms: a side word that names an eye is not their side.
const VISUAL_FIELD: [&str; 4] = ["HP:0001123", "HP:0012377", "HP:0030516", "HP:0030521"];

/// Whether a clause denies a complaint: English "no …", "not …", "never …", "without …",
/// "denies …"; Korean "…은/는 없어요" (a topic followed by 없-: "두통은 없어요", not "힘이
/// 없어요", which is a complaint).
fn denies(clause: &str) -> bool {
    let norm = crate::lexicon::normalise(clause);
    let words: Vec<&str> = norm.split(' ').collect();
    if words
        .first()
        .is_some_and(|w| ["no", "not", "never", "without", "denies", "deny", "nor"].contains(w))
    {
        return true;
    }
    words.windows(2).any(|w| {
        (w[0].ends_with('은') || w[0].ends_with('는'))
            && w[0].chars().count() >= 2
            && w[1].starts_with('없')
    })
}
