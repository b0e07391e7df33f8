//! The real-anatomy generator: real BraTS grid and header, reproducible, labels only inside
//! the stripped brain, and subtypes that look like their kind.

use brats_io::quality::align::TURN_MM;
use brats_io::synth::{Subtype, SynthConfig, MAX_WHOLE_TUMOUR_CM3};
use brats_io::{Compartment, LabelScheme};
use ndarray::Array3;

#[test]
fn cases_have_the_real_brats_grid_and_are_reproducible() {
    let gen = SynthConfig::default().check().unwrap();
    let a = gen.generate(11).unwrap();
    let g = a.seg.geometry();
    assert_eq!(g.dim(), [240, 240, 155]);
    assert_eq!(g.orientation(), "LPS");
    assert_eq!(
        g.affine(),
        [
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.0, 239.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0]
        ]
    );
    let b = gen.generate(11).unwrap();
    assert_eq!(a.seg.data(), b.seg.data());
    for (x, y) in a.images.iter().zip(&b.images) {
        assert_eq!(x.data(), y.data());
    }
    let c = gen.generate(12).unwrap();
    assert_ne!(a.images[0].data(), c.images[0].data());

    // Skull-stripped: one mask for all four images, integers, labels only inside it.
    let scheme = LabelScheme::brats2021();
    scheme.check(a.seg.data(), "synthetic seg").unwrap();
    let imgs: Vec<_> = a.images.iter().map(|v| v.data()).collect();
    let mut inside = 0usize;
    for ((k, j, i), &l) in a.seg.data().indexed_iter() {
        let v: Vec<f32> = imgs.iter().map(|im| im[[k, j, i]]).collect();
        let n_pos = v.iter().filter(|&&x| x > 0.0).count();
        assert!(
            n_pos == 0 || n_pos == 4,
            "mask differs between modalities at {k},{j},{i}"
        );
        assert!(v.iter().all(|x| x.fract() == 0.0));
        if l != 0 {
            assert_eq!(n_pos, 4, "tumour label outside the brain at {k},{j},{i}");
        }
        inside += usize::from(n_pos == 4);
    }
    // An adult brain: 1.1–1.9 litres.
    assert!((1_100_000..1_900_000).contains(&inside), "{inside}");
    let wt = a.seg.data().iter().filter(|&&l| l != 0).count() as f64 / 1000.0;
    assert!((a.truth.volumes_cm3["WT"] - wt).abs() < 1e-9);
}

#[test]
fn subtypes_look_like_their_kind() {
    let count = |seg: &ndarray::Array3<u8>, v: u8| seg.iter().filter(|&&l| l == v).count();
    let scheme = LabelScheme::brats2023();
    let (ncr, ed, et) = (
        scheme.value_of(Compartment::Core),
        scheme.value_of(Compartment::Edema),
        scheme.value_of(Compartment::Enhancing),
    );
    for (t, seed) in [
        (Subtype::HighGrade, 3),
        (Subtype::LowGrade, 4),
        (Subtype::Metastasis, 5),
    ] {
        let gen = SynthConfig {
            scheme: scheme.clone(),
            subtypes: vec![t],
            healthy_share: 0.0,
            ..SynthConfig::default()
        }
        .check()
        .unwrap();
        let case = gen.generate(seed).unwrap();
        let s = case.seg.data();
        let (n_ncr, n_ed, n_et) = (count(s, ncr), count(s, ed), count(s, et));
        let wt = case.truth.volumes_cm3["WT"];
        assert!(case.truth.subtype.as_deref().unwrap().starts_with(t.name()));
        assert!(
            (1.0..=MAX_WHOLE_TUMOUR_CM3).contains(&wt),
            "{t:?}: WT {wt} cm³"
        );
        match t {
            Subtype::HighGrade => {
                assert!(n_et > 0 && n_ed > 0, "{t:?}: ET {n_et} ED {n_ed}");
            }
            Subtype::LowGrade => {
                // Non-enhancing: the core is NETC; enhancement at most in small foci.
                assert!(
                    n_ncr > 0 && n_et * 4 <= n_ncr + n_et,
                    "{t:?}: NCR {n_ncr} ET {n_et}"
                );
            }
            Subtype::Metastasis => {
                let lesions = case.truth.lesions.unwrap();
                assert!((1..=4).contains(&lesions));
                // Edema out of proportion to the lesion.
                assert!(
                    n_et > 0 && n_ed > n_et + n_ncr,
                    "{t:?}: ET {n_et} NCR {n_ncr} ED {n_ed}"
                );
            }
        }
    }
}

/// Before the cap, this held-out-style seed drew a multifocal high-grade glioma of 650.7 cm³
/// (TC 95.4, edema 555.3 cm³), far beyond BraTS's range of about 5–250 cm³. Now its edema is
/// cut back until the whole tumour fits; its cores stay what they were.
#[test]
fn whole_tumours_stay_within_bratss_range() {
    let gen = SynthConfig {
        subtypes: vec![Subtype::HighGrade],
        healthy_share: 0.0,
        ..SynthConfig::default()
    }
    .check()
    .unwrap();
    let case = gen.generate(8_000_000_001).unwrap();
    let v = &case.truth.volumes_cm3;
    assert_eq!(case.truth.subtype.as_deref(), Some("high_grade_multifocal"));
    assert_eq!(case.truth.lesions, Some(3));
    assert!(
        (150.0..=MAX_WHOLE_TUMOUR_CM3).contains(&v["WT"]),
        "WT {} cm³",
        v["WT"]
    );
    // The cores are drawn as before (the mass effect moves them a little).
    assert!((v["TC"] - 95.4).abs() < 95.4 * 0.1, "TC {} cm³", v["TC"]);
    assert!(v["ED"] < 200.0, "ED {} cm³", v["ED"]);
}

#[test]
fn bad_settings_are_errors() {
    let e = SynthConfig {
        healthy_share: 1.5,
        ..Default::default()
    }
    .check()
    .unwrap_err();
    assert!(e.to_string().contains("healthy_share"), "{e}");
    for share in [-0.1, 1.01, f64::NAN] {
        let e = SynthConfig {
            random_contrast_share: share,
            ..Default::default()
        }
        .check()
        .unwrap_err();
        assert!(e.to_string().contains("random_contrast_share"), "{e}");
    }
    // A healthy case has an empty seg and no subtype.
    let gen = SynthConfig {
        healthy_share: 1.0,
        ..Default::default()
    }
    .check()
    .unwrap();
    let c = gen.generate(1).unwrap();
    assert!(c.seg.data().iter().all(|&l| l == 0));
    assert!(c.truth.subtype.is_none() && !c.truth.has_tumour);
}

/// The random-contrast share decides whether a case's contrasts are random; the seed's
/// anatomy and tumour stay.
#[test]
fn random_contrast_share_changes_the_contrasts_not_the_tumour() {
    let case = |share: f64| {
        SynthConfig {
            random_contrast_share: share,
            healthy_share: 0.0,
            ..Default::default()
        }
        .check()
        .unwrap()
        .generate(31)
        .unwrap()
    };
    let (mri, random) = (case(0.0), case(1.0));
    assert_eq!(mri.truth.contrast.as_deref(), Some("realistic"));
    assert_eq!(random.truth.contrast.as_deref(), Some("random"));
    assert_eq!(mri.truth.subtype, random.truth.subtype);
    // The same tumour, up to the brain mask (skull-stripping draws follow the contrasts).
    let (a, b) = (mri.seg.data(), random.seg.data());
    let both = a
        .iter()
        .zip(b.iter())
        .filter(|(x, y)| **x != 0 && x == y)
        .count();
    let either = a
        .iter()
        .zip(b.iter())
        .filter(|(x, y)| **x != 0 || **y != 0)
        .count();
    assert!(
        either > 0 && both * 100 >= either * 95,
        "{both} of {either} tumour voxels agree"
    );
    assert_ne!(mri.images[0].data(), random.images[0].data());
}

/// The input checks pass the generator's MRI-like cases and flag the same cases with FLAIR
/// and T2 swapped; no case is taken for unstripped.
#[test]
fn input_checks_pass_mri_like_cases_and_flag_their_flair_t2_swap() {
    use brats_io::quality::InputCheck;
    let gen = SynthConfig {
        random_contrast_share: 0.0,
        ..Default::default()
    }
    .check()
    .unwrap();
    for seed in [41, 42, 43] {
        let case = gen.generate(seed).unwrap();
        let check = InputCheck::of(&case.images).unwrap();
        assert!(check.warnings().is_empty(), "seed {seed}: {check:?}");
        assert!((1100.0..1900.0).contains(&check.brain_cm3), "{check:?}");
        let mut swapped = case.images.clone();
        swapped.swap(0, 3);
        let check = InputCheck::of(&swapped).unwrap();
        let why = check.flair_t2_swapped();
        assert!(why.is_some(), "seed {seed}: {check:?}");
        assert_eq!(check.warnings(), vec![why.unwrap()]);
    }
}

/// The generator's four images are co-registered: every image is where the others put it.
/// Moving one image's content by 3 voxels (inside the same brain mask, as a registration
/// that failed before a common skull stripping leaves it) is found, named and measured.
#[test]
fn input_checks_find_an_image_moved_against_the_others() {
    use brats_io::quality::InputCheck;
    let gen = SynthConfig::default().check().unwrap();
    for (seed, moved, axis) in [(44u64, 2usize, 0usize), (45, 0, 2)] {
        let case = gen.generate(seed).unwrap();
        let check = InputCheck::of(&case.images).unwrap();
        assert_eq!(check.shift_mm, Some([[0.0; 3]; 4]), "seed {seed}");
        let mut images = case.images.clone();
        let mask = images[0].data().mapv(|v| v != 0.0);
        let g = images[moved].geometry().clone();
        // Array axis `axis` is (k, j, i)[axis]; shifted content, same mask.
        let mut data = images[moved].data().clone();
        let n = data.shape()[axis];
        let src = data.clone();
        for (idx, v) in data.indexed_iter_mut() {
            let mut from = [idx.0, idx.1, idx.2];
            from[axis] = (from[axis] + n - 3) % n;
            *v = if mask[[idx.0, idx.1, idx.2]] {
                src[from]
            } else {
                0.0
            };
        }
        images[moved] = brats_io::Volume::new(data, g).unwrap();
        let check = InputCheck::of(&images).unwrap();
        let shifts = check.shift_mm.unwrap();
        let mut expected = [0.0; 3];
        expected[2 - axis] = 3.0 * case.images[0].geometry().spacing()[2 - axis];
        assert_eq!(shifts[moved], expected, "seed {seed}: {check:?}");
        let name = ["FLAIR", "T1", "T1ce", "T2"][moved];
        let why = check.misregistered().unwrap_or_default();
        assert!(why.contains(&format!("{name} by")), "seed {seed}: {why}");
        for other in (0..4).filter(|&m| m != moved) {
            assert!(
                shifts[other].iter().all(|v| v.abs() < 2.0),
                "seed {seed}: {check:?}"
            );
        }
        // A shift moves every part of the image alike: it is no turn.
        let turns = check.turn_mm.unwrap();
        assert!(turns.iter().all(|&t| t < TURN_MM), "seed {seed}: {check:?}");
    }
}

/// `data` turned by `degrees` about the centre of `mask`, in the plane of array axes `plane`
/// (trilinear), inside the same mask: a registration off by a turn before a common skull
/// stripping.
fn turned(
    data: &Array3<f32>,
    mask: &Array3<bool>,
    plane: (usize, usize),
    degrees: f64,
) -> Array3<f32> {
    let (mut sum, mut n) = ([0.0f64; 3], 0.0);
    for (idx, _) in mask.indexed_iter().filter(|(_, &m)| m) {
        for (a, c) in [idx.0, idx.1, idx.2].into_iter().enumerate() {
            sum[a] += c as f64;
        }
        n += 1.0;
    }
    let centre = sum.map(|s| s / n);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let dims = data.shape().to_vec();
    let at = |p: [f64; 3]| -> f32 {
        let f = p.map(f64::floor);
        let mut v = 0.0f64;
        for corner in 0..8 {
            let mut w = 1.0;
            let mut idx = [0usize; 3];
            for a in 0..3 {
                let up = (corner >> a) & 1 == 1;
                let c = f[a] + f64::from(u8::from(up));
                if c < 0.0 || c >= dims[a] as f64 {
                    return 0.0;
                }
                idx[a] = c as usize;
                w *= if up { p[a] - f[a] } else { 1.0 - (p[a] - f[a]) };
            }
            v += w * f64::from(data[idx]);
        }
        v as f32
    };
    Array3::from_shape_fn(data.raw_dim(), |(k, j, i)| {
        if !mask[[k, j, i]] {
            return 0.0;
        }
        // The source of this voxel: turned back by the angle.
        let mut p = [k as f64, j as f64, i as f64];
        let (u, v) = (p[plane.0] - centre[plane.0], p[plane.1] - centre[plane.1]);
        p[plane.0] = centre[plane.0] + cos * u + sin * v;
        p[plane.1] = centre[plane.1] - sin * u + cos * v;
        at(p)
    })
}

/// An image turned by 5° against the others (about the slice axis, or about the
/// front-to-back axis) has no one shift; its parts move different ways, and it is named as
/// turned. The untouched images, and every image of the untouched case, stay under the
/// threshold.
#[test]
fn input_checks_find_an_image_turned_against_the_others() {
    use brats_io::quality::InputCheck;
    let gen = SynthConfig::default().check().unwrap();
    for (seed, moved, plane) in [(46u64, 2usize, (1usize, 2usize)), (47, 3, (0, 2))] {
        let case = gen.generate(seed).unwrap();
        let check = InputCheck::of(&case.images).unwrap();
        assert!(
            check.turn_mm.unwrap().iter().all(|&t| t < TURN_MM),
            "seed {seed}: {check:?}"
        );
        assert!(check.misregistered().is_none(), "seed {seed}: {check:?}");
        let mut images = case.images.clone();
        let mask = images[0].data().mapv(|v| v != 0.0);
        let data = turned(images[moved].data(), &mask, plane, 5.0);
        let g = images[moved].geometry().clone();
        images[moved] = brats_io::Volume::new(data, g).unwrap();
        let check = InputCheck::of(&images).unwrap();
        let turns = check.turn_mm.unwrap();
        assert!(turns[moved] >= TURN_MM, "seed {seed}: {check:?}");
        for other in (0..4).filter(|&m| m != moved) {
            assert!(turns[other] < TURN_MM, "seed {seed}: {check:?}");
        }
        let name = ["FLAIR", "T1", "T1ce", "T2"][moved];
        let why = check.misregistered().unwrap_or_default();
        assert!(
            why.contains(&format!("{name} by up to")),
            "seed {seed}: {why}"
        );
    }
}
