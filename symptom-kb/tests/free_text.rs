//! Free text as patients write it: several complaints per sentence, each with its own side,
//! Korean verb endings in any form, negations, and words that only look like a label.
//! Each row: the sentence, the symptoms (HPO or local code) with the side that must be
//! understood, and codes that must not be.

use symptom_kb::query::Resolved;
use symptom_kb::{Intake, IntakeSymptom, KnowledgeBase, Side};

const L: Option<Side> = Some(Side::Left);
const R: Option<Side> = Some(Side::Right);
const B: Option<Side> = Some(Side::Bilateral);
const N: Option<Side> = None;

const HEADACHE: &str = "HP:0002315";
const VOMITING: &str = "HP:0002013";
const NAUSEA: &str = "HP:0002018";
const HEMIPARESIS: &str = "HP:0001269";
const NUMB: &str = "HP:0033748";
const TINGLING: &str = "HP:0003401";
const DYSARTHRIA: &str = "HP:0001260";
const EXPRESSIVE: &str = "HP:0002427";
const RECEPTIVE: &str = "HP:0033848";
const SEIZURE: &str = "HP:0001250";
const DIPLOPIA: &str = "HP:0000651";
const VISUAL_LOSS: &str = "HP:0000572";
const HOMONYMOUS: &str = "HP:0030516";
const BITEMPORAL: &str = "HP:0030521";
const FACIAL: &str = "HP:0010628";
const HEARING: &str = "HP:0000365";
const TINNITUS: &str = "HP:0000360";
const VERTIGO: &str = "HP:0002321";
const DIZZY: &str = "X-DIZZINESS";
const FATIGUE: &str = "X-FATIGUE";
const GAIT_ATAXIA: &str = "HP:0002066";
const ATAXIA: &str = "HP:0001251";
const MEMORY: &str = "HP:0002354";
const PERSONALITY: &str = "HP:0000751";
const APATHY: &str = "HP:0000741";
const INCONTINENCE: &str = "HP:0000020";
const URGENCY: &str = "HP:0000012";
const DROWSY: &str = "HP:0002329";
const CONFUSION: &str = "HP:0001289";
const DEJA_VU: &str = "HP:0012005";
const SMELL_HALLUCINATION: &str = "HP:5200200";
const ANOSMIA: &str = "HP:0000458";
const PTOSIS: &str = "X-PTOSIS";
const DYSPHAGIA: &str = "HP:0002015";
const AMENORRHEA: &str = "HP:0000141";
const GALACTORRHEA: &str = "HP:0100829";
const POLYURIA_DI: &str = "HP:0000873";
const THIRST: &str = "HP:0001959";
const NEGLECT: &str = "X-HEMINEGLECT";
const FOCAL_MOTOR: &str = "HP:0011153";
const UPGAZE: &str = "HP:0025331";
const GROWTH: &str = "HP:0000845";

type Row = (
    &'static str,
    &'static [(&'static str, Option<Side>)],
    &'static [&'static str],
);

const TABLE: &[Row] = &[
    // Korean, several complaints per sentence.
    (
        "왼쪽 팔에 힘이 빠지고 말이 어눌해요",
        &[(HEMIPARESIS, L), (DYSARTHRIA, N)],
        &[],
    ),
    (
        "오른쪽 다리에 힘이 안 들어가고 머리가 아파요",
        &[(HEMIPARESIS, R), (HEADACHE, N)],
        &[],
    ),
    (
        "머리가 아프고 토했어요",
        &[(HEADACHE, N), (VOMITING, N)],
        &[],
    ),
    (
        "아침마다 머리가 아픈데 속이 울렁거려요",
        &[(HEADACHE, N), (NAUSEA, N)],
        &[],
    ),
    (
        "두통이 심해서 토하고, 물체가 두 개로 보여요",
        &[(HEADACHE, N), (VOMITING, N), (DIPLOPIA, N)],
        &[],
    ),
    (
        "오른손이 저리고 말이 잘 안 나와요",
        &[(NUMB, R), (EXPRESSIVE, N)],
        &[],
    ),
    (
        "왼쪽 얼굴이 처지고 왼팔에 힘이 빠져요",
        &[(FACIAL, L), (HEMIPARESIS, L)],
        &[],
    ),
    ("구안와사가 왔어요", &[(FACIAL, N)], &[]),
    (
        "오른쪽 귀가 먹먹하고 귀에서 삐 소리가 나요",
        &[(HEARING, R), (TINNITUS, N)],
        &[],
    ),
    (
        "왼쪽 귀가 잘 안 들리고 세상이 빙빙 돌아요",
        &[(HEARING, L), (VERTIGO, N)],
        &[],
    ),
    ("어지러워요", &[(DIZZY, N)], &[VERTIGO]),
    ("힘이 없어요", &[(FATIGUE, N)], &[HEMIPARESIS]),
    ("기운이 없고 자꾸 졸려요", &[(FATIGUE, N), (DROWSY, N)], &[]),
    (
        "걸을 때 비틀거리고 말이 꼬여요",
        &[(GAIT_ATAXIA, N), (DYSARTHRIA, N)],
        &[],
    ),
    ("발음이 꼬여요", &[(DYSARTHRIA, N)], &[]),
    ("경기를 했어요", &[(SEIZURE, N)], &[]),
    ("쓰러져서 온몸을 떨었어요", &[(SEIZURE, N)], &[]),
    (
        "데자뷔가 자주 있고 이상한 냄새가 나요",
        &[(DEJA_VU, N), (SMELL_HALLUCINATION, N)],
        &[],
    ),
    ("냄새를 못 맡아요", &[(ANOSMIA, N)], &[]),
    (
        "기억력이 떨어졌고 성격이 달라졌어요",
        &[(MEMORY, N), (PERSONALITY, N)],
        &[],
    ),
    (
        "의욕이 없고 소변 실수를 해요",
        &[(APATHY, N), (INCONTINENCE, N)],
        &[],
    ),
    ("소변이 급해요", &[(URGENCY, N)], &[]),
    ("정신이 오락가락해요", &[(CONFUSION, N)], &[]),
    ("눈꺼풀이 처져요", &[(PTOSIS, N)], &[]),
    (
        "왼쪽 눈꺼풀이 처지고 두 개로 보여요",
        &[(PTOSIS, L), (DIPLOPIA, N)],
        &[],
    ),
    ("잘 안 보여요", &[(VISUAL_LOSS, N)], &[]),
    (
        "양옆이 안 보이고 생리가 끊겼어요",
        &[(BITEMPORAL, N), (AMENORRHEA, N)],
        &[],
    ),
    (
        "젖이 나오고 생리를 안 해요",
        &[(GALACTORRHEA, N), (AMENORRHEA, N)],
        &[],
    ),
    (
        "물을 계속 마시고 소변을 너무 자주 봐요",
        &[(THIRST, N), (POLYURIA_DI, N)],
        &[],
    ),
    (
        "음식을 삼키기 힘들고 말이 어눌해요",
        &[(DYSPHAGIA, N), (DYSARTHRIA, N)],
        &[],
    ),
    ("오른쪽 시야가 안 보여요", &[(HOMONYMOUS, R)], &[]),
    ("왼쪽 눈이 잘 안 보여요", &[(VISUAL_LOSS, L)], &[HOMONYMOUS]),
    ("한쪽 손이 저절로 떨려요", &[(FOCAL_MOTOR, N)], &[]),
    ("왼쪽에 있는 걸 못 알아채요", &[(NEGLECT, L)], &[]),
    ("위를 못 봐요", &[(UPGAZE, N)], &[]),
    ("손발이 커져요", &[(GROWTH, N)], &[]),
    ("균형을 못 잡고 휘청거려요", &[(ATAXIA, N)], &[]),
    ("말귀를 못 알아들어요", &[(RECEPTIVE, N)], &[]),
    ("두통은 없어요", &[], &[HEADACHE]),
    ("좋은 일이 생기면 웃어요", &[], &[DROWSY]),
    ("교통사고 후 두통", &[(HEADACHE, N)], &[]),
    ("오른팔이 마비됐어요", &[(HEMIPARESIS, R)], &[]),
    ("왼쪽 다리를 끌어요", &[(HEMIPARESIS, L)], &[]),
    ("오른쪽 팔다리가 저려요", &[(TINGLING, R)], &[]),
    ("양쪽 귀가 잘 안 들려요", &[(HEARING, B)], &[]),
    // English.
    ("my right hand is numb", &[(NUMB, R)], &[]),
    (
        "My left arm is weak and my speech is slurred",
        &[(HEMIPARESIS, L), (DYSARTHRIA, N)],
        &[],
    ),
    (
        "I have headaches and I vomited this morning",
        &[(HEADACHE, N), (VOMITING, N)],
        &[],
    ),
    (
        "bad headache, nausea, and I see double",
        &[(HEADACHE, N), (NAUSEA, N), (DIPLOPIA, N)],
        &[],
    ),
    (
        "ringing in my left ear and cannot hear well",
        &[(TINNITUS, L), (HEARING, N)],
        &[],
    ),
    (
        "the room spins and I feel sick",
        &[(VERTIGO, N), (NAUSEA, N)],
        &[],
    ),
    ("I feel dizzy", &[(DIZZY, N)], &[VERTIGO]),
    ("tired all the time", &[(FATIGUE, N)], &[]),
    (
        "he is not himself and keeps forgetting things",
        &[(PERSONALITY, N), (MEMORY, N)],
        &[],
    ),
    (
        "no motivation, wetting myself",
        &[(APATHY, N), (INCONTINENCE, N)],
        &[],
    ),
    ("had a fit last night", &[(SEIZURE, N)], &[]),
    ("my face is drooping on the right", &[(FACIAL, R)], &[]),
    ("drooping eyelid on the left", &[(PTOSIS, L)], &[]),
    ("cannot find my words", &[(EXPRESSIVE, N)], &[]),
    (
        "does not understand what people say",
        &[(RECEPTIVE, N)],
        &[],
    ),
    (
        "walks like drunk and off balance",
        &[(GAIT_ATAXIA, N), (ATAXIA, N)],
        &[],
    ),
    (
        "periods have stopped and milk from the breast",
        &[(AMENORRHEA, N), (GALACTORRHEA, N)],
        &[],
    ),
    (
        "thirsty all the time and peeing all the time",
        &[(THIRST, N), (POLYURIA_DI, N)],
        &[],
    ),
    ("lost my sense of smell", &[(ANOSMIA, N)], &[]),
    (
        "trouble swallowing and slurring words",
        &[(DYSPHAGIA, N), (DYSARTHRIA, N)],
        &[],
    ),
    ("no headache", &[], &[HEADACHE]),
    ("tingling in my right arm", &[(TINGLING, R)], &[]),
    (
        "dropping things with my left hand",
        &[(HEMIPARESIS, L)],
        &[],
    ),
    ("my sight is going", &[(VISUAL_LOSS, N)], &[]),
    ("both hands are numb", &[(NUMB, B)], &[]),
];

fn resolve(kb: &KnowledgeBase, text: &str) -> Vec<Resolved> {
    let intake = Intake {
        symptoms: vec![IntakeSymptom {
            text: Some(text.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    kb.suspect(&intake).unwrap().resolved
}

#[test]
fn lay_phrasings_are_understood_clause_by_clause() {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    assert!(TABLE.len() >= 60, "{} rows", TABLE.len());
    let mut failures = Vec::new();
    for (text, want, never) in TABLE {
        let got = resolve(&kb, text);
        let got_pairs: Vec<(&str, Option<Side>)> =
            got.iter().map(|r| (r.code.as_str(), r.side)).collect();
        for w in *want {
            if !got_pairs.contains(w) {
                failures.push(format!("{text:?}: missing {w:?}; got {got_pairs:?}"));
            }
        }
        for n in *never {
            if got_pairs.iter().any(|(c, _)| c == n) {
                failures.push(format!("{text:?}: must not match {n}; got {got_pairs:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows fail:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n")
    );
}

#[test]
fn unmatched_clauses_are_reported_with_candidates_and_negations_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    let intake = Intake {
        symptoms: vec![IntakeSymptom {
            text: Some("머리가 아프고 발가락이 간지러워요, no nausea".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let s = kb.suspect(&intake).unwrap();
    assert!(s.resolved.iter().any(|r| r.code == HEADACHE));
    assert_eq!(s.unmatched.len(), 1, "{:?}", s.unmatched);
    assert_eq!(s.unmatched[0].text, "발가락이 간지러워요");
    assert!(!s.unmatched[0].candidates.is_empty());
    assert_eq!(s.negated.len(), 1, "{:?}", s.negated);
    assert!(!s.resolved.iter().any(|r| r.code == NAUSEA));
}
