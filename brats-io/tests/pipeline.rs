//! Phantoms, cases, labels, preprocessing (and its inverse) and patch sampling, end to end.

use brats_io::phantom::{PhantomConfig, PhantomOrientation};
use brats_io::{
    find_case, list_cases, Compartment, LabelScheme, Modality, Naming, NiftiReader, PatchConfig,
    PatchSampler, PatchSource, PreprocessConfig, Resample, TumourRegion,
};
use ndarray::{Array3, Axis};

fn phantom(seed: u64, orientation: PhantomOrientation) -> brats_io::phantom::PhantomCase {
    PhantomConfig {
        shape: [96, 96, 64],
        orientation,
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(seed)
    .unwrap()
}

fn mean_where(values: &Array3<f32>, mask: &Array3<bool>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for (v, m) in values.iter().zip(mask.iter()) {
        if *m {
            s += f64::from(*v);
            n += 1;
        }
    }
    s / n.max(1) as f64
}

#[test]
fn phantom_is_deterministic_and_varied() {
    let a = phantom(5, PhantomOrientation::Lps);
    let b = phantom(5, PhantomOrientation::Lps);
    assert_eq!(a.truth, b.truth);
    for m in 0..4 {
        assert_eq!(a.images[m].data(), b.images[m].data());
    }
    assert_eq!(a.seg.data(), b.seg.data());
    // Different seeds put different tumours in different places.
    let sites: std::collections::BTreeSet<_> = (0..12)
        .map(|s| {
            let t = phantom(s, PhantomOrientation::Lps).truth;
            (t.hemisphere.unwrap(), t.site.unwrap())
        })
        .collect();
    assert!(
        sites.iter().any(|(h, _)| h == "left") && sites.iter().any(|(h, _)| h == "right"),
        "{sites:?}"
    );
    assert!(
        sites
            .iter()
            .map(|(_, s)| s)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            >= 3,
        "{sites:?}"
    );
}

#[test]
fn phantom_left_right_comes_from_the_world_not_the_array() {
    // Same seed stored LPS and RAS: the same anatomy, so the same world centroid and side,
    // while the arrays are mirrored along i.
    let lps = phantom(11, PhantomOrientation::Lps);
    let ras = phantom(11, PhantomOrientation::Ras);
    assert_eq!(lps.truth.hemisphere, ras.truth.hemisphere);
    assert_eq!(lps.truth.site, ras.truth.site);
    let (cl, cr) = (
        lps.truth.centroid_mm.unwrap(),
        ras.truth.centroid_mm.unwrap(),
    );
    let (bl, br) = (lps.truth.brain_centre_mm, ras.truth.brain_centre_mm);
    for a in 0..3 {
        assert!(
            ((cl[a] - bl[a]) - (cr[a] - br[a])).abs() < 1.5,
            "axis {a}: {cl:?}/{bl:?} vs {cr:?}/{br:?}"
        );
    }
    let side = if cl[0] > bl[0] { "right" } else { "left" };
    assert_eq!(lps.truth.hemisphere.as_deref(), Some(side));
    assert_eq!(lps.truth.orientation, "LPS");
    assert_eq!(ras.truth.orientation, "RAS");
}

#[test]
fn phantom_contrasts_are_those_of_the_sequences() {
    let case = phantom(3, PhantomOrientation::Lps);
    let scheme = LabelScheme::brats2021();
    let seg = case.seg.data();
    let edema = seg.mapv(|v| v == scheme.value_of(Compartment::Edema));
    let et = seg.mapv(|v| v == scheme.value_of(Compartment::Enhancing));
    let tumour = seg.mapv(|v| v != 0);
    let brain_healthy = case.images[1].data().mapv(|v| v > 0.0) & tumour.mapv(|t| !t);
    let [flair, t1, t1ce, t2] = [0, 1, 2, 3].map(|m| case.images[m].data());
    assert!(
        mean_where(flair, &edema) > 1.4 * mean_where(flair, &brain_healthy),
        "FLAIR: edema bright"
    );
    assert!(
        mean_where(t1ce, &et) > 1.4 * mean_where(t1ce, &brain_healthy),
        "T1ce: rim bright"
    );
    let core = scheme.region_mask(seg, TumourRegion::Tc);
    assert!(
        mean_where(t1, &core) < 0.85 * mean_where(t1, &brain_healthy),
        "T1: tumour core dark"
    );
    assert!(
        mean_where(t1, &edema) < mean_where(t1, &brain_healthy),
        "T1: edema darker than brain"
    );
    assert!(
        mean_where(t2, &edema) > 1.25 * mean_where(t2, &brain_healthy),
        "T2: edema bright (CSF brighter still)"
    );
    // Skull-stripped: exactly zero outside the brain, never zero inside.
    let brain = t1.mapv(|v| v > 0.0);
    for img in &case.images {
        assert!(img
            .data()
            .iter()
            .zip(brain.iter())
            .all(|(v, b)| (*v > 0.0) == *b));
    }
    // Truth volumes are the seg's counts.
    let wt = seg.iter().filter(|&&v| v != 0).count() as f64 / 1000.0;
    assert!((case.truth.volumes_cm3["WT"] - wt).abs() < 1e-9);
    let tc = scheme
        .region_mask(seg, TumourRegion::Tc)
        .iter()
        .filter(|&&b| b)
        .count() as f64
        / 1000.0;
    assert!((case.truth.volumes_cm3["TC"] - tc).abs() < 1e-9);
}

#[test]
fn healthy_phantom_has_an_empty_seg() {
    let case = PhantomConfig {
        shape: [48, 48, 32],
        tumour: false,
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(2)
    .unwrap();
    assert!(case.seg.data().iter().all(|&v| v == 0));
    assert!(!case.truth.has_tumour && case.truth.hemisphere.is_none());
}

#[test]
fn cases_are_found_in_both_namings_and_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg21 = PhantomConfig {
        shape: [32, 32, 24],
        ..Default::default()
    }
    .check()
    .unwrap();
    let cfg23 = PhantomConfig {
        shape: [32, 32, 24],
        scheme: LabelScheme::brats2023(),
        ..Default::default()
    }
    .check()
    .unwrap();
    let d21 = cfg21
        .generate(1)
        .unwrap()
        .write(tmp.path(), Naming::Brats2021)
        .unwrap();
    let d23 = cfg23
        .generate(2)
        .unwrap()
        .write(tmp.path(), Naming::Brats2023)
        .unwrap();
    std::fs::create_dir(tmp.path().join("notes")).unwrap(); // no NIfTI: skipped
    let p21 = find_case(&d21).unwrap();
    assert_eq!(
        (p21.id.as_str(), p21.naming),
        ("Phantom_00001", Naming::Brats2021)
    );
    assert!(p21.images[2].to_string_lossy().ends_with("_t1ce.nii.gz"));
    let p23 = find_case(&d23).unwrap();
    assert_eq!(p23.naming, Naming::Brats2023);
    assert!(p23.images[0].to_string_lossy().ends_with("-t2f.nii.gz"));
    assert!(p23
        .seg
        .as_ref()
        .unwrap()
        .to_string_lossy()
        .ends_with("-seg.nii.gz"));
    let all = list_cases(tmp.path()).unwrap();
    assert_eq!(
        all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["Phantom_00001", "Phantom_00002"]
    );
    let case = p23.load(&NiftiReader::new()).unwrap();
    let seg = case.seg.as_ref().unwrap();
    LabelScheme::brats2023().check(seg.data(), "seg").unwrap();
    assert!(
        LabelScheme::brats2021().check(seg.data(), "seg").is_err()
            || !seg.data().iter().any(|&v| v == 3)
    );
    assert_eq!(case.image(Modality::T2).geometry(), case.geometry());
}

/// Renames the phantom's files in `dir` (written with BraTS 2021's names for `id`) to
/// `new_id` + each of `names` (FLAIR, T1, T1ce, T2, seg), and returns what they were.
fn rename_case(dir: &std::path::Path, id: &str, new_id: &str, names: [&str; 5]) -> Vec<Vec<u8>> {
    ["_flair", "_t1", "_t1ce", "_t2", "_seg"]
        .iter()
        .zip(names)
        .map(|(old, new)| {
            let from = dir.join(format!("{id}{old}.nii.gz"));
            let bytes = std::fs::read(&from).unwrap();
            std::fs::rename(&from, dir.join(format!("{new_id}{new}.nii.gz"))).unwrap();
            bytes
        })
        .collect()
}

#[test]
fn upenn_gbm_and_ucsf_pdgm_folders_are_read_as_brats_2021() {
    // Two public glioma collections prepared as BraTS 2021 was, with its labels (1/2/4),
    // spell the files their own way: UPenn-GBM `_FLAIR _T1 _T1GD _T2 _segm` (and an automated
    // `_automated_approx_segm` beside the expert one), UCSF-PDGM `_FLAIR _T1 _T1c _T2
    // _tumor_segmentation` beside `_bias` copies and other series.
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PhantomConfig {
        shape: [24, 24, 16],
        ..Default::default()
    }
    .check()
    .unwrap();
    let root = tmp.path().join("collections");
    let upenn = cfg
        .generate(3)
        .unwrap()
        .write(&root, Naming::Brats2021)
        .unwrap();
    let ucsf = cfg
        .generate(4)
        .unwrap()
        .write(&root, Naming::Brats2021)
        .unwrap();
    let id = "UPENN-GBM-00001_11";
    let bytes = rename_case(
        &upenn,
        "Phantom_00003",
        id,
        ["_FLAIR", "_T1", "_T1GD", "_T2", "_segm"],
    );
    std::fs::write(
        upenn.join(format!("{id}_automated_approx_segm.nii.gz")),
        &bytes[0],
    )
    .unwrap();
    let p = find_case(&upenn).unwrap();
    assert_eq!((p.id.as_str(), p.naming), (id, Naming::Brats2021));
    for (path, m) in p.images.iter().zip(["_FLAIR", "_T1", "_T1GD", "_T2"]) {
        assert_eq!(path, &upenn.join(format!("{id}{m}.nii.gz")));
    }
    assert_eq!(
        p.seg.as_ref().unwrap(),
        &upenn.join(format!("{id}_segm.nii.gz"))
    );
    // The files are the phantom's, in FLAIR, T1, T1ce, T2 order, and the labels BraTS 2021's.
    for (path, b) in p.images.iter().zip(&bytes) {
        assert_eq!(&std::fs::read(path).unwrap(), b);
    }
    let case = p.load(&NiftiReader::new()).unwrap();
    LabelScheme::brats2021()
        .check(case.seg.as_ref().unwrap().data(), "seg")
        .unwrap();

    let id = "UCSF-PDGM-0004";
    let bytes = rename_case(
        &ucsf,
        "Phantom_00004",
        id,
        ["_FLAIR", "_T1", "_T1c", "_T2", "_tumor_segmentation"],
    );
    for other in [
        "_T1c_bias",
        "_FLAIR_bias",
        "_brain_segmentation",
        "_DTI_eddy_FA",
        "_SWI",
    ] {
        std::fs::write(ucsf.join(format!("{id}{other}.nii.gz")), &bytes[1]).unwrap();
    }
    let p = find_case(&ucsf).unwrap();
    assert_eq!((p.id.as_str(), p.naming), (id, Naming::Brats2021));
    assert_eq!(p.images[2], ucsf.join(format!("{id}_T1c.nii.gz")));
    assert_eq!(
        p.seg.as_ref().unwrap(),
        &ucsf.join(format!("{id}_tumor_segmentation.nii.gz"))
    );
    let listed = list_cases(&root).unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["UPENN-GBM-00001_11", "UCSF-PDGM-0004"]
    );

    // Two spellings of one modality, or two segmentations none of which is the case's, are
    // named, not chosen between.
    let t1ce = ucsf.join(format!("{id}_t1ce.nii.gz"));
    std::fs::write(&t1ce, &bytes[2]).unwrap();
    let e = find_case(&ucsf).unwrap_err().to_string();
    assert!(
        e.contains("modality t1ce found 2 times") && e.contains("_T1c.nii.gz"),
        "{e}"
    );
    std::fs::remove_file(&t1ce).unwrap();
    std::fs::rename(
        ucsf.join(format!("{id}_tumor_segmentation.nii.gz")),
        ucsf.join(format!("{id}_v2_tumor_segmentation.nii.gz")),
    )
    .unwrap();
    std::fs::write(ucsf.join(format!("{id}_v1_seg.nii.gz")), &bytes[4]).unwrap();
    let e = find_case(&ucsf).unwrap_err().to_string();
    assert!(
        e.contains("2 segmentation files and 0 of them named after the case \"UCSF-PDGM-0004\""),
        "{e}"
    );
    // One segmentation under another name is still the case's (as before).
    std::fs::remove_file(ucsf.join(format!("{id}_v1_seg.nii.gz"))).unwrap();
    let p = find_case(&ucsf).unwrap();
    assert!(p
        .seg
        .unwrap()
        .ends_with(format!("{id}_v2_tumor_segmentation.nii.gz")));
}

#[test]
fn label_classes_and_regions() {
    for scheme in [LabelScheme::brats2021(), LabelScheme::brats2023()] {
        let et = scheme.value_of(Compartment::Enhancing);
        let labels = Array3::from_shape_vec([1, 1, 4], vec![0, 1, 2, et]).unwrap();
        let classes = scheme.to_classes(&labels, "t").unwrap();
        assert_eq!(classes.as_slice().unwrap(), &[0, 1, 2, 3]);
        assert_eq!(scheme.from_classes(&classes, "t").unwrap(), labels);
        let m = |r| scheme.region_mask(&labels, r).into_raw_vec_and_offset().0;
        assert_eq!(m(TumourRegion::Wt), [false, true, true, true]);
        assert_eq!(m(TumourRegion::Tc), [false, true, false, true]);
        assert_eq!(m(TumourRegion::Et), [false, false, false, true]);
        // Regions back to labels: nesting enforced, inner region wins.
        let v = |x: [bool; 4]| Array3::from_shape_vec([1, 1, 4], x.to_vec()).unwrap();
        let back = scheme
            .from_regions(
                &v([false, true, true, false]),
                &v([false, true, false, true]),
                &v([false, false, false, true]),
            )
            .unwrap();
        assert_eq!(back.as_slice().unwrap(), &[0, 1, 2, et]);
        assert_eq!(scheme.n_classes(), 4);
    }
    // Between the schemes by compartment, both ways; the regions are unchanged.
    let (s21, s23) = (LabelScheme::brats2021(), LabelScheme::brats2023());
    let a = Array3::from_shape_vec([1, 1, 5], vec![0, 1, 2, 4, 4]).unwrap();
    let b = s21.convert(&a, &s23, "t").unwrap();
    assert_eq!(b.as_slice().unwrap(), &[0, 1, 2, 3, 3]);
    assert_eq!(s23.convert(&b, &s21, "t").unwrap(), a);
    assert_eq!(s21.convert(&a, &s21, "t").unwrap(), a);
    for r in TumourRegion::ALL {
        assert_eq!(s21.region_mask(&a, r), s23.region_mask(&b, r));
    }
    // A value outside the source scheme is named, not mapped to background.
    let e = s21.convert(&b, &s23, "case X").unwrap_err().to_string();
    assert!(e.contains("case X") && e.contains('3'), "{e}");
    assert_eq!(Naming::Brats2021.scheme(), s21);
    assert_eq!(Naming::Brats2023.scheme(), s23);
}

#[test]
fn preprocess_then_restore_gives_back_the_ground_truth() {
    let case = phantom(7, PhantomOrientation::Lps);
    let pre = PreprocessConfig::default()
        .check()
        .unwrap()
        .apply(&case.images, Some(&case.seg))
        .unwrap();
    let shape = pre.image.shape();
    assert_eq!(shape[0], 4);
    assert!(shape[1..].iter().all(|n| n % 16 == 0));
    assert!(shape[1] * shape[2] * shape[3] < 96 * 96 * 64, "cropped");
    // z-score over brain voxels; background zero.
    for c in 0..4 {
        let ch = pre.image.index_axis(Axis(0), c);
        let (mut s, mut ss, mut n) = (0.0f64, 0.0f64, 0usize);
        for (v, b) in ch.iter().zip(pre.brain.iter()) {
            if *b {
                s += f64::from(*v);
                ss += f64::from(*v).powi(2);
                n += 1;
            } else {
                assert_eq!(*v, 0.0);
            }
        }
        let mean = s / n as f64;
        assert!(mean.abs() < 1e-4 && (ss / n as f64 - mean * mean - 1.0).abs() < 1e-3);
    }
    // The preprocessed grid puts each voxel where the original one was in the world.
    let rec = &pre.record;
    let cs = rec.crop_start;
    let p = rec.pad_before;
    let w_pre = pre
        .geometry
        .voxel_to_world([p[2] as f64, p[1] as f64, p[0] as f64]);
    let w_orig = case
        .seg
        .geometry()
        .voxel_to_world([cs[2] as f64, cs[1] as f64, cs[0] as f64]);
    assert!((0..3).all(|a| (w_pre[a] - w_orig[a]).abs() < 1e-9));
    // Exact inverse without resampling.
    let restored = rec.restore_labels(pre.seg.as_ref().unwrap()).unwrap();
    assert_eq!(restored.data(), case.seg.data());
    assert_eq!(restored.geometry(), case.seg.geometry());
    // A wrong shape is an error, not a panic.
    assert!(rec.restore_labels(&Array3::zeros([3, 3, 3])).is_err());
    // The record serialises (stored with checkpoints).
    let json = serde_json::to_string(rec).unwrap();
    assert!(json.contains("crop_start"));
}

#[test]
fn preprocess_with_resampling_and_clipping() {
    let case = phantom(8, PhantomOrientation::Ras);
    let pre = PreprocessConfig {
        clip_percentiles: Some((0.5, 99.5)),
        resample: Resample::Spacing([2.0, 2.0, 2.0]),
        ..Default::default()
    }
    .check()
    .unwrap()
    .apply(&case.images, Some(&case.seg))
    .unwrap();
    let rec = &pre.record;
    assert_eq!(
        rec.resampled_shape,
        rec.crop_shape.map(|n| ((n as f64) / 2.0).round() as usize)
    );
    assert!(rec.clip_bounds.iter().all(|b| b.is_some()));
    assert!((pre.geometry.spacing()[0] - 2.0).abs() < 0.1);
    // Restored labels agree with the truth on most tumour voxels (nearest neighbour twice).
    let restored = rec.restore_labels(pre.seg.as_ref().unwrap()).unwrap();
    let truth = case.seg.data();
    let (mut inter, mut a, mut b) = (0usize, 0usize, 0usize);
    for (x, y) in restored.data().iter().zip(truth.iter()) {
        a += usize::from(*x != 0);
        b += usize::from(*y != 0);
        inter += usize::from(*x != 0 && *y != 0);
    }
    let dice = 2.0 * inter as f64 / (a + b) as f64;
    assert!(dice > 0.85, "WT Dice after 2 mm round trip {dice}");
    // The tumour's world position is preserved through the resampled grid.
    let centroid = |v: &Array3<u8>, g: &brats_io::Geometry| {
        let (mut s, mut n) = ([0.0; 3], 0.0);
        for ((k, j, i), &l) in v.indexed_iter() {
            if l != 0 {
                let w = g.voxel_to_world([i as f64, j as f64, k as f64]);
                for a in 0..3 {
                    s[a] += w[a];
                }
                n += 1.0;
            }
        }
        s.map(|x| x / n)
    };
    let c1 = centroid(pre.seg.as_ref().unwrap(), &pre.geometry);
    let c0 = centroid(truth, case.seg.geometry());
    assert!(
        (0..3).all(|a| (c1[a] - c0[a]).abs() < 1.5),
        "{c1:?} vs {c0:?}"
    );
}

#[test]
fn all_zero_image_is_kept_whole_and_stays_zero() {
    let g = brats_io::Geometry::from_spacing([20, 18, 17], [1.0; 3]).unwrap();
    let zero = brats_io::Volume::new(Array3::<f32>::zeros(g.shape()), g).unwrap();
    let pre = PreprocessConfig::default()
        .check()
        .unwrap()
        .apply(&[zero.clone(), zero], None)
        .unwrap();
    assert_eq!(pre.record.crop_shape, [17, 18, 20]);
    assert_eq!(pre.image.shape(), &[2, 32, 32, 32]);
    assert!(pre.image.iter().all(|&v| v == 0.0));
}

/// A brain mask computed once by the caller gives what `apply` computes itself; a mask on
/// another shape is an error naming it.
#[test]
fn a_brain_mask_given_is_used_and_checked() {
    let case = phantom(9, PhantomOrientation::Ras);
    let pre = PreprocessConfig {
        orientation: Some("LPS".parse().unwrap()),
        ..Default::default()
    }
    .check()
    .unwrap();
    let own = pre.apply(&case.images, Some(&case.seg)).unwrap();
    let brain = brats_io::preprocess::brain_mask(&case.images);
    let given = pre
        .apply_with_brain(&case.images, Some(&case.seg), brain.view())
        .unwrap();
    assert_eq!(own.image, given.image);
    assert_eq!(own.brain, given.brain);
    assert_eq!(own.record, given.record);
    // A smaller mask crops tighter: the mask given is the one used.
    let mut inner = brain.clone();
    let n = inner.shape()[0];
    inner.slice_mut(ndarray::s![..n / 2, .., ..]).fill(false);
    let half = pre
        .apply_with_brain(&case.images, None, inner.view())
        .unwrap();
    assert!(
        half.record.crop_shape.iter().product::<usize>()
            < own.record.crop_shape.iter().product::<usize>()
    );
    // Images on different grids over a background that is not zero (the mask is computed
    // before the grids are compared): an error, not a panic.
    let filled = |shape: [usize; 3], value: f32| {
        let g = brats_io::Geometry::from_spacing([shape[2], shape[1], shape[0]], [1.0; 3]).unwrap();
        brats_io::Volume::new(Array3::from_elem(shape, value), g).unwrap()
    };
    let (big, small) = ([20, 18, 17], [20, 18, 16]);
    for images in [
        [filled(big, 0.0), filled(small, 5.0)],
        [filled(small, 5.0), filled(big, 0.0)],
        [filled(big, 5.0), filled(small, 5.0)],
    ] {
        let e = pre.apply(&images, None).unwrap_err();
        assert!(matches!(e, brats_io::Error::GridMismatch { .. }), "{e}");
    }
    let wrong = Array3::from_elem([3, 4, 5], true);
    let e = pre
        .apply_with_brain(&case.images, None, wrong.view())
        .unwrap_err();
    assert!(
        e.to_string().contains("brain mask") && e.to_string().contains("[3, 4, 5]"),
        "{e}"
    );
}

#[test]
fn patches_are_seeded_and_forced_onto_tumour_at_the_configured_share() {
    let case = phantom(9, PhantomOrientation::Lps);
    let pre = PreprocessConfig::default()
        .check()
        .unwrap()
        .apply(&case.images, Some(&case.seg))
        .unwrap();
    let source = PatchSource::new(pre.image.clone(), pre.seg.clone().unwrap()).unwrap();
    let cfg = PatchConfig {
        patch: [32, 32, 32],
        ..Default::default()
    }
    .check()
    .unwrap();
    let draw = |seed| {
        let mut s = PatchSampler::new(cfg, seed);
        (0..30)
            .map(|_| s.sample(&source).unwrap())
            .collect::<Vec<_>>()
    };
    let a = draw(1);
    let b = draw(1);
    let c = draw(2);
    assert!(a
        .iter()
        .zip(&b)
        .all(|(x, y)| x.origin == y.origin && x.image == y.image && x.seg == y.seg));
    assert!(a.iter().zip(&c).any(|(x, y)| x.origin != y.origin));
    let forced = a.iter().filter(|p| p.forced_foreground).count();
    assert_eq!(forced, 10, "one third of 30");
    assert!(a
        .iter()
        .filter(|p| p.forced_foreground)
        .all(|p| p.seg.iter().any(|&v| v != 0)));
    for p in &a {
        assert_eq!(p.image.shape(), &[4, 32, 32, 32]);
        // Flips move image and labels together: where the seg says tumour, FLAIR is non-zero.
        let flair = p.image.index_axis(Axis(0), 0);
        assert!(p
            .seg
            .iter()
            .zip(flair.iter())
            .all(|(l, f)| *l == 0 || *f != 0.0));
    }
    assert!(a.iter().any(|p| p.flipped.iter().any(|&f| f)));

    // A case without tumour: forced draws fall back, flagged.
    let empty = PatchSource::new(
        pre.image.clone(),
        Array3::zeros(pre.seg.as_ref().unwrap().raw_dim()),
    )
    .unwrap();
    let mut s = PatchSampler::new(cfg, 3);
    assert!((0..6).all(|_| !s.sample(&empty).unwrap().forced_foreground));
    // Patch larger than the volume: zero-padded, no panic.
    let big = PatchConfig {
        patch: [200, 8, 8],
        ..Default::default()
    }
    .check()
    .unwrap();
    let p = PatchSampler::new(big, 0).sample(&source).unwrap();
    assert_eq!(p.image.shape(), &[4, 200, 8, 8]);
    assert!(PatchSource::new(pre.image.clone(), Array3::zeros([1, 2, 3])).is_err());
}

#[test]
fn inspect_summaries_have_the_documented_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let case = PhantomConfig {
        shape: [32, 32, 24],
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(4)
    .unwrap();
    let dir = case.write(tmp.path(), Naming::Brats2021).unwrap();
    let s = brats_io::inspect::summarize_case(&dir).unwrap();
    assert!(s.consistent, "{:?}", s.problems);
    let json = serde_json::to_value(&s).unwrap();
    for name in ["flair", "t1", "t1ce", "t2", "seg"] {
        let f = &json[name];
        for key in [
            "shape",
            "datatype",
            "spacing",
            "affine",
            "orientation",
            "min",
            "max",
            "mean",
            "std",
            "nonzero_mean",
            "nonzero_std",
            "labels",
        ] {
            assert!(f.get(key).is_some(), "{name}.{key}");
        }
        assert_eq!(f["orientation"], "LPS");
        assert_eq!(f["shape"], serde_json::json!([32, 32, 24]));
    }
    assert_eq!(json["flair"]["datatype"], "int16");
    // Label counts agree with the phantom's seg.
    let labels = &json["seg"]["labels"];
    let n4 = case.seg.data().iter().filter(|&&v| v == 4).count();
    assert_eq!(labels["4"].as_u64().unwrap_or(0) as usize, n4);
    let total: u64 = labels
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, 32 * 32 * 24);
    // Float volumes have no `labels`.
    let f = brats_io::inspect::summarize_file(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/nibabel/float32_ras.nii"),
    )
    .unwrap();
    assert!(f.labels.is_none() && serde_json::to_value(&f).unwrap().get("labels").is_none());

    // A seg outside both schemes and a modality on another grid are reported, not fatal.
    let seg_path = dir.join("Phantom_00004_seg.nii.gz");
    let bad = case.seg.map(|v| if *v == 4 { 9 } else { *v });
    brats_io::NiftiWriter::new().write(&seg_path, &bad).unwrap();
    let s = brats_io::inspect::summarize_case(&dir).unwrap();
    assert!(
        !s.consistent && s.problems.iter().any(|p| p.contains("fit neither")),
        "{:?}",
        s.problems
    );
}

/// A case stored in any order, preprocessed with `orientation: LPS`, gives the network the
/// very same arrays as the case stored in BraTS's own order; its label maps come back in
/// its own order, exactly.
#[test]
fn preprocessing_reorients_any_storage_order_losslessly() {
    use brats_io::{Orientation, Reorientation, Volume};
    let lps = phantom(12, PhantomOrientation::Lps);
    let cfg = PreprocessConfig {
        orientation: Some(Orientation::LPS),
        clip_percentiles: Some((0.5, 99.5)),
        resample: Resample::Spacing([2.0, 2.0, 2.0]),
        ..Default::default()
    }
    .check()
    .unwrap();
    let reference = cfg.apply(&lps.images, Some(&lps.seg)).unwrap();
    assert!(
        reference.record.reorientation.is_none(),
        "LPS is kept as is"
    );
    let keep = PreprocessConfig {
        orientation: None,
        ..*cfg.config()
    }
    .check()
    .unwrap();
    for code in ["RAS", "PSL", "IRA", "LAI"] {
        // The same head stored in another order.
        let to = Reorientation::new(lps.seg.geometry(), code.parse().unwrap()).unwrap();
        let store = |v: &Volume<f32>| {
            Volume::new(to.view(v.data().view()).to_owned(), to.grid().clone()).unwrap()
        };
        let images: Vec<_> = lps.images.iter().map(store).collect();
        let seg = Volume::new(
            to.view(lps.seg.data().view())
                .as_standard_layout()
                .into_owned(),
            to.grid().clone(),
        )
        .unwrap();
        assert_eq!(seg.geometry().orientation(), code);

        let pre = cfg.apply(&images, Some(&seg)).unwrap();
        assert_eq!(pre.image, reference.image, "{code}");
        assert_eq!(pre.brain, reference.brain, "{code}");
        assert_eq!(pre.seg, reference.seg, "{code}");
        assert!(pre.geometry.max_affine_difference(&reference.geometry) < 1e-9);
        let rec = &pre.record;
        assert_eq!(rec.crop_start, reference.record.crop_start);
        assert_eq!(rec.original, *seg.geometry());
        // Back in the file's own order, with its own grid.
        let restored = rec.restore_labels(pre.seg.as_ref().unwrap()).unwrap();
        let from_reference = reference
            .record
            .restore_labels(reference.seg.as_ref().unwrap())
            .unwrap();
        let expected = to.view(from_reference.data().view()).to_owned();
        assert_eq!(restored.data(), &expected, "{code}");
        assert_eq!(restored.geometry(), seg.geometry());
        // The crop of a map on the original grid is taken where the images' was.
        let crop = rec.crop_of(seg.data().view()).unwrap();
        let crop_ref = reference.record.crop_of(lps.seg.data().view()).unwrap();
        assert_eq!(crop, crop_ref, "{code}");
        // The record keeps the reorientation (stored with checkpoints) and reads back.
        let json = serde_json::to_string(rec).unwrap();
        assert!(json.contains("\"reorientation\""), "{json}");
        let back: brats_io::PreprocessRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.reorientation, rec.reorientation);
        // Without the option the network would see another array.
        let kept = keep.apply(&images, None).unwrap();
        assert!(kept.record.reorientation.is_none());
        assert_ne!(kept.image, reference.image, "{code}");
    }
}

#[test]
fn configs_without_an_orientation_keep_the_storage_order_and_bad_codes_are_named() {
    let old = r#"{"margin": 2, "clip_percentiles": null, "resample": "none", "pad_multiple": 16}"#;
    let cfg: PreprocessConfig = serde_json::from_str(old).unwrap();
    assert_eq!(cfg.orientation, None);
    assert_eq!(cfg, PreprocessConfig::default());
    assert!(!serde_json::to_string(&cfg).unwrap().contains("orientation"));
    let new = r#"{"orientation": "lps", "margin": 2, "clip_percentiles": null, "resample": "none", "pad_multiple": 16}"#;
    let cfg: PreprocessConfig = serde_json::from_str(new).unwrap();
    assert_eq!(
        cfg.orientation.map(|o| o.to_string()).as_deref(),
        Some("LPS")
    );
    for bad in ["LPQ", "LLS", "LP"] {
        let json = new.replace("lps", bad);
        let e = serde_json::from_str::<PreprocessConfig>(&json).unwrap_err();
        assert!(e.to_string().contains("orientation"), "{bad}: {e}");
    }
}

/// The same phantom on a background that is not zero (a Rician noise floor at 2 % of the
/// brain's median, as a conversion or resampling leaves it): the brain mask is still the
/// brain, not the whole box, and preprocessing crops as it did on the clean case.
#[test]
fn the_brain_mask_ignores_a_background_that_is_not_zero() {
    use brats_io::preprocess::brain_mask;
    use rand::{Rng, SeedableRng};
    let case = phantom(14, PhantomOrientation::Lps);
    let clean = brain_mask(&case.images);
    // Zero background: exactly the voxels non-zero in any image, negative ones included.
    let mut negative = case.images.clone();
    let inside = clean.indexed_iter().find(|(_, &b)| b).unwrap().0;
    for img in negative.iter_mut() {
        img.data_mut()[inside] = -3.0;
    }
    let expected = negative[0].data().mapv(|_| false);
    let expected = ndarray::Zip::from(&expected)
        .and(negative[0].data())
        .and(negative[1].data())
        .and(negative[2].data())
        .and(negative[3].data())
        .map_collect(|_, a, b, c, d| [a, b, c, d].iter().any(|v| **v != 0.0));
    assert_eq!(brain_mask(&negative), expected);
    assert!(brain_mask(&negative)[inside]);
    // Touching a face (the brain cropped tightly) is not a background.
    let (lo, hi) = brats_io::preprocess::bounding_box(clean.view()).unwrap();
    let tight: Vec<_> = case
        .images
        .iter()
        .map(|v| {
            let g = v.geometry().cropped(
                [lo[2], lo[1], lo[0]].map(|x| x as i64),
                [hi[2] - lo[2] + 1, hi[1] - lo[1] + 1, hi[0] - lo[0] + 1],
            );
            let d = v
                .data()
                .slice(ndarray::s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]])
                .to_owned();
            brats_io::Volume::new(d, g.unwrap()).unwrap()
        })
        .collect();
    let tight_mask = brain_mask(&tight);
    assert_eq!(
        tight_mask,
        clean.slice(ndarray::s![lo[0]..=hi[0], lo[1]..=hi[1], lo[2]..=hi[2]])
    );

    // A noise floor everywhere outside the brain.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let noisy: Vec<_> = case
        .images
        .iter()
        .map(|v| {
            let mut vals: Vec<f32> = v.data().iter().copied().filter(|&x| x != 0.0).collect();
            vals.sort_by(f32::total_cmp);
            let sigma = 0.02 * vals[vals.len() / 2];
            v.map(|&x| {
                if x != 0.0 {
                    x
                } else {
                    let (a, b): (f32, f32) = (
                        rng.sample(rand_distr::StandardNormal),
                        rng.sample(rand_distr::StandardNormal),
                    );
                    sigma * (a * a + b * b).sqrt()
                }
            })
        })
        .collect();
    assert!(noisy[0].data().iter().all(|&v| v != 0.0));
    let mask = brain_mask(&noisy);
    let (n_clean, n_mask) = (
        clean.iter().filter(|&&b| b).count(),
        mask.iter().filter(|&&b| b).count(),
    );
    let both = clean
        .iter()
        .zip(mask.iter())
        .filter(|(a, b)| **a && **b)
        .count();
    let dice = 2.0 * both as f64 / (n_clean + n_mask) as f64;
    assert!(
        dice > 0.99,
        "brain mask on a noise floor: Dice {dice:.4} to the clean one ({n_mask} against {n_clean} voxels)"
    );
    // One piece: no speckle of noise outside.
    let (_, sizes) = brats_io::components::connected_components(&mask);
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    let cfg = PreprocessConfig::default().check().unwrap();
    let (a, b) = (
        cfg.apply(&case.images, None).unwrap(),
        cfg.apply(&noisy, None).unwrap(),
    );
    for axis in 0..3 {
        let (sa, sb) = (
            a.record.crop_shape[axis] as i64,
            b.record.crop_shape[axis] as i64,
        );
        assert!(
            (sa - sb).abs() <= 2,
            "crop {:?} against {:?}",
            b.record.crop_shape,
            a.record.crop_shape
        );
    }
}
