//! diagnosis: a tumour site and a patient's symptoms → verdict, referral and report
//! (`report.html`, `report.md`, `report.json`). Decision support, not a diagnosis; the
//! hospital directory is sample data.
//!
//! ```text
//! cargo run --release --example diagnosis
//! ```

use anyhow::Result;
use diagnosis::{parse_location, Diagnoser, Site};
use symptom_kb::{Intake, KnowledgeBase};

fn main() -> Result<()> {
    let tmp = std::env::temp_dir();
    let kb = KnowledgeBase::open(tmp.join("bts-example-kb"))?;
    let intake = Intake::from_json(include_str!("data/intake_ko.json"))?;
    // The site as a radiologist would state it (a label map works the same: Site::Mask).
    let (region, hemisphere) = parse_location(&kb, "frontal_lobe@right")?;
    let mut d = Diagnoser::new(&kb).diagnose(
        Site::Location {
            region: &region,
            hemisphere,
        },
        &intake,
    )?;
    let files = d.write(&tmp.join("bts-example-report"))?;
    let r = &d.report;
    println!(
        "verdict {} (confidence {:.2}), urgency {}",
        r.verdict.name(),
        r.confidence,
        r.urgency.name()
    );
    println!("report: {}", files.html.display());
    Ok(())
}
