//! Data-parallel training: N ranks with batch b give the same weights after k steps as one
//! rank with batch N·b (per-sample Dice; within floating-point rounding), through the
//! in-process collective (`LocalGroup`, ranks as threads).

use std::path::Path;
use std::sync::Arc;

use brats_io::phantom::PhantomConfig;
use brats_io::progress::NoProgress;
use candle_core::Device;
use unet3d::checkpoint::load_tensors;
use unet3d::train::{Collective, LocalGroup, TrainConfig, TrainData, Trainer};

fn config(batch: usize) -> TrainConfig {
    let mut cfg = unet3d::presets::fast();
    cfg.model.filters = [4, 8, 16, 32, 64];
    cfg.patch = [32, 32, 32];
    cfg.batch_size = batch;
    cfg.epochs = 1;
    cfg.iterations_per_epoch = 3;
    cfg.validation_interval = 0;
    cfg.loss.batch_dice = false;
    cfg.seed = 5;
    cfg.threads = 1;
    // Adam's first steps move every weight by about ±lr whatever the size of its gradient,
    // so a rounding-level difference in a near-zero gradient would flip a step. A large ε
    // makes the update proportional to the gradient, so that the comparison below measures
    // the gradients' agreement, not Adam's sign.
    cfg.optimizer.eps = 1e-2;
    cfg
}

fn data() -> TrainData {
    let phantom = PhantomConfig {
        shape: [72, 72, 56],
        ..Default::default()
    };
    TrainData::phantoms(3, 0, &phantom, 0, &config(2), &NoProgress).unwrap()
}

fn max_difference(a: &Path, b: &Path) -> (f32, f32) {
    let (ta, tb) = (
        load_tensors(a, &Device::Cpu).unwrap(),
        load_tensors(b, &Device::Cpu).unwrap(),
    );
    assert_eq!(ta.len(), tb.len());
    let (mut diff, mut scale) = (0f32, 0f32);
    for (name, x) in &ta {
        let x = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let y = tb[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (p, q) in x.iter().zip(&y) {
            diff = diff.max((p - q).abs());
            scale = scale.max(p.abs());
        }
    }
    (diff, scale)
}

#[test]
fn two_ranks_of_batch_one_train_like_one_rank_of_batch_two() {
    let data = Arc::new(data());
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    Trainer::new(config(2), &single)
        .unwrap()
        .fit(&data, false)
        .unwrap();

    let ranks = LocalGroup::new(2).unwrap();
    let handles: Vec<_> = ranks
        .into_iter()
        .map(|g| {
            let (data, out) = (data.clone(), dir.path().join(format!("rank{}", g.rank())));
            std::thread::spawn(move || {
                Trainer::new(config(1), &out)
                    .unwrap()
                    .collective(Arc::new(g))
                    .fit(&data, false)
                    .unwrap()
            })
        })
        .collect();
    let summaries: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(summaries.iter().all(|s| s.iterations == 3));

    let last = "last-e0001.safetensors";
    let (diff, scale) = max_difference(&single.join(last), &dir.path().join("rank0").join(last));
    assert!(
        diff <= 1e-5 * scale.max(1.0),
        "weights differ by {diff} (largest weight {scale})"
    );
    // Only rank 0 writes the model folder.
    assert!(!dir.path().join("rank1").join(last).exists());
    // The runs trained: the weights moved away from the initialisation, far more than the
    // ranks differ from the single run.
    let cfg = config(2).check().unwrap();
    let init = unet3d::UNet3d::init_tensors(cfg.checked_model(), cfg.seed, &Device::Cpu).unwrap();
    let trained = load_tensors(&single.join(last), &Device::Cpu).unwrap();
    let mut moved = 0f32;
    for (name, t) in &init {
        let a = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = trained[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (p, q) in a.iter().zip(&b) {
            moved = moved.max((p - q).abs());
        }
    }
    eprintln!("ranks differ from the single run by {diff}; training moved the weights by {moved}");
    assert!(
        moved > 100.0 * diff.max(1e-7),
        "training moved the weights by {moved}, ranks differ by {diff}"
    );
}

#[test]
fn the_collective_averages_and_names_a_disagreement() {
    let ranks = LocalGroup::new(3).unwrap();
    let handles: Vec<_> = ranks
        .into_iter()
        .map(|g| {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for round in 0..4 {
                    let mut v = vec![g.rank() as f32 + round as f32, 1.0];
                    g.all_reduce_mean(&mut v).unwrap();
                    out.push(v);
                }
                out
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        for (round, v) in out.iter().enumerate() {
            assert_eq!(v, &vec![1.0 + round as f32, 1.0]);
        }
    }
    assert!(LocalGroup::new(0).is_err());
    let ranks = LocalGroup::new(2).unwrap();
    let mut it = ranks.into_iter();
    let (a, b) = (it.next().unwrap(), it.next().unwrap());
    let t = std::thread::spawn(move || a.all_reduce_mean(&mut [1.0, 2.0]));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let err = b.all_reduce_mean(&mut [1.0]).unwrap_err().to_string();
    assert!(err.contains("collective"), "{err}");
    drop(t); // rank 0 keeps waiting for a partner that will not come; the thread is detached
}

#[test]
fn the_tcp_collective_averages_like_the_local_one() {
    use unet3d::train::TcpGroup;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let handles: Vec<_> = (0..3)
        .map(|rank| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let g =
                    TcpGroup::connect(rank, 3, &addr, std::time::Duration::from_secs(20)).unwrap();
                let mut out = Vec::new();
                for round in 0..3 {
                    let mut v = vec![rank as f32 + round as f32, 0.1 * rank as f32];
                    g.all_reduce_mean(&mut v).unwrap();
                    out.push(v);
                }
                out
            })
        })
        .collect();
    for h in handles {
        for (round, v) in h.join().unwrap().iter().enumerate() {
            assert_eq!(v[0], 1.0 + round as f32);
            assert!((v[1] - 0.1).abs() < 1e-7, "{v:?}");
        }
    }
    assert!(TcpGroup::connect(3, 3, &addr, std::time::Duration::from_secs(1)).is_err());
    // Nobody listening: a named error after the timeout.
    let err = TcpGroup::connect(1, 2, &addr, std::time::Duration::from_millis(200))
        .unwrap_err()
        .to_string();
    assert!(err.contains("collective") && err.contains(&addr), "{err}");
}
