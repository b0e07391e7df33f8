//! `bts kb`: the symptom knowledge base. Without `--db` the default place is used
//! (`symptom_kb::default_db_dir()`), created with the default content on first use.
//! `suspect --json` prints `{"suspected": [{"region", "hemisphere", "score", "evidence"}],
//! "non_localising": [...], "unmatched": [...], ...}`. Decision support, not a diagnosis;
//! the hospital directory is sample data.

use anyhow::{bail, Context, Result};
use symptom_kb::{Capability, Intake, KnowledgeBase, Location, ReferralQuery};

use super::{KbArgs, KbCommand, Ui};

/// A note when the knowledge base holds an earlier release's built-in content: its lay
/// phrasings are fewer than this release understands.
pub fn note_outdated(kb: &KnowledgeBase, dir: &std::path::Path, ui: &Ui) -> Result<()> {
    if let Some((stored, builtin)) = kb.outdated_default()? {
        ui.note(&format!(
            "note: the knowledge base {} holds the built-in content {stored}; this release has \
             {builtin}. `bts kb init --db {}` stores it (and drops an imported hospital \
             directory)",
            dir.display(),
            dir.display()
        ));
    }
    Ok(())
}

pub fn run(a: &KbArgs, ui: &Ui) -> Result<()> {
    let dir = a.db.clone().unwrap_or_else(symptom_kb::default_db_dir);
    let mut kb =
        KnowledgeBase::open(&dir).with_context(|| format!("knowledge base {}", dir.display()))?;
    if !matches!(a.command, KbCommand::Init) {
        note_outdated(&kb, &dir, ui)?;
    }
    match &a.command {
        KbCommand::Init => {
            kb.init()?;
            println!(
                "default content {} stored in {}",
                kb.content_version()?.unwrap_or_default(),
                dir.display()
            );
        }
        KbCommand::Import { file } => {
            kb.import(file)?;
            println!("imported {}", file.display());
        }
        KbCommand::Export { file } => {
            kb.export(file)?;
            println!("exported to {}", file.display());
        }
        KbCommand::Find { text } => {
            let l = kb.find(text);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                println!("side: {}  qualifier: {}", word(&l.side), word(&l.qualifier));
                for m in l.matches.iter().take(8) {
                    let label = kb
                        .symptom(&m.code)
                        .map(|s| format!("{} / {}", s.label_en, s.label_ko))
                        .unwrap_or_default();
                    println!(
                        "  {:<14} {:.2} {:?} {label}  (via {:?})",
                        m.code, m.score, m.kind, m.phrase
                    );
                }
                if l.matches.is_empty() {
                    println!("  no symptom matched");
                }
            }
        }
        KbCommand::Suspect { intake } => {
            let f = intake.display();
            let text = std::fs::read_to_string(intake).with_context(|| format!("reading {f}"))?;
            let intake = Intake::from_json(&text).with_context(|| format!("{f}"))?;
            let s = kb.suspect(&intake)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("understood (decision support, not a diagnosis):");
                for r in &s.resolved {
                    let label = kb.symptom(&r.code).map_or("", |x| x.label_en.as_str());
                    println!(
                        "  symptoms[{}] {label} ({}) side {} — {}",
                        r.index,
                        r.code,
                        word(&r.side),
                        r.how
                    );
                }
                for u in &s.negated {
                    println!("  symptoms[{}] denied: {:?}", u.index, u.text);
                }
                for u in &s.unmatched {
                    let nearest: Vec<&str> =
                        u.candidates.iter().map(|c| c.phrase.as_str()).collect();
                    println!(
                        "  symptoms[{}] not understood: {:?} (nearest: {})",
                        u.index,
                        u.text,
                        nearest.join("; ")
                    );
                }
                println!("suspected regions:");
                for c in s.suspected.iter().take(10) {
                    let h = c.hemisphere.map(|h| h.name()).unwrap_or("side unknown");
                    println!("  {:<24} {:<12} {:.2}", c.region, h, c.score);
                    for e in &c.evidence {
                        println!(
                            "      {} ({}) side {} — {} {}/{}",
                            e.label,
                            e.symptom,
                            word(&e.side),
                            e.rule,
                            word(&Some(e.laterality)),
                            word(&Some(e.strength))
                        );
                    }
                }
                for n in &s.non_localising {
                    println!(
                        "  non-localising: {} ({}) — {}",
                        n.label, n.symptom, n.reason
                    );
                }
            }
        }
        KbCommand::Hospitals {
            site: spec,
            capability,
            near,
            limit,
        } => {
            // clap checked the names against Capability::ALL.
            let capabilities: Vec<Capability> = capability
                .iter()
                .filter_map(|c| Capability::from_name(c))
                .collect();
            let near = near.map(|(lat, lon)| Location { lat, lon });
            let (region, side) = match spec.split_once('@') {
                Some((r, s)) => (r.to_string(), Some(s.to_string())),
                None => (spec.clone(), None),
            };
            if let Some(s) = &side {
                if !["left", "right", "midline", "bilateral"].contains(&s.as_str()) {
                    bail!("side {s:?} must be left, right, midline or bilateral");
                }
            }
            let r = kb.hospitals(&ReferralQuery {
                region,
                capabilities,
                location: near,
                limit: *limit,
            })?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("hospitals (SAMPLE DATA — not real hospitals):");
                for x in &r {
                    let d = x
                        .distance_km
                        .map(|d| format!("{d:.0} km"))
                        .unwrap_or_else(|| "-".into());
                    println!(
                        "  {:<18} {:<34} {:>8}  capabilities {:?} missing {:?}  departments {:?}",
                        x.hospital.id,
                        x.hospital.name_en,
                        d,
                        x.matched_capabilities,
                        x.missing_capabilities,
                        x.departments
                    );
                }
            }
        }
    }
    Ok(())
}

/// An optional enum as the word its JSON uses (`right`, `upper_quadrant`), or `-`.
fn word<T: serde::Serialize>(v: &Option<T>) -> String {
    match v.as_ref().map(serde_json::to_value) {
        Some(Ok(serde_json::Value::String(s))) => s,
        Some(Ok(other)) => other.to_string(),
        _ => "-".into(),
    }
}
