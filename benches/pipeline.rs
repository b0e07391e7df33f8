//! Training iteration and whole-case segmentation (issue: training and inference).
//!
//! ```text
//! cargo bench --bench pipeline
//! ```
//! * `train_iteration_fast_b2_48`: one iteration of the fast preset — forward (train mode)
//!   of a batch of two 4×48³ patches, Dice + focal loss, backward, AdamW step.
//! * `train_iteration_seed_b1_64`: the same for the seed's network, one 4×64³ patch
//!   (compare `benches/peers/torch_unet.py`, which times this network's training step).
//! * `segment_phantom_240x240x155_fast`: a whole 240×240×155 case through the fast
//!   preset's `Predictor` (crop, 2 mm resampling, 64³ windows at overlap 0.5, restore).

#[path = "../src/alloc.rs"]
mod alloc;

use brats_io::phantom::PhantomConfig;
use brats_metrics::loss::Target;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use criterion::{criterion_group, criterion_main, Criterion};
use unet3d::optim::Adam;
use unet3d::predict::{PredictOptions, Predictor};
use unet3d::{Mode, UNet3d};

fn iteration_bench(
    c: &mut Criterion,
    name: &str,
    cfg: unet3d::train::TrainConfig,
    batch: usize,
    side: usize,
) {
    let dev = Device::Cpu;
    let cfg = cfg.check().unwrap();
    let vars: Vec<(String, Var)> = UNet3d::init_tensors(cfg.checked_model(), 0, &dev)
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, Var::from_tensor(&t).unwrap()))
        .collect();
    let map = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    let net = UNet3d::new(
        cfg.checked_model(),
        VarBuilder::from_tensors(map, DType::F32, &dev),
    )
    .unwrap();
    let mut opt = Adam::new(vars, cfg.checked_optimizer()).unwrap();
    let loss_fn = cfg.loss_fn().unwrap();
    let x = Tensor::randn(0f32, 1.0, (batch, 4, side, side, side), &dev).unwrap();
    let y = Tensor::rand(0f32, 4.0, (batch, side, side, side), &dev)
        .unwrap()
        .floor()
        .unwrap()
        .to_dtype(DType::U8)
        .unwrap();
    let mut seed = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            seed += 1;
            let out = net.forward_all(&x, Mode::Train { seed }).unwrap();
            let loss = loss_fn.forward(&out[0], Target::Indices(&y)).unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
        })
    });
}

fn bench(c: &mut Criterion) {
    alloc::tune_allocator();
    let mut fast = unet3d::presets::fast();
    fast.batch_size = 2;
    iteration_bench(c, "train_iteration_fast_b2_48", fast.clone(), 2, 48);
    iteration_bench(
        c,
        "train_iteration_seed_b1_64",
        unet3d::presets::seed(),
        1,
        64,
    );

    let dev = Device::Cpu;
    let fast = fast.check().unwrap();
    let tensors = UNet3d::init_tensors(fast.checked_model(), 0, &dev).unwrap();
    let net = UNet3d::new(
        fast.checked_model(),
        VarBuilder::from_tensors(tensors.into_iter().collect(), DType::F32, &dev),
    )
    .unwrap();
    let predictor = Predictor::from_parts(
        net,
        fast.scheme.clone(),
        fast.preprocess.check().unwrap(),
        fast.checked_window(),
    )
    .unwrap();
    let case = PhantomConfig::default()
        .check()
        .unwrap()
        .generate(0)
        .unwrap();
    c.bench_function("segment_phantom_240x240x155_fast", |b| {
        b.iter(|| {
            predictor
                .predict(
                    &case.images,
                    &PredictOptions::default(),
                    &brain_tumour_seg::io::progress::NoProgress,
                )
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
