//! The device option: parsed from `cpu`, `cuda`, `cuda:N`, `metal`; a backend this build
//! lacks is a named error, never a panic; the CPU path loads the shipped model.

use unet3d::predict::{default_model_dir, Predictor};
use unet3d::train::{DeviceSpec, TrainConfig};

#[test]
fn device_names_parse_and_print() {
    for (text, spec) in [
        ("cpu", DeviceSpec::Cpu),
        ("CUDA", DeviceSpec::Cuda(0)),
        ("cuda:3", DeviceSpec::Cuda(3)),
        ("metal", DeviceSpec::Metal),
    ] {
        let parsed: DeviceSpec = text.parse().unwrap();
        assert_eq!(parsed, spec);
        assert_eq!(parsed.to_string().parse::<DeviceSpec>().unwrap(), spec);
    }
    for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", ""] {
        let err = bad.parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(
            err.contains("device") && err.contains("expected cpu, cuda, cuda:N or metal"),
            "{err}"
        );
    }
    // The training config carries it (JSON as in a checkpoint).
    let mut cfg = unet3d::presets::fast();
    cfg.device = DeviceSpec::Cuda(1);
    let back: TrainConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back.device, DeviceSpec::Cuda(1));
}

#[test]
fn a_backend_this_build_lacks_is_a_named_error() {
    #[cfg(not(feature = "cuda"))]
    {
        let err = DeviceSpec::Cuda(0).device().unwrap_err().to_string();
        assert!(err.contains("device") && err.contains("cuda:0"), "{err}");
        let err = Predictor::load_on(default_model_dir().unwrap(), DeviceSpec::Cuda(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cuda:0"), "{err}");
    }
    #[cfg(not(feature = "metal"))]
    assert!(DeviceSpec::Metal.device().is_err());
    assert!(Predictor::load_on(default_model_dir().unwrap(), DeviceSpec::Cpu).is_ok());
}
