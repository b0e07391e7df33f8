//! The report's slice viewer data: sampled in world coordinates (the same picture whatever
//! the storage orientation), labels where the mask has them, compact, and safe to embed.

use brats_io::phantom::{PhantomConfig, PhantomOrientation};
use brats_io::{Case, Geometry, LabelScheme, Volume};
use diagnosis::{Diagnoser, Site, ViewerData};
use std::io::Read;
use symptom_kb::{Intake, KnowledgeBase};

const INTAKE: &str = r#"{"symptoms": [{"text": "왼쪽 팔다리에 힘이 빠져요"}]}"#;

fn phantom(orientation: PhantomOrientation, shape: [usize; 3], id: &str) -> Case {
    let p = PhantomConfig {
        shape,
        orientation,
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(11)
    .unwrap();
    Case {
        id: id.to_string(),
        images: p.images,
        seg: Some(p.seg),
        seg_scheme: None,
    }
}

fn viewer(case: &Case) -> ViewerData {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    let d = Diagnoser::new(&kb)
        .diagnose(
            Site::Mask {
                case,
                mask: case.seg.as_ref().unwrap(),
                scheme: &LabelScheme::brats2021(),
            },
            &Intake::from_json(INTAKE).unwrap(),
        )
        .unwrap();
    d.viewer.expect("a case with a mask gets a viewer")
}

fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let mut n = 0u32;
        for (i, &c) in data.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        for i in 0..data.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn inflate(b64: &str) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&unbase64(b64)[..])
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn the_viewer_grid_is_world_aligned_whatever_the_storage_orientation() {
    let lps = viewer(&phantom(PhantomOrientation::Lps, [96, 96, 64], "lps"));
    let ras = viewer(&phantom(PhantomOrientation::Ras, [96, 96, 64], "ras"));
    assert_eq!(lps.dims, ras.dims);
    let n: usize = lps.dims.iter().product();
    let (a, b) = (inflate(&lps.labels), inflate(&ras.labels));
    assert_eq!(a.len(), n);
    assert!(a.iter().any(|&v| v != 0), "the tumour is in the viewer");
    // The same patient stored two ways: the same labels at the same world points.
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    assert!(same as f64 / n as f64 > 0.999, "{same} of {n} voxels agree");
    for (x, y) in lps.images.iter().zip(&ras.images) {
        assert_eq!(inflate(&x.data).len(), n);
        assert_eq!(x.name, y.name);
    }
    let atlas = inflate(&lps.atlas);
    assert_eq!(atlas.len(), 2 * n, "u16 per voxel");
    assert_eq!(lps.atlas_regions[0], "");
    assert_eq!(
        lps.images
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["FLAIR", "T1", "T1ce", "T2"]
    );
}

#[test]
fn every_tumour_voxel_is_found_at_its_world_position() {
    let case = phantom(PhantomOrientation::Lps, [96, 96, 64], "lps");
    let v = viewer(&case);
    let labels = inflate(&v.labels);
    let seg = case.seg.as_ref().unwrap();
    let g = seg.geometry();
    let [nx, ny, _] = v.dims;
    let (mut checked, mut agree) = (0usize, 0usize);
    for ((k, j, i), &label) in seg.data().indexed_iter() {
        if label == 0 {
            continue;
        }
        let w = g.voxel_to_world([i as f64, j as f64, k as f64]);
        let p = [0, 1, 2].map(|a| ((w[a] - v.origin_mm[a]) / v.spacing_mm).round() as usize);
        assert_eq!(v.voxel_of(w), p);
        checked += 1;
        agree += usize::from(labels[p[0] + nx * (p[1] + ny * p[2])] == label);
    }
    assert!(checked > 100);
    assert!(agree as f64 / checked as f64 > 0.99, "{agree} of {checked}");
    // The cross-hair starts on the tumour.
    let f = v.focus;
    assert_ne!(labels[f[0] + nx * (f[1] + ny * f[2])], 0, "focus {f:?}");
    // Places beyond the grid are clamped to its edge, and named as given.
    let far = v
        .clone()
        .with_places(&[("below".into(), [-1e6; 3]), ("above".into(), [1e6; 3])]);
    assert_eq!(far.places[0].voxel, [0, 0, 0]);
    assert_eq!(far.places[1].voxel, v.dims.map(|d| d - 1));
    assert_eq!(far.places[1].name, "above");
    assert!(v.places.is_empty(), "no places unless given");
}

#[test]
fn a_brats_sized_case_embeds_compactly_and_safely() {
    let mut case = phantom(PhantomOrientation::Lps, [240, 240, 155], "x");
    // A hostile case id cannot close the data's script element.
    case.id = "</script><script>alert(1)</script>".into();
    let v = viewer(&case);
    let html = v.to_html_section();
    assert!(html.len() < 15_000_000, "{} bytes", html.len());
    assert!(!html.contains("</script><script>alert"));
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "the data and the code"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "offline"
    );
    assert!(v.dims.iter().product::<usize>() <= diagnosis::viewer::MAX_VOXELS);
}

#[test]
fn a_mask_on_another_grid_is_refused() {
    let case = phantom(PhantomOrientation::Lps, [64, 64, 48], "x");
    let other = Volume::new(
        ndarray::Array3::<u8>::zeros((24, 32, 32)),
        Geometry::from_spacing([32, 32, 24], [1.0, 1.0, 1.0]).unwrap(),
    )
    .unwrap();
    let atlas = diagnosis::builtin_on_grid(
        case.geometry(),
        &brats_io::preprocess::brain_mask(&case.images),
    )
    .unwrap();
    let err = ViewerData::build(&case, &other, &LabelScheme::brats2021(), &atlas, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("viewer") && err.contains("grid"), "{err}");
}

/// The model's probability maps ride along: sampled at their world positions like the
/// labels, named, and only when given; maps on another grid are refused.
#[test]
fn probability_maps_are_embedded_at_their_world_positions() {
    let dir = tempfile::tempdir().unwrap();
    let kb = KnowledgeBase::open(dir.path().join("kb")).unwrap();
    let intake = Intake::from_json(INTAKE).unwrap();
    let scheme = LabelScheme::brats2021();
    let mut embedded = Vec::new();
    for orientation in [PhantomOrientation::Lps, PhantomOrientation::Ras] {
        let case = phantom(orientation, [96, 96, 64], "p");
        let seg = case.seg.as_ref().unwrap();
        // Whole tumour sure, core half sure, enhancement a quarter.
        let maps =
            [(1u8, 2u8, 4u8, 1.0f32), (1, 4, 4, 0.5), (4, 4, 4, 0.25)].map(|(a, b, c, p)| {
                seg.map(|&l| {
                    if l != 0 && (l == a || l == b || l == c || p == 1.0) {
                        p
                    } else {
                        0.0
                    }
                })
            });
        let site = Site::Mask {
            case: &case,
            mask: seg,
            scheme: &scheme,
        };
        let d = Diagnoser::new(&kb)
            .diagnose_with_probabilities(site, &intake, &maps)
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
        let v = d.viewer.unwrap();
        let got: Vec<&str> = v.probabilities.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(got, ["P(whole tumour)", "P(tumour core)", "P(enhancing)"]);
        let labels = inflate(&v.labels);
        let probs: Vec<Vec<u8>> = v.probabilities.iter().map(|p| inflate(&p.data)).collect();
        for (l, (w, (c, e))) in labels
            .iter()
            .zip(probs[0].iter().zip(probs[1].iter().zip(&probs[2])))
        {
            assert_eq!(*w, if *l != 0 { 255 } else { 0 });
            assert_eq!(*c, if [1, 4].contains(l) { 128 } else { 0 });
            assert_eq!(*e, if *l == 4 { 64 } else { 0 });
        }
        embedded.push(probs);
    }
    // The same patient stored two ways: the same probabilities at the same world points.
    for (a, b) in embedded[0].iter().zip(&embedded[1]) {
        let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
        assert!(
            same as f64 / a.len() as f64 > 0.999,
            "{same} of {}",
            a.len()
        );
    }
    // Without maps, none is embedded (and the JSON has no key for them).
    let case = phantom(PhantomOrientation::Lps, [64, 64, 48], "q");
    let v = viewer(&case);
    assert!(v.probabilities.is_empty());
    assert!(!v.to_html_section().contains("\"probabilities\""));
    // Maps on another grid are refused, naming them.
    let other = Volume::new(
        ndarray::Array3::<f32>::zeros((24, 32, 32)),
        Geometry::from_spacing([32, 32, 24], [1.0, 1.0, 1.0]).unwrap(),
    )
    .unwrap();
    let e = Diagnoser::new(&kb)
        .diagnose_with_probabilities(
            Site::Mask {
                case: &case,
                mask: case.seg.as_ref().unwrap(),
                scheme: &scheme,
            },
            &intake,
            &[other.clone(), other.clone(), other],
        )
        .unwrap_err();
    assert!(e.to_string().contains("region probabilities"), "{e}");
}
