//! One clause of a free text, and what can be asked of it without the knowledge base: the
//! body part it names (and whether it names nothing else), an ear, "that side", a denial.
//! [`BodyContext`] carries a body part and its side to the clauses after it.

use crate::lexicon::Side;

/// A clause, normalised once for the questions asked of it.
pub(super) struct Clause {
    /// Normalised ([`crate::lexicon::normalise`]).
    pub(super) norm: String,
    /// The side its side words give.
    pub(super) side: Option<Side>,
    /// Normalised, side words taken out.
    rest: String,
}

impl Clause {
    pub(super) fn new(text: &str) -> Clause {
        let norm = crate::lexicon::normalise(text);
        let (side, rest) = crate::lexicon::extract_side(&norm);
        Clause { norm, side, rest }
    }

    /// Whether it names an ear (귀, "ear").
    pub(super) fn names_an_ear(&self) -> bool {
        self.rest.split(' ').any(|w| {
            w == "ear"
                || w == "ears"
                || w.strip_prefix('귀')
                    .is_some_and(|r| PARTICLES.contains(&r) || r == "에서")
        })
    }

    /// Whether it points back to the side just named ("on that side", "the same side",
    /// 같은 쪽, 그쪽).
    pub(super) fn refers_to_that_side(&self) -> bool {
        let spaced = format!(" {}", self.norm);
        [
            " that side",
            " same side",
            "같은 쪽",
            "같은쪽",
            "그쪽",
            "그 쪽",
        ]
        .iter()
        .any(|p| spaced.contains(p))
    }

    /// Whether it names a body part and nothing else ("My left arm", "오른팔이"): the
    /// subject of the complaint that follows. `body` is [`Clause::body_words`].
    pub(super) fn only_names_a_body_part(&self, body: &[&str]) -> bool {
        !body.is_empty()
            && self.rest.split(' ').all(|w| {
                w.is_empty()
                    || matches!(w, "my" | "the" | "his" | "her" | "and" | "both")
                    || body_word(w).is_some()
            })
    }

    /// Its body words (side words, such as the 왼 of 왼팔, taken off first), as nouns.
    pub(super) fn body_words(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for n in self.rest.split(' ').filter_map(body_word) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

/// The body noun a word names (arms → arm, 팔이 → 팔), if any.
fn body_word(word: &str) -> Option<&'static str> {
    BODY_EN
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, n)| *n)
        .or_else(|| {
            BODY_KO.iter().copied().find(|n| {
                word.strip_prefix(n)
                    .is_some_and(|rest| PARTICLES.contains(&rest))
            })
        })
}

/// The body part (and its side) a clause named, for the clauses after it.
pub(super) struct BodyContext {
    pub(super) side: Option<Side>,
    /// The body words, as nouns without their particles.
    pub(super) words: Vec<&'static str>,
    /// Written in Korean (the carried phrase is then "팔에 …").
    pub(super) korean: bool,
}

impl BodyContext {
    /// The body part `words` of `clause`, on `side`.
    pub(super) fn new(clause: &str, side: Option<Side>, words: Vec<&'static str>) -> Self {
        BodyContext {
            side,
            words,
            korean: clause.chars().any(crate::text::is_hangul),
        }
    }

    /// The words put before a clause that has no body part of its own.
    pub(super) fn phrase(&self) -> String {
        let side = self
            .side
            .map_or(String::new(), |s| format!("{} ", s.name()));
        let words: Vec<String> = self
            .words
            .iter()
            .map(|w| {
                if self.korean {
                    format!("{w}에")
                } else {
                    (*w).to_string()
                }
            })
            .collect();
        format!("{side}{}", words.join(" "))
    }
}

/// English body words whose side patients give once.
const BODY_EN: [(&str, &str); 16] = [
    ("arm", "arm"),
    ("arms", "arm"),
    ("leg", "leg"),
    ("legs", "leg"),
    ("hand", "hand"),
    ("hands", "hand"),
    ("foot", "foot"),
    ("feet", "foot"),
    ("face", "face"),
    ("finger", "finger"),
    ("fingers", "finger"),
    ("toe", "toe"),
    ("toes", "toe"),
    ("thumb", "thumb"),
    ("shoulder", "shoulder"),
    ("body", "body"),
];

/// Korean body nouns (longest first: 팔다리 before 팔), and the particles that may follow
/// them in a word (팔이, 다리에, 손으로, 얼굴도); 발작 and 손해 are not body words.
const BODY_KO: [&str; 10] = [
    "팔다리",
    "손가락",
    "손발",
    "얼굴",
    "다리",
    "어깨",
    "팔",
    "손",
    "발",
    "몸",
];
const PARTICLES: [&str; 16] = [
    "", "이", "가", "에", "에서", "을", "를", "은", "는", "도", "으로", "로", "과", "와", "에도",
    "만",
];

/// Whether a clause denies a complaint: English "no …", "not …", "never …", "without …",
/// "denies …", and "I don't have …", "never had …", "there is no …" anywhere (but not
/// "cannot …" or "does not understand", which are complaints); Korean "…은/는 없어요" (a
/// topic followed by 없-: "두통은 없어요", not "힘이 없어요", which is a complaint), and a
/// symptom verb negated ("머리는 아프지 않아요", "토하지는 않았어요", "안 아파요"; not "잘
/// 보이지 않아요", which is a complaint).
pub(super) fn denies(clause: &str) -> bool {
    denies_norm(&crate::lexicon::normalise(clause))
}

/// [`denies`] of a normalised text.
pub(super) fn denies_norm(norm: &str) -> bool {
    let words: Vec<&str> = norm.split(' ').collect();
    if words
        .first()
        .is_some_and(|w| ["no", "not", "never", "without", "denies", "deny", "nor"].contains(w))
    {
        return true;
    }
    const DENIALS: [&[&str]; 13] = [
        &["do", "not", "get"],
        &["does", "not", "get"],
        &["did", "not", "get"],
        &["never", "get"],
        &["do", "not", "have"],
        &["does", "not", "have"],
        &["did", "not", "have"],
        &["have", "not", "had"],
        &["has", "not", "had"],
        &["never", "had"],
        &["there", "is", "no"],
        &["free", "of"],
        &["no", "longer", "have"],
    ];
    if DENIALS
        .iter()
        .any(|d| words.windows(d.len()).any(|w| w == *d))
    {
        return true;
    }
    // Korean verbs that are themselves the complaint (아프다, 토하다, 어지럽다 …).
    const COMPLAINT_VERBS: [&str; 9] = [
        "아프",
        "아파",
        "토하",
        "어지럽",
        "저리",
        "메스껍",
        "울렁거리",
        "떨리",
        "졸리",
    ];
    let complaint_verb = |w: &str| COMPLAINT_VERBS.iter().any(|v| w.starts_with(v));
    words.windows(2).any(|w| {
        let topic_absent = (w[0].ends_with('은') || w[0].ends_with('는'))
            && w[0].chars().count() >= 2
            && w[1].starts_with('없');
        let verb_negated = ["지", "지는", "지도"]
            .iter()
            .any(|e| w[0].strip_suffix(e).is_some_and(complaint_verb))
            && w[1].starts_with('않');
        let short_negation = w[0] == "안" && complaint_verb(w[1]);
        topic_absent || verb_negated || short_negation
    })
}
