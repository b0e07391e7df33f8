//! Training, checkpoints, resume and prediction on tiny phantoms.

use brats_io::progress::NoProgress;
use std::collections::HashMap;
use std::path::Path;

use brats_io::phantom::PhantomConfig;
use brats_io::{LabelScheme, PreprocessConfig, Resample};
use candle_core::{Device, Tensor};
use unet3d::checkpoint::{load_tensors, read_meta, ExportSettings, Which};
use unet3d::infer::SlidingWindowConfig;
use unet3d::predict::{PredictOptions, Predictor};
use unet3d::train::{TrainConfig, TrainData, Trainer};
use unet3d::{Activation, Error, UNet3dConfig};

fn tiny_config() -> TrainConfig {
    let mut cfg = unet3d::presets::fast();
    cfg.model = UNet3dConfig {
        filters: [2, 4, 4, 8, 8],
        encoder_dropout: [0.1, 0.0, 0.0, 0.0, 0.2],
        decoder_dropout: [0.0, 0.0, 0.0, 0.1],
        deep_supervision: true,
        ..cfg.model
    };
    cfg.preprocess = PreprocessConfig {
        resample: Resample::Spacing([3.0, 3.0, 3.0]),
        ..cfg.preprocess
    };
    cfg.patch = [16, 16, 16];
    cfg.window = SlidingWindowConfig {
        roi: [32, 32, 32],
        ..cfg.window
    };
    cfg.epochs = 2;
    cfg.iterations_per_epoch = 2;
    cfg.validation_interval = 1;
    cfg.threads = 2;
    cfg.seed = 5;
    cfg
}

fn tiny_phantom() -> PhantomConfig {
    PhantomConfig {
        shape: [80, 80, 52],
        ..Default::default()
    }
}

fn data(cfg: &TrainConfig) -> TrainData {
    TrainData::phantoms(2, 1, &tiny_phantom(), 11, cfg, &NoProgress).unwrap()
}

/// A finished training run of `cfg` on `data`, in a new temporary folder.
fn fitted(cfg: &TrainConfig, data: &TrainData) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    Trainer::new(cfg.clone(), dir.path())
        .unwrap()
        .fit(data, false)
        .unwrap();
    dir
}

fn weights(dir: &Path) -> HashMap<String, Vec<f32>> {
    let (_, meta) = read_meta(dir, Which::Last).unwrap();
    load_tensors(&dir.join(meta.weights), &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

#[test]
fn resume_gives_the_same_weights_as_an_uninterrupted_run() {
    let cfg = tiny_config();
    let data = data(&cfg);
    let a = tempfile::tempdir().unwrap();
    let sa = Trainer::new(cfg.clone(), a.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    assert_eq!((sa.epochs, sa.iterations), (2, 4));
    // Same seed, fresh run: identical.
    let a2 = fitted(&cfg, &data);
    assert_eq!(weights(a.path()), weights(a2.path()));
    // One epoch, then resume to two.
    let b = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.epochs = 1;
    Trainer::new(first, b.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    let wb1 = weights(b.path());
    assert_ne!(wb1, weights(a.path()));
    let sb = Trainer::new(cfg.clone(), b.path())
        .unwrap()
        .fit(&data, true)
        .unwrap();
    assert_eq!((sb.epochs, sb.iterations), (2, 4));
    assert_eq!(weights(a.path()), weights(b.path()));
    // Histories agree on everything but wall time.
    let (_, ma) = read_meta(a.path(), Which::Last).unwrap();
    let (_, mb) = read_meta(b.path(), Which::Last).unwrap();
    let strip = |h: &[unet3d::checkpoint::EpochRecord]| {
        h.iter()
            .map(|r| (r.epoch, r.iteration, r.train_loss, r.val_dice))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&ma.history), strip(&mb.history));
    // Resuming with another configuration is refused.
    let mut other = cfg.clone();
    other.optimizer.lr = 1e-2;
    let err = Trainer::new(other, b.path())
        .unwrap()
        .fit(&data, true)
        .unwrap_err();
    assert!(
        err.to_string().contains("another training configuration"),
        "{err}"
    );
}

/// A checkpoint written before a configuration field existed resumes: the field takes its
/// default (which keeps the behaviour it was trained with).
#[test]
fn resume_accepts_a_checkpoint_from_before_a_field_existed() {
    let cfg = tiny_config();
    let data = data(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.epochs = 1;
    Trainer::new(first, dir.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    let last = dir.path().join("last.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&last).unwrap()).unwrap();
    let loss = meta["train_config"]["loss"].as_object_mut().unwrap();
    assert_eq!(
        loss.remove("batch_dice"),
        Some(serde_json::Value::Bool(true))
    );
    std::fs::write(&last, serde_json::to_string(&meta).unwrap()).unwrap();
    let s = Trainer::new(cfg.clone(), dir.path())
        .unwrap()
        .fit(&data, true)
        .unwrap();
    assert_eq!(s.epochs, 2);
    // A field that differs is still refused.
    let mut other = cfg.clone();
    other.loss.batch_dice = false;
    other.epochs = 3;
    let err = Trainer::new(other, dir.path())
        .unwrap()
        .fit(&data, true)
        .unwrap_err();
    assert!(
        err.to_string().contains("another training configuration"),
        "{err}"
    );
}

#[test]
fn model_folder_holds_checkpoints_history_and_plot_and_predicts() {
    let cfg = tiny_config();
    let data = data(&cfg);
    let dir = tempfile::tempdir().unwrap();
    Trainer::new(cfg.clone(), dir.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    for f in [
        "last.json",
        "best.json",
        "history.csv",
        "history.json",
        "history.png",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,iteration,train_loss"));
    assert!(std::fs::read(dir.path().join("history.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
    // Only the files the JSONs name are kept.
    let st: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    assert_eq!(st.len(), 3, "{st:?}");
    let (_, meta) = read_meta(dir.path(), Which::Last).unwrap();
    assert_eq!(meta.epoch, 2);
    assert_eq!(meta.scheme, LabelScheme::brats2021());
    assert_eq!(meta.preprocess, cfg.preprocess);

    // Predict a held-out phantom on its own grid.
    let case = tiny_phantom().check().unwrap().generate(99).unwrap();
    let p = Predictor::load(dir.path()).unwrap();
    let pred = p
        .predict(
            &case.images,
            &PredictOptions {
                keep_probabilities: true,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert_eq!(pred.labels.geometry(), case.images[0].geometry());
    LabelScheme::brats2021()
        .check(pred.labels.data(), "prediction")
        .unwrap();
    let probs = pred.probabilities.unwrap();
    assert_eq!(probs.shape()[0], 4);
    assert!(probs
        .iter()
        .all(|v| v.is_finite() && (0.0..=1.0 + 1e-5).contains(v)));
    assert!(pred.region_probabilities.is_none(), "only when asked for");

    // Region probabilities on the case's grid: nested, in [0, 1], 0 outside the brain; with
    // the regions decision and no post-processing, each region's map is exactly where its
    // probability exceeds 0.5.
    let plain = unet3d::infer::PostprocessConfig {
        decision: unet3d::infer::Decision::Regions,
        min_component_mm3: 0,
        min_depth_mm: 0.0,
        et_to_core_below_mm3: 0,
        min_core_fragment_mm3: 0,
    };
    let regional = p
        .predict(
            &case.images,
            &PredictOptions {
                region_probabilities: true,
                postprocess: Some(plain),
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    let brain = brats_io::preprocess::brain_mask(&case.images);
    let maps = regional.region_probabilities.as_ref().unwrap();
    let scheme = LabelScheme::brats2021();
    let regions = [vec![1u8, 2, 4], vec![1, 4], vec![4]];
    let mut called = [0usize; 3];
    for (r, map) in maps.iter().enumerate() {
        assert_eq!(map.geometry(), case.images[0].geometry(), "region {r}");
        for ((&p, &b), &label) in map
            .as_slice()
            .iter()
            .zip(brain.iter())
            .zip(regional.labels.as_slice())
        {
            assert!((0.0..=1.0).contains(&p), "region {r}: {p}");
            assert!(b || p == 0.0, "region {r}: {p} outside the brain");
            assert_eq!(
                regions[r].contains(&label),
                p > 0.5,
                "region {r}: {p}, label {label}"
            );
            called[r] += usize::from(p > 0.5);
        }
    }
    assert!(called[0] > 0, "the tiny model calls some tumour");
    for (wt, (tc, et)) in maps[0]
        .as_slice()
        .iter()
        .zip(maps[1].as_slice().iter().zip(maps[2].as_slice()))
    {
        assert!(wt + 1e-6 >= *tc && tc + 1e-6 >= *et, "{wt} {tc} {et}");
    }
    scheme.check(regional.labels.data(), "prediction").unwrap();

    // Exported for shipping (half-precision weights): the same segmentation.
    let shipped = tempfile::tempdir().unwrap();
    let half_precision = ExportSettings {
        half: true,
        ..Default::default()
    };
    unet3d::checkpoint::export(dir.path(), Which::Best, shipped.path(), &half_precision).unwrap();
    let half = Predictor::load(shipped.path())
        .unwrap()
        .predict(&case.images, &PredictOptions::default(), &NoProgress)
        .unwrap();
    let same = half
        .labels
        .data()
        .iter()
        .zip(pred.labels.data().iter())
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same as f64 >= 0.999 * pred.labels.data().len() as f64,
        "{same}"
    );
    // Exported with calibrated post-processing: the thresholds travel with the model.
    let post = unet3d::infer::PostprocessConfig {
        decision: unet3d::infer::Decision::Regions,
        min_component_mm3: 7,
        min_depth_mm: 4.5,
        et_to_core_below_mm3: 11,
        min_core_fragment_mm3: 13,
    };
    unet3d::checkpoint::export(
        dir.path(),
        Which::Best,
        shipped.path(),
        &ExportSettings {
            postprocess: Some(post),
            ..half_precision
        },
    )
    .unwrap();
    let meta = Predictor::load(shipped.path()).unwrap().meta().clone();
    assert_eq!(meta.postprocess, post);
    // The run's window (no mirror TTA) unless the export says otherwise.
    assert!(!meta.window.mirror_tta);
    unet3d::checkpoint::export(
        dir.path(),
        Which::Best,
        shipped.path(),
        &ExportSettings {
            mirror_tta: Some(true),
            ..half_precision
        },
    )
    .unwrap();
    let meta = Predictor::load(shipped.path()).unwrap().meta().clone();
    assert!(meta.window.mirror_tta);
    assert_eq!(meta.window.roi, p.meta().window.roi);
    // The storage order the model sees, set at export (the run's: as stored).
    assert_eq!(meta.preprocess.orientation, None);
    unet3d::checkpoint::export(
        dir.path(),
        Which::Best,
        shipped.path(),
        &ExportSettings {
            orientation: Some(brats_io::Orientation::LPS),
            ..half_precision
        },
    )
    .unwrap();
    let meta = Predictor::load(shipped.path()).unwrap().meta().clone();
    assert_eq!(
        meta.preprocess.orientation,
        Some(brats_io::Orientation::LPS)
    );
    assert_eq!(
        meta.preprocess,
        brats_io::PreprocessConfig {
            orientation: Some(brats_io::Orientation::LPS),
            ..p.meta().preprocess
        }
    );

    // A case labelled in BraTS 2023's scheme (ET = 3) is segmented all the same, and its
    // truth comes back in the model's scheme (ET = 4) to compare with.
    let case23 = brats_io::Case {
        id: "c23".into(),
        images: case.images.clone(),
        seg: Some(case.seg.map(|&v| if v == 4 { 3 } else { v })),
        seg_scheme: None,
    };
    assert!(case.seg.data().iter().any(|&v| v == 4));
    let opts = PredictOptions::default();
    let pred = p.predict_case(&case23, &opts, &NoProgress).unwrap();
    assert_eq!(
        pred.labels.data(),
        p.predict(&case.images, &opts, &NoProgress)
            .unwrap()
            .labels
            .data()
    );
    let truth = p.truth_of(&case23).unwrap().unwrap();
    assert_eq!(truth.data(), case.seg.data());
    assert_eq!(truth.geometry(), case.seg.geometry());
    // A Decathlon case's labels (1 edema, 2 core, 3 ET) are the same values as BraTS
    // 2023's with core and edema swapped: the case says which they are, and its truth comes
    // back right, not guessed as BraTS 2023's.
    let decathlon = brats_io::LabelScheme::decathlon();
    let msd = brats_io::Case::new(
        "msd",
        case.images.clone(),
        Some(
            brats_io::Volume::new(
                brats_io::LabelScheme::brats2021()
                    .convert(case.seg.data(), &decathlon, "seg")
                    .unwrap(),
                case.seg.geometry().clone(),
            )
            .unwrap(),
        ),
    );
    let guessed = p.truth_of(&msd).unwrap().unwrap();
    assert_ne!(
        guessed.data(),
        case.seg.data(),
        "guessed as BraTS 2023: core and edema swapped"
    );
    let truth = p
        .truth_of(&msd.with_seg_scheme(decathlon))
        .unwrap()
        .unwrap();
    assert_eq!(truth.data(), case.seg.data());
    // A label map that fits no scheme is refused, naming the case.
    let odd = brats_io::Case {
        id: "odd".into(),
        images: case.images.clone(),
        seg: Some(case.seg.map(|&v| if v == 4 { 5 } else { v })),
        seg_scheme: None,
    };
    let err = p
        .predict_case(&odd, &opts, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("brats2021") && err.contains("case odd") && err.contains("fits neither"),
        "{err}"
    );

    // A stray half-written file from an interrupted save does not disturb loading.
    std::fs::write(dir.path().join("last-e0003.safetensors"), b"partial").unwrap();
    std::fs::write(dir.path().join(".tmp-abc"), b"partial").unwrap();
    Predictor::load_checkpoint(dir.path(), Which::Last, &Device::Cpu).unwrap();

    // Bad inputs.
    let zero = case.images[1].map(|_| 0.0f32);
    let mut imgs = case.images.clone();
    imgs[1] = zero;
    let err = p
        .predict(&imgs, &PredictOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(err.to_string().contains("T1 image is all zero"), "{err}");
    let err = p
        .predict(&case.images[..3], &PredictOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn mismatched_checkpoints_are_errors() {
    let cfg = tiny_config();
    let dir = tempfile::tempdir().unwrap();
    let mut one = cfg.clone();
    one.epochs = 1;
    one.iterations_per_epoch = 1;
    one.validation_interval = 0;
    Trainer::new(one, dir.path())
        .unwrap()
        .fit(&data(&cfg), false)
        .unwrap();
    let json = dir.path().join("last.json");
    let original = std::fs::read_to_string(&json).unwrap();
    // Config that does not match the weights.
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["model"]["filters"] = serde_json::json!([2, 4, 4, 8, 16]);
    std::fs::write(&json, meta.to_string()).unwrap();
    let err = Predictor::load_checkpoint(dir.path(), Which::Last, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, Error::Weight { name, problem } if name.starts_with("bottleneck") && problem.contains("expected shape")),
        "{err}"
    );
    // Another channel order.
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["channels"] = serde_json::json!(["T1", "FLAIR", "T1ce", "T2"]);
    std::fs::write(&json, meta.to_string()).unwrap();
    let err = Predictor::load_checkpoint(dir.path(), Which::Last, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("channels"), "{err}");
    // A post-processing depth below zero, named with the file.
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["postprocess"]["min_depth_mm"] = serde_json::json!(-2.0);
    std::fs::write(&json, meta.to_string()).unwrap();
    let err = Predictor::load_checkpoint(dir.path(), Which::Last, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("last.json") && err.contains("postprocess.min_depth_mm") && err.contains("-2"),
        "{err}"
    );
    // A decision that does not exist, named with the file and the choices.
    let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
    meta["postprocess"]["decision"] = serde_json::json!("majority");
    std::fs::write(&json, meta.to_string()).unwrap();
    let err = Predictor::load_checkpoint(dir.path(), Which::Last, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("last.json") && err.contains("majority") && err.contains("regions"),
        "{err}"
    );
    // Not a checkpoint at all.
    std::fs::write(&json, "{").unwrap();
    assert!(
        Predictor::load_checkpoint(dir.path(), Which::Last, &Device::Cpu)
            .unwrap_err()
            .to_string()
            .contains("not a checkpoint JSON")
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(Predictor::load(empty.path())
        .unwrap_err()
        .to_string()
        .contains("model folder"));
}

#[test]
fn bad_training_configs_and_data_are_errors() {
    let ok = tiny_config();
    type Edit = Box<dyn Fn(&mut TrainConfig)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("patch", Box::new(|c| c.patch = [20, 16, 16])),
        ("batch_size", Box::new(|c| c.batch_size = 0)),
        ("epochs", Box::new(|c| c.epochs = 0)),
        ("lr", Box::new(|c| c.optimizer.lr = f64::NAN)),
        (
            "loss",
            Box::new(|c| {
                c.loss.dice = 0.0;
                c.loss.focal = 0.0
            }),
        ),
        ("foreground_share", Box::new(|c| c.foreground_share = 1.5)),
        ("n_classes", Box::new(|c| c.model.n_classes = 3)),
        ("in_channels", Box::new(|c| c.model.in_channels = 3)),
        ("overlap", Box::new(|c| c.window.overlap = 1.0)),
        ("time_limit_s", Box::new(|c| c.time_limit_s = Some(-1.0))),
        (
            "negative_slope",
            Box::new(|c| c.model.activation = Activation::LeakyRelu(2.0)),
        ),
    ];
    for (field, edit) in cases {
        let mut c = ok.clone();
        edit(&mut c);
        let err = Trainer::new(c, "/nonexistent").unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");
    }
    // A training set without tumour.
    let healthy = PhantomConfig {
        tumour: false,
        ..tiny_phantom()
    };
    let err = TrainData::phantoms(2, 0, &healthy, 1, &ok, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("tumour"), "{err}");
    // A folder with no case.
    let empty = tempfile::tempdir().unwrap();
    assert!(TrainData::from_folder(
        empty.path(),
        &unet3d::train::Split::Fraction(0.2),
        &ok,
        &NoProgress
    )
    .is_err());
    // The other label scheme than the data's.
    let mut c23 = ok.clone();
    c23.scheme = LabelScheme::brats2023();
    let err = TrainData::phantoms(1, 0, &tiny_phantom(), 1, &c23, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("brats2021"), "{err}");
    let _ = Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu);
}

#[test]
fn synthetic_stream_trains_and_resumes_exactly() {
    let mut cfg = tiny_config();
    cfg.synthetic = Some(unet3d::train::StreamConfig {
        pool: 2,
        refresh: 1,
        seed: 3,
        ..Default::default()
    });
    cfg.validation_interval = 0;
    cfg.iterations_per_epoch = 1;
    // Fixed data is refused while `synthetic` is set, and the other way round.
    let err = Trainer::new(cfg.clone(), "/nonexistent")
        .unwrap()
        .fit(&TrainData::default(), false)
        .unwrap_err();
    assert!(
        err.to_string().contains("data") || err.to_string().contains("synthetic"),
        "{err}"
    );
    let err = Trainer::new(tiny_config(), "/nonexistent")
        .unwrap()
        .fit_synthetic(&[], false)
        .unwrap_err();
    assert!(err.to_string().contains("synthetic"), "{err}");
    let a = tempfile::tempdir().unwrap();
    let s = Trainer::new(cfg.clone(), a.path())
        .unwrap()
        .fit_synthetic(&[], false)
        .unwrap();
    assert_eq!((s.epochs, s.iterations), (2, 2));
    let b = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.epochs = 1;
    Trainer::new(first, b.path())
        .unwrap()
        .fit_synthetic(&[], false)
        .unwrap();
    Trainer::new(cfg.clone(), b.path())
        .unwrap()
        .fit_synthetic(&[], true)
        .unwrap();
    assert_eq!(weights(a.path()), weights(b.path()));
    // The stream's settings are part of the configuration a resume must match.
    let mut other = cfg.clone();
    if let Some(st) = other.synthetic.as_mut() {
        st.seed = 4;
    }
    let err = Trainer::new(other, b.path())
        .unwrap()
        .fit_synthetic(&[], true)
        .unwrap_err();
    assert!(
        err.to_string().contains("another training configuration"),
        "{err}"
    );
    // Bad stream settings name their field.
    let mut bad = cfg.clone();
    if let Some(st) = bad.synthetic.as_mut() {
        st.refresh = 5;
    }
    let err = Trainer::new(bad, "/nonexistent").unwrap_err();
    assert!(err.to_string().contains("synthetic.refresh"), "{err}");
}

/// Fine-tuning starts from another folder's best weights (so with a vanishing learning rate
/// it stays there), with its own fresh optimiser; another network, another label scheme or
/// a folder without a checkpoint are errors naming `init` or the file.
#[test]
fn init_fine_tunes_from_another_model_folder() {
    let cfg = tiny_config();
    let data = data(&cfg);
    let a = tempfile::tempdir().unwrap();
    Trainer::new(cfg.clone(), a.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    let (_, best) = read_meta(a.path(), Which::Best).unwrap();
    let start: HashMap<String, Vec<f32>> =
        load_tensors(&a.path().join(&best.weights), &Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
    let mut tune = cfg.clone();
    tune.init = Some(a.path().to_path_buf());
    tune.epochs = 1;
    tune.optimizer.lr = 1e-12;
    let b = tempfile::tempdir().unwrap();
    let s = Trainer::new(tune.clone(), b.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    assert_eq!(s.iterations, 2, "a fresh schedule");
    let tuned = weights(b.path());
    assert_eq!(tuned.len(), start.len());
    for (name, w) in &start {
        let max = w
            .iter()
            .zip(&tuned[name])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(max < 1e-6, "{name}: moved {max}");
    }
    // Without init, the same settings start elsewhere.
    let mut fresh = tune.clone();
    fresh.init = None;
    let c = tempfile::tempdir().unwrap();
    Trainer::new(fresh, c.path())
        .unwrap()
        .fit(&data, false)
        .unwrap();
    assert_ne!(weights(c.path()), tuned);
    // Another network.
    let mut other = tune.clone();
    other.model.filters = [2, 4, 8, 8, 16];
    let err = Trainer::new(other, tempfile::tempdir().unwrap().path())
        .unwrap()
        .fit(&data, false)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "init"),
        "{err}"
    );
    assert!(err.to_string().contains("another network"), "{err}");
    // Another label scheme.
    let mut other = tune.clone();
    other.scheme = LabelScheme::brats2023();
    let err = Trainer::new(other, tempfile::tempdir().unwrap().path())
        .unwrap()
        .fit(&data, false)
        .unwrap_err();
    assert!(err.to_string().contains("label scheme"), "{err}");
    // No checkpoint there.
    let empty = tempfile::tempdir().unwrap();
    let mut other = tune;
    other.init = Some(empty.path().to_path_buf());
    let err = Trainer::new(other, tempfile::tempdir().unwrap().path())
        .unwrap()
        .fit(&data, false)
        .unwrap_err();
    assert!(err.to_string().contains("last.json"), "{err}");
}

/// Validation reports its Dice per group of cases as well as overall; the overall mean is
/// the case-weighted mean of the groups', and ungrouped cases leave the history as before.
#[test]
fn validation_is_broken_down_by_case_group() {
    let mut cfg = tiny_config();
    cfg.epochs = 1;
    let plain = TrainData::phantoms(2, 3, &tiny_phantom(), 11, &cfg, &NoProgress).unwrap();
    let mut grouped = plain.clone();
    for (c, g) in grouped
        .validation
        .iter_mut()
        .zip(["random", "realistic", "random"])
    {
        c.group = Some(g.to_string());
    }
    let a = tempfile::tempdir().unwrap();
    Trainer::new(cfg.clone(), a.path())
        .unwrap()
        .fit(&plain, false)
        .unwrap();
    let b = tempfile::tempdir().unwrap();
    Trainer::new(cfg.clone(), b.path())
        .unwrap()
        .fit(&grouped, false)
        .unwrap();
    let (_, ma) = read_meta(a.path(), Which::Last).unwrap();
    let (_, mb) = read_meta(b.path(), Which::Last).unwrap();
    let (ra, rb) = (&ma.history[0], &mb.history[0]);
    assert!(ra.val_groups.is_empty());
    let history = std::fs::read_to_string(a.path().join("history.json")).unwrap();
    assert!(!history.contains("val_groups"), "{history}");
    // Groups do not change what is trained or the overall score.
    assert_eq!(ra.val_dice, rb.val_dice);
    let names: Vec<(&str, usize)> = rb
        .val_groups
        .iter()
        .map(|g| (g.group.as_str(), g.cases))
        .collect();
    assert_eq!(names, [("random", 2), ("realistic", 1)]);
    let all = rb.val_dice.unwrap();
    for (i, overall) in all.iter().enumerate() {
        let weighted = (2.0 * rb.val_groups[0].dice[i] + rb.val_groups[1].dice[i]) / 3.0;
        assert!((weighted - overall).abs() < 1e-9, "{weighted} vs {overall}");
    }
    let history = std::fs::read_to_string(b.path().join("history.json")).unwrap();
    assert!(history.contains("\"realistic\""), "{history}");
}

/// A model whose preprocessing names an orientation segments a head the same whatever
/// order its files store it in; the map comes back in each file's own order and grid.
#[test]
fn a_model_with_an_orientation_segments_every_storage_order_alike() {
    use brats_io::{Orientation, Reorientation, Volume};
    let mut cfg = tiny_config();
    cfg.epochs = 1;
    let data = data(&cfg);
    let as_stored = fitted(&cfg, &data);
    cfg.preprocess.orientation = Some(Orientation::LPS);
    let lps = fitted(&cfg, &data);
    // The phantoms are stored LPS, so both runs trained on the same arrays.
    assert_eq!(weights(as_stored.path()), weights(lps.path()));
    let (as_stored, lps) = (
        Predictor::load(as_stored.path()).unwrap(),
        Predictor::load(lps.path()).unwrap(),
    );
    assert_eq!(lps.meta().preprocess.orientation, Some(Orientation::LPS));

    let case = tiny_phantom().check().unwrap().generate(99).unwrap();
    assert_eq!(case.images[0].geometry().orientation(), "LPS");
    let opts = PredictOptions {
        keep_probabilities: true,
        region_probabilities: true,
        window: Some(SlidingWindowConfig {
            mirror_tta: false,
            ..cfg.window
        }),
        ..Default::default()
    };
    let reference = lps.predict(&case.images, &opts, &NoProgress).unwrap();
    let reference_maps = reference.region_probabilities.as_ref().unwrap();
    for code in ["RAS", "SPL"] {
        let to = Reorientation::new(case.images[0].geometry(), code.parse().unwrap()).unwrap();
        let images: Vec<_> = case
            .images
            .iter()
            .map(|v| Volume::new(to.view(v.data().view()).to_owned(), to.grid().clone()).unwrap())
            .collect();
        let pred = lps.predict(&images, &opts, &NoProgress).unwrap();
        assert_eq!(pred.labels.geometry(), images[0].geometry(), "{code}");
        let expected = to.view(reference.labels.data().view());
        assert_eq!(pred.labels.data().view(), expected, "{code}");
        assert_eq!(pred.probabilities, reference.probabilities, "{code}");
        assert_eq!(pred.confidence, reference.confidence, "{code}");
        // The region probabilities come back in the file's own order too.
        for (map, reference) in pred
            .region_probabilities
            .as_ref()
            .unwrap()
            .iter()
            .zip(reference_maps)
        {
            assert_eq!(map.geometry(), images[0].geometry(), "{code}");
            assert_eq!(
                map.data().view(),
                to.view(reference.data().view()),
                "{code}"
            );
        }
        // The same weights without the orientation see another array.
        let other = as_stored.predict(&images, &opts, &NoProgress).unwrap();
        assert_ne!(other.probabilities, reference.probabilities, "{code}");
    }
}

/// Every prediction reports the volume of the brain mask it was confined to; a mask larger
/// than any brain says the scan looks not skull-stripped, and FLAIR and T2 swapped are
/// flagged too.
#[test]
fn input_checks_flag_unstripped_scans_swapped_flair_t2_and_a_moved_image() {
    let mut cfg = tiny_config();
    cfg.epochs = 1;
    let run = fitted(&cfg, &data(&cfg));
    let p = Predictor::load(run.path()).unwrap();
    let case = tiny_phantom().check().unwrap().generate(99).unwrap();
    let brain = brats_io::preprocess::brain_mask(&case.images);
    let voxels = brain.iter().filter(|&&b| b).count() as f64;
    let opts = PredictOptions::default();
    let pred = p.predict(&case.images, &opts, &NoProgress).unwrap();
    let mm3 = case.images[0].geometry().voxel_volume_mm3();
    assert!((pred.input.brain_cm3 - voxels * mm3 / 1000.0).abs() < 1e-9);
    assert!(pred.input.brain_cm3 < brats_io::quality::LARGEST_BRAIN_CM3);
    assert_eq!(pred.input.not_skull_stripped(), None);
    assert!(pred.input_warnings().is_empty(), "{:?}", pred.input);
    // FLAIR and T2 swapped: the map is still made, and the input check says why to doubt it.
    let mut swapped = case.images.clone();
    swapped.swap(0, 3);
    let pred = p.predict(&swapped, &opts, &NoProgress).unwrap();
    let why = pred.input.flair_t2_swapped().unwrap();
    assert_eq!(pred.input_warnings(), vec![why]);
    // T1ce's content 3 voxels off along i (inside the same brain mask): the map is made, and
    // the check names the image and the shift.
    let mut moved = case.images.clone();
    let t1ce = moved[2].data().clone();
    let g = moved[2].geometry().clone();
    let ni = t1ce.shape()[2];
    let data = ndarray::Array3::from_shape_fn(t1ce.dim(), |(k, j, i)| {
        if case.images[2].data()[[k, j, i]] == 0.0 {
            0.0
        } else {
            t1ce[[k, j, (i + ni - 3) % ni]]
        }
    });
    moved[2] = brats_io::Volume::new(data, g).unwrap();
    let pred = p.predict(&moved, &opts, &NoProgress).unwrap();
    let sp = case.images[0].geometry().spacing()[0];
    assert_eq!(
        pred.input.shift_mm.unwrap()[2],
        [3.0 * sp, 0.0, 0.0],
        "{:?}",
        pred.input
    );
    let why = pred.input.misregistered().unwrap();
    assert!(why.contains("T1ce by"), "{why}");
    assert_eq!(pred.input_warnings(), vec![why]);
    // The same arrays on 4 mm voxels: a head-sized block, 64 times the volume.
    let big: Vec<_> = case
        .images
        .iter()
        .map(|v| {
            let g = brats_io::Geometry::from_spacing(v.geometry().dim(), [4.0; 3]).unwrap();
            brats_io::Volume::new(v.data().clone(), g).unwrap()
        })
        .collect();
    let pred = p.predict(&big, &opts, &NoProgress).unwrap();
    assert!((pred.input.brain_cm3 - voxels * 64.0 / 1000.0).abs() < 1e-6);
    assert!(
        pred.input.brain_cm3 > brats_io::quality::LARGEST_BRAIN_CM3,
        "{}",
        pred.input.brain_cm3
    );
    let why = pred.input.not_skull_stripped().unwrap();
    assert!(
        why.contains("not skull-stripped") && why.contains("cm³"),
        "{why}"
    );
}
