//! One free text → symptoms, clause by clause, each clause with its own side word, a body
//! part and side carried to the clauses after it ([`super::clause`]), and repeats and
//! denials kept apart.

use super::clause::{denies, denies_norm, BodyContext, Clause};
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
        // The body part (and side) the last clause named: patients give it once for
        // several complaints ("my left arm and leg feel numb", "오른쪽 팔이 저리고 힘이
        // 빠져요").
        let mut context: Option<BodyContext> = None;
        // A clause that only named a body part ("My left arm" before "and leg feel numb"):
        // reported as unmatched only if the next clause does not take it up.
        let mut pending: Option<Unmatched> = None;
        // The limb complaints of the clause before, for a body part named after them
        // ("numbness around my mouth and left hand").
        let mut last_limb: Vec<String> = Vec::new();
        // The last side named, for "that side" / "같은 쪽", and the side of the last ear named.
        let mut last_side: Option<Side> = None;
        let mut ear_side: Option<Side> = None;
        for clause in &parts {
            let first_of_clause = resolved.len();
            let c = Clause::new(clause);
            let body = c.body_words();
            if c.only_names_a_body_part(&body) {
                // A body part alone names no complaint of its own: it is the subject of the
                // next clause, or takes the complaint of the one before.
                let side = explicit_side.or(c.side);
                if side.is_some() {
                    last_side = side;
                }
                context = Some(BodyContext::new(clause, side, body));
                if last_limb.is_empty() {
                    if let Some(p) = pending.replace(Unmatched {
                        index,
                        text: clause.clone(),
                        candidates: self.view.lexicon.nearest(clause, 3),
                    }) {
                        unmatched.push(p);
                    }
                } else if side.is_some() {
                    // (Without a side, the body part adds nothing to the complaint before.)
                    for code in &last_limb {
                        resolved.push(Resolved {
                            index,
                            code: code.clone(),
                            side,
                            qualifier: explicit_q,
                            how: format!("the complaint before, of {clause:?} too"),
                            text: Some(clause.clone()),
                        });
                    }
                }
                continue;
            }
            let mut look = self.find(clause);
            let mut took_context = false;
            if look.side.is_none() && explicit_side.is_none() && c.refers_to_that_side() {
                look.side = last_side;
                took_context = last_side.is_some();
            }
            if c.names_an_ear() {
                ear_side = look.side.or(ear_side);
            } else if look.side.is_none()
                && explicit_side.is_none()
                && ear_side.is_some()
                && look
                    .matches
                    .first()
                    .is_some_and(|m| EAR.contains(&m.code.as_str()))
            {
                // "왼쪽 귀가 꽉 막힌 느낌이고 소리가 잘 안 들려요": the ear just named.
                look.side = ear_side;
                took_context = true;
            }
            if let (Some(ctx), None, None) = (&context, look.side, explicit_side) {
                if !body.is_empty() {
                    // A limb named without a side takes the side just given.
                    look.side = ctx.side;
                    took_context = ctx.side.is_some();
                } else if !ctx.words.is_empty() {
                    // A complaint without a body part of its own belongs to the one just
                    // named — when that makes it a complaint of that limb.
                    let carried = self.find(&format!("{} {clause}", ctx.phrase()));
                    if self.limb_complaint(&carried) && !self.other_complaint(&look, &carried) {
                        look = carried;
                        took_context = true;
                    }
                }
            }
            if let Some(p) = pending.take() {
                if !took_context {
                    unmatched.push(p);
                }
            }
            if !body.is_empty() {
                context = Some(BodyContext::new(clause, look.side, body));
            }
            if look.side.is_some() {
                last_side = look.side;
            }
            last_limb.clear();
            // "no motivation" is itself a complaint: a clause that is a known phrase is
            // never a denial.
            // Nor is a clause whose negation belongs to a complaint found in it ("I haven't
            // had a period" holds "have not had a period").
            let known = look
                .matches
                .first()
                .is_some_and(|m| m.kind != MatchKind::Contained && m.score >= 0.95)
                || look
                    .matches
                    .iter()
                    .any(|m| m.kind == MatchKind::Contained && denies(&m.phrase));
            if !known && (denies_norm(&c.norm) || self.absent_symptom(&c.norm)) {
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
            // A phrase found inside a longer phrase that was also found says less: "손에 힘이
            // 없어요" is weakness of the hand, not the fatigue of its "힘이 없어요".
            let keys: Vec<String> = contained
                .iter()
                .map(|m| crate::lexicon::key(&m.phrase).replace(' ', ""))
                .collect();
            let contained: Vec<_> = contained
                .iter()
                .zip(&keys)
                .filter(|(_, k)| {
                    !keys
                        .iter()
                        .any(|o| o.len() > k.len() && o.contains(k.as_str()))
                })
                .map(|(m, _)| *m)
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
                let mut code = m.code.clone();
                let mut how =
                    format!("{:?} match {:.2} on {:?}", m.kind, m.score, m.phrase).to_lowercase();
                if took_context {
                    how.push_str(", with the body part or side named before it");
                }
                // Weakness on one side is hemiparesis ("left-sided weakness").
                if code == MUSCLE_WEAKNESS
                    && matches!(explicit_side.or(look.side), Some(Side::Left | Side::Right))
                {
                    code = HEMIPARESIS.to_string();
                    how.push_str(", on one side: hemiparesis");
                }
                let side = if look.eye && VISUAL_FIELD.contains(&m.code.as_str()) {
                    // 왼쪽 눈 names an eye, not a half of the visual field.
                    None
                } else {
                    look.side
                };
                let side = explicit_side.or(side);
                // Bitemporal means both outer halves: a field loss on one side named is
                // homonymous ("I cannot see things on my left side" also holds a phrase of
                // "cannot see things at the sides").
                if code == BITEMPORAL_HEMIANOPIA && matches!(side, Some(Side::Left | Side::Right)) {
                    code = HOMONYMOUS_HEMIANOPIA.to_string();
                    how.push_str(", on one side: homonymous");
                }
                // Found twice in one clause (two phrases of one symptom): once.
                if resolved[first_of_clause..]
                    .iter()
                    .any(|r| r.code == code && r.side == side)
                {
                    continue;
                }
                found.insert(code.clone());
                if self.symptom_is_of_a_limb(&code) {
                    last_limb.push(code.clone());
                }
                resolved.push(Resolved {
                    index,
                    code,
                    side,
                    qualifier: explicit_q.or(look.qualifier),
                    how,
                    text: Some(clause.clone()),
                });
            }
            // A field loss is bitemporal or homonymous, not both: with no side given, the
            // bitemporal reading ("cannot see things at the sides") is the one that says
            // where.
            if resolved[first_of_clause..]
                .iter()
                .any(|r| r.code == BITEMPORAL_HEMIANOPIA && r.side.is_none())
            {
                let mut this = resolved.split_off(first_of_clause);
                this.retain(|r| !(r.code == HOMONYMOUS_HEMIANOPIA && r.side.is_none()));
                resolved.extend(this);
            }
        }
        if let Some(p) = pending {
            unmatched.push(p);
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
                    text: Some(text.to_string()),
                });
            }
        }
    }
}

impl KnowledgeBase {
    /// Whether a lookup's best match is a complaint of a limb (weakness, sensation,
    /// coordination, a focal motor seizure).
    fn limb_complaint(&self, look: &crate::lexicon::Lookup) -> bool {
        look.matches
            .first()
            .is_some_and(|m| self.symptom_is_of_a_limb(&m.code))
    }

    /// Whether a symptom is a complaint of a limb (motor, sensory, coordination, a focal
    /// motor seizure).
    fn symptom_is_of_a_limb(&self, code: &str) -> bool {
        use crate::model::Category;
        self.view.symptoms.get(code).is_some_and(|s| {
            matches!(
                s.category,
                Category::Motor | Category::Sensory | Category::Cerebellar
            ) || LIMB_SEIZURES.contains(&s.code.as_str())
        })
    }

    /// Whether a clause on its own is a known phrase (exactly, as a synonym or inside the
    /// text) that is not a complaint of a limb, and that the limb does not make into one:
    /// "어지러워요" stays dizziness after "왼팔이 저리고", while "힘이 없어요" (fatigue)
    /// becomes weakness of the arm ("팔에 힘이 없어요").
    fn other_complaint(
        &self,
        look: &crate::lexicon::Lookup,
        carried: &crate::lexicon::Lookup,
    ) -> bool {
        let Some(own) = look.matches.first().filter(|m| m.score >= 0.9) else {
            return false;
        };
        let refined = carried.matches.first().is_some_and(|c| {
            let (c, o) = (
                crate::lexicon::key(&c.phrase),
                crate::lexicon::key(&own.phrase),
            );
            c.replace(' ', "").contains(&o.replace(' ', ""))
        });
        !self.limb_complaint(look) && !refined
    }
}

impl KnowledgeBase {
    /// Whether a Korean clause says a symptom is absent by its name: "두통이 없어요", "경련도
    /// 없었고", "구토 없음" — the name of a symptom (a one-word Korean label or synonym)
    /// followed by 없-. A faculty that is absent is a complaint: "힘이 없어요", "감각이
    /// 없어요", "생리가 없어요".
    fn absent_symptom(&self, norm: &str) -> bool {
        let words: Vec<&str> = norm.split(' ').collect();
        words.windows(2).any(|w| {
            w[1].starts_with('없')
                && ["", "이", "가", "은", "는", "도"].iter().any(|p| {
                    w[0].strip_suffix(p)
                        .is_some_and(|noun| !noun.is_empty() && self.is_symptom_name(noun))
                })
        })
    }

    /// Whether a Korean word is the one-word name of a symptom (두통, 구토, 경련, 어지럼증).
    fn is_symptom_name(&self, word: &str) -> bool {
        self.view
            .symptoms
            .values()
            .any(|s| s.label_ko == word || s.synonyms_ko.iter().any(|x| x == word))
    }
}

/// Muscle weakness, and what it is when one side is named.
const MUSCLE_WEAKNESS: &str = "HP:0001324";
const HEMIPARESIS: &str = "HP:0001269";

/// Complaints of an ear (hearing loss, tinnitus).
const EAR: [&str; 2] = ["HP:0000365", "HP:0000360"];

/// Seizures of one limb.
const LIMB_SEIZURES: [&str; 2] = ["HP:0011153", "HP:0002266"];

/// Field losses that are one-sided, and both-sided by definition.
const HOMONYMOUS_HEMIANOPIA: &str = "HP:0030516";
const BITEMPORAL_HEMIANOPIA: &str = "HP:0030521";

/// Visual-field symptoms: a side word that names an eye is not their side.
const VISUAL_FIELD: [&str; 4] = ["HP:0001123", "HP:0012377", "HP:0030516", "HP:0030521"];
