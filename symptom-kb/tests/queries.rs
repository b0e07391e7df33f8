//! Text matching, side extraction, and one test per laterality rule family.

use symptom_kb::{Error, Hemisphere, Intake, KnowledgeBase, MatchKind, Side};

fn kb() -> (tempfile::TempDir, KnowledgeBase) {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    (dir, kb)
}

fn top(kb: &KnowledgeBase, json: &str) -> (String, Option<Hemisphere>) {
    let s = kb.suspect(&Intake::from_json(json).unwrap()).unwrap();
    let t = s.suspected.first().expect("a candidate");
    (t.region.clone(), t.hemisphere)
}

fn has(kb: &KnowledgeBase, json: &str, region: &str, h: Option<Hemisphere>) -> bool {
    let s = kb.suspect(&Intake::from_json(json).unwrap()).unwrap();
    s.suspected
        .iter()
        .any(|c| c.region == region && c.hemisphere == h)
}

#[test]
fn default_content_meets_the_issue() {
    let (_d, kb) = kb();
    let c = kb.store().content().unwrap();
    assert!(c.symptoms.len() >= 60, "{}", c.symptoms.len());
    for id in [
        "frontal_lobe",
        "parietal_lobe",
        "temporal_lobe",
        "occipital_lobe",
        "insula",
        "corpus_callosum",
        "basal_ganglia",
        "thalamus",
        "hypothalamus",
        "pituitary_sellar",
        "pineal_region",
        "brainstem",
        "midbrain",
        "pons",
        "medulla",
        "cerebellum",
        "cerebellar_hemisphere",
        "cerebellar_vermis",
        "cerebellopontine_angle",
        "ventricles",
    ] {
        assert!(kb.region(id).is_some(), "{id}");
    }
    assert!(kb.is_within("pons", "brainstem") && kb.is_within("cerebellar_vermis", "cerebellum"));
    assert!(!kb.is_within("brainstem", "pons"));
    assert!(
        c.hospitals.iter().all(|h| h.sample),
        "sample data is labelled"
    );
    assert!(c.symptoms.iter().all(
        |s| !s.label_ko.is_empty() && (!s.synonyms_en.is_empty() || !s.synonyms_ko.is_empty())
    ));
    assert!(c.symptoms.iter().any(|s| s.code == "X-HEMINEGLECT"));
    // Every rule family of the domain reference's table that maps symptoms to regions.
    for family in [
        "R-CONTRA-MOTOR",
        "R-CONTRA-SENS",
        "R-CONTRA-VF",
        "R-VF-TEMPORAL-SUPERIOR",
        "R-VF-PARIETAL-INFERIOR",
        "R-CHIASM-BITEMPORAL",
        "R-DOMINANT-LANG",
        "R-DOMINANT-GERSTMANN",
        "R-NONDOM-NEGLECT",
        "R-CEREB-IPSI",
        "R-VERMIS-TRUNCAL",
        "R-BRAINSTEM-CROSSED",
        "R-CPA-IPSI",
        "R-PINEAL-PARINAUD",
        "R-PITUITARY-ENDO",
        "R-FRONTAL-BASE-ANOSMIA",
        "R-FRONTAL-BILATERAL",
        "R-CC-COGNITIVE",
        "R-THALAMUS-CONTRA",
        "R-MTL-AURA",
        "R-INSULA-OLFACTORY",
        "R-OCCIPITAL",
        "R-FOCAL-SEIZURE-CONTRA",
        "R-FALSE-LOCAL-CN6",
    ] {
        assert!(c.rules.iter().any(|r| r.rule == family), "{family}");
    }
}

#[test]
fn text_lookup_in_korean_and_english() {
    let (_d, kb) = kb();
    let best = |t: &str| kb.find(t).matches.first().map(|m| m.code.clone());
    assert_eq!(best("말이 잘 안 나와요").as_deref(), Some("HP:0002427"));
    assert_eq!(best("두통").as_deref(), Some("HP:0002315"));
    assert_eq!(best("Headache").as_deref(), Some("HP:0002315"));
    assert_eq!(best("can't find words").as_deref(), Some("HP:0002427"));
    assert_eq!(
        best("hemiparisis").as_deref(),
        Some("HP:0001269"),
        "typo → fuzzy"
    );
    assert_eq!(kb.find("hemiparisis").matches[0].kind, MatchKind::Fuzzy);
    assert_eq!(best("hp:0001250").as_deref(), Some("HP:0001250"));
    // Side words come out of the text.
    let l = kb.find("오른쪽 팔다리에 힘이 빠져요");
    assert_eq!(l.side, Some(Side::Right));
    assert_eq!(l.matches[0].code, "HP:0001269");
    assert_eq!(
        l.matches[0].kind,
        MatchKind::Synonym,
        "한쪽 팔다리에 힘이 빠져요 with the side swapped in"
    );
    assert_eq!(kb.find("좌측 귀가 잘 안 들려요").side, Some(Side::Left));
    assert_eq!(kb.find("left-sided neglect").side, Some(Side::Left));
    assert_eq!(
        kb.find("left-sided neglect").matches[0].code,
        "X-HEMINEGLECT"
    );
    assert_eq!(kb.find("both legs weak").side, Some(Side::Bilateral));
    assert_eq!(kb.find("양쪽 다리").side, Some(Side::Bilateral));
    assert_eq!(
        kb.find("우울해요").side,
        None,
        "우 in 우울 is not a side word"
    );
    // Several symptoms in one text.
    let many = kb.find("아침에 두통이 심하고 구토를 해요");
    let codes: Vec<&str> = many.matches.iter().map(|m| m.code.as_str()).collect();
    assert!(
        codes.contains(&"HP:0002315") && codes.contains(&"HP:0002013"),
        "{codes:?}"
    );
    assert!(kb.find("zzzz qqqq").matches.is_empty());
}

#[test]
fn contralateral_motor_sensory_and_fields() {
    let (_d, kb) = kb();
    assert_eq!(
        top(
            &kb,
            r#"{"symptoms": [{"code": "HP:0001269", "side": "right"}]}"#
        ),
        ("frontal_lobe".into(), Some(Hemisphere::Left))
    );
    assert_eq!(
        top(
            &kb,
            r#"{"symptoms": [{"code": "HP:0010527", "side": "left"}]}"#
        ),
        ("parietal_lobe".into(), Some(Hemisphere::Right))
    );
    assert_eq!(
        top(
            &kb,
            r#"{"symptoms": [{"code": "HP:0030516", "side": "left"}]}"#
        ),
        ("occipital_lobe".into(), Some(Hemisphere::Right))
    );
    // Focal motor seizure of the left arm → right frontal.
    assert_eq!(
        top(&kb, r#"{"symptoms": [{"text": "왼쪽 팔이 저절로 떨림"}]}"#),
        ("frontal_lobe".into(), Some(Hemisphere::Right))
    );
}

#[test]
fn visual_field_qualifiers_pick_temporal_or_parietal() {
    let (_d, kb) = kb();
    let sup = r#"{"symptoms": [{"code": "HP:0001123", "side": "left", "qualifier": "superior quadrant"}]}"#;
    let inf = r#"{"symptoms": [{"code": "HP:0001123", "side": "left", "qualifier": "lower"}]}"#;
    let none = r#"{"symptoms": [{"code": "HP:0001123", "side": "left"}]}"#;
    assert!(has(&kb, sup, "temporal_lobe", Some(Hemisphere::Right)));
    assert!(!has(&kb, sup, "parietal_lobe", Some(Hemisphere::Right)));
    assert!(has(&kb, inf, "parietal_lobe", Some(Hemisphere::Right)));
    assert!(!has(&kb, inf, "temporal_lobe", Some(Hemisphere::Right)));
    assert!(
        !has(&kb, none, "temporal_lobe", Some(Hemisphere::Right))
            && has(&kb, none, "occipital_lobe", Some(Hemisphere::Right))
    );
    // Korean qualifier word.
    assert!(has(
        &kb,
        r#"{"symptoms": [{"code": "HP:0001123", "side": "right", "qualifier": "위쪽"}]}"#,
        "temporal_lobe",
        Some(Hemisphere::Left)
    ));
}

#[test]
fn ipsilateral_cerebellar_and_ear_signs() {
    let (_d, kb) = kb();
    assert_eq!(
        top(
            &kb,
            r#"{"symptoms": [{"code": "HP:0001310", "side": "left"}]}"#
        ),
        ("cerebellar_hemisphere".into(), Some(Hemisphere::Left))
    );
    assert_eq!(
        top(
            &kb,
            r#"{"symptoms": [{"code": "HP:0000365", "side": "right"}, {"code": "HP:0000360", "side": "right"}]}"#
        ),
        ("cerebellopontine_angle".into(), Some(Hemisphere::Right))
    );
}

#[test]
fn crossed_brainstem_signs() {
    let (_d, kb) = kb();
    // Right facial palsy + left hemiparesis: both point to the right brainstem.
    let j = r#"{"symptoms": [{"code": "HP:0010628", "side": "right"}, {"code": "HP:0001269", "side": "left"}]}"#;
    assert!(has(&kb, j, "pons", Some(Hemisphere::Right)));
    assert!(has(&kb, j, "brainstem", Some(Hemisphere::Right)));
}

#[test]
fn language_by_handedness_and_neglect() {
    let (_d, kb) = kb();
    let right = kb
        .suspect(
            &Intake::from_json(
                r#"{"patient": {"handedness": "right"}, "symptoms": [{"code": "HP:0002427"}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
    let left = kb
        .suspect(
            &Intake::from_json(
                r#"{"patient": {"handedness": "left"}, "symptoms": [{"code": "HP:0002427"}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        (
            right.suspected[0].region.as_str(),
            right.suspected[0].hemisphere
        ),
        ("frontal_lobe", Some(Hemisphere::Left))
    );
    assert!(
        left.suspected[0].score < right.suspected[0].score,
        "left-handers: less certain"
    );
    assert!(left.suspected[0].evidence[0]
        .note
        .as_deref()
        .unwrap_or("")
        .contains("70"));
    assert_eq!(
        top(&kb, r#"{"symptoms": [{"text": "left-sided neglect"}]}"#),
        ("parietal_lobe".into(), Some(Hemisphere::Right))
    );
    assert_eq!(
        top(
            &kb,
            r#"{"symptoms": [{"code": "HP:0002442"}, {"code": "HP:0010525"}]}"#
        ),
        ("parietal_lobe".into(), Some(Hemisphere::Left))
    );
}

#[test]
fn midline_and_non_localising() {
    let (_d, kb) = kb();
    assert_eq!(
        top(&kb, r#"{"symptoms": [{"code": "HP:0030521"}]}"#),
        ("pituitary_sellar".into(), Some(Hemisphere::Midline))
    );
    assert_eq!(
        top(&kb, r#"{"symptoms": [{"code": "HP:0025331"}]}"#),
        ("pineal_region".into(), Some(Hemisphere::Midline))
    );
    assert_eq!(
        top(&kb, r#"{"symptoms": [{"code": "HP:0002078"}]}"#),
        ("cerebellar_vermis".into(), Some(Hemisphere::Midline))
    );
    let s = kb.suspect(&Intake::from_json(r#"{"symptoms": [{"code": "HP:0002315"}, {"text": "구토"}, {"code": "HP:0002069"}]}"#).unwrap()).unwrap();
    assert!(s.suspected.is_empty());
    assert_eq!(s.non_localising.len(), 3);
    // Abducens palsy: weakly localising alone, non-localising with raised-pressure signs.
    let alone = kb
        .suspect(
            &Intake::from_json(r#"{"symptoms": [{"code": "HP:0006897", "side": "left"}]}"#)
                .unwrap(),
        )
        .unwrap();
    assert!(!alone.suspected.is_empty());
    let with_icp = kb
        .suspect(
            &Intake::from_json(
                r#"{"symptoms": [{"code": "HP:0006897", "side": "left"}, {"code": "HP:0001085"}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
    assert!(
        with_icp.suspected.is_empty()
            && with_icp
                .non_localising
                .iter()
                .any(|n| n.reason.contains("false-localising"))
    );
}

#[test]
fn the_issue_example_intake() {
    let (_d, kb) = kb();
    let j = r#"{"patient": {"age_years": 52, "sex": "F", "handedness": "right", "location": {"lat": 37.57, "lon": 126.98}},
      "symptoms": [{"code": "HP:0001269", "side": "right"},
                   {"code": "HP:0001123", "side": "left", "qualifier": "inferior quadrant"},
                   {"text": "말이 잘 안 나와요"},
                   {"text": "left-sided neglect"}]}"#;
    let s = kb.suspect(&Intake::from_json(j).unwrap()).unwrap();
    assert!(s.unmatched.is_empty());
    assert_eq!(s.resolved.len(), 4);
    let json = serde_json::to_value(&s).unwrap();
    for key in ["suspected", "non_localising", "unmatched"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let first = &json["suspected"][0];
    for key in ["region", "hemisphere", "score", "evidence"] {
        assert!(first.get(key).is_some(), "{key}");
    }
}

#[test]
fn bad_intakes_and_codes_are_errors() {
    let (_d, kb) = kb();
    let e = kb
        .suspect(&Intake::from_json(r#"{"symptoms": [{"code": "HP:0001296"}]}"#).unwrap())
        .unwrap_err();
    assert!(
        matches!(e, Error::UnknownSymptom { .. }) && e.to_string().contains("HP:0001269"),
        "{e}"
    );
    for (bad, want) in [
        ("not json", "line 1"),
        (
            r#"{"symptoms": [{"code": "HP:0001269", "sdie": "left"}]}"#,
            "sdie",
        ),
        (
            r#"{"symptoms": [{"code": "HP:0001269", "side": "up"}]}"#,
            "up",
        ),
        (r#"{"symptoms": [{}]}"#, "symptoms[0]"),
        (
            r#"{"patient": {"handedness": "both"}, "symptoms": []}"#,
            "both",
        ),
        (
            r#"{"patient": {"location": {"lat": 95, "lon": 0}}, "symptoms": []}"#,
            "patient.location",
        ),
        (r#"{"patient": {}}"#, "symptoms"),
    ] {
        let e = Intake::from_json(bad).unwrap_err();
        assert!(
            matches!(e, Error::Intake { .. }) && e.to_string().contains(want),
            "{bad}: {e}"
        );
    }
    assert!(
        matches!(kb.require_region("frontal_lobes"), Err(Error::UnknownRegion { ref suggestions, .. }) if suggestions.contains(&"frontal_lobe".to_string()))
    );
    // Unmatched text is reported, not dropped.
    let s = kb
        .suspect(&Intake::from_json(r#"{"symptoms": [{"text": "qwerty asdf"}]}"#).unwrap())
        .unwrap();
    assert_eq!(s.unmatched.len(), 1);
}

#[test]
fn every_hpo_code_is_in_the_verified_list() {
    let verified: std::collections::HashSet<String> = include_str!("../content/hpo_terms.tsv")
        .lines()
        .filter(|l| l.starts_with("HP:"))
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    let c = symptom_kb::Content::default_content().unwrap();
    for s in &c.symptoms {
        assert!(
            s.is_local_code() || verified.contains(&s.code),
            "{} is not in hpo_terms.tsv",
            s.code
        );
    }
}

#[test]
fn capability_names_match_serde() {
    for c in symptom_kb::Capability::ALL {
        assert_eq!(
            serde_json::to_value(c).unwrap(),
            serde_json::json!(c.name())
        );
        assert_eq!(symptom_kb::Capability::from_name(c.name()), Some(c));
    }
    assert_eq!(symptom_kb::Capability::from_name("teleportation"), None);
}

/// Every character of the default content can be drawn in the pictures: the bundled font
/// (`brats-io/assets/fonts`) was subset with this content, and must be rebuilt when new
/// Korean text is added.
#[test]
fn the_picture_font_covers_every_character_of_the_default_content() {
    let text = include_str!("../content/default.json");
    let missing: std::collections::BTreeSet<char> = text
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .filter(|&c| !brats_io::render::font::has_glyph(c))
        .collect();
    assert!(
        missing.is_empty(),
        "not in brats-io/assets/fonts/bts-hangul-subset.ttf.gz (rerun its build.sh): {missing:?}"
    );
}

#[test]
fn an_earlier_releases_default_content_is_reported_and_ones_own_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    assert_eq!(kb.outdated_default().unwrap(), None);
    let builtin = symptom_kb::Content::default_content().unwrap();
    // The built-in content as an earlier release stored it.
    let mut earlier = builtin.clone();
    earlier.content_version = "2026.11.2".into();
    kb.replace(&earlier).unwrap();
    assert_eq!(
        kb.outdated_default().unwrap(),
        Some(("2026.11.2".to_string(), builtin.content_version.clone()))
    );
    // Content of one's own, whatever its version, is left alone.
    let mut own = earlier.clone();
    own.sources = "our clinic's directory".into();
    kb.replace(&own).unwrap();
    assert_eq!(kb.outdated_default().unwrap(), None);
    kb.init().unwrap();
    assert_eq!(kb.outdated_default().unwrap(), None);
}

#[test]
fn alexia_points_to_the_dominant_parietal_and_occipital_lobes() {
    let (_d, kb) = kb();
    let right = r#"{"patient": {"handedness": "right"}, "symptoms": [{"text": "글을 읽어도 무슨 뜻인지 모르겠어요"}]}"#;
    let s = kb.suspect(&Intake::from_json(right).unwrap()).unwrap();
    assert_eq!(s.resolved[0].code, "X-ALEXIA", "{:?}", s.resolved);
    assert!(has(&kb, right, "parietal_lobe", Some(Hemisphere::Left)));
    assert!(has(&kb, right, "occipital_lobe", Some(Hemisphere::Left)));
    assert!(!has(&kb, right, "parietal_lobe", Some(Hemisphere::Right)));
    let english = r#"{"symptoms": [{"text": "I have a lot of trouble reading"}]}"#;
    let s = kb.suspect(&Intake::from_json(english).unwrap()).unwrap();
    assert!(
        s.resolved.iter().any(|r| r.code == "X-ALEXIA"),
        "{:?}",
        s.resolved
    );
}

#[test]
fn a_symptom_said_twice_is_one_piece_of_evidence() {
    let (_d, kb) = kb();
    let once = r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}]}"#;
    let twice = r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}, {"text": "왼쪽 팔에 힘이 빠져요"}]}"#;
    let a = kb.suspect(&Intake::from_json(once).unwrap()).unwrap();
    let b = kb.suspect(&Intake::from_json(twice).unwrap()).unwrap();
    assert_eq!(
        b.resolved.len(),
        2,
        "both entries are listed: {:?}",
        b.resolved
    );
    assert_eq!(a.suspected, b.suspected);
}
