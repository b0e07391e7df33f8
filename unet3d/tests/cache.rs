//! Plan and prepare once: the cache folder's files, resuming, bad cases reported and
//! skipped, write failures named, and training from the cache equal to training from the
//! folder in memory for a fixed seed.

use std::path::{Path, PathBuf};

use brats_io::phantom::PhantomConfig;
use brats_io::progress::NoProgress;
use brats_io::Naming;
use candle_core::Device;
use unet3d::checkpoint::load_tensors;
use unet3d::train::cache::{list, prepare, split, CaseFile};
use unet3d::train::{Split, TrainConfig, TrainData, Trainer};

fn config() -> TrainConfig {
    let mut cfg = unet3d::presets::fast();
    cfg.model.filters = [4, 8, 16, 32, 64];
    cfg.patch = [32, 32, 32];
    cfg.batch_size = 1;
    cfg.epochs = 1;
    cfg.iterations_per_epoch = 2;
    cfg.validation_interval = 0;
    cfg.threads = 1;
    cfg
}

/// `n` small phantoms in BraTS layout.
fn folder(dir: &Path, n: u64) -> Vec<PathBuf> {
    let g = PhantomConfig {
        shape: [64, 64, 48],
        ..Default::default()
    }
    .check()
    .unwrap();
    (0..n)
        .map(|s| {
            g.generate(s)
                .unwrap()
                .write(dir, Naming::Brats2021)
                .unwrap()
        })
        .collect()
}

fn file_with(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap()
}

#[test]
fn bad_cases_are_listed_and_skipped_and_the_cache_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cases = folder(&data, 7);
    // Missing modality.
    std::fs::remove_file(file_with(&cases[3], "_t2.nii.gz")).unwrap();
    // Truncated file.
    let f = file_with(&cases[4], "_flair.nii.gz");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 3]).unwrap();
    // Mismatched grids: the seg of a larger phantom.
    let big = PhantomConfig {
        shape: [70, 64, 48],
        ..Default::default()
    }
    .check()
    .unwrap()
    .generate(9)
    .unwrap();
    brats_io::NiftiWriter::new()
        .write(file_with(&cases[5], "_seg.nii.gz"), &big.seg)
        .unwrap();
    // Labels outside the scheme.
    let seg_path = file_with(&cases[6], "_seg.nii.gz");
    let seg = brats_io::NiftiReader::new().read_labels(&seg_path).unwrap();
    brats_io::NiftiWriter::new()
        .write(&seg_path, &seg.map(|&v| if v == 4 { 7 } else { v }))
        .unwrap();

    let cache = tmp.path().join("cache");
    let fp = prepare(&data, &cache, &config(), 2.0, &NoProgress).unwrap();
    assert_eq!(
        (fp.written, fp.reused, fp.cases.len()),
        (3, 0, 3),
        "{:#?}",
        fp.skipped
    );
    assert_eq!(fp.skipped.len(), 4);
    let reasons: Vec<&str> = fp.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("t2")), "{reasons:#?}");
    assert!(
        reasons.iter().any(|r| r.contains("_flair.nii.gz")),
        "{reasons:#?}"
    );
    assert!(reasons.iter().any(|r| r.contains("7")), "{reasons:#?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("grid") || r.contains("dim") || r.contains("shape")),
        "{reasons:#?}"
    );
    assert!(cache.join("fingerprint.json").exists());
    assert!(
        fp.plan.patch >= 16 && fp.plan.patch.is_multiple_of(16),
        "{:?}",
        fp.plan
    );
    assert_eq!(fp.plan.target_spacing, [2.0, 2.0, 2.0]);
    assert!(fp.label_voxels.contains_key(&4));

    // Resume: the valid cases are kept, nothing is redone.
    let again = prepare(&data, &cache, &config(), 2.0, &NoProgress).unwrap();
    assert_eq!((again.written, again.reused), (0, 3));

    // A damaged case file is named, not trusted.
    let files = list(&cache).unwrap();
    assert_eq!(files.len(), 3);
    let victim = &files[0].path;
    let b = std::fs::read(victim).unwrap();
    std::fs::write(victim, &b[..b.len() - 10]).unwrap();
    let err = list(&cache).unwrap_err().to_string();
    assert!(
        err.contains(&victim.display().to_string()) && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(victim, b"definitely not a cached case").unwrap();
    assert!(CaseFile::open(victim)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    // prepare repairs it.
    let repaired = prepare(&data, &cache, &config(), 2.0, &NoProgress).unwrap();
    assert_eq!((repaired.written, repaired.reused), (1, 2));
    assert_eq!(list(&cache).unwrap().len(), 3);
}

#[test]
fn a_case_that_cannot_be_written_is_named_and_the_rest_stays_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cases = folder(&data, 2);
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    // Where the first case's file must go, a folder: the rename fails (as on a full or
    // read-only disk, which root cannot simulate with permissions).
    let id = cases[0].file_name().unwrap().to_string_lossy().to_string();
    std::fs::create_dir(cache.join(format!("{id}.btscase"))).unwrap();
    let fp = prepare(&data, &cache, &config(), 2.0, &NoProgress).unwrap();
    assert_eq!(fp.cases.len(), 1);
    assert_eq!(fp.skipped.len(), 1);
    assert!(
        fp.skipped[0].reason.contains(&format!("{id}.btscase")),
        "{:?}",
        fp.skipped
    );
    // No half-written file is left, and the written case loads.
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(list(&cache).unwrap().len(), 1);
}

#[test]
fn training_from_the_cache_equals_training_from_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    folder(&data, 3);
    let cache = tmp.path().join("cache");
    prepare(&data, &cache, &config(), 2.0, &NoProgress).unwrap();
    let split_rule = Split::Fraction(0.0);
    let from_folder = TrainData::from_folder(&data, &split_rule, &config(), &NoProgress).unwrap();
    let from_cache = TrainData::from_cache(&cache, &split_rule, &config(), &NoProgress).unwrap();
    assert_eq!(from_folder.train.len(), from_cache.train.len());
    for (a, b) in from_folder.train.iter().zip(&from_cache.train) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.image, b.image);
        assert_eq!(a.classes, b.classes);
    }
    let (m1, m2, m3) = (
        tmp.path().join("m1"),
        tmp.path().join("m2"),
        tmp.path().join("m3"),
    );
    Trainer::new(config(), &m1)
        .unwrap()
        .fit(&from_folder, false)
        .unwrap();
    Trainer::new(config(), &m2)
        .unwrap()
        .fit(&from_cache, false)
        .unwrap();
    // Patch by patch from disk: the same patches, the same weights.
    let (train, val) = split(list(&cache).unwrap(), &split_rule, &config(), &cache).unwrap();
    assert!(val.is_empty());
    Trainer::new(config(), &m3)
        .unwrap()
        .fit_cached(&train, &[], false)
        .unwrap();
    let last = "last-e0001.safetensors";
    let a = load_tensors(&m1.join(last), &Device::Cpu).unwrap();
    for m in [&m2, &m3] {
        let b = load_tensors(&m.join(last), &Device::Cpu).unwrap();
        for (name, t) in &a {
            let x = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let y = b[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(x, y, "{name} ({})", m.display());
        }
    }
    // Another preprocessing cannot use this cache.
    let mut other = config();
    other.preprocess.margin += 1;
    let err = TrainData::from_cache(&cache, &split_rule, &other, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("prepare again"), "{err}");
}
