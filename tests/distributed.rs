//! Data-parallel training across processes, launched as PyTorch jobs are: two `bts train`
//! processes with `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` and batch 1 end with
//! the weights of one process with batch 2 (per-sample Dice; within rounding).

use std::path::Path;
use std::process::Command;

use brain_tumour_seg::unet3d::checkpoint::load_tensors;
use candle_core::Device;

fn bts() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bts"));
    c.env_remove("RUST_BACKTRACE")
        .env_remove("WORLD_SIZE")
        .env_remove("RANK")
        .arg("--quiet");
    c
}

fn write_config(path: &Path, batch: usize) {
    let mut cfg = brain_tumour_seg::unet3d::presets::fast();
    cfg.model.filters = [4, 8, 16, 32, 64];
    cfg.patch = [32, 32, 32];
    cfg.batch_size = batch;
    cfg.epochs = 1;
    cfg.iterations_per_epoch = 3;
    cfg.validation_interval = 0;
    cfg.loss.batch_dice = false;
    cfg.optimizer.eps = 1e-2;
    cfg.seed = 11;
    cfg.threads = 1;
    std::fs::write(path, serde_json::to_string(&cfg).unwrap()).unwrap();
}

#[test]
fn two_processes_train_like_one_with_twice_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |n: &str| tmp.path().join(n);
    let ok = |c: &mut Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(bts()
        .args([
            "synth",
            "--generator",
            "geometric",
            "--shape",
            "64,64,48",
            "--cases",
            "3",
        ])
        .arg("--out")
        .arg(t("data")));
    write_config(&t("b1.json"), 1);
    write_config(&t("b2.json"), 2);
    ok(bts()
        .args(["train", "--val-fraction", "0"])
        .arg("--data")
        .arg(t("data"))
        .arg("--config")
        .arg(t("b2.json"))
        .arg("--out")
        .arg(t("single")));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ranks: Vec<_> = (0..2)
        .map(|rank| {
            bts()
                .args(["train", "--val-fraction", "0"])
                .arg("--data")
                .arg(t("data"))
                .arg("--config")
                .arg(t("b1.json"))
                .arg("--out")
                .arg(t(&format!("rank{rank}")))
                .env("RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut r in ranks {
        assert!(r.wait().unwrap().success());
    }
    let last = "last-e0001.safetensors";
    let a = load_tensors(&t("single").join(last), &Device::Cpu).unwrap();
    let b = load_tensors(&t("rank0").join(last), &Device::Cpu).unwrap();
    let mut diff = 0f32;
    for (name, x) in &a {
        let x = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let y = b[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (p, q) in x.iter().zip(&y) {
            diff = diff.max((p - q).abs());
        }
    }
    assert!(diff < 1e-5, "two processes differ from one by {diff}");
    assert!(!t("rank1").join(last).exists(), "only rank 0 writes");

    // A bad WORLD_SIZE is a named failure.
    let out = bts()
        .args(["train", "--val-fraction", "0"])
        .arg("--data")
        .arg(t("data"))
        .arg("--config")
        .arg(t("b1.json"))
        .arg("--out")
        .arg(t("bad"))
        .env("WORLD_SIZE", "two")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WORLD_SIZE"));
}
