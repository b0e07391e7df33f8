//! brats-io speed: NIfTI load, whole-case load, preprocessing — on a BraTS-sized phantom.
//!
//! ```text
//! cargo bench --bench brats_io
//! python3 benches/peers/nibabel_load.py target/bench-data/Phantom_00000   # the peer, same files
//! ```
//! The phantom case (240×240×155, int16 `.nii.gz`, seed 0) is generated once into
//! `target/bench-data/` so that the peer script reads exactly the same files.

use std::path::PathBuf;
use std::time::Duration;

use brats_io::phantom::PhantomConfig;
use brats_io::{find_case, Naming, NiftiReader, PreprocessConfig};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench_case() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let dir = root.join("Phantom_00000");
    if find_case(&dir).is_err() {
        let case = PhantomConfig::default()
            .check()
            .expect("default phantom config is valid")
            .generate(0)
            .expect("phantom generation");
        case.write(&root, Naming::Brats2021)
            .expect("write bench case");
    }
    dir
}

fn io(c: &mut Criterion) {
    let dir = bench_case();
    let paths = find_case(&dir).expect("bench case");
    let reader = NiftiReader::new();
    let mut g = c.benchmark_group("brats_io");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("load_int16_nii_gz_240x240x155", |b| {
        b.iter(|| reader.read_f32(&paths.images[0]).expect("load"))
    });
    g.bench_function("load_case_4_modalities_and_seg", |b| {
        b.iter(|| paths.load(&reader).expect("load case"))
    });
    let case = paths.load(&reader).expect("load case");
    let pre = PreprocessConfig::default().check().expect("valid");
    g.bench_function("preprocess_case", |b| {
        b.iter(|| {
            pre.apply(&case.images, case.seg.as_ref())
                .expect("preprocess")
        })
    });
    g.bench_function("load_and_preprocess_case", |b| {
        b.iter(|| {
            let case = paths.load(&reader).expect("load case");
            pre.apply(&case.images, case.seg.as_ref())
                .expect("preprocess")
        })
    });
    g.finish();
}

criterion_group!(benches, io);
criterion_main!(benches);
