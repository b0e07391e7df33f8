//! The U-Net reproduces the PyTorch reference module's probabilities from the same weights
//! (tests/fixtures/unet_small, made by make_torch_fixtures.py with filters 2-4-8-16-32).

use candle_core::{DType, Device, Tensor};
use unet3d::{Error, UNet3d, UNet3dConfig};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/unet_small");

#[test]
fn probabilities_match_pytorch() {
    let dev = Device::Cpu;
    let cfg = UNet3dConfig::from_json_file(format!("{DIR}/config.json")).unwrap();
    assert_eq!(cfg.config().filters, [2, 4, 8, 16, 32]);
    let net = UNet3d::load(format!("{DIR}/weights.safetensors"), &cfg, &dev).unwrap();
    let x = Tensor::read_npy(format!("{DIR}/input.npy"))
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let want = Tensor::read_npy(format!("{DIR}/probabilities.npy"))
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    let got = net.probabilities(&x).unwrap();
    assert_eq!(got.dims(), want.dims());
    let diff = (got - want)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-4, "max |Δp| = {diff}");
}

#[test]
fn default_config_is_the_seed_network() {
    let cfg = UNet3dConfig::default();
    assert_eq!(cfg.filters, [16, 32, 64, 128, 256]);
    assert_eq!((cfg.in_channels, cfg.n_classes), (4, 4));
    assert_eq!(cfg.encoder_dropout, [0.1, 0.1, 0.2, 0.2, 0.3]);
    assert_eq!(cfg.decoder_dropout, [0.2, 0.2, 0.1, 0.1]);
    let params: usize = cfg
        .parameter_shapes()
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    // sum(p.numel() for p in unet3d_reference.UNet3D().parameters()) == 5646260
    assert_eq!(params, 5_646_260);
}

#[test]
fn bad_weights_and_inputs_are_errors() {
    let dev = Device::Cpu;
    let cfg = UNet3dConfig::from_json_file(format!("{DIR}/config.json")).unwrap();
    let tmp = std::env::temp_dir().join(format!("unet3d-bad-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut tensors =
        candle_core::safetensors::load(format!("{DIR}/weights.safetensors"), &dev).unwrap();
    tensors.remove("dec2.conv1.weight");
    candle_core::safetensors::save(&tensors, tmp.join("missing.safetensors")).unwrap();
    let e = UNet3d::load(tmp.join("missing.safetensors"), &cfg, &dev).unwrap_err();
    assert!(
        matches!(e, Error::Weight { ref name, .. } if name == "dec2.conv1.weight"),
        "{e}"
    );
    tensors.insert(
        "dec2.conv1.weight".into(),
        Tensor::zeros((4, 8, 3, 3, 1), DType::F32, &dev).unwrap(),
    );
    candle_core::safetensors::save(&tensors, tmp.join("shape.safetensors")).unwrap();
    let e = UNet3d::load(tmp.join("shape.safetensors"), &cfg, &dev).unwrap_err();
    assert!(
        e.to_string().contains("dec2.conv1.weight")
            && e.to_string().contains("[4, 8, 3, 3, 3]")
            && e.to_string().contains("[4, 8, 3, 3, 1]"),
        "{e}"
    );
    std::fs::write(tmp.join("junk.safetensors"), b"not safetensors").unwrap();
    assert!(matches!(
        UNet3d::load(tmp.join("junk.safetensors"), &cfg, &dev),
        Err(Error::File { .. })
    ));
    let _ = std::fs::remove_dir_all(&tmp);

    let net = UNet3d::load(format!("{DIR}/weights.safetensors"), &cfg, &dev).unwrap();
    for shape in [
        vec![1, 3, 16, 16, 16],
        vec![1, 4, 16, 16, 8],
        vec![4, 16, 16, 16],
    ] {
        let x = Tensor::zeros(shape.as_slice(), DType::F32, &dev).unwrap();
        assert!(
            matches!(net.probabilities(&x), Err(Error::Shape { .. })),
            "{shape:?}"
        );
    }
    let bad = UNet3dConfig {
        filters: [2, 0, 8, 16, 32],
        ..cfg.config().clone()
    };
    assert!(bad.check().unwrap_err().to_string().contains("filters"));
    let bad = UNet3dConfig {
        encoder_dropout: [0.1, 1.0, 0.2, 0.2, 0.3],
        ..cfg.config().clone()
    };
    assert!(bad.check().unwrap_err().to_string().contains("dropout"));
}

#[test]
fn options_change_the_network_as_documented() {
    use unet3d::{Activation, Mode, Norm, Output};
    let dev = Device::Cpu;
    let cfg = UNet3dConfig {
        filters: [2, 4, 4, 8, 8],
        norm: Norm::Instance,
        activation: Activation::LeakyRelu(0.01),
        deep_supervision: true,
        final_activation: Output::SigmoidRegions,
        n_classes: 3,
        ..UNet3dConfig::default()
    };
    // The activation is two flat JSON keys, as the reference script writes them.
    let json = serde_json::to_value(&cfg).unwrap();
    assert_eq!(json["activation"], "leaky_relu");
    assert_eq!(json["negative_slope"].as_f64(), Some(f64::from(0.01f32)));
    assert_eq!(serde_json::from_value::<UNet3dConfig>(json).unwrap(), cfg);
    let parsed: UNet3dConfig = serde_json::from_str(
        r#"{"in_channels": 4, "n_classes": 4, "filters": [2, 4, 4, 8, 8],
            "activation": "leaky_relu", "negative_slope": 0.2}"#,
    )
    .unwrap();
    assert_eq!(parsed.activation, Activation::LeakyRelu(0.2));
    let names: Vec<String> = cfg.parameter_shapes().into_iter().map(|(n, _)| n).collect();
    for n in [
        "enc1.norm1.weight",
        "dec1.norm2.bias",
        "ds3.weight",
        "ds2.bias",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing");
    }
    let cfg = cfg.check().unwrap();
    let t = UNet3d::init_tensors(&cfg, 3, &dev).unwrap();
    assert_eq!(t.len(), names.len());
    let net = UNet3d::new(
        &cfg,
        candle_nn::VarBuilder::from_tensors(t.into_iter().collect(), DType::F32, &dev),
    )
    .unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 4, 16, 32, 16), &dev).unwrap();
    let outs = net.forward_all(&x, Mode::Train { seed: 1 }).unwrap();
    assert_eq!(outs.len(), 3);
    assert_eq!(outs[0].dims(), &[2, 3, 16, 32, 16]);
    assert_eq!(outs[1].dims(), &[2, 3, 4, 8, 4]);
    assert_eq!(outs[2].dims(), &[2, 3, 8, 16, 8]);
    // Sigmoid output: independent probabilities, not summing to one.
    let p = net.probabilities(&x).unwrap();
    let v: Vec<f32> = p.flatten_all().unwrap().to_vec1().unwrap();
    assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
    // Same seed, same weights; another seed, others.
    let a = UNet3d::init_tensors(&cfg, 3, &dev).unwrap();
    let b = UNet3d::init_tensors(&cfg, 4, &dev).unwrap();
    let w = |t: &[(String, Tensor)]| t[0].1.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(w(&a), w(&UNet3d::init_tensors(&cfg, 3, &dev).unwrap()));
    assert_ne!(w(&a), w(&b));
    // Dropout masks follow the seed.
    let cfg_d = UNet3dConfig {
        filters: [2, 4, 4, 8, 8],
        ..UNet3dConfig::default()
    }
    .check()
    .unwrap();
    let net = UNet3d::new(
        &cfg_d,
        candle_nn::VarBuilder::from_tensors(
            UNet3d::init_tensors(&cfg_d, 0, &dev)
                .unwrap()
                .into_iter()
                .collect(),
            DType::F32,
            &dev,
        ),
    )
    .unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, 4, 16, 16, 16), &dev).unwrap();
    let run = |seed| {
        net.forward_all(&x, Mode::Train { seed })
            .unwrap()
            .remove(0)
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
    // Invalid options are errors naming the field.
    let bad = UNet3dConfig {
        final_activation: Output::SigmoidRegions,
        ..UNet3dConfig::default()
    };
    assert!(bad.check().unwrap_err().to_string().contains("n_classes"));
    let bad = UNet3dConfig {
        activation: Activation::LeakyRelu(-0.1),
        ..UNet3dConfig::default()
    };
    assert!(bad
        .check()
        .unwrap_err()
        .to_string()
        .contains("negative_slope"));
    // The reference script's config (no option keys) still parses as the seed's network.
    let seed: UNet3dConfig = serde_json::from_str(
        r#"{"in_channels": 4, "n_classes": 4, "filters": [16, 32, 64, 128, 256]}"#,
    )
    .unwrap();
    assert_eq!(seed, UNet3dConfig::default());
}
