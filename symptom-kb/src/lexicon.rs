//! Text → symptoms in Korean and English: normalisation, side and qualifier words, and
//! exact, synonym, contained-phrase and fuzzy matching.
//!
//! - **Normalisation**: lower case, English contractions expanded (can't → cannot, doesn't
//!   → does not), punctuation to spaces, whitespace collapsed; matching also compares the
//!   *compact* form (spaces removed), because Korean spacing varies ("말이 잘 안 나와요" ≈
//!   "말이잘안나와요").
//! - **Side words** are taken out of the text into a [`Side`]: 왼쪽/좌측/왼 → left,
//!   오른쪽/우측/오른 → right, 양쪽/양측 → bilateral; left/right/both/bilateral in English
//!   (with "-sided"; "lt"/"rt", and "l"/"r" before a body word or "sided"). Left and right
//!   together mean bilateral. 한쪽 ("one side") and "side"/"sided" are dropped without
//!   giving a side; "the right words", "right away", "all right" are not a side.
//! - **Qualifiers** for visual fields: superior/upper/위쪽/상부 and inferior/lower/아래쪽/하부.
//! - **Matching**, best first: exact label (score 1), exact synonym (0.95), a known phrase
//!   contained in the text where a word starts (0.9, several per text; inside a Korean word
//!   typed without spaces, also after a connective ending), a phrase of several content
//!   words found in any order (0.88: "my arm is tingling" for "tingling in my arm"), then
//!   fuzzy — Dice similarity of the sets of character bigrams of the compact forms (× 0.85),
//!   kept when ≥ [`FUZZY_THRESHOLD`] and the phrase's first two characters are in the text.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{Qualifier, Symptom};

/// The lowest bigram Dice similarity a fuzzy match may have.
pub const FUZZY_THRESHOLD: f64 = 0.55;

/// The side of the body, ear or visual field a symptom affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Left.
    Left,
    /// Right.
    Right,
    /// Both sides.
    Bilateral,
}

impl Side {
    /// `left`, `right`, `bilateral` (as in the intake JSON).
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
            Side::Bilateral => "bilateral",
        }
    }
}

/// How a text matched a symptom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The code itself or a label.
    Exact,
    /// A synonym or lay phrasing.
    Synonym,
    /// A known phrase found inside a longer text.
    Contained,
    /// Similar spelling.
    Fuzzy,
}

/// One candidate symptom for a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextMatch {
    /// Symptom code.
    pub code: String,
    /// 0–1, higher is better.
    pub score: f64,
    /// How it matched.
    pub kind: MatchKind,
    /// The known phrase that matched.
    pub phrase: String,
}

/// What a free text says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The text as given.
    pub text: String,
    /// Side words found.
    pub side: Option<Side>,
    /// The side word names an eye (왼쪽 눈, "left eye"), not a side of the body or of the
    /// visual field.
    #[serde(default)]
    pub eye: bool,
    /// Qualifier words found.
    pub qualifier: Option<Qualifier>,
    /// Candidates, best first (one per code).
    pub matches: Vec<TextMatch>,
}

#[derive(Debug, Clone)]
struct Entry {
    code: String,
    phrase: String,
    compact: String,
    kind: MatchKind,
    /// Number of distinct bigrams of `compact`.
    grams: usize,
    /// Its content words (stemmed, function words left out), for matching in any order.
    words: Vec<String>,
    /// The byte length of its first two characters.
    head: usize,
}

/// Words left out when a phrase is matched word by word in any order ("tingling in my arm"
/// ≈ "my arm is tingling"; "팔에 힘이 자꾸 빠져요" ≈ "팔에 힘이 빠져요").
const FUNCTION_WORDS: [&str; 41] = [
    "my", "i", "is", "the", "a", "an", "to", "in", "of", "on", "it", "its", "his", "her", "he",
    "she", "has", "have", "had", "been", "am", "are", "was", "were", "be", "me", "so", "very",
    "really", "just", "this", "that", "with", "at", "자꾸", "계속", "너무", "좀", "많이", "정말",
    "잘",
];

/// A phrase of at least this many content words may match its words in any order.
const MIN_ANY_ORDER_WORDS: usize = 2;

/// The score of a phrase whose words all occur in a clause in another order (below a
/// phrase found as written, 0.9).
const ANY_ORDER_SCORE: f64 = 0.88;

fn content_words(key: &str) -> Vec<String> {
    let mut w: Vec<String> = key
        .split(' ')
        .filter(|w| !w.is_empty() && !FUNCTION_WORDS.contains(w))
        .map(str::to_string)
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// The phrase index built from the symptoms.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    entries: Vec<Entry>,
    exact: HashMap<String, Vec<usize>>,
    bigrams: HashMap<(char, char), Vec<usize>>,
    /// Phrases long enough to be found inside a text, by their first two characters.
    heads: HashMap<(char, char), Vec<usize>>,
    /// Phrases of several content words, by the first of them (in sorted order).
    first_words: HashMap<String, Vec<usize>>,
}

/// Lower case, punctuation → space, whitespace collapsed.
pub fn normalise(text: &str) -> String {
    let lowered: String = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(fold_accent)
        .collect();
    // English contractions: "can't" / "can not" → "cannot", "won't" → "will not",
    // "doesn't" → "does not" (curly apostrophes too), so that "I can't smell" meets
    // "cannot smell".
    let expanded = if lowered.contains(['\'', '\u{2019}', '\u{2018}']) {
        lowered
            .replace(['\u{2019}', '\u{2018}'], "'")
            .replace("can't", "cannot")
            .replace("won't", "will not")
            .replace("n't", " not")
    } else {
        lowered
    };
    let spaced: String = expanded
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = Vec::new();
    for w in spaced.split_whitespace() {
        match words.last_mut() {
            Some(last) if w == "not" && *last == "can" => *last = "cannot",
            // Spoken 거 for 것, also written onto its verb: 토할거 같아요 → 토할 것 같아요.
            _ if w == "거" => words.push("것"),
            _ => match w.strip_suffix('거').filter(|v| ends_in_rieul(v)) {
                Some(verb) => {
                    words.push(verb);
                    words.push("것");
                }
                None => words.push(w),
            },
        }
    }
    words.join(" ")
}

/// Latin letters without their accents (déjà vu → deja vu).
fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' => 'a',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        _ => c,
    }
}

/// Whether a Korean word's last syllable ends in ㄹ (할, 될: the future adnominal before 것).
fn ends_in_rieul(word: &str) -> bool {
    word.chars()
        .last()
        .is_some_and(|c| crate::text::is_hangul(c) && (u32::from(c) - 0xAC00) % 28 == 8)
}

fn compact(norm: &str) -> String {
    norm.chars().filter(|c| !c.is_whitespace()).collect()
}

const LEFT: [&str; 4] = ["왼쪽", "좌측", "왼", "좌"];
const RIGHT: [&str; 4] = ["오른쪽", "우측", "오른", "우"];
/// 좌우측/좌우쪽 ("left and right"); bare 좌우 only before a body word (좌우명: a motto,
/// 좌우되다: to be swayed).
const BOTH: [&str; 6] = ["양쪽", "양측", "좌우측", "좌우쪽", "좌우", "양"];
const EN_LEFT: [&str; 2] = ["left", "lt"];
const EN_RIGHT: [&str; 2] = ["right", "rt"];
const EN_BOTH: [&str; 3] = ["both", "bilateral", "bilaterally"];
const FILLER: [&str; 4] = ["sided", "side", "sides", "쪽"];

/// Side words of two syllables or more, which also stand inside a word written without
/// spaces ("갑자기왼쪽팔에힘이없어요": suddenly + left arm weak).
const EMBEDDED: [&str; 8] = [
    "왼쪽",
    "오른쪽",
    "좌측",
    "우측",
    "양쪽",
    "양측",
    "좌우측",
    "좌우쪽",
];

/// `word` split before a side word inside it (`갑자기왼쪽팔에` → `갑자기`, `왼쪽팔에`;
/// `갑자기오른팔에` → `갑자기`, `오른팔에`: 오른/왼 only before 쪽/측 or a body word);
/// itself when there is none or the side word starts it.
fn split_at_embedded_side(word: &str) -> Vec<&str> {
    let short = ["오른", "왼"].into_iter().flat_map(|w| {
        word.match_indices(w)
            .filter(|(at, w)| is_korean_side_context(&word[at + w.len()..]))
            .map(|(at, _)| at)
    });
    let at = EMBEDDED
        .iter()
        .filter_map(|w| word.find(w))
        .chain(short)
        .filter(|&at| at > 0)
        .min();
    match at {
        // 좌우측, 좌우쪽 ("left and right"): both sides, kept whole.
        Some(at) if !word[..at].ends_with("좌") => {
            let (a, b) = word.split_at(at);
            let mut out = vec![a];
            out.extend(split_at_embedded_side(b));
            out
        }
        _ => vec![word],
    }
}

/// Removes side words from normalised text; returns the side and what is left.
pub fn extract_side(norm: &str) -> (Option<Side>, String) {
    let (mut left, mut right, mut both) = (false, false, false);
    let mut kept = Vec::new();
    let words: Vec<&str> = norm.split(' ').flat_map(split_at_embedded_side).collect();
    for (i, &word) in words.iter().enumerate() {
        // "the right words", "right away", "all right": right as in correct.
        let before = i.checked_sub(1).and_then(|j| words.get(j));
        if word == "right" && right_means_correct(before, words.get(i + 1)) {
            kept.push(word.to_string());
            continue;
        }
        // Korean side words are prefixes of the word they qualify ("왼쪽다리", "오른팔").
        let mut rest = word;
        let mut found = false;
        // 한쪽 ("one side") names no side; it is dropped like "side".
        if let Some(r) = rest.strip_prefix("한쪽") {
            rest = r;
            found = true;
        }
        for (list, flag) in [
            (&BOTH[..], &mut both),
            (&LEFT[..], &mut left),
            (&RIGHT[..], &mut right),
        ] {
            if let Some(p) = list.iter().find(|p| {
                rest.starts_with(**p)
                    // A bare one-syllable prefix counts only before 쪽/측 or a body word.
                    && ((p.chars().count() > 1 && **p != "좌우") || {
                        // The body word may follow after a space ("좌우 손", "왼 팔").
                        let after = &rest[p.len()..];
                        let next = words.get(i + 1).copied().unwrap_or("");
                        is_korean_side_context(if after.is_empty() { next } else { after })
                    })
            }) {
                *flag = true;
                rest = &rest[p.len()..];
                found = true;
                break;
            }
        }
        if !found {
            // Clinicians' "R hand", "L-sided": a bare letter is a side only before a body
            // word or "sided".
            let next = words.get(i + 1).copied().unwrap_or("");
            let before_body = ABBREVIATED_BODY.contains(&next);
            if before_body && (word == "l" || word == "r") {
                if word == "l" {
                    left = true;
                } else {
                    right = true;
                }
                continue;
            }
            if EN_LEFT.contains(&word) {
                left = true;
                continue;
            }
            if EN_RIGHT.contains(&word) {
                right = true;
                continue;
            }
            if EN_BOTH.contains(&word) {
                both = true;
                continue;
            }
        }
        let rest = rest.trim_start_matches('쪽');
        if !rest.is_empty() && !FILLER.contains(&rest) {
            kept.push(rest.to_string());
        }
    }
    let side = match (left, right, both) {
        (_, _, true) | (true, true, _) => Some(Side::Bilateral),
        (true, false, false) => Some(Side::Left),
        (false, true, false) => Some(Side::Right),
        _ => None,
    };
    (side, kept.join(" "))
}

/// Words after which a bare "l" or "r" is a side.
const ABBREVIATED_BODY: [&str; 16] = [
    "sided",
    "side",
    "arm",
    "arms",
    "leg",
    "legs",
    "hand",
    "hands",
    "foot",
    "face",
    "facial",
    "eye",
    "ear",
    "upper",
    "lower",
    "hemiparesis",
];

/// Whether English "right" between these words means "correct" or "just", not a side.
fn right_means_correct(before: Option<&&str>, after: Option<&&str>) -> bool {
    const AFTER: [&str; 14] = [
        "word",
        "words",
        "way",
        "thing",
        "things",
        "answer",
        "name",
        "names",
        "now",
        "away",
        "after",
        "before",
        "time",
        "direction",
    ];
    after.is_some_and(|a| AFTER.contains(a)) || before.is_some_and(|b| ["all", "not"].contains(b))
}

fn is_korean_side_context(rest: &str) -> bool {
    const BODY: [&str; 10] = [
        "쪽", "측", "팔", "다리", "손", "발", "귀", "눈", "얼굴", "몸",
    ];
    BODY.iter().any(|b| rest.starts_with(b))
}

/// Removes visual-field qualifier words; returns the qualifier and what is left.
pub fn extract_qualifier(norm: &str) -> (Option<Qualifier>, String) {
    const SUP: [&str; 6] = ["superior", "upper", "위쪽", "상부", "상측", "윗쪽"];
    const INF: [&str; 5] = ["inferior", "lower", "아래쪽", "하부", "하측"];
    let mut q = None;
    let mut kept = Vec::new();
    for word in norm.split(' ') {
        if SUP.contains(&word) {
            q = Some(Qualifier::Superior);
        } else if INF.contains(&word) {
            q = Some(Qualifier::Inferior);
        } else if word != "quadrant" && word != "사분면" && !word.is_empty() {
            kept.push(word);
        }
    }
    (q, kept.join(" "))
}

/// Parses a free-text qualifier (from the intake's `qualifier` field).
pub fn parse_qualifier(text: &str) -> Option<Qualifier> {
    extract_qualifier(&normalise(text)).0
}

fn bigrams(s: &str) -> Vec<(char, char)> {
    let c: Vec<char> = s.chars().collect();
    if c.len() == 1 {
        return vec![(c[0], ' ')];
    }
    c.windows(2).map(|w| (w[0], w[1])).collect()
}

fn distinct_bigrams(s: &str) -> Vec<(char, char)> {
    let mut g = bigrams(s);
    g.sort_unstable();
    g.dedup();
    g
}

/// The phrase a text or label reduces to for matching: normalised, side and qualifier
/// words removed, Korean words reduced to their shared stem ([`crate::text::stem`]).
pub fn key(text: &str) -> String {
    let norm = normalise(text);
    let (_, rest) = extract_side(&norm);
    stem_words(&extract_qualifier(&rest).1)
}

fn stem_words(text: &str) -> String {
    text.split(' ')
        .map(crate::text::stem)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a side word in `norm` names an eye (왼쪽 눈, "left eye") rather than a side of
/// the body or of the visual field.
fn side_names_an_eye(norm: &str) -> bool {
    let words: Vec<&str> = norm.split(' ').collect();
    words.windows(2).any(|w| {
        let side = LEFT
            .iter()
            .chain(&RIGHT)
            .chain(&BOTH)
            .any(|p| w[0].starts_with(p))
            || EN_LEFT.contains(&w[0])
            || EN_RIGHT.contains(&w[0])
            || EN_BOTH.contains(&w[0]);
        side && (w[1].starts_with('눈') || w[1] == "eye" || w[1] == "eyes")
    }) || words.iter().any(|w| {
        LEFT.iter().chain(&RIGHT).any(|p| {
            w.strip_prefix(p)
                .is_some_and(|r| r.trim_start_matches('쪽').starts_with('눈'))
        })
    })
}

impl Lexicon {
    /// Builds the index from symptoms.
    pub fn new(symptoms: &[Symptom]) -> Self {
        let mut lex = Lexicon::default();
        for s in symptoms {
            lex.add(&s.code, &s.code.to_lowercase(), MatchKind::Exact);
            for label in [&s.label_en, &s.label_ko] {
                lex.add(&s.code, label, MatchKind::Exact);
            }
            for syn in s.synonyms_en.iter().chain(&s.synonyms_ko) {
                lex.add(&s.code, syn, MatchKind::Synonym);
            }
        }
        lex
    }

    fn add(&mut self, code: &str, phrase: &str, kind: MatchKind) {
        let k = key(phrase);
        let c = compact(&k);
        if c.is_empty() {
            return;
        }
        let idx = self.entries.len();
        self.exact.entry(c.clone()).or_default().push(idx);
        let grams = distinct_bigrams(&c);
        for g in &grams {
            self.bigrams.entry(*g).or_default().push(idx);
        }
        let long_enough = if c.is_ascii() {
            c.len() >= 4
        } else {
            c.chars().count() >= 2
        };
        // The byte length of its first two characters, which also key `heads`.
        let head = c.char_indices().nth(2).map_or(c.len(), |(i, _)| i);
        let mut two = c[..head].chars();
        if let (true, Some(a), Some(b)) = (long_enough, two.next(), two.next()) {
            self.heads.entry((a, b)).or_default().push(idx);
        }
        let words = content_words(&k);
        if words.len() >= MIN_ANY_ORDER_WORDS {
            self.first_words
                .entry(words[0].clone())
                .or_default()
                .push(idx);
        }
        self.entries.push(Entry {
            code: code.to_string(),
            phrase: phrase.to_string(),
            compact: c,
            kind,
            grams: grams.len(),
            words,
            head,
        });
    }

    /// The normalised keys of every phrase, with their codes (for the stored text index).
    pub fn keys(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.compact.as_str(), e.code.as_str()))
    }

    /// The `n` known phrases most similar to a text (bigram Dice of the stemmed compact
    /// forms, however low), best first — suggestions for a text nothing matched.
    pub fn nearest(&self, text: &str, n: usize) -> Vec<TextMatch> {
        let norm = normalise(text);
        let (_, rest) = extract_side(&norm);
        let c = compact(&stem_words(&extract_qualifier(&rest).1));
        if c.is_empty() {
            return Vec::new();
        }
        let query = distinct_bigrams(&c);
        let mut best: HashMap<&str, TextMatch> = HashMap::new();
        for (e, shared) in self.entries.iter().zip(self.shared_bigrams(&query)) {
            if shared == 0 {
                continue;
            }
            let d = 2.0 * f64::from(shared) / (query.len() + e.grams) as f64;
            let m = best.entry(e.code.as_str()).or_insert_with(|| TextMatch {
                code: e.code.clone(),
                score: -1.0,
                kind: MatchKind::Fuzzy,
                phrase: e.phrase.clone(),
            });
            if d > m.score {
                m.score = d;
                m.phrase = e.phrase.clone();
            }
        }
        let mut out: Vec<TextMatch> = best.into_values().collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.code.cmp(&b.code))
        });
        out.truncate(n);
        out
    }

    /// For every phrase, how many of the (distinct) bigrams `query` it shares, counted
    /// through the bigram index (only phrases sharing one are touched).
    fn shared_bigrams(&self, query: &[(char, char)]) -> Vec<u16> {
        let mut shared = vec![0u16; self.entries.len()];
        for g in query {
            for &i in self.bigrams.get(g).into_iter().flatten() {
                shared[i] = shared[i].saturating_add(1);
            }
        }
        shared
    }

    /// Looks a free text up.
    pub fn lookup(&self, text: &str) -> Lookup {
        let norm = normalise(text);
        let eye = side_names_an_eye(&norm);
        let (side, rest) = extract_side(&norm);
        let (qualifier, rest) = extract_qualifier(&rest);
        let rest = stem_words(&rest);
        let c = compact(&rest);
        let mut best: HashMap<String, TextMatch> = HashMap::new();
        let mut offer = |e: &Entry, score: f64, kind: MatchKind| {
            let m = best.entry(e.code.clone()).or_insert_with(|| TextMatch {
                code: e.code.clone(),
                score: -1.0,
                kind,
                phrase: e.phrase.clone(),
            });
            if score > m.score {
                *m = TextMatch {
                    code: e.code.clone(),
                    score,
                    kind,
                    phrase: e.phrase.clone(),
                };
            }
        };
        if !c.is_empty() {
            if let Some(ids) = self.exact.get(&c) {
                for &i in ids {
                    let e = &self.entries[i];
                    let score = if e.kind == MatchKind::Exact {
                        1.0
                    } else {
                        0.95
                    };
                    offer(e, score, e.kind);
                }
            }
            // Known phrases inside a longer text (each phrase of at least 2 Korean or 4
            // Latin characters), starting where a word of the text starts: a short label
            // such as 기면 must not match inside 생기면. Looked up by the two characters there.
            let mut starts = Vec::new();
            let mut at = 0usize;
            for word in rest.split(' ') {
                starts.push(at);
                // Korean typed without spaces ("머리가아프고토했어요"): a complaint also
                // starts after a connective ending inside a word (-고, -며, -서, -데).
                let mut inner = 0usize;
                let mut chars = word.chars().peekable();
                while let Some(ch) = chars.next() {
                    inner += ch.len_utf8();
                    if inner > ch.len_utf8()
                        && matches!(ch, '고' | '며' | '서' | '데')
                        && chars.peek().is_some_and(|n| crate::text::is_hangul(*n))
                    {
                        starts.push(at + inner);
                    }
                }
                at += word.len();
            }
            for at in starts {
                let tail = &c[at..];
                let mut head = tail.chars();
                let (Some(a), Some(b)) = (head.next(), head.next()) else {
                    continue;
                };
                for &i in self.heads.get(&(a, b)).into_iter().flatten() {
                    let e = &self.entries[i];
                    if e.compact.len() < c.len() && tail.starts_with(&e.compact) {
                        offer(e, 0.9, MatchKind::Contained);
                    }
                }
            }
            // Every content word of a phrase in the text, in another order or with other
            // words between them ("my arm is tingling" for "tingling in my arm").
            let text_words = content_words(&rest);
            for w in &text_words {
                for &i in self.first_words.get(w).into_iter().flatten() {
                    let e = &self.entries[i];
                    if e.words.iter().all(|w| text_words.binary_search(w).is_ok()) {
                        offer(e, ANY_ORDER_SCORE, MatchKind::Contained);
                    }
                }
            }
            // Fuzzy: Dice similarity of the distinct-bigram sets, counted through the
            // bigram index (only entries sharing a bigram are touched).
            let query = distinct_bigrams(&c);
            let shared = self.shared_bigrams(&query);
            for (i, &n) in shared.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let e = &self.entries[i];
                let d = 2.0 * f64::from(n) / (query.len() + e.grams) as f64;
                // The phrase's first two characters must be in the text: they name what
                // the complaint is about (허리가 아파요 is not 머리가 아파요).
                if d >= FUZZY_THRESHOLD && c.contains(&e.compact[..e.head]) {
                    offer(e, 0.85 * d, MatchKind::Fuzzy);
                }
            }
        }
        let mut matches: Vec<TextMatch> = best.into_values().filter(|m| m.score >= 0.0).collect();
        matches.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.code.cmp(&b.code))
        });
        Lookup {
            text: text.to_string(),
            side,
            eye,
            qualifier,
            matches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_words_inside_a_word_split_it() {
        assert_eq!(
            split_at_embedded_side("갑자기왼쪽팔에힘이"),
            ["갑자기", "왼쪽팔에힘이"]
        );
        assert_eq!(
            split_at_embedded_side("요즘오른팔과왼쪽다리가"),
            ["요즘", "오른팔과", "왼쪽다리가"]
        );
        // A side word that starts the word, 좌우측 (both), and 오른 not before a body word
        // (떠오른다: comes to mind) leave it whole.
        for whole in ["왼쪽팔에", "좌우측이", "떠오른다", "머리가아파요"] {
            assert_eq!(split_at_embedded_side(whole), [whole]);
        }
        assert_eq!(
            extract_side("어제부터오른쪽다리가저려요"),
            (Some(Side::Right), "어제부터 다리가저려요".to_string())
        );
        assert_eq!(
            split_at_embedded_side("요즘좌우측팔이"),
            ["요즘", "좌우측팔이"]
        );
    }

    #[test]
    fn left_and_right_together_is_both_sides() {
        for (text, kept) in [
            ("좌우측 팔이 저려요", "팔이 저려요"),
            ("좌우쪽 다리에 힘이 없어요", "다리에 힘이 없어요"),
            ("좌우 손이 떨려요", "손이 떨려요"),
            ("양 팔이 저려요", "팔이 저려요"),
            ("요즘좌우측팔이 저려요", "요즘 팔이 저려요"),
        ] {
            assert_eq!(
                extract_side(text),
                (Some(Side::Bilateral), kept.to_string()),
                "{text}"
            );
        }
        // 좌우 not before a body word is no side: 좌우명 (a motto), 좌우되다 (to be swayed).
        for text in ["좌우명이 있어요", "기분에 좌우되다"] {
            assert_eq!(extract_side(text), (None, text.to_string()), "{text}");
        }
    }
}
