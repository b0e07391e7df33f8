//! unet3d speed: the 3D ops at the network's real shapes and the whole network.
//!
//! ```text
//! cargo bench --bench unet3d
//! python3 benches/peers/torch_ops.py                   # the per-op peer (same names)
//! python3 benches/peers/torch_unet.py --sides 64 128   # the whole-network peer
//! ```
//!
//! The whole-network training step (forward in train mode, mean-squared loss, backward,
//! Adam) is the work of `forward --train-step`; at 128³ one sample takes ~7 s.

#[path = "../src/alloc.rs"]
mod alloc;

use std::time::Duration;

use candle_core::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use unet3d::optim::{Adam, AdamConfig};
use unet3d::{
    conv3d, conv3d_generic, conv_transpose3d, max_pool3d, Conv3dConfig, Mode, UNet3d, UNet3dConfig,
};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, shape, &Device::Cpu).expect("randn")
}

fn bench(c: &mut Criterion) {
    alloc::tune_allocator();
    let mut g = c.benchmark_group("unet3d");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let same = Conv3dConfig {
        padding: 1,
        stride: 1,
    };
    for (name, x, w) in [
        (
            "conv3d_1x4to16_64",
            randn(&[1, 4, 64, 64, 64]),
            randn(&[16, 4, 3, 3, 3]),
        ),
        (
            "conv3d_1x16to16_64",
            randn(&[1, 16, 64, 64, 64]),
            randn(&[16, 16, 3, 3, 3]),
        ),
        (
            "conv3d_1x32to32_32",
            randn(&[1, 32, 32, 32, 32]),
            randn(&[32, 32, 3, 3, 3]),
        ),
        (
            "conv3d_1x64to64_16",
            randn(&[1, 64, 16, 16, 16]),
            randn(&[64, 64, 3, 3, 3]),
        ),
        (
            "conv3d_1x128to128_8",
            randn(&[1, 128, 8, 8, 8]),
            randn(&[128, 128, 3, 3, 3]),
        ),
    ] {
        g.bench_function(format!("{name}_forward"), |b| {
            b.iter(|| conv3d(&x, &w, None, same).expect("conv"))
        });
        let xv = Var::from_tensor(&x).expect("var");
        let wv = Var::from_tensor(&w).expect("var");
        g.bench_function(format!("{name}_forward_backward"), |b| {
            b.iter(|| {
                let y = conv3d(xv.as_tensor(), wv.as_tensor(), None, same).expect("conv");
                y.sum_all().expect("sum").backward().expect("backward")
            })
        });
    }
    let (x, w) = (randn(&[1, 16, 64, 64, 64]), randn(&[16, 16, 3, 3, 3]));
    g.bench_function("conv3d_1x16to16_64_forward_generic_path", |b| {
        b.iter(|| conv3d_generic(&x, &w, None, same).expect("conv"))
    });
    let (x, w) = (randn(&[1, 256, 4, 4, 4]), randn(&[256, 128, 2, 2, 2]));
    g.bench_function("conv_transpose3d_1x256to128_4_forward", |b| {
        b.iter(|| conv_transpose3d(&x, &w, None).expect("convt"))
    });
    let (xv, wv) = (
        Var::from_tensor(&x).expect("var"),
        Var::from_tensor(&w).expect("var"),
    );
    g.bench_function("conv_transpose3d_1x256to128_4_forward_backward", |b| {
        b.iter(|| {
            let y = conv_transpose3d(xv.as_tensor(), wv.as_tensor(), None).expect("convt");
            y.sum_all().expect("sum").backward().expect("backward")
        })
    });
    let x = randn(&[1, 16, 64, 64, 64]);
    g.bench_function("max_pool3d_1x16_64_forward", |b| {
        b.iter(|| max_pool3d(&x, 2).expect("pool"))
    });
    let xv = Var::from_tensor(&x).expect("var");
    g.bench_function("max_pool3d_1x16_64_forward_backward", |b| {
        b.iter(|| {
            let y = max_pool3d(xv.as_tensor(), 2).expect("pool");
            y.sum_all().expect("sum").backward().expect("backward")
        })
    });

    let cfg = UNet3dConfig::default().check().expect("config");
    let dev = Device::Cpu;
    let vars: Vec<(String, Var)> = UNet3d::init_tensors(&cfg, 0, &dev)
        .expect("init")
        .into_iter()
        .map(|(n, t)| (n, Var::from_tensor(&t).expect("var")))
        .collect();
    let map = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    let net = UNet3d::new(
        &cfg,
        candle_nn::VarBuilder::from_tensors(map, DType::F32, &dev),
    )
    .expect("net");
    let mut opt = Adam::new(
        vars,
        AdamConfig {
            lr: 1e-4,
            ..AdamConfig::default()
        }
        .check()
        .expect("optimiser config"),
    )
    .expect("adam");
    for side in [64usize, 128] {
        let x = randn(&[1, 4, side, side, side]);
        g.bench_function(format!("unet_inference_1x4x{side}"), |b| {
            b.iter(|| net.probabilities(&x).expect("forward"))
        });
        let mut seed = 0u64;
        g.bench_function(format!("unet_train_step_1x4x{side}"), |b| {
            b.iter(|| {
                seed += 1;
                let y = net.forward_all(&x, Mode::Train { seed }).expect("forward");
                let loss = y[0].sqr().expect("sqr").mean_all().expect("mean");
                opt.step(&loss.backward().expect("backward")).expect("step")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
