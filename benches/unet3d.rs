//! unet3d speed: the 3D ops at the network's real shapes and the whole network.
//!
//! ```text
//! cargo bench --bench unet3d
//! python3 benches/peers/torch_unet.py --sides 64 128   # the whole-network peer
//! ```

#[path = "../examples/support/mod.rs"]
mod support;

use std::time::Duration;

use candle_core::{DType, Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use unet3d::{
    conv3d, conv3d_generic, conv_transpose3d, max_pool3d, Conv3dConfig, UNet3d, UNet3dConfig,
};

fn randn(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, shape, &Device::Cpu).expect("randn")
}

fn bench(c: &mut Criterion) {
    support::tune_allocator();
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
    g.bench_function("conv_transpose3d_1x256to128_4", |b| {
        b.iter(|| conv_transpose3d(&x, &w, None).expect("convt"))
    });
    let x = randn(&[1, 16, 64, 64, 64]);
    g.bench_function("max_pool3d_1x16_64", |b| {
        b.iter(|| max_pool3d(&x, 2).expect("pool"))
    });

    let cfg = UNet3dConfig::default();
    let varmap = candle_nn::VarMap::new();
    let net = UNet3d::new(
        &cfg,
        candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .expect("net");
    let x = randn(&[1, 4, 64, 64, 64]);
    g.bench_function("unet_inference_1x4x64", |b| {
        b.iter(|| net.probabilities(&x).expect("forward"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
