//! The Medical Segmentation Decathlon's layout: one 4D file per case, labels 1 edema /
//! 2 core / 3 enhancing, `dataset.json` naming the channels and labels. A case read from it
//! equals the same case read from BraTS layout; every bad input is an error naming the file.

use std::path::Path;

use brats_io::decathlon::DatasetJson;
use brats_io::phantom::PhantomConfig;
use brats_io::{
    case_sources, find_case, list_cases, Compartment, Error, LabelScheme, Naming, NiftiReader,
    NiftiWriter,
};

fn phantom(seed: u64) -> brats_io::phantom::PhantomCase {
    PhantomConfig {
        shape: [40, 36, 24],
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(seed)
    .unwrap()
}

/// The Decathlon's Task01 `dataset.json`, with `modality` replaced by `channels`.
fn dataset_json(root: &Path, channels: &str, labels: &str) {
    std::fs::write(
        root.join("dataset.json"),
        format!(r#"{{"name": "BRATS", "modality": {channels}, "labels": {labels}}}"#),
    )
    .unwrap();
}

const TASK01_LABELS: &str =
    r#"{"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"}"#;

#[test]
fn a_decathlon_case_is_the_same_case_as_in_brats_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let case = phantom(4);
    let image = case
        .write(tmp.path().join("Task01"), Naming::Decathlon)
        .unwrap();
    let brats = case
        .write(tmp.path().join("brats"), Naming::Brats2021)
        .unwrap();
    assert!(
        image.ends_with("Task01/imagesTr/Phantom_00004.nii.gz"),
        "{image:?}"
    );
    // A macOS resource fork and a hidden file beside the images are no cases.
    std::fs::write(
        image.with_file_name("._Phantom_00004.nii.gz"),
        b"\0\x05\x16\x07",
    )
    .unwrap();
    std::fs::write(image.with_file_name(".DS_Store"), b"x").unwrap();
    let root = tmp.path().join("Task01");
    assert_eq!(case_sources(&root).unwrap(), vec![image.clone()]);
    assert_eq!(list_cases(&root).unwrap().len(), 1);
    // A file in imagesTr is a case file; a BraTS image, or a 4D file elsewhere, is not.
    assert!(brats_io::decathlon::is_case_file(&image));
    assert!(!brats_io::decathlon::is_case_file(
        &brats.join("Phantom_00004_flair.nii.gz")
    ));
    let elsewhere = tmp.path().join("probs.nii.gz");
    std::fs::copy(&image, &elsewhere).unwrap();
    assert!(!brats_io::decathlon::is_case_file(&elsewhere));
    let paths = find_case(&image).unwrap();
    assert_eq!(paths.naming, Naming::Decathlon);
    assert_eq!(paths.id, "Phantom_00004");
    assert_eq!(
        paths.seg.as_deref(),
        Some(root.join("labelsTr/Phantom_00004.nii.gz").as_path())
    );
    assert_eq!(paths.scheme(), LabelScheme::decathlon());
    assert_eq!(
        paths.dataset.as_ref().unwrap().source.as_deref(),
        Some(root.join("dataset.json").as_path())
    );
    assert!(paths
        .consistency_problems(&NiftiReader::new())
        .unwrap()
        .is_empty());
    let reader = NiftiReader::new();
    let (a, b) = (
        paths.load(&reader).unwrap(),
        find_case(&brats).unwrap().load(&reader).unwrap(),
    );
    for m in 0..4 {
        assert_eq!(a.images[m].data(), b.images[m].data(), "modality {m}");
        assert!(a.images[m]
            .geometry()
            .same_grid(b.images[m].geometry(), 1e-5));
    }
    // The case says what its labels mean; a BraTS folder's values tell their own.
    assert_eq!(a.seg_scheme, Some(LabelScheme::decathlon()));
    assert_eq!(b.seg_scheme, None);
    // The same labels, in the Decathlon's values: edema 1, core 2, enhancing 3.
    let (sa, sb) = (a.seg.unwrap(), b.seg.unwrap());
    let in_brats = paths
        .scheme()
        .convert(sa.data(), &LabelScheme::brats2021(), "decathlon seg")
        .unwrap();
    assert_eq!(&in_brats, sb.data());
    let edema = sb.as_slice().iter().filter(|&&v| v == 2).count();
    assert!(edema > 0);
    assert_eq!(sa.as_slice().iter().filter(|&&v| v == 1).count(), edema);
    // The inspection reads the four volumes of the one file and checks the labels against
    // the dataset's scheme.
    let s = brats_io::inspect::summarize_case(&image).unwrap();
    assert_eq!(s.naming, Naming::Decathlon);
    assert!(s.consistent, "{:?}", s.problems);
    assert_eq!(s.files.len(), 5, "four modalities and the seg");
}

#[test]
fn dataset_json_says_which_volume_is_which_modality() {
    let tmp = tempfile::tempdir().unwrap();
    let case = phantom(5);
    let root = tmp.path().join("Task");
    let images = root.join("imagesTs");
    std::fs::create_dir_all(&images).unwrap();
    // Stored T1, T1ce, T2, FLAIR; the dataset.json says so.
    let order = [1usize, 2, 3, 0];
    let frames: Vec<_> = order.iter().map(|&m| case.images[m].clone()).collect();
    let file = images.join("X_001.nii.gz");
    NiftiWriter::new().write_frames(&file, &frames).unwrap();
    dataset_json(
        &root,
        r#"{"0": "T1w", "1": "t1gd", "2": "T2w", "3": "FLAIR"}"#,
        TASK01_LABELS,
    );
    let paths = find_case(&file).unwrap();
    assert_eq!(paths.dataset.as_ref().unwrap().frames, [3, 0, 1, 2]);
    assert_eq!(paths.seg, None, "no labelsTs folder");
    let loaded = paths.load(&NiftiReader::new()).unwrap();
    for m in 0..4 {
        assert_eq!(
            loaded.images[m].data(),
            case.images[m].data(),
            "modality {m}"
        );
    }
    // Without the dataset.json, the file's order is taken as the Decathlon's.
    std::fs::remove_file(root.join("dataset.json")).unwrap();
    let paths = find_case(&file).unwrap();
    assert_eq!(paths.dataset.as_ref().unwrap().source, None);
    let loaded = paths.load(&NiftiReader::new()).unwrap();
    assert_eq!(loaded.images[0].data(), case.images[1].data());
}

#[test]
fn label_names_of_other_datasets_are_placed_by_meaning() {
    let spec = DatasetJson::parse(
        r#"{"labels": {"0": "background", "1": "NCR/NET", "2": "peritumoral edematous tissue", "4": "GD-enhancing tumor"}}"#,
        Path::new("d.json"),
    )
    .unwrap();
    assert_eq!(spec.scheme.value_of(Compartment::Core), 1);
    assert_eq!(spec.scheme.value_of(Compartment::Edema), 2);
    assert_eq!(spec.scheme.value_of(Compartment::Enhancing), 4);
    assert_eq!(
        spec.frames,
        [0, 1, 2, 3],
        "no modality: the Decathlon's order"
    );
    let spec = DatasetJson::parse(
        r#"{"labels": {"0": "background", "1": "necrotic tumor core", "2": "edema", "3": "enhancing tumor"}}"#,
        Path::new("d.json"),
    )
    .unwrap();
    assert_eq!(spec.scheme.value_of(Compartment::Core), 1);
    assert_eq!(spec.scheme.value_of(Compartment::Enhancing), 3);
}

#[test]
fn bad_decathlon_inputs_are_errors_naming_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let case = phantom(6);
    let root = tmp.path().join("Task");
    let images = root.join("imagesTr");
    std::fs::create_dir_all(&images).unwrap();
    let file = images.join("X_002.nii.gz");
    NiftiWriter::new()
        .write_frames(&file, &case.images)
        .unwrap();
    let expect = |channels: &str, labels: &str, needle: &str| {
        dataset_json(&root, channels, labels);
        let e = find_case(&file).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("dataset.json") && m.contains(needle),
            "{needle}: {m}"
        );
    };
    let task01 = r#"{"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}"#;
    expect(
        r#"{"0": "FLAIR", "1": "T1w", "2": "PD", "3": "T2w"}"#,
        TASK01_LABELS,
        "\"PD\"",
    );
    expect(
        r#"{"0": "FLAIR", "1": "T1w", "2": "t1gd"}"#,
        TASK01_LABELS,
        "no t2 channel",
    );
    expect(
        r#"{"0": "FLAIR", "1": "T1w", "2": "T1", "3": "T2w"}"#,
        TASK01_LABELS,
        "both channel 1 and channel 2",
    );
    expect(r#"["FLAIR"]"#, TASK01_LABELS, "modality");
    expect(r#"{"first": "FLAIR"}"#, TASK01_LABELS, "\"first\"");
    expect(task01, r#"{"0": "background", "1": "liver"}"#, "\"liver\"");
    expect(
        task01,
        r#"{"0": "background", "1": "edema", "2": "enhancing tumour"}"#,
        "Core",
    );
    expect(
        task01,
        r#"{"0": "background", "1": "edema", "2": "necrosis", "300": "enhancing"}"#,
        "uint8",
    );
    expect(
        task01,
        r#"{"1": "background", "2": "edema", "3": "necrosis", "4": "enhancing"}"#,
        "background must be 0",
    );
    std::fs::write(root.join("dataset.json"), "{ not json").unwrap();
    assert!(matches!(find_case(&file), Err(Error::Json { .. })));
    // Channels beyond the file's volumes.
    dataset_json(
        &root,
        r#"{"0": "FLAIR", "1": "T1w", "2": "t1gd", "5": "T2w"}"#,
        TASK01_LABELS,
    );
    let e = find_case(&file)
        .unwrap()
        .load(&NiftiReader::new())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("4 volume(s) along the 4th axis; 6 expected"),
        "{e}"
    );
    // Without dataset.json, a file of three volumes is not a case.
    std::fs::remove_file(root.join("dataset.json")).unwrap();
    let three = images.join("X_003.nii.gz");
    NiftiWriter::new()
        .write_frames(&three, &case.images[..3])
        .unwrap();
    let e = find_case(&three)
        .unwrap()
        .load(&NiftiReader::new())
        .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("X_003") && m.contains("3 volume(s)") && m.contains("no dataset.json"),
        "{m}"
    );
    // A file that is not NIfTI, and a hidden one, are no cases.
    let txt = images.join("notes.txt");
    std::fs::write(&txt, "x").unwrap();
    assert!(matches!(find_case(&txt), Err(Error::CaseLayout { .. })));
    let fork = images.join("._X_002.nii.gz");
    std::fs::write(&fork, b"\0\x05\x16\x07").unwrap();
    let m = find_case(&fork).unwrap_err().to_string();
    assert!(m.contains("hidden"), "{m}");
}
