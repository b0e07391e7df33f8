//! Free text as patients write it: several complaints per sentence, each with its own side,
//! Korean verb endings in any form, negations, and words that only look like a label.
//! Each row: the sentence, the symptoms (HPO or local code) with the side that must be
//! understood, and codes that must not be.

use symptom_kb::query::{Resolved, Suspicion};
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
const MUSCLE_WEAK: &str = "HP:0001324";
const HEMIPLEGIA: &str = "HP:0002301";
const ANOMIC: &str = "HP:0030784";
const APHASIA: &str = "HP:0002381";
const FOCAL_AWARENESS: &str = "HP:0002384";
const GTC: &str = "HP:0002069";
const DYSGRAPHIA: &str = "HP:0010526";
const DYSCALCULIA: &str = "HP:0002442";
const DISINHIBITION: &str = "HP:0000734";
const BLURRED: &str = "HP:0000622";
const HEMIANOPIA: &str = "HP:0012377";
const TASTE_HALLUCINATION: &str = "HP:5200201";
const GAIT_DISTURBANCE: &str = "HP:0001288";
const LIMB_ATAXIA: &str = "HP:0002070";

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
    // Bitemporal is both sides: one side named makes a field loss homonymous.
    (
        "I cannot see things on my left side",
        &[(HOMONYMOUS, L)],
        &[BITEMPORAL],
    ),
    (
        "I cannot see things at the sides",
        &[(BITEMPORAL, N)],
        &[HOMONYMOUS],
    ),
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
    // Typed without spaces: the side word inside a word still names the side.
    ("갑자기왼쪽팔에힘이없어요", &[(HEMIPARESIS, L)], &[]),
    ("어제부터오른쪽다리가저려요", &[(NUMB, R)], &[]),
    ("며칠전부터왼쪽팔다리에힘이빠져요", &[(HEMIPARESIS, L)], &[]),
    ("요즘오른팔에힘이없어요", &[(HEMIPARESIS, R)], &[]),
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
    // The ear just named is the ear that does not hear (session 29; before, no side).
    (
        "ringing in my left ear and cannot hear well",
        &[(TINNITUS, L), (HEARING, L)],
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
    // A body part and its side given once for several complaints; the complaint after it
    // belongs to it ("힘이 없어요" alone is fatigue, after "오른쪽 팔다리가" it is weakness).
    (
        "My left arm and leg feel numb and tingly",
        &[(NUMB, L), (TINGLING, L)],
        &[],
    ),
    (
        "My right hand has been clumsy and weak for two weeks",
        &[(LIMB_ATAXIA, R), (HEMIPARESIS, R)],
        &[],
    ),
    (
        "왼쪽 팔이 저리고 힘이 빠져요",
        &[(NUMB, L), (HEMIPARESIS, L)],
        &[],
    ),
    (
        "오른쪽 팔다리가 무겁고 힘이 없어요",
        &[(HEMIPARESIS, R)],
        &[FATIGUE],
    ),
    (
        "오른쪽 다리가 무겁고 저려요",
        &[(HEMIPARESIS, R), (NUMB, R)],
        &[],
    ),
    // ... but a complaint of its own stays its own, without the limb's side.
    ("오른손이 저리고 어지러워요", &[(NUMB, R), (DIZZY, N)], &[]),
    (
        "My right hand is numb and I see double",
        &[(NUMB, R), (DIPLOPIA, N)],
        &[],
    ),
    // A phrase's words in another order, or with other words between them.
    ("my arm is tingling", &[(TINGLING, N)], &[]),
    (
        "오른손에 힘이 없어서 컵을 자꾸 놓쳐요",
        &[(HEMIPARESIS, R)],
        &[FATIGUE],
    ),
    // English inflections and contractions.
    (
        "The headaches are worst when I wake up",
        &[(HEADACHE, N)],
        &[],
    ),
    (
        "I'm nauseous and threw up twice this morning",
        &[(NAUSEA, N), (VOMITING, N)],
        &[],
    ),
    ("The room spins when I turn my head", &[(VERTIGO, N)], &[]),
    (
        "He has become apathetic and doesn't care about anything",
        &[(APATHY, N)],
        &[],
    ),
    ("I can't smell anything anymore", &[(ANOSMIA, N)], &[]),
    (
        "I know what I want to say but can't get the words out",
        &[(EXPRESSIVE, N)],
        &[],
    ),
    // "right" that means correct is not a side.
    (
        "I'm having trouble finding the right words",
        &[(ANOMIC, N)],
        &[],
    ),
    // Negations: a denied complaint is not counted, a complaint that holds a negation is.
    ("I don't have a headache", &[], &[HEADACHE]),
    ("I don't have any numbness", &[], &[NUMB]),
    ("No headaches or vomiting", &[], &[HEADACHE, VOMITING]),
    (
        "I haven't had a period in six months",
        &[(AMENORRHEA, N)],
        &[],
    ),
    ("머리는 아프지 않아요", &[], &[HEADACHE]),
    ("토하지는 않았어요", &[], &[VOMITING]),
    ("머리는 안 아파요", &[], &[HEADACHE]),
    ("두통은 없는데 왼쪽 팔이 저려요", &[(NUMB, L)], &[HEADACHE]),
    // Korean endings: -겠어요, reported speech -대요, honorific -세요, -다가, -면서.
    (
        "사람들이 하는 말을 잘 못 알아듣겠어요",
        &[(RECEPTIVE, N)],
        &[],
    ),
    (
        "지난주에 갑자기 정신을 잃고 온몸이 뻣뻣해지면서 떨었대요",
        &[(GTC, N)],
        &[],
    ),
    ("어머니가 자꾸 같은 질문을 반복하세요", &[(MEMORY, N)], &[]),
    (
        "이상한 냄새가 갑자기 나다가 멍해져요",
        &[(SMELL_HALLUCINATION, N), (FOCAL_AWARENESS, N)],
        &[],
    ),
    (
        "잠깐 멍해지면서 입맛을 다셔요",
        &[(FOCAL_AWARENESS, N)],
        &[],
    ),
    // 귀에서 is a place, not a clause ending: the side stays with the ringing.
    ("오른쪽 귀에서 계속 윙 소리가 나요", &[(TINNITUS, R)], &[]),
    // Lay phrasings from the clinic.
    ("My head is killing me", &[(HEADACHE, N)], &[]),
    (
        "요즘 아침마다 머리가 깨질 듯이 아프고 토할 것 같아요",
        &[(HEADACHE, N), (NAUSEA, N)],
        &[],
    ),
    ("오른쪽 다리가 질질 끌려요", &[(HEMIPARESIS, R)], &[]),
    (
        "My left leg gives way when I walk",
        &[(HEMIPARESIS, L)],
        &[],
    ),
    (
        "갑자기 오른쪽 팔다리를 못 움직였어요",
        &[(HEMIPLEGIA, R)],
        &[],
    ),
    (
        "I can't feel anything on the right side of my body",
        &[(NUMB, R)],
        &[],
    ),
    (
        "Words come out jumbled when I try to talk",
        &[(APHASIA, N)],
        &[],
    ),
    (
        "남편이 말을 더듬고 단어를 잘 못 찾아요",
        &[(APHASIA, N), (ANOMIC, N)],
        &[],
    ),
    (
        "My handwriting has gotten worse and I can't do simple sums",
        &[(DYSGRAPHIA, N), (DYSCALCULIA, N)],
        &[],
    ),
    (
        "He says inappropriate things and acts impulsively",
        &[(DISINHIBITION, N)],
        &[],
    ),
    ("최근에 깜빡깜빡 잘 잊어버려요", &[(MEMORY, N)], &[]),
    (
        "I sometimes wet myself without warning",
        &[(INCONTINENCE, N)],
        &[],
    ),
    ("오른쪽 시야가 반쯤 안 보여요", &[(HEMIANOPIA, R)], &[]),
    ("눈앞이 뿌옇게 보여요", &[(BLURRED, N)], &[]),
    ("왼쪽 입꼬리가 내려갔어요", &[(FACIAL, L)], &[]),
    (
        "I'm always thirsty and pee a lot",
        &[(THIRST, N), (POLYURIA_DI, N)],
        &[],
    ),
    ("신발 사이즈가 커졌어요", &[(GROWTH, N)], &[]),
    (
        "갑자기 입에서 이상한 맛이 나요",
        &[(TASTE_HALLUCINATION, N)],
        &[],
    ),
    (
        "걸음이 느려지고 자꾸 넘어져요",
        &[(GAIT_DISTURBANCE, N)],
        &[],
    ),
    (
        "My right arm jerks uncontrollably",
        &[(FOCAL_MOTOR, R)],
        &[],
    ),
    ("양치할 때 물이 입가로 새요", &[(FACIAL, N)], &[]),
    ("생리가 6개월째 없어요", &[(AMENORRHEA, N)], &[]),
    // Korean typed without spaces: a complaint also starts after a connective ending.
    ("머리가아프고토했어요", &[(HEADACHE, N), (VOMITING, N)], &[]),
    ("어지럽고속이메스꺼워요", &[(DIZZY, N), (NAUSEA, N)], &[]),
    // A body part named after a complaint has it too; "that side" is the side just named;
    // an ear complaint without a side is of the ear just named.
    (
        "Since last week I've had numbness around my mouth and left hand",
        &[(NUMB, N), (NUMB, L)],
        &[HEMIPARESIS],
    ),
    (
        "There's a constant buzzing in my right ear and I'm losing hearing on that side",
        &[(TINNITUS, R), (HEARING, R)],
        &[],
    ),
    (
        "왼쪽 귀가 꽉 막힌 느낌이고 소리가 잘 안 들려요",
        &[(HEARING, L)],
        &[],
    ),
    (
        "오른쪽 팔이 저리고 귀에서 소리가 나요",
        &[(NUMB, R), (TINNITUS, N)],
        &[],
    ),
    (
        "I don't get headaches but I do feel dizzy",
        &[(DIZZY, N)],
        &[HEADACHE],
    ),
    ("I get sudden episodes of déjà vu", &[(DEJA_VU, N)], &[]),
    // Honorific -시-, 오다 and 마시다 in their forms.
    (
        "엄마가 말씀하시는 게 어눌해지셨어요",
        &[(DYSARTHRIA, N)],
        &[],
    ),
    (
        "회의하다가 갑자기 말이 안 나왔어요",
        &[(EXPRESSIVE, N)],
        &[],
    ),
    (
        "딸아이가 요즘 물을 엄청 마시고 소변을 자주 봐요",
        &[(THIRST, N), (POLYURIA_DI, N)],
        &[],
    ),
    // Chat spellings: -여 for -요, 거 for 것.
    ("어지러워여", &[(DIZZY, N)], &[]),
    ("오른쪽 다리에 힘이 빠져여", &[(HEMIPARESIS, R)], &[]),
    ("토할거 같아요", &[(NAUSEA, N)], &[]),
    // Pain elsewhere is not a headache, however alike it is spelt.
    ("허리가 아파요", &[], &[HEADACHE]),
    ("배가 아파요", &[], &[HEADACHE]),
    // A symptom named as absent is denied; a faculty that is absent is a complaint.
    ("두통이 없어요", &[], &[HEADACHE]),
    ("경련도 없었고 구토 없음", &[], &[SEIZURE, VOMITING]),
    ("감각이 없어요", &[(NUMB, N)], &[]),
    ("의욕이 없어요", &[(APATHY, N)], &[]),
    // Clinicians' notes: R/L before a body word, weakness of one side.
    ("R hand numbness", &[(NUMB, R)], &[]),
    (
        "Rt arm weakness, Lt facial droop",
        &[(HEMIPARESIS, R), (FACIAL, L)],
        &[],
    ),
    (
        "Left sided weakness since yesterday",
        &[(HEMIPARESIS, L)],
        &[],
    ),
    ("I feel weak", &[(MUSCLE_WEAK, N)], &[HEMIPARESIS]),
    ("Dr R said my hand is numb", &[(NUMB, N)], &[]),
    // 보고 after an object is the verb, and ends the clause.
    (
        "소변을 너무 많이 보고 목이 계속 말라요",
        &[(POLYURIA_DI, N), (THIRST, N)],
        &[],
    ),
];

/// An intake of one free text, understood.
fn suspect(kb: &KnowledgeBase, text: &str) -> Suspicion {
    let intake = Intake {
        symptoms: vec![IntakeSymptom {
            text: Some(text.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    kb.suspect(&intake).unwrap()
}

fn resolve(kb: &KnowledgeBase, text: &str) -> Vec<Resolved> {
    suspect(kb, text).resolved
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
    let s = suspect(&kb, "머리가 아프고 발가락이 간지러워요, no nausea");
    assert!(s.resolved.iter().any(|r| r.code == HEADACHE));
    assert_eq!(s.unmatched.len(), 1, "{:?}", s.unmatched);
    assert_eq!(s.unmatched[0].text, "발가락이 간지러워요");
    assert!(!s.unmatched[0].candidates.is_empty());
    assert_eq!(s.negated.len(), 1, "{:?}", s.negated);
    assert!(!s.resolved.iter().any(|r| r.code == NAUSEA));
}

#[test]
fn a_body_part_named_for_the_next_clause_is_not_unmatched() {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    // "My left arm" is the subject of "leg feel numb": taken up, not reported.
    let s = suspect(&kb, "My left arm and leg feel numb");
    assert!(s.unmatched.is_empty(), "{:?}", s.unmatched);
    let numb = s.resolved.iter().find(|r| r.code == NUMB).unwrap();
    assert_eq!(numb.side, L);
    // The reader is told where the side came from.
    assert!(numb.how.contains("named before"), "{}", numb.how);
    // A clause that says more than a body part stays unmatched when nothing matches it,
    // even if the next clause takes up its side.
    let s = suspect(&kb, "오른손이 간지럽다가 팔이 저려요");
    assert_eq!(s.unmatched.len(), 1, "{:?}", s.unmatched);
    assert!(s.resolved.iter().any(|r| r.code == NUMB && r.side == R));
}
