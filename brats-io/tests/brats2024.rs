//! BraTS 2024's post-treatment gliomas keep BraTS 2023's file names and labels (1 NETC,
//! 2 SNFH, 3 ET) and add 4, the resection cavity, which is no tumour. Guessed from the values
//! alone, a case with a cavity and no enhancing tumour ({1, 2, 4}) reads as BraTS 2021's, its
//! cavity as enhancing tumour; so a 2023+ folder's labels are read as BraTS 2024's, and the
//! cavity is in no region.

use brats_io::phantom::PhantomConfig;
use brats_io::{
    find_case, Compartment, LabelScheme, Naming, NiftiReader, NiftiWriter, TumourRegion,
};
use ndarray::Array3;

#[test]
fn the_resection_cavity_is_a_label_in_no_region() {
    let s24 = LabelScheme::brats2024();
    assert_eq!(LabelScheme::by_name("brats2024").unwrap(), s24);
    assert_eq!(s24.n_classes(), 4, "the cavity is no class");
    assert_eq!(s24.value_of(Compartment::Enhancing), 3);
    assert_eq!(s24.non_tumour()[0].value, 4);
    let seg = Array3::from_shape_vec([1, 1, 5], vec![0u8, 1, 2, 3, 4]).unwrap();
    s24.check(&seg, "seg").unwrap();
    assert!(LabelScheme::brats2023().check(&seg, "seg").is_err());
    let m = |r| s24.region_mask(&seg, r).into_raw_vec_and_offset().0;
    assert_eq!(m(TumourRegion::Wt), [false, true, true, true, false]);
    assert_eq!(m(TumourRegion::Tc), [false, true, false, true, false]);
    assert_eq!(m(TumourRegion::Et), [false, false, false, true, false]);
    assert_eq!(
        s24.to_classes(&seg, "seg").unwrap().as_slice().unwrap(),
        &[0, 1, 2, 3, 0]
    );
    // To BraTS 2021's labels the cavity is background and ET 4; to 2024's own, kept.
    let in21 = s24.convert(&seg, &LabelScheme::brats2021(), "seg").unwrap();
    assert_eq!(in21.as_slice().unwrap(), &[0, 1, 2, 4, 0]);
    assert_eq!(s24.convert(&seg, &s24, "seg").unwrap(), seg);
    // Its meaning is not BraTS 2023's, and the cavity cannot take a tumour label's value.
    assert_ne!(s24.meaning(), LabelScheme::brats2023().meaning());
    assert!(LabelScheme::brats2023().with_non_tumour(3, "RC").is_err());
    assert!(LabelScheme::brats2023().with_non_tumour(0, "RC").is_err());
    assert_eq!(
        LabelScheme::brats2023()
            .with_non_tumour(4, "RC")
            .unwrap()
            .meaning(),
        s24.meaning()
    );
}

#[test]
fn a_brats_2023_folder_reads_a_cavity_as_no_tumour() {
    let tmp = tempfile::tempdir().unwrap();
    let case = PhantomConfig {
        shape: [40, 36, 24],
        scheme: LabelScheme::brats2023(),
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(3)
    .unwrap();
    let dir = case.write(tmp.path(), Naming::Brats2023).unwrap();
    // A post-treatment case: no enhancing tumour left, a cavity where it was.
    let seg_path = dir.join("Phantom_00003-seg.nii.gz");
    let reader = NiftiReader::new();
    let seg = reader.read_labels(&seg_path).unwrap();
    let cavity = seg.map(|&v| if v == 3 { 4 } else { v });
    let cavity_voxels = cavity.as_slice().iter().filter(|&&v| v == 4).count();
    assert!(cavity_voxels > 0);
    NiftiWriter::new().write(&seg_path, &cavity).unwrap();
    let paths = find_case(&dir).unwrap();
    assert_eq!(paths.seg_scheme(), Some(LabelScheme::brats2024()));
    let loaded = paths.load(&reader).unwrap();
    let own = loaded.seg_scheme.clone().unwrap();
    let truth = loaded.seg.unwrap();
    // Read as the layout says, the cavity is in no region; guessed as BraTS 2021's (the
    // values fit it), it would be enhancing tumour.
    assert!(!own
        .region_mask(truth.data(), TumourRegion::Wt)
        .iter()
        .zip(truth.as_slice())
        .any(|(&in_wt, &v)| in_wt && v == 4));
    let et21 = LabelScheme::brats2021().region_mask(truth.data(), TumourRegion::Et);
    assert_eq!(et21.iter().filter(|&&x| x).count(), cavity_voxels);
    // The inspection checks the seg against BraTS 2024's labels: consistent.
    let s = brats_io::inspect::summarize_case(&dir).unwrap();
    assert!(s.consistent, "{:?}", s.problems);
    // A value that is in neither is named.
    let bad = seg.map(|&v| if v == 3 { 5 } else { v });
    NiftiWriter::new().write(&seg_path, &bad).unwrap();
    let s = brats_io::inspect::summarize_case(&dir).unwrap();
    assert!(!s.consistent);
    assert!(
        s.problems
            .iter()
            .any(|p| p.contains("brats2024") && p.contains('5')),
        "{:?}",
        s.problems
    );
    // A BraTS 2021 folder's values still tell their scheme.
    let old = case
        .write(tmp.path().join("old"), Naming::Brats2021)
        .unwrap();
    assert_eq!(find_case(&old).unwrap().seg_scheme(), None);
}
