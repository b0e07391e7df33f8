//! The cross-check, one test per laterality rule family, through sites given without
//! imaging (the same cross-check as for masks).

use diagnosis::{parse_location, Diagnoser, Diagnosis, Site, Stance, Verdict};
use symptom_kb::{Intake, KnowledgeBase};

fn kb() -> (tempfile::TempDir, KnowledgeBase) {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    (dir, kb)
}

fn run(kb: &KnowledgeBase, site: &str, intake: &str) -> Diagnosis {
    let (region, hemisphere) = parse_location(kb, site).unwrap();
    Diagnoser::new(kb)
        .diagnose(
            Site::Location {
                region: &region,
                hemisphere,
            },
            &Intake::from_json(intake).unwrap(),
        )
        .unwrap()
}

/// (verdict, region_match, hemisphere_match) for a site and an intake.
fn judge(kb: &KnowledgeBase, site: &str, intake: &str) -> (Verdict, Option<bool>, Option<bool>) {
    let d = run(kb, site, intake);
    (
        d.check.verdict,
        d.check.region_match,
        d.check.hemisphere_match,
    )
}

const LEFT_HEMIPARESIS: &str = r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}]}"#;

#[test]
fn contralateral_motor_signs() {
    let (_d, kb) = kb();
    assert_eq!(
        judge(&kb, "frontal_lobe@right", LEFT_HEMIPARESIS),
        (Verdict::Concordant, Some(true), Some(true))
    );
    assert_eq!(
        judge(&kb, "frontal_lobe@left", LEFT_HEMIPARESIS),
        (Verdict::Discordant, Some(true), Some(false))
    );
    // Korean free text, same rule.
    let ko = r#"{"symptoms": [{"text": "왼쪽 팔다리에 힘이 빠져요"}]}"#;
    assert_eq!(judge(&kb, "frontal_lobe@right", ko).0, Verdict::Concordant);
    // A region the symptom does not point to.
    assert_eq!(
        judge(&kb, "occipital_lobe@right", LEFT_HEMIPARESIS).1,
        Some(false)
    );
}

#[test]
fn contralateral_visual_fields() {
    let (_d, kb) = kb();
    let hemianopia = r#"{"symptoms": [{"code": "HP:0001123", "side": "left"}]}"#;
    assert_eq!(
        judge(&kb, "occipital_lobe@right", hemianopia).0,
        Verdict::Concordant
    );
    assert_eq!(judge(&kb, "occipital_lobe@left", hemianopia).2, Some(false));
}

#[test]
fn ipsilateral_cerebellar_signs() {
    let (_d, kb) = kb();
    let ataxia = r#"{"symptoms": [{"code": "HP:0002070", "side": "right"}]}"#;
    assert_eq!(
        judge(&kb, "cerebellar_hemisphere@right", ataxia),
        (Verdict::Concordant, Some(true), Some(true))
    );
    assert_eq!(
        judge(&kb, "cerebellar_hemisphere@left", ataxia),
        (Verdict::Discordant, Some(true), Some(false))
    );
    // Hierarchy: a finding in `cerebellum` and a suspicion of `cerebellar_hemisphere`.
    assert_eq!(judge(&kb, "cerebellum@right", ataxia).1, Some(true));
}

#[test]
fn ipsilateral_ear_signs() {
    let (_d, kb) = kb();
    let ear = r#"{"symptoms": [{"code": "HP:0000365", "side": "left"}, {"code": "HP:0000360", "side": "left"}]}"#;
    assert_eq!(
        judge(&kb, "cerebellopontine_angle@left", ear),
        (Verdict::Concordant, Some(true), Some(true))
    );
    assert_eq!(
        judge(&kb, "cerebellopontine_angle@right", ear).2,
        Some(false)
    );
}

#[test]
fn crossed_brainstem_signs() {
    let (_d, kb) = kb();
    // Left facial palsy (ipsilateral cranial nerve) + right hemiparesis (contralateral body)
    // → left brainstem; `pons` lies within `brainstem`.
    let crossed = r#"{"symptoms": [{"code": "HP:0010628", "side": "left"}, {"code": "HP:0001269", "side": "right"}]}"#;
    assert_eq!(
        judge(&kb, "pons@left", crossed),
        (Verdict::Concordant, Some(true), Some(true))
    );
    assert_eq!(judge(&kb, "pons@right", crossed).2, Some(false));
}

#[test]
fn language_by_handedness() {
    let (_d, kb) = kb();
    let right_handed =
        r#"{"patient": {"handedness": "right"}, "symptoms": [{"code": "HP:0002427"}]}"#;
    assert_eq!(
        judge(&kb, "frontal_lobe@left", right_handed).0,
        Verdict::Concordant
    );
    assert_eq!(
        judge(&kb, "frontal_lobe@right", right_handed).2,
        Some(false)
    );
    // Left-handed: dominance is uncertain, so a right frontal tumour is not contradicted.
    let left_handed =
        r#"{"patient": {"handedness": "left"}, "symptoms": [{"code": "HP:0002427"}]}"#;
    let (v, rm, hm) = judge(&kb, "frontal_lobe@right", left_handed);
    assert_eq!(rm, Some(true));
    assert_ne!(hm, Some(false), "{v:?}");
    // Neglect is non-dominant: right parietal in a right-hander.
    let neglect =
        r#"{"patient": {"handedness": "right"}, "symptoms": [{"text": "left-sided neglect"}]}"#;
    assert_eq!(
        judge(&kb, "parietal_lobe@right", neglect).0,
        Verdict::Concordant
    );
}

#[test]
fn non_localising_symptoms_are_never_concordant() {
    let (_d, kb) = kb();
    let icp = r#"{"symptoms": [{"code": "HP:0002315"}, {"text": "구토"}]}"#;
    let d = run(&kb, "frontal_lobe@right", icp);
    assert_eq!(d.check.verdict, Verdict::Indeterminate);
    assert_eq!(
        (d.check.region_match, d.check.hemisphere_match),
        (None, None)
    );
    assert!(d.check.evidence.iter().all(|e| e.stance == Stance::Silent));
    assert!(d.check.explanation[0].contains("non-localising"));
}

#[test]
fn evidence_lists_each_symptom_with_its_stance() {
    let (_d, kb) = kb();
    let mixed = r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}, {"code": "HP:0002070", "side": "left"}, {"code": "HP:0002315"}, {"text": "qwerty"}]}"#;
    let d = run(&kb, "frontal_lobe@right", mixed);
    let stance = |code: &str| {
        d.check
            .evidence
            .iter()
            .find(|e| e.symptom == code)
            .map(|e| e.stance)
    };
    assert_eq!(stance("HP:0001269"), Some(Stance::Supporting));
    assert_eq!(stance("HP:0002070"), Some(Stance::Contradicting));
    assert_eq!(stance("HP:0002315"), Some(Stance::Silent));
    assert!(d
        .check
        .evidence
        .iter()
        .any(|e| e.label == "qwerty" && e.stance == Stance::Silent));
    assert!(d.check.confidence > 0.0 && d.check.confidence < 1.0);
}

#[test]
fn referral_asks_for_what_the_site_needs() {
    let (_d, kb) = kb();
    let caps = |site: &str, intake: &str| {
        run(&kb, site, intake)
            .referral
            .capabilities
            .iter()
            .map(|c| c.capability.name())
            .collect::<Vec<_>>()
    };
    let none = r#"{"patient": {"handedness": "right"}, "symptoms": [{"code": "HP:0002315"}]}"#;
    assert!(caps("frontal_lobe@left", none).contains(&"awake_craniotomy"));
    assert!(!caps("frontal_lobe@right", none).contains(&"awake_craniotomy"));
    assert!(caps("pituitary_sellar", none).contains(&"pituitary_centre"));
    let seizure = r#"{"symptoms": [{"code": "HP:0002384"}]}"#;
    assert!(caps("temporal_lobe@right", seizure).contains(&"epilepsy_surgery"));
    let child = r#"{"patient": {"age_years": 7}, "symptoms": [{"code": "HP:0002066"}]}"#;
    assert!(caps("cerebellar_vermis", child).contains(&"paediatric_neurosurgery"));
    let adult = r#"{"patient": {"age_years": 47}, "symptoms": [{"code": "HP:0002066"}]}"#;
    assert!(!caps("cerebellar_vermis", adult).contains(&"paediatric_neurosurgery"));
    // Every child goes to paediatric neurosurgery, whatever the site; no awake craniotomy.
    let child_lang = r#"{"patient": {"age_years": 12}, "symptoms": [{"code": "HP:0002427"}]}"#;
    let c = caps("frontal_lobe@left", child_lang);
    assert!(
        c.contains(&"paediatric_neurosurgery") && !c.contains(&"awake_craniotomy"),
        "{c:?}"
    );
    // Adults: the motor strip asks for mapping on either side.
    let motor =
        r#"{"patient": {"age_years": 50}, "symptoms": [{"code": "HP:0001269", "side": "left"}]}"#;
    assert!(caps("frontal_lobe@right", motor).contains(&"awake_craniotomy"));
    // Sellar and chiasmal lesions: neuro-ophthalmology; hydrocephalus: CSF diversion.
    assert!(caps("pituitary_sellar", none).contains(&"neuro_ophthalmology"));
    let hydro = r#"{"patient": {"age_years": 30}, "symptoms": [{"code": "HP:0001085"}, {"code": "HP:0025331"}]}"#;
    assert!(caps("pineal_region", hydro).contains(&"csf_diversion"));
    assert!(!caps("frontal_lobe@right", hydro).contains(&"csf_diversion"));
    // Sample hospitals are labelled as such.
    let d = run(&kb, "frontal_lobe@left", none);
    assert!(!d.referral.hospitals.is_empty());
    assert!(d.referral.hospitals.iter().all(|h| h.sample));
    assert!(d.referral.note.as_deref().unwrap().contains("SAMPLE DATA"));
}

#[test]
fn bad_locations_and_intakes_are_errors() {
    let (_d, kb) = kb();
    let err = parse_location(&kb, "frontl_lobe@left")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frontl_lobe") && err.contains("frontal_lobe"),
        "{err}"
    );
    let err = parse_location(&kb, "frontal_lobe@up")
        .unwrap_err()
        .to_string();
    assert!(err.contains("up") && err.contains("left, right"), "{err}");
    assert!(parse_location(&kb, "@left").is_err());
    // Unknown symptom code, with the closest code suggested.
    let (region, hemisphere) = parse_location(&kb, "pons").unwrap();
    let err = Diagnoser::new(&kb)
        .diagnose(
            Site::Location {
                region: &region,
                hemisphere,
            },
            &Intake::from_json(r#"{"symptoms": [{"code": "HP:0001296"}]}"#).unwrap(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HP:0001296") && err.contains("HP:0001269"),
        "{err}"
    );
    // Not JSON at all (the intake parser names line and column).
    assert!(Intake::from_json("{\"symptoms\": [")
        .unwrap_err()
        .to_string()
        .contains("line"));
}

#[test]
fn verdicts_are_graded_by_the_strength_of_the_evidence() {
    let (_d, kb) = kb();
    // One weak symptom pointing elsewhere is not a discordance, and not confident.
    let apathy = r#"{"symptoms": [{"code": "HP:0000741"}]}"#;
    let d = run(&kb, "occipital_lobe@right", apathy);
    assert_eq!(d.check.verdict, Verdict::Indeterminate);
    assert!(d.check.confidence < 0.5);
    assert_eq!(d.check.unexplained, ["Apathy"]);
    // Headache, papilledema and diplopia with a right frontal mass: raised pressure, so
    // diplopia (like an abducens palsy) is false-localising; nothing localises.
    let icp =
        r#"{"symptoms": [{"code": "HP:0002315"}, {"code": "HP:0001085"}, {"code": "HP:0000651"}]}"#;
    assert_eq!(
        run(&kb, "frontal_lobe@right", icp).check.verdict,
        Verdict::Indeterminate
    );
    // A callosal (butterfly) tumour explains a bilateral frontal syndrome.
    let frontal =
        r#"{"symptoms": [{"code": "HP:0000741"}, {"code": "HP:0000751"}, {"code": "HP:0000020"}]}"#;
    let d = run(&kb, "corpus_callosum@midline", frontal);
    assert_eq!(d.check.verdict, Verdict::Concordant);
    assert_eq!(d.check.region_match, Some(true));
    // Right side, neighbouring lobe: partly concordant (symptoms localise side better than
    // lobe). Expressive aphasia points to the left frontal lobe; the tumour is left temporal.
    let broca = r#"{"symptoms": [{"code": "HP:0002427"}]}"#;
    let d = run(&kb, "temporal_lobe@left", broca);
    assert_eq!(d.check.verdict, Verdict::PartiallyConcordant);
    assert_eq!(d.check.hemisphere_match, Some(true));
    // Strong evidence for the other side is discordant, with confidence from its strength.
    let d = run(&kb, "frontal_lobe@left", LEFT_HEMIPARESIS);
    assert_eq!(d.check.verdict, Verdict::Discordant);
    assert!((d.check.confidence - 0.7).abs() < 1e-9 || (d.check.confidence - 0.9).abs() < 1e-9);
}

#[test]
fn anatomy_ties_regions_both_ways() {
    let (_d, kb) = kb();
    // Parinaud (upgaze palsy) with a pineal mass.
    let parinaud = r#"{"symptoms": [{"code": "HP:0025331"}]}"#;
    assert_eq!(
        run(&kb, "pineal_region@midline", parinaud).check.verdict,
        Verdict::Concordant
    );
    assert_eq!(
        run(&kb, "midbrain@midline", parinaud).check.verdict,
        Verdict::Concordant
    );
    // Bitemporal hemianopia and diabetes insipidus with a hypothalamic or sellar mass.
    let chiasm = r#"{"symptoms": [{"code": "HP:0030521"}, {"code": "HP:0000873"}]}"#;
    assert_eq!(
        run(&kb, "hypothalamus@midline", chiasm).check.verdict,
        Verdict::Concordant
    );
    assert_eq!(
        run(&kb, "pituitary_sellar@midline", chiasm).check.verdict,
        Verdict::Concordant
    );
    // Gait ataxia with a cerebellar hemisphere tumour.
    let gait = r#"{"symptoms": [{"code": "HP:0002066"}]}"#;
    assert_eq!(
        run(&kb, "cerebellar_hemisphere@left", gait).check.verdict,
        Verdict::Concordant
    );
    // Bitemporal hemianopia (strong) with an occipital tumour is discordant.
    let d = run(&kb, "occipital_lobe@left", chiasm);
    assert_eq!(d.check.verdict, Verdict::Discordant);
    assert!(d.check.unexplained.iter().any(|u| u.contains("emianopia")));
}

#[test]
fn red_flags_set_the_urgency() {
    let (_d, kb) = kb();
    let urgency = |site: &str, intake: &str| {
        let d = run(&kb, site, intake);
        (d.report.urgency, d.report.urgency_reasons.clone())
    };
    use diagnosis::Urgency;
    // Papilledema with vomiting or drowsiness.
    let icp = r#"{"symptoms": [{"code": "HP:0001085"}, {"text": "토했어요"}]}"#;
    assert_eq!(urgency("frontal_lobe@right", icp).0, Urgency::Emergency);
    let papilledema = r#"{"symptoms": [{"code": "HP:0001085"}]}"#;
    assert_eq!(
        urgency("frontal_lobe@right", papilledema).0,
        Urgency::Urgent
    );
    // Sudden severe headache with visual loss (apoplexy).
    let apoplexy = r#"{"symptoms": [{"text": "갑자기 머리가 깨질 듯 아프고 잘 안 보여요"}]}"#;
    let (u, why) = urgency("pituitary_sellar", apoplexy);
    assert_eq!(u, Urgency::Emergency, "{why:?}");
    assert!(why.iter().any(|w| w.contains("apoplexy")));
    // A dilated unreactive pupil; repeated seizures.
    let pupil = r#"{"symptoms": [{"text": "one pupil is big and does not react"}]}"#;
    assert_eq!(urgency("temporal_lobe@left", pupil).0, Urgency::Emergency);
    let status = r#"{"symptoms": [{"text": "경련이 멈추지 않아요"}]}"#;
    assert_eq!(urgency("temporal_lobe@left", status).0, Urgency::Emergency);
    // Rapidly worsening weakness is an emergency; weakness that gets worse little by little
    // (the usual course of a tumour) is urgent; each says why.
    for (text, want, why_starts) in [
        (
            "왼쪽 팔다리에 힘이 하루가 다르게 빠져요",
            Urgency::Emergency,
            "rapidly",
        ),
        (
            "my left arm and leg are getting weaker by the hour",
            Urgency::Emergency,
            "rapidly",
        ),
        (
            "left sided weakness, getting worse every day",
            Urgency::Emergency,
            "rapidly",
        ),
        (
            "왼쪽 팔다리에 힘이 점점 빠져요",
            Urgency::Urgent,
            "progressively",
        ),
        (
            "my left arm has been getting weaker and weaker, gradually",
            Urgency::Urgent,
            "progressively",
        ),
        (
            "left sided weakness that is slowly getting worse",
            Urgency::Urgent,
            "progressively",
        ),
    ] {
        let intake = format!(r#"{{"symptoms": [{{"text": "{text}"}}]}}"#);
        let (u, why) = urgency("frontal_lobe@right", &intake);
        assert_eq!(u, want, "{text}: {why:?}");
        assert!(
            why.iter()
                .any(|w| w.starts_with(&format!("{why_starts} worsening"))),
            "{text}: {why:?}"
        );
    }
    // Denied worsening is no flag, nor is slowness.
    for steady in [
        "weak left arm, not getting worse",
        "my left arm is weak and moves slowly",
    ] {
        let intake = format!(r#"{{"symptoms": [{{"text": "{steady}"}}]}}"#);
        let (_, why) = urgency("frontal_lobe@right", &intake);
        assert!(
            !why.iter().any(|w| w.contains("worsening")),
            "{steady}: {why:?}"
        );
    }
    // A focal deficit with a tumour: urgent; nothing of note: routine.
    assert_eq!(
        urgency("frontal_lobe@right", LEFT_HEMIPARESIS).0,
        Urgency::Urgent
    );
    let mild = r#"{"symptoms": [{"text": "기억력이 떨어졌어요"}]}"#;
    let d = run(&kb, "frontal_lobe@right", mild);
    assert!(
        d.report.to_markdown().contains("## Urgency: **"),
        "urgency heads every report"
    );
}

#[test]
fn localisation_traps() {
    let (_d, kb) = kb();
    let v = |site: &str, intake: &str| run(&kb, site, intake).check.verdict;
    let rh = |symptoms: &str| {
        format!(r#"{{"patient": {{"handedness": "right"}}, "symptoms": {symptoms}}}"#)
    };
    // Right-sided neglect → left parietal.
    let neglect = rh(r#"[{"code": "X-HEMINEGLECT", "side": "right"}]"#);
    assert_eq!(v("parietal_lobe@left", &neglect), Verdict::Concordant);
    assert_eq!(v("parietal_lobe@right", &neglect), Verdict::Discordant);
    // Dressing apraxia is non-dominant.
    let dressing = rh(r#"[{"text": "옷을 제대로 못 입어요"}]"#);
    assert_eq!(v("parietal_lobe@right", &dressing), Verdict::Concordant);
    // Facial weakness with a hemiparesis on the same side: an upper-motor-neuron sign of
    // the opposite hemisphere, not a left pontine sign.
    let umn =
        rh(r#"[{"code": "HP:0010628", "side": "left"}, {"code": "HP:0001269", "side": "left"}]"#);
    assert_eq!(v("frontal_lobe@right", &umn), Verdict::Concordant);
    assert_ne!(v("pons@left", &umn), Verdict::Concordant);
    // Homonymous hemianopia without a quadrant: occipital, optic radiations, thalamus.
    let hh = rh(r#"[{"code": "HP:0030516", "side": "right"}]"#);
    for site in [
        "occipital_lobe@left",
        "temporal_lobe@left",
        "parietal_lobe@left",
        "thalamus@left",
    ] {
        assert_eq!(v(site, &hh), Verdict::Concordant, "{site}");
    }
    // Hemiparesis: frontal, internal capsule (basal ganglia) or parietal.
    for site in [
        "frontal_lobe@right",
        "basal_ganglia@right",
        "parietal_lobe@right",
    ] {
        assert_eq!(v(site, LEFT_HEMIPARESIS), Verdict::Concordant, "{site}");
    }
    // Focal motor seizures: peri-rolandic frontal and parietal.
    let focal = rh(r#"[{"code": "HP:0011153", "side": "left"}]"#);
    assert_eq!(v("parietal_lobe@right", &focal), Verdict::Concordant);
    // Gerstmann: one element is moderate, the tetrad strong.
    let one = rh(r#"[{"code": "HP:0002442"}]"#);
    let d = run(&kb, "parietal_lobe@left", &one);
    assert!(
        (d.check.confidence - 0.7).abs() < 1e-9,
        "{}",
        d.check.confidence
    );
    let tetrad = rh(
        r#"[{"code": "HP:0002442"}, {"code": "HP:0010526"}, {"code": "HP:0010525"}, {"code": "HP:6000000"}]"#,
    );
    let d = run(&kb, "parietal_lobe@left", &tetrad);
    assert_eq!(d.check.verdict, Verdict::Concordant);
    assert!(
        (d.check.confidence - 0.9).abs() < 1e-9,
        "{}",
        d.check.confidence
    );
    // Bilateral hearing loss is not a cerebellopontine-angle sign.
    let both_ears = r#"{"symptoms": [{"code": "HP:0000365", "side": "bilateral"}]}"#;
    assert_eq!(
        v("cerebellopontine_angle@left", both_ears),
        Verdict::Indeterminate
    );
    // A left-hander's language sign suggests either hemisphere.
    let lh = r#"{"patient": {"handedness": "left"}, "symptoms": [{"code": "HP:0002427"}]}"#;
    assert_eq!(v("frontal_lobe@right", lh), Verdict::Concordant);
    assert_eq!(v("frontal_lobe@left", lh), Verdict::Concordant);
}

#[test]
fn the_report_shows_each_symptom_with_its_side_and_the_patients_words() {
    let (_d, kb) = kb();
    let intake = r#"{"symptoms": [{"text": "My left arm and leg feel numb, no headache"}, {"code": "HP:0001269", "side": "left"}]}"#;
    let d = run(&kb, "parietal_lobe@right", intake);
    let row = |code: &str| {
        let e = d.check.evidence.iter().find(|e| e.symptom == code);
        e.map(|e| (e.side, e.said.clone())).expect("judged")
    };
    let left = Some(symptom_kb::Side::Left);
    assert_eq!(row("HP:0033748"), (left, Some("leg feel numb".to_string())));
    // A code has its side and no words.
    assert_eq!(row("HP:0001269"), (left, None));
    let md = d.report.to_markdown();
    assert!(
        md.contains("| symptom | side | as the patient said it | stance |"),
        "{md}"
    );
    assert!(md.contains("| left | leg feel numb |"), "{md}");
}
