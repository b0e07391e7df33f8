//! Localisation on phantoms whose tumour site is known, user atlases, bad inputs, reports.

use std::path::Path;

use brats_io::phantom::{PhantomConfig, PhantomOrientation};
use brats_io::{Case, Geometry, LabelScheme, NiftiWriter, Volume};
use diagnosis::{Atlas, AtlasEntry, Diagnoser, Site, Verdict};
use ndarray::Array3;
use symptom_kb::{Capability, Hemisphere, Intake, KnowledgeBase};

fn kb() -> (tempfile::TempDir, KnowledgeBase) {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    (dir, kb)
}

fn phantom(seed: u64, orientation: PhantomOrientation) -> (Case, brats_io::phantom::GroundTruth) {
    let p = PhantomConfig {
        shape: [120, 120, 78],
        orientation,
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(seed)
    .unwrap();
    (
        Case {
            id: p.truth.id.clone(),
            images: p.images,
            seg: Some(p.seg),
            seg_scheme: None,
        },
        p.truth,
    )
}

fn intake(json: &str) -> Intake {
    Intake::from_json(json).unwrap()
}

fn lobe(region: &str) -> &str {
    match region {
        "cerebellar_hemisphere" | "cerebellar_vermis" => "cerebellum",
        r => r,
    }
}

#[test]
fn phantom_sites_and_sides_are_found() {
    let (_d, kb) = kb();
    let dx = Diagnoser::new(&kb);
    let scheme = LabelScheme::brats2021();
    let (mut sides, mut primary, mut listed, mut n) = (0, 0, 0, 0);
    for seed in 0..10u64 {
        let (case, truth) = phantom(seed, PhantomOrientation::Lps);
        let seg = case.seg.as_ref().unwrap();
        let f = dx.localise(&case, seg, &scheme).unwrap();
        assert!(f.found);
        let site = truth.site.clone().unwrap();
        let want_side = match truth.hemisphere.as_deref() {
            Some("left") => Hemisphere::Left,
            _ => Hemisphere::Right,
        };
        eprintln!(
            "seed {seed}: truth {site}@{want_side:?} → {:?}@{:?} regions {:?}",
            f.primary_region,
            f.hemisphere,
            f.regions
                .iter()
                .take(3)
                .map(|r| (r.region.as_str(), r.fraction))
                .collect::<Vec<_>>()
        );
        n += 1;
        sides += usize::from(
            f.hemisphere == Some(want_side) || f.hemisphere == Some(Hemisphere::Bilateral),
        );
        primary += usize::from(lobe(f.primary_region.as_deref().unwrap()) == site);
        listed += usize::from(
            f.regions
                .iter()
                .any(|r| lobe(&r.region) == site && r.fraction >= 0.1),
        );
        // Volumes agree with the generator's.
        for key in ["WT", "TC", "ET"] {
            let want = truth.volumes_cm3[key];
            assert!(
                (f.volumes_cm3[key] - want).abs() < 2e-3,
                "{key}: {want} vs {:?}",
                f.volumes_cm3
            );
        }
        // Centroid in world mm from the affine equals the generator's.
        let c = f.centroid_mm.unwrap();
        let t = truth.centroid_mm.unwrap();
        assert!((0..3).all(|a| (c[a] - t[a]).abs() < 1e-6), "{c:?} vs {t:?}");
    }
    eprintln!("side {sides}/{n}, primary {primary}/{n}, listed ≥10 % {listed}/{n}");
    assert_eq!(sides, n);
    assert!(
        primary * 10 >= n * 7,
        "primary region right in {primary}/{n}"
    );
    assert!(
        listed * 10 >= n * 9,
        "site among the regions in {listed}/{n}"
    );
}

#[test]
fn left_and_right_come_from_the_affine_not_the_array() {
    let (_d, kb) = kb();
    let dx = Diagnoser::new(&kb);
    let scheme = LabelScheme::brats2021();
    for seed in [3u64, 4] {
        let (lps, _) = phantom(seed, PhantomOrientation::Lps);
        let (ras, _) = phantom(seed, PhantomOrientation::Ras);
        let a = dx
            .localise(&lps, lps.seg.as_ref().unwrap(), &scheme)
            .unwrap();
        let b = dx
            .localise(&ras, ras.seg.as_ref().unwrap(), &scheme)
            .unwrap();
        assert_eq!(a.hemisphere, b.hemisphere);
        assert_eq!(a.primary_region, b.primary_region);
        assert_eq!(a.volumes_cm3, b.volumes_cm3);
    }
}

/// A user atlas on its own grid (RAS, 3 mm): the left half of the world labelled 1
/// (frontal_lobe left), the right half 2 (frontal_lobe right), split at `mid_x`.
fn half_atlas(
    dir: &Path,
    mid_x: f64,
    origin: [f64; 3],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dims = [60usize, 60, 40];
    let affine = [
        [3.0, 0.0, 0.0, origin[0]],
        [0.0, 3.0, 0.0, origin[1]],
        [0.0, 0.0, 3.0, origin[2]],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let g = Geometry::new(dims, affine).unwrap();
    let data = Array3::from_shape_fn(g.shape(), |(k, j, i)| {
        let x = g.voxel_to_world([i as f64, j as f64, k as f64])[0];
        if x < mid_x {
            1i16
        } else {
            2
        }
    });
    let vol = dir.join("atlas.nii.gz");
    NiftiWriter::new()
        .write(&vol, &Volume::new(data, g).unwrap())
        .unwrap();
    let csv = dir.join("labels.csv");
    std::fs::write(
        &csv,
        "value,region,hemisphere\n1,frontal_lobe,left\n2,frontal_lobe,right\n",
    )
    .unwrap();
    (vol, csv)
}

#[test]
fn a_user_atlas_is_resampled_through_world_coordinates() {
    let (_d, kb) = kb();
    let tmp = tempfile::tempdir().unwrap();
    let (case, _) = phantom(1, PhantomOrientation::Lps);
    let scheme = LabelScheme::brats2021();
    let f0 = Diagnoser::new(&kb)
        .localise(&case, case.seg.as_ref().unwrap(), &scheme)
        .unwrap();
    let mid = f0.side_shares.unwrap().midline_x_mm;
    let (vol, csv) = half_atlas(tmp.path(), mid, [-200.0, -100.0, -20.0]);
    let atlas = Atlas::load(&vol, &csv).unwrap();
    let dx = Diagnoser::new(&kb).with_atlas(atlas).unwrap();
    let f = dx
        .localise(&case, case.seg.as_ref().unwrap(), &scheme)
        .unwrap();
    assert_eq!(f.primary_region.as_deref(), Some("frontal_lobe"));
    let side = f.regions[0].hemisphere;
    assert_eq!(Some(side), f0.hemisphere, "{:?}", f.regions);
    assert!(f.outside_atlas_fraction < 0.01);

    // An atlas somewhere else in the world.
    let (vol, csv) = half_atlas(tmp.path(), 0.0, [5000.0, 5000.0, 5000.0]);
    let err = Diagnoser::new(&kb)
        .with_atlas(Atlas::load(&vol, &csv).unwrap())
        .unwrap()
        .localise(&case, case.seg.as_ref().unwrap(), &scheme)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not overlap the brain"), "{err}");
    // A region id the knowledge base does not know.
    std::fs::write(&csv, "value,region,hemisphere\n1,frontal_lobes,left\n").unwrap();
    let err = Diagnoser::new(&kb)
        .with_atlas(Atlas::load(&vol, &csv).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frontal_lobes") && err.contains("frontal_lobe"),
        "{err}"
    );
    // Malformed tables.
    std::fs::write(&csv, "value,region\n1,frontal_lobe\n").unwrap();
    assert!(Atlas::load(&vol, &csv)
        .unwrap_err()
        .to_string()
        .contains("hemisphere"));
    std::fs::write(&csv, "value,region,hemisphere\nx,frontal_lobe,left\n").unwrap();
    assert!(Atlas::load(&vol, &csv)
        .unwrap_err()
        .to_string()
        .contains("line 2"));
    std::fs::write(&csv, "value,region,hemisphere\n1,frontal_lobe,up\n").unwrap();
    assert!(Atlas::load(&vol, &csv)
        .unwrap_err()
        .to_string()
        .contains("up"));
    let json = tmp.path().join("labels.json");
    std::fs::write(&json, r#"[{"value": 1, "region": "frontal_lobe", "hemisphere": "left"}, {"value": 1, "region": "insula", "hemisphere": "left"}]"#).unwrap();
    assert!(Atlas::load(&vol, &json)
        .unwrap_err()
        .to_string()
        .contains("twice"));
    let _ = AtlasEntry {
        value: 1,
        region: "x".into(),
        hemisphere: Hemisphere::Left,
    };
}

#[test]
fn empty_masks_and_grid_mismatches() {
    let (_d, kb) = kb();
    let (case, _) = phantom(2, PhantomOrientation::Lps);
    let scheme = LabelScheme::brats2021();
    let dx = Diagnoser::new(&kb);
    let motor = intake(r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}]}"#);
    // No tumour: a valid outcome, reported as such.
    let empty = case.seg.as_ref().unwrap().map(|_| 0u8);
    let mut d = dx
        .diagnose(
            Site::Mask {
                case: &case,
                mask: &empty,
                scheme: &scheme,
            },
            &motor,
        )
        .unwrap();
    assert!(!d.finding.found);
    assert_eq!(d.check.verdict, Verdict::Indeterminate);
    assert!(d.check.explanation[0].contains("No tumour"));
    let out = tempfile::tempdir().unwrap();
    d.write(out.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict"], "indeterminate");
    assert_eq!(json["tumour"]["found"], false);
    // A mask on another grid.
    let small = Volume::new(
        Array3::<u8>::zeros([10, 10, 10]),
        Geometry::new([10, 10, 10], case.geometry().affine()).unwrap(),
    )
    .unwrap();
    let err = dx.localise(&case, &small, &scheme).unwrap_err().to_string();
    assert!(err.contains("mask") && err.contains("differs"), "{err}");
    // Labels outside the scheme.
    let bad = case
        .seg
        .as_ref()
        .unwrap()
        .map(|&v| if v == 4 { 3 } else { v });
    let err = dx.localise(&case, &bad, &scheme).unwrap_err().to_string();
    assert!(err.contains('3'), "{err}");
}

#[test]
fn report_files_are_complete_and_self_contained() {
    let (_d, kb) = kb();
    let (case, truth) = phantom(0, PhantomOrientation::Lps);
    let scheme = LabelScheme::brats2021();
    let side = if truth.hemisphere.as_deref() == Some("left") {
        "right"
    } else {
        "left"
    };
    let text = format!(
        r#"{{"patient": {{"handedness": "right"}}, "symptoms": [{{"code": "HP:0001269", "side": "{side}"}}, {{"text": "두통"}}]}}"#
    );
    let mut d = Diagnoser::new(&kb)
        .diagnose(
            Site::Mask {
                case: &case,
                mask: case.seg.as_ref().unwrap(),
                scheme: &scheme,
            },
            &intake(&text),
        )
        .unwrap();
    assert_eq!(d.check.hemisphere_match, Some(true));
    let out = tempfile::tempdir().unwrap();
    let files = d.write(out.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    for key in [
        "verdict",
        "hemisphere_match",
        "region_match",
        "tumour",
        "suspected_regions",
        "evidence",
        "referrals",
        "disclaimer",
    ] {
        assert!(json.get(key).is_some(), "report.json lacks {key}");
    }
    for key in [
        "primary_region",
        "hemisphere",
        "volumes_cm3",
        "centroid_mm",
        "regions",
    ] {
        assert!(json["tumour"].get(key).is_some(), "tumour lacks {key}");
    }
    for key in ["WT", "TC", "ET"] {
        assert!(json["tumour"]["volumes_cm3"][key].as_f64().unwrap() >= 0.0);
    }
    let r0 = &json["tumour"]["regions"][0];
    for key in ["region", "hemisphere", "voxels", "fraction"] {
        assert!(r0.get(key).is_some(), "regions[0] lacks {key}");
    }
    assert!(json["suspected_regions"][0].get("score").is_some());
    assert!(json["disclaimer"]
        .as_str()
        .unwrap()
        .contains("not a diagnosis"));
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(html.contains("not a diagnosis"));
    assert_eq!(html.matches("data:image/png;base64,").count(), 3);
    assert!(!html.contains("src=\"http") && !html.contains("src=\"overlay"));
    assert!(html.contains("sample data") || html.contains("SAMPLE DATA"));
    // Rendered Markdown: lists inside <ul>, tables with header rows, and text that looks
    // like HTML shown as text.
    assert!(html.contains("<ul>\n<li>") && html.contains("<table>") && html.contains("<th>"));
    assert_eq!(html.matches("<li>").count(), html.matches("</li>").count());
    let mut tampered = d.report.clone();
    tampered
        .explanation
        .push("<script>alert(1)</script> | x".into());
    let html = tampered.to_html(&Default::default(), None);
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(md.contains("not a diagnosis") && md.contains("overlay_axial.png"));
    for p in &files.images {
        assert!(std::fs::read(p).unwrap().starts_with(b"\x89PNG"));
    }
}

/// A case whose brain is the SRI24 atlas's own (every labelled voxel), on its grid.
fn sri24_case() -> (Case, Volume<u32>) {
    let atlas = Atlas::sri24().unwrap();
    let labels = atlas.labels().unwrap();
    let brain = labels.map(|&v| if v > 0 { 100.0f32 } else { 0.0 });
    let images = [brain.clone(), brain.clone(), brain.clone(), brain];
    (
        Case {
            id: "sri24".into(),
            images,
            seg: None,
            seg_scheme: None,
        },
        labels,
    )
}

/// The centroid `(k, j, i)` of the atlas label `v`.
fn centre_of(labels: &Volume<u32>, v: u32) -> [f64; 3] {
    let (mut n, mut s) = (0.0, [0.0; 3]);
    for ((k, j, i), &x) in labels.data().indexed_iter() {
        if x == v {
            n += 1.0;
            s[0] += k as f64;
            s[1] += j as f64;
            s[2] += i as f64;
        }
    }
    s.map(|x| x / n)
}

/// The voxel of label `v` nearest its centroid (the centroid of a curved region may fall
/// outside it).
fn inside_centre(labels: &Volume<u32>, v: u32) -> [f64; 3] {
    let c = centre_of(labels, v);
    let mut best = (f64::MAX, c);
    for ((k, j, i), &x) in labels.data().indexed_iter() {
        if x == v {
            let d =
                (k as f64 - c[0]).powi(2) + (j as f64 - c[1]).powi(2) + (i as f64 - c[2]).powi(2);
            if d < best.0 {
                best = (d, [k as f64, j as f64, i as f64]);
            }
        }
    }
    best.1
}

/// The SRI24 entry value of `region` on `side`.
fn atlas_value(atlas: &Atlas, region: &str, side: &str) -> u32 {
    atlas
        .table()
        .iter()
        .find(|e| e.region == region && e.hemisphere.name() == side)
        .map(|e| e.value)
        .unwrap()
}

/// Several lesions (metastases): each is measured on its own, and a small one in the motor
/// cortex explains a hemiparesis that the bulk, in the other hemisphere's occipital lobe,
/// cannot. Specks under the lesion size count in the volumes only.
#[test]
fn each_lesion_is_measured_and_judged_on_its_own() {
    let (_d, kb) = kb();
    let atlas = Atlas::sri24().unwrap();
    let (case, labels) = sri24_case();
    let dx = Diagnoser::new(&kb).pictures(false);
    let big = inside_centre(&labels, atlas_value(atlas, "occipital_lobe", "right"));
    let small = inside_centre(&labels, atlas_value(atlas, "frontal_lobe", "left"));
    let (mut data, g) = labels.map(|_| 0u8).into_parts();
    let d2 = |p: [f64; 3], c: [f64; 3]| (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>();
    for ((k, j, i), x) in data.indexed_iter_mut() {
        let p = [k as f64, j as f64, i as f64];
        if labels.data()[[k, j, i]] == 0 {
            continue;
        }
        *x = if d2(p, big) <= 16.0 {
            1 // necrotic core
        } else if d2(p, big) <= 36.0 {
            4 // enhancing rim
        } else if d2(p, big) <= 121.0 {
            2 // edema
        } else if d2(p, small) <= 9.0 {
            4 // a small enhancing metastasis
        } else {
            0
        };
    }
    // A speck of 8 voxels (0.008 cm³), far from both.
    let speck = [big[0], big[1], 2.0 * small[2] - big[2]];
    for dk in 0..2 {
        for dj in 0..2 {
            for di in 0..2 {
                data[[
                    speck[0] as usize + dk,
                    speck[1] as usize + dj,
                    speck[2] as usize + di,
                ]] = 2;
            }
        }
    }
    let mask = Volume::new(data, g).unwrap();
    let scheme = LabelScheme::brats2021();
    let f = dx.localise(&case, &mask, &scheme).unwrap();
    assert_eq!(f.lesions.len(), 2, "{:?}", f.lesions);
    assert_eq!(f.small_components, 1);
    let (l1, l2) = (&f.lesions[0], &f.lesions[1]);
    assert_eq!((l1.id, l2.id), (1, 2));
    assert_eq!(l1.primary_region.as_deref(), Some("occipital_lobe"));
    assert_eq!(l1.hemisphere, Hemisphere::Right);
    assert_eq!(l1.basis, "tumour_core");
    assert_eq!(l2.primary_region.as_deref(), Some("frontal_lobe"));
    assert_eq!(l2.hemisphere, Hemisphere::Left);
    // The lesions' voxels and volumes add up to the whole tumour's, less the speck.
    let wt = |v: &std::collections::BTreeMap<String, f64>| v["WT"];
    assert!((wt(&l1.volumes_cm3) + wt(&l2.volumes_cm3) + 0.008 - wt(&f.volumes_cm3)).abs() < 1e-9);
    assert!((l2.volumes_cm3["ET"] - l2.volumes_cm3["WT"]).abs() < 1e-12);
    assert!(l2.volumes_cm3["WT"] >= diagnosis::MIN_LESION_CM3);
    // The whole tumour is the bulk's: right occipital, the small lesion under 10 % of it.
    assert_eq!(f.primary_region.as_deref(), Some("occipital_lobe"));
    assert_eq!(f.hemisphere, Some(Hemisphere::Right));
    assert!(wt(&l2.volumes_cm3) / wt(&f.volumes_cm3) < 0.1);
    // Right hemiparesis and a left visual-field cut: each explained by its own lesion.
    let d = dx
        .diagnose(
            Site::Mask {
                case: &case,
                mask: &mask,
                scheme: &scheme,
            },
            &intake(
                r#"{"symptoms": [{"code": "HP:0001269", "side": "right"},
                                 {"code": "HP:0001123", "side": "left"}]}"#,
            ),
        )
        .unwrap();
    assert_eq!(d.check.verdict, Verdict::Concordant, "{:?}", d.check);
    assert_eq!(d.check.hemisphere_match, Some(true));
    let reason = |code: &str| {
        d.check
            .evidence
            .iter()
            .find(|e| e.symptom == code)
            .map(|e| e.reason.clone())
            .unwrap()
    };
    assert!(
        reason("HP:0001269").starts_with("points to lesion 2 (frontal_lobe@left, 0."),
        "{}",
        reason("HP:0001269")
    );
    assert!(
        reason("HP:0001123").starts_with("points to occipital_lobe@right"),
        "{}",
        reason("HP:0001123")
    );
    assert!(
        d.check.explanation[0].contains("in 2 lesions (1: occipital_lobe@right"),
        "{:?}",
        d.check.explanation
    );
    // The referral asks for what each lesion's own site calls for: mapping for the small
    // left (dominant) frontal one, visual fields for the occipital bulk; and, two small
    // lesions, radiosurgery.
    let asked = |d: &diagnosis::Diagnosis, c: Capability| {
        d.referral
            .capabilities
            .iter()
            .find(|r| r.capability == c)
            .map(|r| r.reason.clone())
    };
    let awake = asked(&d, Capability::AwakeCraniotomy).unwrap();
    assert!(
        awake.starts_with("lesion 2 (frontal_lobe@left, 0."),
        "{awake}"
    );
    let eyes = asked(&d, Capability::NeuroOphthalmology).unwrap();
    assert!(eyes.starts_with("occipital lobe"), "{eyes}");
    let srs = asked(&d, Capability::Radiosurgery).unwrap();
    assert!(srs.starts_with("2 separate lesions"), "{srs}");
    assert_eq!(
        d.referral
            .capabilities
            .iter()
            .filter(|r| r.capability == Capability::NeuroOphthalmology)
            .count(),
        1,
        "each capability once"
    );
    // Without the small lesion, the same symptoms are discordant: it was the lesion that
    // explained the hemiparesis.
    let (mut data, g) = mask.clone().into_parts();
    for ((k, j, i), x) in data.indexed_iter_mut() {
        if d2([k as f64, j as f64, i as f64], small) <= 9.0 {
            *x = 0;
        }
    }
    let alone = Volume::new(data, g).unwrap();
    let d = dx
        .diagnose(
            Site::Mask {
                case: &case,
                mask: &alone,
                scheme: &scheme,
            },
            &intake(r#"{"symptoms": [{"code": "HP:0001269", "side": "right"}]}"#),
        )
        .unwrap();
    assert_eq!(d.finding.lesions.len(), 1);
    assert_eq!(d.check.verdict, Verdict::Discordant, "{:?}", d.check);
    assert_eq!(asked(&d, Capability::AwakeCraniotomy), None);
    assert_eq!(asked(&d, Capability::Radiosurgery), None);
    // The report lists the lesions, and pictures each through its own centroid.
    let dir = tempfile::tempdir().unwrap();
    let mut two = Diagnoser::new(&kb)
        .diagnose(
            Site::Mask {
                case: &case,
                mask: &mask,
                scheme: &scheme,
            },
            &intake(r#"{"symptoms": [{"code": "HP:0001269", "side": "right"}]}"#),
        )
        .unwrap();
    let files = two.write(dir.path()).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(
        md.contains("2 separate lesions (and 1 smaller than 0.1 cm³, not listed)"),
        "{md}"
    );
    assert!(md.contains("| 2 | frontal_lobe | left |"), "{md}");
    let pictures: Vec<&str> = two.pictures.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(
        pictures,
        [
            "axial",
            "coronal",
            "sagittal",
            "lesion_1_axial",
            "lesion_2_axial"
        ]
    );
    // The slice viewer jumps to the tumour's centroid and to each lesion.
    let viewer = two.viewer.as_ref().unwrap();
    let places: Vec<&str> = viewer.places.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(places.len(), 3, "{places:?}");
    assert_eq!(places[0], "종양 중심 · the tumour's centroid");
    assert!(
        places[2].starts_with("병변 2 · lesion 2: 좌측 전두엽 — left frontal lobe, 0."),
        "{places:?}"
    );
    let l2 = &two.finding.lesions[1];
    assert_eq!(viewer.places[2].voxel, viewer.voxel_of(l2.centroid_mm));
    assert_ne!(viewer.places[1].voxel, viewer.places[2].voxel);
    let (axial, lesion2) = (&two.pictures[0].1, &two.pictures[4].1);
    assert_ne!(axial, lesion2, "lesion 2 lies on another slice");
    let at = md.find("Each lesion on an axial slice").expect("{md}");
    assert!(md[at..].contains("![lesion_2_axial](overlay_lesion_2_axial.png)"));
    assert!(dir.path().join("overlay_lesion_2_axial.png").is_file());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(
        json["images"]["lesion_2_axial"],
        "overlay_lesion_2_axial.png"
    );
    assert_eq!(json["tumour"]["lesions"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["tumour"]["lesions"][1]["primary_region"],
        "frontal_lobe"
    );
}

#[test]
fn the_registered_atlas_names_deep_infratentorial_and_boundary_sites() {
    let (_d, kb) = kb();
    let atlas = Atlas::sri24().unwrap();
    // Every region id is a knowledge-base region id.
    for e in atlas.table() {
        kb.require_region(&e.region).unwrap();
    }
    let (case, labels) = sri24_case();
    let dx = Diagnoser::new(&kb);
    let grid = dx.atlas_for(&case).unwrap();
    assert!(grid.name.starts_with("sri24"), "{}", grid.name);
    // A 5 mm ball at the centre of each region's largest blob is found there, on its side.
    let value_of = |region: &str, side: &str| atlas_value(atlas, region, side);
    let centre = |v: u32| centre_of(&labels, v);
    for (region, side) in [
        ("thalamus", "left"),
        ("thalamus", "right"),
        ("cerebellar_hemisphere", "right"),
        ("pons", "left"),
        ("insula", "right"),
        ("frontal_lobe", "left"),
        ("occipital_lobe", "right"),
        ("temporal_lobe", "left"),
    ] {
        let v = value_of(region, side);
        let c = inside_centre(&labels, v);
        let mask = labels.map(|_| 0u8);
        let (mut data, g) = mask.into_parts();
        for ((k, j, i), x) in data.indexed_iter_mut() {
            let d =
                (k as f64 - c[0]).powi(2) + (j as f64 - c[1]).powi(2) + (i as f64 - c[2]).powi(2);
            if d <= 25.0 && labels.data()[[k, j, i]] == v {
                *x = 2;
            }
        }
        let mask = Volume::new(data, g).unwrap();
        let f = dx
            .localise(&case, &mask, &LabelScheme::brats2021())
            .unwrap();
        assert_eq!(f.primary_region.as_deref(), Some(region), "{region} {side}");
        assert_eq!(
            f.hemisphere.map(Hemisphere::name),
            Some(side),
            "{region} {side}"
        );
    }
    // Near a boundary: a 5 mm ball on the central sulcus (frontal | parietal) and at the
    // Sylvian fissure (frontal | temporal | insula) is named by one of its neighbours, on
    // its side, and the report lists the other.
    // The boundary voxel between `a` and `b` closest to `target`.
    let boundary = |a: u32, b: u32, target: [f64; 3]| -> [f64; 3] {
        let d = labels.data();
        let (nk, nj, ni) = d.dim();
        let mut best: Option<(f64, [f64; 3])> = None;
        for ((k, j, i), &x) in d.indexed_iter() {
            if x != a || k + 1 >= nk || j + 1 >= nj || i + 1 >= ni {
                continue;
            }
            if d[[k, j + 1, i]] == b || d[[k + 1, j, i]] == b || d[[k, j, i + 1]] == b {
                let p = [k as f64, j as f64, i as f64];
                let dist = (0..3).map(|x| (p[x] - target[x]).powi(2)).sum::<f64>();
                if best.is_none_or(|(bd, _)| dist < bd) {
                    best = Some((dist, p));
                }
            }
        }
        best.expect("the regions touch").1
    };
    for (a, b, side, toward) in [
        // The convexity (top of the brain) for the central sulcus; the insula's centre for
        // the Sylvian fissure.
        (
            "frontal_lobe",
            "parietal_lobe",
            "left",
            [155.0, 120.0, 150.0],
        ),
        (
            "frontal_lobe",
            "parietal_lobe",
            "right",
            [155.0, 120.0, 90.0],
        ),
        (
            "temporal_lobe",
            "insula",
            "left",
            centre(value_of("insula", "left")),
        ),
    ] {
        let c = boundary(value_of(a, side), value_of(b, side), toward);
        let (mut data, g) = labels.map(|_| 0u8).into_parts();
        for ((k, j, i), x) in data.indexed_iter_mut() {
            let d =
                (k as f64 - c[0]).powi(2) + (j as f64 - c[1]).powi(2) + (i as f64 - c[2]).powi(2);
            if d <= 25.0 && labels.data()[[k, j, i]] != 0 {
                *x = 2;
            }
        }
        let f = dx
            .localise(
                &case,
                &Volume::new(data, g).unwrap(),
                &LabelScheme::brats2021(),
            )
            .unwrap();
        let primary = f.primary_region.clone().unwrap();
        assert!(primary == a || primary == b, "{a}|{b}: {primary}");
        assert_eq!(f.hemisphere.map(Hemisphere::name), Some(side), "{a}|{b}");
        let other = if primary == a { b } else { a };
        assert!(
            f.regions.iter().any(|r| r.region == other),
            "{a}|{b}: {:?}",
            f.regions
        );
    }
    // A brain that does not fit the atlas (a phantom) falls back to the proportional atlas
    // and says why.
    let (phantom_case, _) = phantom(3, PhantomOrientation::Lps);
    let g = dx.atlas_for(&phantom_case).unwrap();
    assert!(g.name.contains("proportional"), "{}", g.name);
}

/// `segment_and_diagnose` segments with the diagnoser's predict options (the model's own by
/// default) and records in the report whether mirror TTA was used and how sure the model
/// was.
#[test]
fn segmentation_follows_the_diagnosers_predict_options() {
    use brats_io::progress::NoProgress;
    use unet3d::predict::{PredictOptions, Predictor};

    let (_d, kb) = kb();
    let (case, _) = phantom(3, PhantomOrientation::Lps);
    let predictor = Predictor::load_default().unwrap();
    let motor = intake(r#"{"symptoms": [{"code": "HP:0001269", "side": "left"}]}"#);
    let mut tta = predictor.meta().window;
    tta.mirror_tta = !tta.mirror_tta;
    let both = [
        PredictOptions::default(),
        PredictOptions {
            window: Some(tta),
            ..PredictOptions::default()
        },
    ];
    // The two settings segment this case differently, so the masks below tell them apart.
    let [a, b] = both.map(|o| predictor.predict_case(&case, &o, &NoProgress).unwrap());
    assert_ne!(a.labels.data(), b.labels.data());
    for opts in both {
        let (d, mask) = Diagnoser::new(&kb)
            .pictures(false)
            .predict_options(opts)
            .segment_and_diagnose(&case, &predictor, &motor, &NoProgress)
            .unwrap();
        let direct = predictor.predict_case(&case, &opts, &NoProgress).unwrap();
        assert_eq!(mask.data(), direct.labels.data());
        let used = opts.window.unwrap_or(predictor.meta().window).mirror_tta;
        let seg = d.report.segmentation.as_ref().unwrap();
        assert_eq!(seg["mirror_tta"], used, "{seg}");
        // The model's certainty is recorded and read out, with the doubt when there is one.
        assert_eq!(
            seg["confidence"],
            serde_json::to_value(direct.confidence).unwrap()
        );
        assert_eq!(seg["doubtful"], direct.confidence.doubtful(), "{seg}");
        let md = d.report.to_markdown();
        assert!(md.contains(&direct.confidence.summary()), "{md}");
        assert_eq!(
            md.contains("**The model doubts this map**"),
            direct.confidence.doubtful(),
            "{md}"
        );
        // The input checks are recorded; this phantom passes them.
        assert_eq!(
            seg["input_check"],
            serde_json::to_value(direct.input).unwrap()
        );
        assert_eq!(seg["input_warnings"], serde_json::json!([]), "{seg}");
        assert!(!md.contains("**Check the input:**"), "{md}");
    }
    // The same case with its FLAIR and T2 files swapped: the report says so.
    let mut swapped = case.clone();
    swapped.images.swap(0, 3);
    let (d, _) = Diagnoser::new(&kb)
        .pictures(false)
        .predict_options(both[0])
        .segment_and_diagnose(&swapped, &predictor, &motor, &NoProgress)
        .unwrap();
    let seg = d.report.segmentation.as_ref().unwrap();
    let why = seg["input_warnings"][0].as_str().unwrap_or_default();
    assert!(why.starts_with("FLAIR and T2 look swapped"), "{seg}");
    let md = d.report.to_markdown();
    assert!(md.contains(&format!("**Check the input:** {why}")), "{md}");

    // With pictures, the model's certainty is pictured after the three overlays, in the
    // same three planes.
    let (mut d, mask) = Diagnoser::new(&kb)
        .predict_options(both[0])
        .segment_and_diagnose(&case, &predictor, &motor, &NoProgress)
        .unwrap();
    let names: Vec<&str> = d.pictures.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "axial",
            "coronal",
            "sagittal",
            "certainty_axial",
            "certainty_coronal",
            "certainty_sagittal"
        ]
    );
    for (name, png) in &d.pictures[3..] {
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{name}");
    }
    assert_ne!(d.pictures[3].1, d.pictures[4].1, "two planes, two pictures");
    // The same map as without pictures: asking for the probabilities changes nothing.
    let direct = predictor
        .predict_case(&case, &both[0], &NoProgress)
        .unwrap();
    assert_eq!(mask.data(), direct.labels.data());
    let tmp = tempfile::tempdir().unwrap();
    diagnosis::report::write_report(tmp.path(), &mut d.report, &d.pictures, None).unwrap();
    assert!(tmp.path().join("overlay_certainty_axial.png").exists());
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    let (sagittal, certainty) = (
        md.find("(overlay_sagittal.png)").unwrap(),
        md.find("(overlay_certainty_axial.png)").unwrap(),
    );
    assert!(sagittal < certainty, "{md}");
    assert!(
        md.contains("The model's certainty: its probability of whole tumour"),
        "{md}"
    );
    assert_eq!(
        md.matches("The model's certainty: its probability").count(),
        1,
        "said once, before the three pictures: {md}"
    );
    for view in ["coronal", "sagittal"] {
        let file = format!("overlay_certainty_{view}.png");
        assert!(tmp.path().join(&file).exists(), "{file}");
        assert!(md.find(&format!("({file})")).unwrap() > certainty, "{view}");
    }
}
