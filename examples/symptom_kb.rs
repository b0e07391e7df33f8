//! symptom-kb: a patient's words (Korean or English) → symptoms → suspected brain regions,
//! through the embedded knowledge base. Decision support, not a diagnosis.
//!
//! ```text
//! cargo run --release --example symptom_kb
//! ```

use anyhow::Result;
use symptom_kb::{Intake, KnowledgeBase};

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join("bts-example-kb");
    let kb = KnowledgeBase::open(&dir)?; // created with the default content on first use

    let lookup = kb.find("오른쪽 팔다리에 힘이 빠지고 말이 어눌해요");
    for m in &lookup.matches {
        println!("{} ({:.2}, via {:?})", m.code, m.score, m.phrase);
    }

    let intake = Intake::from_json(include_str!("data/intake_ko.json"))?;
    let suspicion = kb.suspect(&intake)?;
    for s in suspicion.suspected.iter().take(3) {
        let side = s.hemisphere.map_or("side unknown", |h| h.name());
        println!("suspected: {} ({side}), score {:.2}", s.region, s.score);
    }
    Ok(())
}
