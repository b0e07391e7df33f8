//! Storage: exclusive opening, all-or-nothing imports, exact round trips, concurrent
//! readers and a process killed during an import.

use std::sync::Arc;

use proptest::prelude::*;
use symptom_kb::import::{hospitals_from_csv, parse_csv, write_hospitals_csv};
use symptom_kb::{Capability, Content, Error, Hospital, Intake, KnowledgeBase, ReferralQuery};

fn fresh() -> (tempfile::TempDir, KnowledgeBase) {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    (dir, kb)
}

#[test]
fn second_opener_gets_in_use() {
    let (dir, kb) = fresh();
    let e = KnowledgeBase::open(dir.path().join("kb")).unwrap_err();
    assert!(
        matches!(e, Error::InUse { .. }) && e.to_string().contains("in use"),
        "{e}"
    );
    drop(kb);
    assert!(
        KnowledgeBase::open(dir.path().join("kb")).is_ok(),
        "free again once closed"
    );
}

#[test]
fn bad_imports_leave_the_database_unchanged() {
    let (dir, mut kb) = fresh();
    let before = kb.store().content().unwrap();
    let bad_json = dir.path().join("bad.json");
    let mut c = before.clone();
    c.rules[3].region = "frontal_lobez".into();
    std::fs::write(&bad_json, serde_json::to_vec(&c).unwrap()).unwrap();
    let e = kb.import(&bad_json).unwrap_err();
    assert!(
        e.to_string().contains("rules[3].region") && e.to_string().contains("frontal_lobez"),
        "{e}"
    );
    std::fs::write(&bad_json, b"{\"schema_version\": 1, \"symptoms\": [").unwrap();
    let e = kb.import(&bad_json).unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");

    let bad_csv = dir.path().join("h.csv");
    for (text, want) in [
        (
            "id,name_en,lat,lon\nh1,A,37.5,127.0\nh2,B,97,127\n",
            "line 3, column lat",
        ),
        (
            "id,name_en,capabilities\nh1,A,teleportation\n",
            "line 2, column capabilities",
        ),
        ("id,name_en,sites\nh1,A,frontal_lobe;nowhere\n", "line 2"),
        ("id,name_en\nh1,A\nh1,B\n", "line 3, column id"),
        ("id,name_en,colour\nh1,A,red\n", "unknown column"),
        ("id,name_en\nh1,\"A\n", "unterminated"),
        ("id,name_en,lat\nh1,A,north\n", "not a number"),
        ("id,name_en\nh1,A,extra\n", "fields"),
        (
            "id,name_ko,name_en\nh1,A,\nh2, , \n",
            "line 3, column name_ko/name_en",
        ),
    ] {
        std::fs::write(&bad_csv, text).unwrap();
        let e = kb.import(&bad_csv).unwrap_err();
        assert!(e.to_string().contains(want), "{text:?}: {e}");
    }
    assert_eq!(kb.store().content().unwrap(), before);
    assert!(matches!(
        kb.import(dir.path().join("missing.json")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn export_import_round_trips_and_csv_replaces_hospitals() {
    let (dir, mut kb) = fresh();
    let json = dir.path().join("all.json");
    kb.export(&json).unwrap();
    let first = kb.store().content().unwrap();
    kb.init().unwrap();
    kb.import(&json).unwrap();
    assert_eq!(kb.store().content().unwrap(), first);
    let csv = dir.path().join("h.csv");
    kb.export(&csv).unwrap();
    kb.import(&csv).unwrap();
    assert_eq!(kb.store().content().unwrap(), first);
    // A CSV with one hospital replaces the list and updates the indexes.
    std::fs::write(&csv, "id,name_ko,name_en,lat,lon,departments,capabilities,sites\nx1,\"가, 나\",\"X \"\"one\"\"\",37.5,127,neurosurgery;endocrinology,pituitary_centre,pituitary_sellar\n").unwrap();
    kb.import(&csv).unwrap();
    let hs = kb.store().hospitals().unwrap();
    assert_eq!(hs.len(), 1);
    assert_eq!(
        (hs[0].name_ko.as_str(), hs[0].name_en.as_str()),
        ("가, 나", "X \"one\"")
    );
    assert_eq!(
        kb.store().hospital_ids_by_site("pituitary_sellar").unwrap(),
        ["x1"]
    );
    assert_eq!(
        kb.store()
            .hospital_ids_by_capability(Capability::PituitaryCentre)
            .unwrap(),
        ["x1"]
    );
    assert!(kb
        .store()
        .hospital_ids_by_capability(Capability::AwakeCraniotomy)
        .unwrap()
        .is_empty());
}

#[test]
fn referral_ranks_by_capability_then_distance() {
    let (_d, kb) = fresh();
    let q = ReferralQuery {
        region: "pituitary_sellar".into(),
        capabilities: vec![Capability::PituitaryCentre, Capability::EndoscopicEndonasal],
        location: Some(symptom_kb::Location {
            lat: 35.1,
            lon: 129.0,
        }), // Busan
        limit: 3,
    };
    let r = kb.hospitals(&q).unwrap();
    assert_eq!(r.len(), 3);
    assert!(
        r[0].missing_capabilities.is_empty() && r[0].hospital.id == "sample-busan",
        "{:?}",
        r[0].hospital.id
    );
    assert!(r[0].distance_km.unwrap() < 5.0);
    assert!(r
        .windows(2)
        .all(|w| w[0].matched_capabilities.len() >= w[1].matched_capabilities.len()));
    assert!(r[0].departments.contains(&"endocrinology".to_string()));
    // The children's sample hospital treats the posterior fossa only.
    let pf = kb
        .hospitals(&ReferralQuery {
            region: "cerebellar_vermis".into(),
            capabilities: vec![Capability::PaediatricNeurosurgery],
            ..Default::default()
        })
        .unwrap();
    assert!(pf.iter().any(|x| x.hospital.id == "sample-seoul-c"));
    let fr = kb
        .hospitals(&ReferralQuery {
            region: "frontal_lobe".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(fr.iter().all(|x| x.hospital.id != "sample-seoul-c"));
    assert!(matches!(
        kb.hospitals(&ReferralQuery {
            region: "nowhere".into(),
            ..Default::default()
        }),
        Err(Error::UnknownRegion { .. })
    ));
}

#[test]
fn concurrent_readers() {
    let (_d, kb) = fresh();
    let kb = Arc::new(kb);
    let intake = Intake::from_json(
        r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}, {"text": "말이 잘 안 나와요"}]}"#,
    )
    .unwrap();
    let expected = kb.suspect(&intake).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let kb = Arc::clone(&kb);
            let intake = intake.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(kb.suspect(&intake).unwrap(), expected);
                    assert!(kb.store().symptom("HP:0002315").unwrap().is_some());
                    assert!(!kb
                        .store()
                        .rules_for_region("parietal_lobe")
                        .unwrap()
                        .is_empty());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Run in a child process by `killed_import_leaves_previous_or_new_content`.
#[test]
#[ignore = "helper: run as a child process"]
fn child_import_worker() {
    let Ok(dir) = std::env::var("KB_CHILD_DIR") else {
        return;
    };
    let mut kb = KnowledgeBase::open(&dir).unwrap();
    let big = std::path::Path::new(&dir).with_extension("big.json");
    loop {
        kb.import(&big).unwrap();
        kb.init().unwrap();
    }
}

#[test]
fn killed_import_leaves_previous_or_new_content() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("kb");
    let default = {
        let mut kb = KnowledgeBase::open(&db).unwrap();
        let c = kb.store().content().unwrap();
        // A large variant: 3000 extra hospitals.
        let mut big = c.clone();
        for n in 0..3000 {
            let mut h = big.hospitals[n % 10].clone();
            h.id = format!("bulk-{n:05}");
            big.hospitals.push(h);
        }
        std::fs::write(
            db.with_extension("big.json"),
            serde_json::to_vec(&big).unwrap(),
        )
        .unwrap();
        // Both as stored (the store orders records by key).
        kb.import(db.with_extension("big.json")).unwrap();
        let big = kb.store().content().unwrap();
        kb.init().unwrap();
        (c, big)
    };
    let exe = std::env::current_exe().unwrap();
    for delay_ms in [150u64, 400, 900] {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "child_import_worker",
                "--test-threads",
                "1",
            ])
            .env("KB_CHILD_DIR", &db)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let kb = KnowledgeBase::open(&db).expect("openable after a kill");
        let c = kb.store().content().unwrap();
        c.validate().unwrap();
        assert!(
            c == default.0 || c == default.1,
            "content is the old or the new one, never a mix ({} hospitals)",
            c.hospitals.len()
        );
    }
}

fn hospital_strategy() -> impl Strategy<Value = Hospital> {
    let text = prop_oneof![
        Just("A, \"quoted\"".to_string()),
        Just("가나다 병원".to_string()),
        // Starts with a letter: a name of only blanks is invalid (tested in `bad_imports_leave_the_database_unchanged`).
        "[a-zA-Z][a-zA-Z ]{0,11}",
        Just("line\nbreak".to_string())
    ];
    (
        "[a-z]{1,6}[0-9]{0,3}",
        text.clone(),
        text,
        proptest::option::of((-90.0f64..90.0, -180.0f64..180.0)),
        proptest::sample::subsequence(vec!["neurosurgery", "endocrinology", "ophthalmology"], 0..3),
        proptest::sample::subsequence(
            vec![
                Capability::AwakeCraniotomy,
                Capability::Radiosurgery,
                Capability::PituitaryCentre,
            ],
            0..3,
        ),
        proptest::sample::subsequence(vec!["pons", "insula", "frontal_lobe"], 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, ko, en, ll, deps, caps, sites, sample)| Hospital {
            id,
            name_ko: ko,
            name_en: en,
            address: "1 Example-ro, \"B\" dong".into(),
            region: "서울".into(),
            lat: ll.map(|x| x.0),
            lon: ll.map(|x| x.1),
            departments: deps.into_iter().map(String::from).collect(),
            capabilities: caps,
            sites: sites.into_iter().map(String::from).collect(),
            sample,
        })
}

proptest! {
    // A fixed seed: every run (and CI) draws the same cases, so a failure reproduces.
    // Change the seed locally to explore further.
    #![proptest_config(ProptestConfig {
        cases: 32,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6b627374),
        ..ProptestConfig::default()
    })]

    #[test]
    fn csv_round_trips_exactly(hs in proptest::collection::vec(hospital_strategy(), 0..8)) {
        let content = Content::default_content().unwrap();
        let mut seen = std::collections::HashSet::new();
        let hs: Vec<Hospital> = hs.into_iter().filter(|h| seen.insert(h.id.clone())).collect();
        let mut text = Vec::new();
        write_hospitals_csv(&hs, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let back = hospitals_from_csv(&text, "t.csv", &content).unwrap();
        prop_assert_eq!(back, hs);
        prop_assert!(parse_csv(&text, "t.csv").is_ok());
    }

    #[test]
    fn content_json_round_trips_exactly(drop_rules in 0usize..20, extra in proptest::collection::vec(hospital_strategy(), 0..4)) {
        let (_d, mut kb) = fresh();
        let mut c = kb.store().content().unwrap();
        c.rules.truncate(c.rules.len() - drop_rules);
        let mut seen: std::collections::HashSet<String> = c.hospitals.iter().map(|h| h.id.clone()).collect();
        c.hospitals.extend(extra.into_iter().filter(|h| seen.insert(h.id.clone())));
        c.content_version = "test".into();
        kb.replace(&c).unwrap();
        let stored = kb.store().content().unwrap();
        let text = serde_json::to_string(&stored).unwrap();
        kb.init().unwrap();
        kb.replace(&Content::from_json(&text, "x.json").unwrap()).unwrap();
        prop_assert_eq!(kb.store().content().unwrap(), stored);
    }
}

/// Run in a child process by `another_process_gets_in_use`: holds the database open.
#[test]
#[ignore = "helper: run as a child process"]
fn child_hold_open() {
    let Ok(dir) = std::env::var("KB_HOLD_DIR") else {
        return;
    };
    let _kb = KnowledgeBase::open(&dir).unwrap();
    std::fs::write(std::path::Path::new(&dir).with_extension("held"), b"1").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(30));
}

#[test]
fn another_process_gets_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("kb");
    drop(KnowledgeBase::open(&db).unwrap());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_hold_open",
            "--test-threads",
            "1",
        ])
        .env("KB_HOLD_DIR", &db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (at most 20 s) for the child's signal that it holds the database.
    let marker = db.with_extension("held");
    let started = std::time::Instant::now();
    while !marker.exists() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(marker.exists(), "child did not open the database");
    // Now we must get the clear error at once, not a hang.
    let t = std::time::Instant::now();
    let result = KnowledgeBase::open(&db);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        matches!(result, Err(Error::InUse { .. })),
        "a second process must get Error::InUse"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        KnowledgeBase::open(&db).is_ok(),
        "free again after the holder died"
    );
}
