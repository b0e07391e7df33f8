//! Every bad input brats-io handles comes back as an error naming the file and the problem:
//! no panic, no huge allocation.

use std::io::Write;
use std::path::{Path, PathBuf};

use brats_io::phantom::PhantomConfig;
use brats_io::{
    find_case, Error, Geometry, LabelScheme, Naming, NiftiReader, NiftiWriter, NonFinite,
    PatchConfig, PreprocessConfig, Resample, Volume,
};
use ndarray::Array3;

fn small_volume() -> Volume<f32> {
    let g = Geometry::from_spacing([4, 3, 2], [1.0, 1.0, 1.0]).unwrap();
    Volume::new(
        Array3::from_shape_fn([2, 3, 4], |(k, j, i)| (k * 12 + j * 4 + i) as f32),
        g,
    )
    .unwrap()
}

fn write_valid(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    NiftiWriter::new().write(&p, &small_volume()).unwrap();
    p
}

/// Rewrites an uncompressed file's bytes.
fn patch(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

fn msg(e: &Error) -> String {
    e.to_string()
}

#[test]
fn missing_file_names_the_path() {
    let e = NiftiReader::new()
        .read_f32("/nonexistent/x.nii.gz")
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(msg(&e).contains("/nonexistent/x.nii.gz"));
}

#[test]
fn truncated_gz_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii.gz");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(matches!(e, Error::InvalidNifti { .. }), "{e}");
    assert!(
        msg(&e).contains("truncated or corrupt") && msg(&e).contains("v.nii.gz"),
        "{e}"
    );
}

#[test]
fn corrupt_gz_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii.gz");
    patch(&p, |b| {
        let n = b.len();
        for x in &mut b[12..n - 8] {
            *x ^= 0x5a;
        }
    });
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(matches!(e, Error::InvalidNifti { .. }), "{e}");
}

#[test]
fn truncated_plain_file_is_an_error_before_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    patch(&p, |b| b.truncate(360));
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    assert!(msg(&e).contains("truncated"), "{e}");
}

#[test]
fn empty_and_tiny_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty.nii", vec![]),
        ("tiny.nii", vec![1u8; 10]),
        ("gzmagic.nii.gz", vec![0x1f, 0x8b]),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = NiftiReader::new().read_f32(&p).unwrap_err();
        assert!(matches!(e, Error::InvalidNifti { .. }), "{name}: {e}");
        assert!(msg(&e).contains(name));
    }
}

#[test]
fn wrong_magic_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    patch(&p, |b| b[344..348].copy_from_slice(b"abcd"));
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(msg(&e).contains("magic"), "{e}");
    // A .hdr/.img pair's magic.
    patch(&p, |b| b[344..348].copy_from_slice(b"ni1\0"));
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(msg(&e).contains(".hdr/.img"), "{e}");
}

#[test]
fn wrong_sizeof_hdr_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    patch(&p, |b| b[0..4].copy_from_slice(&540i32.to_le_bytes()));
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(
        msg(&e).contains("sizeof_hdr") || msg(&e).contains("NIfTI"),
        "{e}"
    );
}

fn set_dims(b: &mut [u8], dims: [i16; 8]) {
    for (n, d) in dims.iter().enumerate() {
        b[40 + 2 * n..42 + 2 * n].copy_from_slice(&d.to_le_bytes());
    }
}

#[test]
fn absurd_dims_are_refused_without_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    for gz in [false, true] {
        let name = if gz { "v.nii.gz" } else { "v.nii" };
        let p = tmp.path().join(name);
        // Build the bytes uncompressed, then gzip if needed.
        let plain = write_valid(tmp.path(), "plain.nii");
        let mut b = std::fs::read(&plain).unwrap();
        set_dims(&mut b, [3, 32767, 32767, 32767, 1, 1, 1, 1]);
        if gz {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&b).unwrap();
            b = enc.finish().unwrap();
        }
        std::fs::write(&p, b).unwrap();
        let e = NiftiReader::new().read_f32(&p).unwrap_err();
        assert!(matches!(e, Error::TooLarge { .. }), "{e}");
        assert!(msg(&e).contains(name));
    }
}

#[test]
fn bad_dims_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    for (dims, what) in [
        ([3i16, 4, 0, 2, 1, 1, 1, 1], "dim[2] = 0"),
        ([3, 4, -3, 2, 1, 1, 1, 1], "dim[2] = -3"),
        ([0, 4, 3, 2, 1, 1, 1, 1], "dim[0]"),
        ([4, 4, 3, 2, 5, 1, 1, 1], "4D"),
    ] {
        patch(&p, |b| set_dims(b, dims));
        let e = NiftiReader::new().read_f32(&p).unwrap_err();
        assert!(msg(&e).contains(what), "{dims:?}: {e}");
    }
}

#[test]
fn unsupported_datatype_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    patch(&p, |b| b[70..72].copy_from_slice(&32i16.to_le_bytes())); // complex64
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedDatatype { datatype: 32, .. }),
        "{e}"
    );
}

#[test]
fn bad_vox_offset_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    for off in [0.0f32, 100.0, f32::NAN, 1e12] {
        patch(&p, |b| b[108..112].copy_from_slice(&off.to_le_bytes()));
        let e = NiftiReader::new().read_f32(&p).unwrap_err();
        assert!(msg(&e).contains("vox_offset"), "{off}: {e}");
    }
}

#[test]
fn singular_sform_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    patch(&p, |b| {
        for x in &mut b[280..328] {
            *x = 0;
        }
    });
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(msg(&e).contains("singular"), "{e}");
}

#[test]
fn non_finite_voxels_are_rejected_with_count_or_replaced_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let g = Geometry::from_spacing([4, 1, 1], [1.0; 3]).unwrap();
    let v = Volume::new(
        Array3::from_shape_vec([1, 1, 4], vec![1.0, f32::NAN, f32::INFINITY, 2.0]).unwrap(),
        g,
    )
    .unwrap();
    let p = tmp.path().join("nan.nii.gz");
    NiftiWriter::new().write(&p, &v).unwrap();
    let e = NiftiReader::new().read_f32(&p).unwrap_err();
    assert!(matches!(e, Error::NonFinite { count: 2, .. }), "{e}");
    assert!(msg(&e).contains("nan.nii.gz"));
    let ok = NiftiReader::new()
        .non_finite(NonFinite::ReplaceWithZero)
        .read_f32(&p)
        .unwrap();
    assert_eq!(ok.as_slice(), &[1.0, 0.0, 0.0, 2.0]);
}

#[test]
fn max_bytes_limit_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii");
    let e = NiftiReader::new().max_bytes(16).read_f32(&p).unwrap_err();
    assert!(matches!(e, Error::TooLarge { needed: 96, .. }), "{e}");
}

#[test]
fn non_label_values_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write_valid(tmp.path(), "v.nii.gz"); // 0..24 as f32: fine
    assert!(NiftiReader::new().read_labels(&p).is_ok());
    let g = Geometry::from_spacing([2, 1, 1], [1.0; 3]).unwrap();
    for bad in [0.5f32, -1.0, 300.0] {
        let v = Volume::new(
            Array3::from_shape_vec([1, 1, 2], vec![0.0, bad]).unwrap(),
            g.clone(),
        )
        .unwrap();
        NiftiWriter::new().write(&p, &v).unwrap();
        let e = NiftiReader::new().read_labels(&p).unwrap_err();
        assert!(matches!(e, Error::NotALabel { .. }), "{bad}: {e}");
    }
}

#[test]
fn labels_outside_the_scheme_list_values_and_counts() {
    let seg = Array3::from_shape_vec([1, 1, 6], vec![0u8, 1, 3, 3, 7, 4]).unwrap();
    let e = LabelScheme::brats2021()
        .check(&seg, "case_seg.nii.gz")
        .unwrap_err();
    let text = msg(&e);
    assert!(
        text.contains("case_seg.nii.gz")
            && text.contains("3 (2 voxels)")
            && text.contains("7 (1 voxels)"),
        "{text}"
    );
    assert!(
        matches!(e, Error::UnexpectedLabels { ref unexpected, .. } if unexpected == &vec![(3, 2), (7, 1)])
    );
    assert!(LabelScheme::brats2021().to_classes(&seg, "x").is_err());
    let classes = Array3::from_shape_vec([1, 1, 2], vec![0u8, 9]).unwrap();
    assert!(LabelScheme::brats2023()
        .from_classes(&classes, "pred")
        .is_err());
}

#[test]
fn case_folder_problems_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let case = PhantomConfig {
        shape: [24, 24, 16],
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(1)
    .unwrap();
    let dir = case.write(tmp.path(), Naming::Brats2021).unwrap();
    let id = &case.truth.id;

    // Missing modality.
    let t1ce = dir.join(format!("{id}_t1ce.nii.gz"));
    let saved = std::fs::read(&t1ce).unwrap();
    std::fs::remove_file(&t1ce).unwrap();
    let e = find_case(&dir).unwrap_err();
    assert!(
        matches!(e, Error::CaseLayout { .. }) && msg(&e).contains("missing modality t1ce"),
        "{e}"
    );
    std::fs::write(&t1ce, &saved).unwrap();

    // Duplicate modality.
    std::fs::write(dir.join(format!("{id}_t1ce.nii")), &saved).unwrap();
    let e = find_case(&dir).unwrap_err();
    assert!(msg(&e).contains("found 2 times"), "{e}");
    std::fs::remove_file(dir.join(format!("{id}_t1ce.nii"))).unwrap();

    // A modality on another grid (shape).
    let t2 = dir.join(format!("{id}_t2.nii.gz"));
    let other = Volume::new(
        Array3::<f32>::zeros([16, 24, 25]),
        Geometry::from_spacing([25, 24, 16], [1.0; 3]).unwrap(),
    )
    .unwrap();
    NiftiWriter::new().write(&t2, &other).unwrap();
    let paths = find_case(&dir).unwrap();
    let e = paths.load(&NiftiReader::new()).unwrap_err();
    assert!(
        matches!(e, Error::GridMismatch { .. })
            && msg(&e).contains("dims differ")
            && msg(&e).contains("_t2.nii.gz"),
        "{e}"
    );
    assert_eq!(
        paths
            .consistency_problems(&NiftiReader::new())
            .unwrap()
            .len(),
        1
    );

    // Same shape, shifted affine.
    let mut affine = case.images[3].geometry().affine();
    affine[0][3] += 2.0;
    let shifted = Volume::new(
        case.images[3].data().clone(),
        Geometry::new([24, 24, 16], affine).unwrap(),
    )
    .unwrap();
    NiftiWriter::new().write(&t2, &shifted).unwrap();
    let e = paths.load(&NiftiReader::new()).unwrap_err();
    assert!(msg(&e).contains("affines differ"), "{e}");

    // Not a case at all.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        find_case(&empty).unwrap_err(),
        Error::CaseLayout { .. }
    ));
    assert!(matches!(
        find_case(tmp.path().join("nope")).unwrap_err(),
        Error::Io { .. }
    ));
}

#[test]
fn invalid_configs_name_the_field() {
    let bad_pre = [
        (
            PreprocessConfig {
                clip_percentiles: Some((50.0, 10.0)),
                ..Default::default()
            },
            "clip_percentiles",
        ),
        (
            PreprocessConfig {
                pad_multiple: 0,
                ..Default::default()
            },
            "pad_multiple",
        ),
        (
            PreprocessConfig {
                resample: Resample::Spacing([1.0, 0.0, 1.0]),
                ..Default::default()
            },
            "resample.spacing",
        ),
        (
            PreprocessConfig {
                resample: Resample::Shape([0, 4, 4]),
                ..Default::default()
            },
            "resample.shape",
        ),
    ];
    for (cfg, field) in bad_pre {
        let e = cfg.check().unwrap_err();
        assert!(msg(&e).contains(field), "{e}");
    }
    let bad_patch = [
        (
            PatchConfig {
                patch: [0, 8, 8],
                ..Default::default()
            },
            "patch",
        ),
        (
            PatchConfig {
                foreground_share: 1.5,
                ..Default::default()
            },
            "foreground_share",
        ),
        (
            PatchConfig {
                flip_probability: -0.1,
                ..Default::default()
            },
            "flip_probability",
        ),
        (
            PatchConfig {
                intensity_scale: f32::NAN,
                ..Default::default()
            },
            "intensity_scale",
        ),
        (
            PatchConfig {
                intensity_shift: -1.0,
                ..Default::default()
            },
            "intensity_shift",
        ),
    ];
    for (cfg, field) in bad_patch {
        let e = cfg.check().unwrap_err();
        assert!(msg(&e).contains(field), "{e}");
    }
    let bad_phantom = [
        (
            PhantomConfig {
                shape: [8, 64, 64],
                ..Default::default()
            },
            "shape",
        ),
        (
            PhantomConfig {
                noise: -0.1,
                ..Default::default()
            },
            "noise",
        ),
        (
            PhantomConfig {
                core_radius_mm: (10.0, 5.0),
                ..Default::default()
            },
            "core_radius_mm",
        ),
    ];
    for (cfg, field) in bad_phantom {
        let e = cfg.check().unwrap_err();
        assert!(msg(&e).contains(field), "{e}");
    }
    assert!(LabelScheme::by_name("brats1999").is_err());
    assert!(Geometry::from_spacing([1, 1, 1], [1.0, -1.0, 1.0]).is_err());
    assert!(Geometry::new(
        [0, 1, 1],
        Geometry::from_spacing([1, 1, 1], [1.0; 3])
            .unwrap()
            .affine()
    )
    .is_err());
    assert!(Volume::new(
        Array3::<f32>::zeros([2, 2, 2]),
        Geometry::from_spacing([3, 2, 2], [1.0; 3]).unwrap()
    )
    .is_err());
}

#[test]
fn failed_write_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("no_such_dir").join("out.nii.gz");
    let e = NiftiWriter::new()
        .write(&target, &small_volume())
        .unwrap_err();
    assert!(
        matches!(e, Error::Io { .. }) && msg(&e).contains("out.nii.gz"),
        "{e}"
    );
    // An existing good file is replaced only by a complete new one, and no temp files stay.
    let good = write_valid(tmp.path(), "good.nii.gz");
    NiftiWriter::new().write(&good, &small_volume()).unwrap();
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn bad_volumes_to_write_together_are_errors_and_leave_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("frames.nii.gz");
    let v = small_volume();
    let e = NiftiWriter::new().write_frames::<f32>(&p, &[]).unwrap_err();
    assert!(
        matches!(e, Error::Shape { .. }) && msg(&e).contains("at least one"),
        "{e}"
    );
    // Another grid: other dims, or the same dims elsewhere in space.
    let other_dims = Volume::new(
        Array3::<f32>::zeros([2, 3, 5]),
        Geometry::from_spacing([5, 3, 2], [1.0, 1.0, 1.0]).unwrap(),
    )
    .unwrap();
    let other_spacing = Volume::new(
        v.data().clone(),
        Geometry::from_spacing([4, 3, 2], [1.0, 1.0, 2.0]).unwrap(),
    )
    .unwrap();
    for bad in [other_dims, other_spacing] {
        let e = NiftiWriter::new()
            .write_frames(&p, &[v.clone(), v.clone(), bad])
            .unwrap_err();
        assert!(
            matches!(e, Error::GridMismatch { .. }) && msg(&e).contains("volume 2"),
            "{e}"
        );
    }
    // Probabilities outside [0, 1] or NaN name the map and the value.
    for (value, shown) in [(1.5f32, "1.5"), (-0.25, "-0.25"), (f32::NAN, "NaN")] {
        let mut bad = v.map(|_| 0.5f32);
        bad.data_mut()[[1, 2, 3]] = value;
        let e = NiftiWriter::new()
            .write_probabilities(&p, &[v.map(|_| 0.25f32), bad])
            .unwrap_err();
        assert!(
            matches!(e, Error::Config { .. })
                && msg(&e).contains("probability map 1")
                && msg(&e).contains(shown),
            "{e}"
        );
    }
    assert!(!p.exists(), "nothing written");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no temp file left"
    );
}

#[test]
fn bad_four_d_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("frames.nii");
    let v = small_volume();
    NiftiWriter::new()
        .write_frames(&p, &[v.clone(), v.clone(), v])
        .unwrap();
    let frames = NiftiReader::new().read_frames_f32(&p).unwrap();
    assert_eq!(frames.len(), 3);
    // A fifth dimension is not a series of volumes.
    patch(&p, |b| set_dims(b, [5, 4, 3, 2, 3, 2, 1, 1]));
    let e = NiftiReader::new().read_frames_f32(&p).unwrap_err();
    assert!(
        msg(&e).contains("fourth axis") && msg(&e).contains("frames.nii"),
        "{e}"
    );
    // More volumes announced than the file holds.
    patch(&p, |b| set_dims(b, [4, 4, 3, 2, 4, 1, 1, 1]));
    let e = NiftiReader::new().read_frames_f32(&p).unwrap_err();
    assert!(
        matches!(e, Error::TooLarge { .. }) && msg(&e).contains("truncated"),
        "{e}"
    );
    // The size limit counts every volume.
    patch(&p, |b| set_dims(b, [4, 4, 3, 2, 3, 1, 1, 1]));
    let e = NiftiReader::new()
        .max_bytes(4 * 24 * 2)
        .read_frames_f32(&p)
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
}
