//! The 3D ops — fast CPU path and device-generic path — against PyTorch (fixture and script
//! in tests/fixtures/): forward within 1e-4 absolute, gradients within 1e-3 relative; the
//! two paths against each other (fused epilogues, dropout, pooling ties); finite
//! differences; bad inputs.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use unet3d::{
    conv3d, conv3d_fused, conv3d_generic, conv_transpose3d, conv_transpose3d_generic,
    dropout_seeded, max_pool3d, max_pool3d_generic, Activation, Conv3dConfig, DropMask, Epilogue,
    Error,
};

fn fixtures() -> HashMap<String, Tensor> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ops.safetensors"
    );
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Largest |a − b| relative to the largest |b| (gradients can be near zero elementwise).
fn rel(a: &Tensor, b: &Tensor) -> f32 {
    let scale = b
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        .max(1e-6);
    max_abs(a, b) / scale
}

type Op = Box<dyn Fn(&Tensor, Option<&Tensor>, Option<&Tensor>) -> unet3d::Result<Tensor>>;

fn check(name: &str, op: Op) {
    let f = fixtures();
    let get = |k: &str| f.get(&format!("{name}.{k}")).cloned();
    let x = Var::from_tensor(&get("x").unwrap()).unwrap();
    let w = get("w").map(|t| Var::from_tensor(&t).unwrap());
    let b = get("b").map(|t| Var::from_tensor(&t).unwrap());
    let y = op(
        x.as_tensor(),
        w.as_ref().map(|v| v.as_tensor()),
        b.as_ref().map(|v| v.as_tensor()),
    )
    .unwrap();
    let fwd = max_abs(&y, &get("y").unwrap());
    assert!(fwd < 1e-4, "{name}: forward differs from PyTorch by {fwd}");
    let loss = (y * get("g").unwrap()).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let dx = rel(grads.get(x.as_tensor()).unwrap(), &get("dx").unwrap());
    assert!(dx < 1e-3, "{name}: d/dx differs by {dx} (relative)");
    if let Some(w) = &w {
        let dw = rel(grads.get(w.as_tensor()).unwrap(), &get("dw").unwrap());
        assert!(dw < 1e-3, "{name}: d/dw differs by {dw} (relative)");
    }
    if let Some(b) = &b {
        let db = rel(grads.get(b.as_tensor()).unwrap(), &get("db").unwrap());
        assert!(db < 1e-3, "{name}: d/db differs by {db} (relative)");
    }
}

#[test]
fn conv3d_matches_pytorch() {
    for (name, stride, padding) in [
        ("conv_k3s1p1", 1, 1),
        ("conv_k3s2p1", 2, 1),
        ("conv_k1s1p0", 1, 0),
        ("conv_k3s1p0_nobias", 1, 0),
    ] {
        let cfg = Conv3dConfig { stride, padding };
        check(name, Box::new(move |x, w, b| conv3d(x, w.unwrap(), b, cfg)));
        check(
            name,
            Box::new(move |x, w, b| conv3d_generic(x, w.unwrap(), b, cfg)),
        );
    }
}

#[test]
fn conv_transpose3d_matches_pytorch() {
    check(
        "convt_k2s2",
        Box::new(|x, w, b| conv_transpose3d(x, w.unwrap(), b)),
    );
    check(
        "convt_k2s2",
        Box::new(|x, w, b| conv_transpose3d_generic(x, w.unwrap(), b)),
    );
}

#[test]
fn max_pool3d_matches_pytorch() {
    check("maxpool_k2s2", Box::new(|x, _, _| max_pool3d(x, 2)));
    check("maxpool_k2s2", Box::new(|x, _, _| max_pool3d_generic(x, 2)));
    // [[1,2],[3,4]]-style window: the gradient is 1 at the maximum (candle's max_pool2d
    // backward gives 1/k² there, which is why pooling is a reshape + max).
    let x = Var::from_tensor(
        &Tensor::arange(0f32, 8.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 2, 2, 2))
            .unwrap(),
    )
    .unwrap();
    let y = max_pool3d(x.as_tensor(), 2).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    let g = g
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(g, [0., 0., 0., 0., 0., 0., 0., 1.]);
    // Odd sizes floor like PyTorch.
    let odd = Tensor::zeros((1, 2, 5, 4, 7), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_pool3d(&odd, 2).unwrap().dims(), &[1, 2, 2, 2, 3]);
}

#[test]
fn conv3d_gradient_matches_finite_differences_in_f64() {
    let dev = Device::Cpu;
    let x0: Vec<f64> = (0..2 * 2 * 3 * 4 * 3)
        .map(|v| ((v * 37 % 17) as f64 - 8.0) / 5.0)
        .collect();
    let w: Vec<f64> = (0..3 * 2 * 27)
        .map(|v| ((v * 11 % 13) as f64 - 6.0) / 10.0)
        .collect();
    let w = Tensor::from_vec(w, (3, 2, 3, 3, 3), &dev).unwrap();
    let cfg = Conv3dConfig {
        stride: 2,
        padding: 1,
    };
    let f = |x: &[f64]| -> f64 {
        let t = Tensor::from_vec(x.to_vec(), (2, 2, 3, 4, 3), &dev).unwrap();
        conv3d(&t, &w, None, cfg)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let var =
        Var::from_tensor(&Tensor::from_vec(x0.clone(), (2, 2, 3, 4, 3), &dev).unwrap()).unwrap();
    let l = conv3d(var.as_tensor(), &w, None, cfg)
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap();
    let g = l
        .backward()
        .unwrap()
        .get(var.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for (i, gi) in g.iter().enumerate() {
        let (mut p, mut m) = (x0.clone(), x0.clone());
        p[i] += 1e-6;
        m[i] -= 1e-6;
        let fd = (f(&p) - f(&m)) / 2e-6;
        assert!(
            (fd - gi).abs() <= 1e-6 * fd.abs().max(1.0),
            "x[{i}]: {gi} vs {fd}"
        );
    }
}

#[test]
fn bad_inputs_are_errors() {
    let dev = Device::Cpu;
    let z = |s: &[usize]| Tensor::zeros(s, DType::F32, &dev).unwrap();
    let cfg = Conv3dConfig {
        stride: 1,
        padding: 1,
    };
    let e = conv3d(&z(&[1, 3, 4, 4]), &z(&[2, 3, 3, 3, 3]), None, cfg).unwrap_err();
    assert!(
        matches!(e, Error::Shape { .. }) && e.to_string().contains("rank 5"),
        "{e}"
    );
    assert!(
        conv3d(&z(&[1, 3, 4, 4, 4]), &z(&[2, 4, 3, 3, 3]), None, cfg)
            .unwrap_err()
            .to_string()
            .contains("input channels")
    );
    assert!(
        conv3d(&z(&[1, 3, 4, 4, 4]), &z(&[2, 3, 3, 1, 3]), None, cfg)
            .unwrap_err()
            .to_string()
            .contains("cubic")
    );
    assert!(conv3d(
        &z(&[1, 3, 4, 4, 4]),
        &z(&[2, 3, 3, 3, 3]),
        Some(&z(&[3])),
        cfg
    )
    .unwrap_err()
    .to_string()
    .contains("bias"));
    assert!(conv3d(
        &z(&[1, 3, 1, 4, 4]),
        &z(&[2, 3, 5, 5, 5]),
        None,
        Conv3dConfig::default()
    )
    .is_err());
    assert!(matches!(
        conv3d(
            &z(&[1, 3, 4, 4, 4]),
            &z(&[2, 3, 3, 3, 3]),
            None,
            Conv3dConfig {
                stride: 0,
                padding: 1
            }
        ),
        Err(Error::Config { .. })
    ));
    assert!(conv_transpose3d(&z(&[1, 3, 2, 2, 2]), &z(&[4, 2, 2, 2, 2]), None).is_err());
    assert!(max_pool3d(&z(&[1, 1, 1, 4, 4]), 2).is_err());
    assert!(max_pool3d(&z(&[1, 4, 4, 4]), 2).is_err());
}

/// The fast CPU path and the device-generic path agree on values and gradients.
#[test]
fn fast_and_generic_paths_agree() {
    let dev = Device::Cpu;
    for (shape, k, p) in [
        ([2usize, 3, 5, 6, 7], 3usize, 1usize),
        ([1, 4, 4, 4, 4], 1, 0),
        ([1, 2, 6, 5, 4], 3, 0),
        ([1, 2, 3, 3, 3], 3, 2),
        ([2, 3, 3, 4, 2], 1, 1),
    ] {
        let x =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, shape.as_slice(), &dev).unwrap()).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, shape[1], k, k, k), &dev).unwrap())
            .unwrap();
        let b = Tensor::randn(0f32, 1.0, 3, &dev).unwrap();
        let cfg = Conv3dConfig {
            stride: 1,
            padding: p,
        };
        let fast = conv3d(x.as_tensor(), w.as_tensor(), Some(&b), cfg).unwrap();
        let slow = conv3d_generic(x.as_tensor(), w.as_tensor(), Some(&b), cfg).unwrap();
        assert!(
            max_abs(&fast, &slow) < 1e-4,
            "{shape:?} k{k} p{p}: {}",
            max_abs(&fast, &slow)
        );
        let g = Tensor::randn(0f32, 1.0, fast.dims(), &dev).unwrap();
        let gf = (fast * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (slow * &g).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &w] {
            let (a, b) = (
                gf.get(v.as_tensor()).unwrap(),
                gs.get(v.as_tensor()).unwrap(),
            );
            assert!(
                rel(a, b) < 1e-4,
                "{shape:?}: gradients differ by {}",
                rel(a, b)
            );
        }
    }
}

fn grads_of(y: &Tensor, g: &Tensor, vars: &[&Var]) -> Vec<Tensor> {
    let store = (y * g).unwrap().sum_all().unwrap().backward().unwrap();
    vars.iter()
        .map(|v| store.get(v.as_tensor()).unwrap().clone())
        .collect()
}

/// Bias, (leaky) ReLU and dropout fused into the CPU convolution give the values and
/// gradients of the same steps composed on the generic path, with the same dropped elements.
#[test]
fn fused_epilogues_match_the_composition() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 6, 5, 7), &dev).unwrap()).unwrap();
    let w = Var::from_tensor(&Tensor::randn(0f32, 0.3, (4, 3, 3, 3, 3), &dev).unwrap()).unwrap();
    let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, 4, &dev).unwrap()).unwrap();
    let cfg = Conv3dConfig {
        stride: 1,
        padding: 1,
    };
    for epi in [
        Epilogue::default(),
        Epilogue {
            activation: Activation::Relu,
            dropout: None,
        },
        Epilogue {
            activation: Activation::LeakyRelu(0.1),
            dropout: None,
        },
        Epilogue {
            activation: Activation::Relu,
            dropout: Some((0.3, 7)),
        },
        Epilogue {
            activation: Activation::LeakyRelu(0.01),
            dropout: Some((0.5, 9)),
        },
        Epilogue {
            activation: Activation::Identity,
            dropout: Some((0.2, 3)),
        },
    ] {
        let fast =
            conv3d_fused(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), cfg, epi).unwrap();
        let pre = conv3d_generic(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), cfg).unwrap();
        let act = epi.activation.apply(&pre).unwrap();
        let slow = match epi.dropout {
            Some((p, seed)) => {
                let m = DropMask::new(act.elem_count(), p, seed).unwrap();
                unet3d::ops::dropout::dropout_generic(&act, &m).unwrap()
            }
            None => act,
        };
        assert!(
            max_abs(&fast, &slow) < 1e-4,
            "{epi:?}: {}",
            max_abs(&fast, &slow)
        );
        if let Some((p, _)) = epi.dropout {
            let v: Vec<f32> = fast.flatten_all().unwrap().to_vec1().unwrap();
            let zero = v.iter().filter(|&&a| a == 0.0).count() as f32 / v.len() as f32;
            assert!(zero >= p - 0.05, "{epi:?}: only {zero} zeros");
        }
        let g = Tensor::randn(0f32, 1.0, fast.dims(), &dev).unwrap();
        let gf = grads_of(&fast, &g, &[&x, &w, &b]);
        let gs = grads_of(&slow, &g, &[&x, &w, &b]);
        for (i, (a, s)) in gf.iter().zip(&gs).enumerate() {
            assert!(rel(a, s) < 1e-4, "{epi:?} gradient {i}: {}", rel(a, s));
        }
    }
    // Slopes outside [0, 1) and dropout of 1 are refused.
    for epi in [
        Epilogue {
            activation: Activation::LeakyRelu(-0.1),
            dropout: None,
        },
        Epilogue {
            activation: Activation::Relu,
            dropout: Some((1.0, 0)),
        },
    ] {
        assert!(matches!(
            conv3d_fused(x.as_tensor(), w.as_tensor(), None, cfg, epi),
            Err(Error::Config { .. })
        ));
    }
}

/// The CPU dropout op and the generic product drop the same elements, forward and backward.
#[test]
fn dropout_paths_agree() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, 2, 9, 8, 7), &dev).unwrap()).unwrap();
    let fast = dropout_seeded(x.as_tensor(), 0.4, 11).unwrap();
    let m = DropMask::new(x.elem_count(), 0.4, 11).unwrap();
    let slow = unet3d::ops::dropout::dropout_generic(x.as_tensor(), &m).unwrap();
    assert_eq!(max_abs(&fast, &slow), 0.0);
    let g = Tensor::randn(0f32, 1.0, fast.dims(), &dev).unwrap();
    let (a, b) = (grads_of(&fast, &g, &[&x]), grads_of(&slow, &g, &[&x]));
    assert_eq!(max_abs(&a[0], &b[0]), 0.0);
    // The same seed gives the same mask; another seed another one.
    let again = dropout_seeded(x.as_tensor(), 0.4, 11).unwrap();
    assert_eq!(max_abs(&fast, &again), 0.0);
    let other = dropout_seeded(x.as_tensor(), 0.4, 12).unwrap();
    assert!(max_abs(&fast, &other) > 0.0);
}

/// Pooling and transposed convolution: CPU op against the generic path, including odd
/// sizes, a batch of two, and windows whose maximum appears twice (the fast op gives the
/// gradient to the first, as PyTorch; values agree everywhere).
#[test]
fn pool_and_transposed_paths_agree() {
    let dev = Device::Cpu;
    for shape in [[2usize, 3, 6, 4, 8], [1, 2, 5, 7, 3]] {
        let x =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, shape.as_slice(), &dev).unwrap()).unwrap();
        let fast = max_pool3d(x.as_tensor(), 2).unwrap();
        let slow = max_pool3d_generic(x.as_tensor(), 2).unwrap();
        assert_eq!(max_abs(&fast, &slow), 0.0, "{shape:?}");
        let g = Tensor::randn(0f32, 1.0, fast.dims(), &dev).unwrap();
        let (a, b) = (grads_of(&fast, &g, &[&x]), grads_of(&slow, &g, &[&x]));
        assert!(max_abs(&a[0], &b[0]) < 1e-6, "{shape:?}");

        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (shape[1], 4, 2, 2, 2), &dev).unwrap())
            .unwrap();
        let bias = Var::from_tensor(&Tensor::randn(0f32, 1.0, 4, &dev).unwrap()).unwrap();
        let fast = conv_transpose3d(x.as_tensor(), w.as_tensor(), Some(bias.as_tensor())).unwrap();
        let slow =
            conv_transpose3d_generic(x.as_tensor(), w.as_tensor(), Some(bias.as_tensor())).unwrap();
        assert!(max_abs(&fast, &slow) < 1e-5, "{shape:?}");
        let g = Tensor::randn(0f32, 1.0, fast.dims(), &dev).unwrap();
        let gf = grads_of(&fast, &g, &[&x, &w, &bias]);
        let gs = grads_of(&slow, &g, &[&x, &w, &bias]);
        for (a, b) in gf.iter().zip(&gs) {
            assert!(rel(a, b) < 1e-5, "{shape:?}: {}", rel(a, b));
        }
    }
    // Ties: a window of equal values sends the whole gradient to its first element.
    let x = Var::from_tensor(&Tensor::ones((1, 1, 2, 2, 2), DType::F32, &dev).unwrap()).unwrap();
    let y = max_pool3d(x.as_tensor(), 2).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    let g: Vec<f32> = g
        .get(x.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(g, [1., 0., 0., 0., 0., 0., 0., 0.]);
}
