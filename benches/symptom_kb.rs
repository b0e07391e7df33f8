//! symptom-kb speed: a 10-symptom intake, text lookup, and importing 10,000 hospitals.
//!
//! ```text
//! cargo bench --bench symptom_kb
//! ```
//! Targets (issue 6): suspect < 100 µs, import of 10,000 hospitals < 2 s.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use symptom_kb::{Intake, KnowledgeBase};

const INTAKE: &str = r#"{"patient": {"handedness": "right", "location": {"lat": 37.57, "lon": 126.98}},
 "symptoms": [{"code": "HP:0001269", "side": "right"}, {"code": "HP:0001123", "side": "left", "qualifier": "inferior"},
   {"text": "말이 잘 안 나와요"}, {"text": "left-sided neglect"}, {"code": "HP:0002315"}, {"text": "구토를 해요"},
   {"code": "HP:0011153", "side": "right"}, {"text": "오른쪽 손이 저려요"}, {"code": "HP:0002442"}, {"text": "기억이 안 나요"}]}"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut kb = KnowledgeBase::open(dir.path().join("kb")).expect("open");
    let intake = Intake::from_json(INTAKE).expect("intake");
    assert_eq!(intake.symptoms.len(), 10);
    let mut g = c.benchmark_group("symptom_kb");
    g.bench_function("init_default_content", |b| {
        b.iter(|| kb.init().expect("init"))
    });
    g.bench_function("suspect_10_symptom_intake", |b| {
        b.iter(|| kb.suspect(&intake).expect("suspect"))
    });
    g.bench_function("find_korean_text", |b| {
        b.iter(|| kb.find("오른쪽 팔다리에 힘이 빠져요"))
    });
    g.bench_function("find_english_typo", |b| {
        b.iter(|| kb.find("hemiparisis on the left"))
    });

    // 10,000 hospitals as CSV.
    let base = kb.store().content().expect("content");
    let mut csv = String::from(
        "id,name_ko,name_en,address,region,lat,lon,departments,capabilities,sites,sample\n",
    );
    for n in 0..10_000 {
        let h = &base.hospitals[n % base.hospitals.len()];
        csv.push_str(&format!(
            "bulk-{n:05},{} {n},{} {n},\"{n} Example-ro, Seoul\",{},{},{},{},{},{},true\n",
            h.name_ko,
            h.name_en,
            h.region,
            h.lat.unwrap_or(37.5) + (n as f64) * 1e-5,
            h.lon.unwrap_or(127.0),
            h.departments.join(";"),
            h.capabilities
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(";"),
            h.sites.join(";"),
        ));
    }
    let path = dir.path().join("hospitals.csv");
    std::fs::write(&path, csv).expect("write csv");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("import_10000_hospitals_csv", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                kb.init().expect("reset");
                let t = Instant::now();
                kb.import(&path).expect("import");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
