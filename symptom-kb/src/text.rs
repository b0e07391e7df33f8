//! Free text the way patients write it: clauses, and Korean and English inflections.
//!
//! A sentence often holds several complaints ("왼쪽 팔에 힘이 빠지고 말이 어눌해요", "my
//! right hand is numb and I see double"). [`clauses`] splits it where one complaint ends:
//! at Korean connective endings (-고, -며, -면서, -는데, -지만, -거나, -다가, -서 and the
//! -아서/-어서 family; not -려고, nor a place in -에서), at 그리고/또/및, at English "and",
//! "but", "also", "plus", "then", and at commas, semicolons and full stops. Each clause is
//! then matched on its own with its own side word.
//!
//! [`stem`] reduces a word to a form shared by its inflections, so that a lexicon phrase in
//! one form matches a text in another: 빠지고 / 빠져요 / 빠졌어요 / 빠짐 → 빠지, 어눌해요 /
//! 어눌하고 → 어눌하, 아파요 / 아프고 → 아프, 저려요 → 저리, 어지러워요 → 어지럽, 떨었대요 →
//! 떨, 반복하세요 → 반복하; English by [`stem_en`] (headaches → headach, spinning → spin).
//! Both the lexicon and the text go through it, so it only has to be consistent, not
//! grammatical.

/// Korean endings that close a clause when a word ends with them (longest first).
const CONNECTIVES: [&str; 10] = [
    "면서", "는데", "은데", "지만", "거나", "다가", "고", "며", "서", "데",
];

/// Words that join clauses.
const JOINERS: [&str; 12] = [
    "그리고",
    "또",
    "또한",
    "및",
    "그러고",
    "and",
    "but",
    "also",
    "plus",
    "then",
    "또는",
    "그런데",
];

/// Splits a free text into clauses (each trimmed, none empty). A text without a clause
/// boundary is one clause.
pub fn clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let flush = |cur: &mut Vec<&str>, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(cur.join(" "));
            cur.clear();
        }
    };
    for piece in text.split([',', ';', '.', '!', '?', '，', '。', '\n']) {
        for word in piece.split_whitespace() {
            let lower = word.to_lowercase();
            if JOINERS.contains(&lower.as_str()) {
                flush(&mut cur, &mut out);
                continue;
            }
            // 보고 after an object (소변을 … 보고) is the verb 보다 with -고, not the noun.
            let object_before = cur.last().is_some_and(|w| w.ends_with(['을', '를']))
                || cur.len() >= 2
                    && cur[cur.len() - 2].ends_with(['을', '를'])
                    && cur
                        .last()
                        .is_some_and(|w| ["많이", "자주", "너무", "잘", "못"].contains(w));
            cur.push(word);
            if ends_clause(word) || (word == "보고" && object_before) {
                flush(&mut cur, &mut out);
            }
        }
        flush(&mut cur, &mut out);
    }
    out
}

/// Whether a Korean word ends a clause: a verb or adjective with a connective ending (at
/// least one syllable before the ending), not a noun that merely ends like one (사고,
/// 교과서) nor a particle (에서).
fn ends_clause(word: &str) -> bool {
    let w: Vec<char> = word.chars().collect();
    if !w.last().is_some_and(|c| is_hangul(*c)) {
        return false;
    }
    let s: String = w.iter().collect();
    CONNECTIVES
        .iter()
        .any(|e| s.ends_with(e) && s.chars().count() > e.chars().count())
        && !NOUNISH.iter().any(|n| s.ends_with(n))
        && !NOT_VERBS.contains(&s.as_str())
        // -려고 ("in order to": 말하려고 하면) introduces the complaint, it does not end one;
        // 귀에서 is a place, not a connective.
        && !s.ends_with("려고")
        && !s.ends_with("에서")
}

/// Common words that end like a connective but are nouns or particles.
const NOUNISH: [&str; 9] = [
    "사고",
    "최고",
    "경고",
    "참고",
    "광고",
    "보고",
    "신고",
    "재고",
    "교과서",
];
const NOT_VERBS: [&str; 5] = ["부터서", "그래서", "그런데", "그리고", "하는데"];

pub(crate) fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// Endings replaced by a stem-final syllable, tried longest first: (ending, replacement).
const RULES: &[(&str, &str)] = &[
    // 하다 verbs and adjectives.
    ("했었어요", "하"),
    ("했어요", "하"),
    ("하는데", "하"),
    ("합니다", "하"),
    ("해져요", "하"),
    ("해서", "하"),
    ("해요", "하"),
    ("하고", "하"),
    ("하며", "하"),
    ("하면", "하"),
    ("해짐", "하"),
    ("했음", "하"),
    ("함", "하"),
    ("한", "하"),
    // -지다 (빠지다, 처지다, 떨어지다, 흐려지다).
    ("졌어요", "지"),
    ("지는데", "지"),
    ("져서", "지"),
    ("져요", "지"),
    ("지고", "지"),
    ("지며", "지"),
    ("졌음", "지"),
    ("짐", "지"),
    // -리다 (저리다, 떨리다, 들리다, 흐리다).
    ("렸어요", "리"),
    ("려서", "리"),
    ("려요", "리"),
    ("리고", "리"),
    ("림", "리"),
    // ㅂ-irregular adjectives (어지럽다, 무겁다, 어렵다).
    ("러워요", "럽"),
    ("러워서", "럽"),
    ("러웠어요", "럽"),
    ("럽고", "럽"),
    ("려워요", "렵"),
    ("려워서", "렵"),
    ("렵고", "렵"),
    // 으-dropping (아프다, 나쁘다, 바쁘다).
    ("팠어요", "프"),
    ("파서", "프"),
    ("파요", "프"),
    ("프고", "프"),
    ("픔", "프"),
    ("빠요", "쁘"),
    ("빠서", "쁘"),
    ("쁘고", "쁘"),
    // 되다.
    ("됐어요", "되"),
    ("돼서", "되"),
    ("돼요", "되"),
    ("되고", "되"),
    ("됨", "되"),
    // 보이다, 움직이다 (-이다 verbs: 보여요 / 움직였어요 → 보이 / 움직이).
    ("보여요", "보이"),
    ("보여서", "보이"),
    ("보이고", "보이"),
    ("였어요", "이"),
    ("여요", "이"),
    ("여서", "이"),
    // Reported speech (떨었대요: "they say he shook") and -겠- (알아듣겠어요).
    ("했대요", "하"),
    ("었대요", ""),
    ("았대요", ""),
    ("겠어요", ""),
    ("대요", ""),
    // Honorific -시- (어눌해지셨어요, 말씀하셨어요) and 마시다 / 다시다 (마셔요 → 마시).
    ("지셨어요", "지"),
    ("하셨어요", "하"),
    ("셨어요", "시"),
    ("셔요", "시"),
    ("셔서", "시"),
    // 오다 (나와요 / 나왔어요 / 나와서 → 나오).
    ("왔어요", "오"),
    ("와요", "오"),
    ("와서", "오"),
    // 보다 (소변을 봐요 / 봤어요 / 보고).
    ("봤어요", "보"),
    ("봐요", "보"),
    ("봐서", "보"),
    ("보고", "보"),
    // Plain endings.
    ("았어요", ""),
    ("었어요", ""),
    ("어요", ""),
    ("아요", ""),
    ("습니다", ""),
    ("는데", ""),
    ("어서", ""),
    // Honorifics (반복하세요) and connectives left on a clause's last word (멍해지면서,
    // 떨리다가).
    ("하세요", "하"),
    ("세요", ""),
    ("면서", ""),
    ("다가", ""),
    ("지만", ""),
    ("거나", ""),
];

/// Single-syllable endings stripped last (only from words of at least two syllables).
const SHORT: [&str; 7] = ["요", "고", "며", "서", "음", "다", "는"];

/// The shared form of a word: Korean endings as above, English inflections by
/// [`stem_en`]; other words are returned unchanged.
pub fn stem(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_lowercase()) {
        return stem_en(word);
    }
    if !word.chars().last().is_some_and(is_hangul) {
        return word.to_string();
    }
    let n = word.chars().count();
    // Chat spellings: -여 for -요 (어지러워여, 저려여).
    let spoken;
    let word = match word.strip_suffix('여') {
        Some(rest) if n >= 2 => {
            spoken = format!("{rest}요");
            spoken.as_str()
        }
        _ => word,
    };
    for &(end, rep) in RULES {
        if word.ends_with(end) && n > end.chars().count() - usize::from(!rep.is_empty()) {
            let cut = &word[..word.len() - end.len()];
            if cut.is_empty() && rep.is_empty() {
                continue;
            }
            return format!("{cut}{rep}");
        }
    }
    for end in SHORT {
        if n >= 2 && word.ends_with(end) && !NOUNISH.iter().any(|x| word.ends_with(x)) {
            return word[..word.len() - end.len()].to_string();
        }
    }
    word.to_string()
}

/// The shared form of an English word (lower case): a plural or third-person `-s`, then
/// `-ing` or `-ed` (with a doubled final consonant undone: spinning / spins → spin,
/// dragged → drag), or else a final `-e` (shake / shakes / shaking → shak), and
/// `-ies`/`-ied` → `-y`. A stem keeps at least three letters, so short words stay whole.
/// Like the Korean stem it is only ever compared with itself, so it has to be consistent,
/// not grammatical.
pub fn stem_en(word: &str) -> String {
    let mut w = word.to_string();
    if w.len() < 4 {
        return w;
    }
    for (end, rep) in [("ies", "y"), ("ied", "y")] {
        if w.len() >= end.len() + 2 && w.ends_with(end) {
            w.truncate(w.len() - end.len());
            w.push_str(rep);
            return w;
        }
    }
    if w.ends_with('s') && !["ss", "us", "is", "ys"].iter().any(|e| w.ends_with(e)) {
        w.pop();
    }
    for end in ["ing", "ed"] {
        if w.ends_with(end) && w.len() >= end.len() + 3 {
            w.truncate(w.len() - end.len());
            let b = w.as_bytes();
            let n = b.len();
            if n >= 2 && b[n - 1] == b[n - 2] && !b"aeioulsz".contains(&b[n - 1]) {
                w.pop();
            }
            return w;
        }
    }
    if w.ends_with('e') && w.len() >= 4 {
        w.pop();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_inflections_share_a_stem() {
        for group in [
            &["빠지고", "빠져요", "빠졌어요", "빠짐", "빠져서"][..],
            &["어눌해요", "어눌하고", "어눌해서", "어눌함", "어눌했어요"],
            &["아파요", "아프고", "아파서", "아팠어요"],
            &["저려요", "저리고", "저림", "저려서"],
            &["어지러워요", "어지럽고", "어지러워서"],
            &["처져요", "처지고", "처졌어요"],
            &["보여요", "보이고"],
            &["봐요", "봤어요", "보고", "봐서"],
            &["움직여요", "움직였어요", "움직이고"],
            &["알아듣겠어요", "알아듣고"],
            &["떨었대요", "떨었어요"],
        ] {
            let s: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(s.iter().all(|x| x == &s[0]), "{group:?} → {s:?}");
        }
        assert_eq!(stem("두통"), "두통");
        for group in [
            &["headache", "headaches"][..],
            &["spin", "spins", "spinning"],
            &["drag", "drags", "dragging", "dragged"],
            &["shake", "shakes", "shaking"],
            &["slur", "slurred", "slurring"],
            &["walk", "walks", "walked", "walking"],
            &["fall", "falls", "falling"],
            &["vomit", "vomits", "vomited", "vomiting"],
            &["try", "tries", "tried"],
        ] {
            let s: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(s.iter().all(|x| x == &s[0]), "{group:?} → {s:?}");
        }
        // Short words and words that only end like an inflection stay apart.
        for (w, s) in [
            ("eye", "eye"),
            ("eyes", "eye"),
            ("numbness", "numbness"),
            ("is", "is"),
        ] {
            assert_eq!(stem(w), s);
        }
    }

    #[test]
    fn sentences_split_into_complaints() {
        assert_eq!(
            clauses("왼쪽 팔에 힘이 빠지고 말이 어눌해요"),
            ["왼쪽 팔에 힘이 빠지고", "말이 어눌해요"]
        );
        assert_eq!(
            clauses("머리가 아픈데 토하고, 물체가 두 개로 보여요"),
            ["머리가 아픈데", "토하고", "물체가 두 개로 보여요"]
        );
        assert_eq!(
            clauses("My right hand is numb and I see double, but no headache."),
            ["My right hand is numb", "I see double", "no headache"]
        );
        assert_eq!(clauses("두통"), ["두통"]);
        assert!(clauses(" , . ").is_empty());
        // Nouns that end like a connective do not split, nor do places (귀에서) or
        // purposes (-려고); 보고 after an object is a verb and does.
        assert_eq!(clauses("교통사고 후 두통"), ["교통사고 후 두통"]);
        assert_eq!(
            clauses("오른쪽 귀에서 소리가 나요"),
            ["오른쪽 귀에서 소리가 나요"]
        );
        assert_eq!(clauses("말하려고 하면 막혀요"), ["말하려고 하면 막혀요"]);
        assert_eq!(
            clauses("소변을 자주 보고 목이 말라요"),
            ["소변을 자주 보고", "목이 말라요"]
        );
        assert_eq!(clauses("보고 싶어요"), ["보고 싶어요"]);
        assert_eq!(
            clauses("냄새가 나다가 멍해져요"),
            ["냄새가 나다가", "멍해져요"]
        );
    }
}
