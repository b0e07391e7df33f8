//! nnU-Net's raw layout: one 3D file per channel (`imagesTr/X_0000.nii.gz` … `_0003`), in
//! the dataset's channel order, labels in `labelsTr/X.nii.gz`, and a `dataset.json` in
//! nnU-Net v2's form (`channel_names`, labels as name → value or as regions). A case read
//! from it equals the same case read from BraTS layout; every bad input is an error naming
//! the file.

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

/// nnU-Net's own conversion of BraTS 2021 (Dataset137_BraTS2021): FLAIR last, region labels.
const DATASET137: &str = r#"{
    "channel_names": {"0": "T1", "1": "T1ce", "2": "T2", "3": "Flair"},
    "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": [3]},
    "regions_class_order": [1, 2, 3],
    "numTraining": 1251,
    "file_ending": ".nii.gz"
}"#;

#[test]
fn an_nnunet_case_is_the_same_case_as_in_brats_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let case = phantom(4);
    let root = tmp.path().join("Dataset500_Synth");
    let prefix = case.write(&root, Naming::NnUnet).unwrap();
    let brats = case
        .write(tmp.path().join("brats"), Naming::Brats2021)
        .unwrap();
    assert_eq!(prefix, root.join("imagesTr/Phantom_00004"));
    // The dataset.json written is nnU-Net v2's, as Dataset137's.
    let written = DatasetJson::read(&root.join("dataset.json")).unwrap();
    assert_eq!(
        written,
        DatasetJson::parse(DATASET137, &root.join("dataset.json")).unwrap()
    );
    // A macOS resource fork and a hidden file beside the images are no cases or channels.
    let images = root.join("imagesTr");
    std::fs::write(
        images.join("._Phantom_00004_0000.nii.gz"),
        b"\0\x05\x16\x07",
    )
    .unwrap();
    std::fs::write(images.join(".DS_Store"), b"x").unwrap();
    assert_eq!(case_sources(&root).unwrap(), vec![prefix.clone()]);
    assert_eq!(list_cases(&root).unwrap().len(), 1);
    // The case is named by its prefix or by any of its channel files.
    let paths = find_case(&prefix).unwrap();
    assert_eq!(
        find_case(images.join("Phantom_00004_0002.nii.gz")).unwrap(),
        paths
    );
    assert_eq!(paths.naming, Naming::NnUnet);
    assert_eq!(paths.id, "Phantom_00004");
    // Dataset137's order: FLAIR is channel 3, T1 channel 0.
    assert!(paths.images[0].ends_with("imagesTr/Phantom_00004_0003.nii.gz"));
    assert!(paths.images[1].ends_with("imagesTr/Phantom_00004_0000.nii.gz"));
    assert_eq!(
        paths.seg.as_deref(),
        Some(root.join("labelsTr/Phantom_00004.nii.gz").as_path())
    );
    assert_eq!(paths.scheme(), LabelScheme::decathlon());
    assert!(paths
        .consistency_problems(&NiftiReader::new())
        .unwrap()
        .is_empty());
    let reader = NiftiReader::new();
    let (a, b) = (
        paths.load(&reader).unwrap(),
        find_case(&brats).unwrap().load(&reader).unwrap(),
    );
    assert_eq!(a.id, "Phantom_00004");
    for m in 0..4 {
        assert_eq!(a.images[m].data(), b.images[m].data(), "modality {m}");
    }
    // The case says what its labels mean: 1 edema, 2 core, 3 enhancing.
    assert_eq!(a.seg_scheme, Some(LabelScheme::decathlon()));
    let (sa, sb) = (a.seg.unwrap(), b.seg.unwrap());
    let in_brats = paths
        .scheme()
        .convert(sa.data(), &LabelScheme::brats2021(), "nnU-Net seg")
        .unwrap();
    assert_eq!(&in_brats, sb.data());
    let edema = sb.as_slice().iter().filter(|&&v| v == 2).count();
    assert!(edema > 0);
    assert_eq!(sa.as_slice().iter().filter(|&&v| v == 1).count(), edema);
    // The inspection reads the four channel files and checks the labels against the
    // dataset's scheme.
    let s = brats_io::inspect::summarize_case(&prefix).unwrap();
    assert_eq!(s.naming, Naming::NnUnet);
    assert!(s.consistent, "{:?}", s.problems);
    assert_eq!(s.files.len(), 5, "four channels and the seg");
}

#[test]
fn nnunet_dataset_json_forms_are_read_by_meaning() {
    let p = Path::new("dataset.json");
    // Dataset137: regions, FLAIR last.
    let spec = DatasetJson::parse(DATASET137, p).unwrap();
    assert_eq!(spec.frames, [3, 0, 1, 2]);
    assert_eq!(spec.scheme, LabelScheme::decathlon());
    assert_eq!(spec.channels.as_ref().map(|c| c.len()), Some(4));
    // nnU-Net's documented example gives the enhancing region as a single value.
    let spec = DatasetJson::parse(
        r#"{"channel_names": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
            "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": 3},
            "regions_class_order": [1, 2, 3], "file_ending": ".nii.gz"}"#,
        p,
    )
    .unwrap();
    assert_eq!(spec.frames, [0, 1, 2, 3]);
    assert_eq!(spec.scheme, LabelScheme::decathlon());
    // The Decathlon's Task01 converted by nnU-Net v2 (name → value).
    let spec = DatasetJson::parse(
        r#"{"channel_names": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
            "labels": {"background": 0, "edema": 1, "non-enhancing tumor": 2, "enhancing tumour": 3},
            "file_ending": ".nii.gz"}"#,
        p,
    )
    .unwrap();
    assert_eq!(spec.scheme, LabelScheme::decathlon());
    // BraTS 2023's labels under BraTS 2023's channel names are BraTS 2023's scheme.
    let spec = DatasetJson::parse(
        r#"{"channel_names": {"0": "t1n", "1": "t1c", "2": "t2w", "3": "t2f"},
            "labels": {"background": 0, "NETC": 1, "SNFH": 2, "ET": 3}}"#,
        p,
    )
    .unwrap();
    assert_eq!(spec.frames, [3, 0, 1, 2]);
    assert_eq!(spec.scheme, LabelScheme::brats2023());
    assert_eq!(spec.scheme.value_of(Compartment::Edema), 2);
    // nnU-Net's BraTS 2024 conversion (Dataset226): the resection cavity is no tumour.
    let spec = DatasetJson::parse(
        r#"{"channel_names": {"0": "T1", "1": "T1C", "2": "T2W", "3": "T2F"},
            "labels": {"background": 0, "NETC": 1, "SNFH": 2, "ET": 3, "RC": 4}}"#,
        p,
    )
    .unwrap();
    assert_eq!(spec.scheme, LabelScheme::brats2024());
    // Regions in another nesting of values.
    let spec = DatasetJson::parse(
        r#"{"labels": {"background": 0, "WT": [1, 2, 4], "TC": [1, 4], "ET": [4]}}"#,
        p,
    )
    .unwrap();
    assert_eq!(spec.scheme, LabelScheme::brats2021());
}

#[test]
fn bad_nnunet_inputs_are_errors_naming_the_file_and_field() {
    let p = Path::new("Dataset/dataset.json");
    let expect = |text: &str, needle: &str| {
        let m = DatasetJson::parse(text, p).unwrap_err().to_string();
        assert!(
            m.contains("Dataset/dataset.json") && m.contains(needle),
            "{needle}: {m}"
        );
    };
    // Regions that do not nest, do not tell core from enhancing, or are no region.
    expect(
        r#"{"labels": {"background": 0, "whole tumor": [1, 2], "tumor core": [2, 3], "enhancing tumor": [3]}}"#,
        "must nest",
    );
    expect(
        r#"{"labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3]}}"#,
        "do not tell",
    );
    expect(
        r#"{"labels": {"background": 0, "whole tumor": [1, 2, 3], "lesion": [2, 3]}}"#,
        "not a region",
    );
    expect(
        r#"{"labels": {"background": [0, 1], "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": [3]}}"#,
        "background must be 0",
    );
    expect(
        r#"{"labels": {"background": 0, "whole tumor": [1, 2, 300], "tumor core": [2, 300], "enhancing tumor": [300]}}"#,
        "uint8",
    );
    // Values that are not label values; a label it cannot place (BraTS-PED's cystic
    // component); a resection cavity on a tumour label's value.
    expect(
        r#"{"labels": {"background": 0, "edema": "one"}}"#,
        "not a label value",
    );
    expect(
        r#"{"labels": {"background": 0, "edema": []}}"#,
        "not a label value",
    );
    expect(
        r#"{"labels": {"background": 0, "NETC": 1, "SNFH": 2, "ET": 3, "CC": 4}}"#,
        "\"CC\"",
    );
    expect(
        r#"{"labels": {"background": 0, "NETC": 1, "SNFH": 2, "ET": 3, "RC": 3}}"#,
        "repeated",
    );
    // Only NIfTI is read; channel names are checked as in the Decathlon's modality.
    expect(r#"{"file_ending": ".mha"}"#, "file_ending");
    expect(
        r#"{"channel_names": {"0": "T1", "1": "T1ce", "2": "T2", "3": "DWI"}}"#,
        "channel_names",
    );

    // On disk: a case without dataset.json, without channel_names, or missing a channel.
    let tmp = tempfile::tempdir().unwrap();
    let case = phantom(6);
    let root = tmp.path().join("Dataset501_X");
    let prefix = case.write(&root, Naming::NnUnet).unwrap();
    std::fs::remove_file(root.join("dataset.json")).unwrap();
    let m = find_case(&prefix).unwrap_err().to_string();
    assert!(
        m.contains("Phantom_00006") && m.contains("no dataset.json"),
        "{m}"
    );
    std::fs::write(
        root.join("dataset.json"),
        r#"{"labels": {"background": 0, "edema": 1, "necrosis": 2, "enhancing": 3}}"#,
    )
    .unwrap();
    let m = find_case(&prefix).unwrap_err().to_string();
    assert!(m.contains("dataset.json: channel_names"), "{m}");
    std::fs::write(
        root.join("dataset.json"),
        r#"{"channel_names": {"0": "T1", "1": "T1ce", "2": "T2", "5": "Flair"}}"#,
    )
    .unwrap();
    let m = find_case(&prefix).unwrap_err().to_string();
    assert!(
        m.contains("missing Phantom_00006_0005.nii.gz, the flair channel"),
        "{m}"
    );
    std::fs::write(root.join("dataset.json"), "{ not json").unwrap();
    assert!(matches!(find_case(&prefix), Err(Error::Json { .. })));
}

#[test]
fn files_named_like_channels_are_a_case_only_when_channels_0_to_3_are_there() {
    let tmp = tempfile::tempdir().unwrap();
    let case = phantom(7);
    let dir = tmp.path().join("imagesTs");
    std::fs::create_dir_all(&dir).unwrap();
    let writer = NiftiWriter::new();
    // Six 4D files named X_0000 … X_0005 (a Decathlon-style folder with such ids): six
    // sources, no nnU-Net case.
    for n in 0..6 {
        writer
            .write_frames(dir.join(format!("X_{n:04}.nii.gz")), &case.images)
            .unwrap();
    }
    // Three channel files of Y: not a case either.
    for n in 0..3 {
        writer
            .write(dir.join(format!("Y_{n:04}.nii.gz")), &case.images[n])
            .unwrap();
    }
    let sources = case_sources(&dir).unwrap();
    assert_eq!(sources.len(), 9, "{sources:?}");
    assert!(brats_io::nnunet::case_prefix(&dir.join("Y")).is_none());
    assert_eq!(brats_io::nnunet::channel_file("Y_0002.nii"), Some(("Y", 2)));
    assert_eq!(brats_io::nnunet::channel_file("BRATS_001.nii.gz"), None);
    assert_eq!(brats_io::nnunet::channel_file("_0001.nii.gz"), None);
    // A path that is neither a folder, a file nor a case prefix names itself.
    let m = find_case(dir.join("Z")).unwrap_err().to_string();
    assert!(m.contains("imagesTs/Z"), "{m}");
}
