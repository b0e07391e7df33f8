//! The symptom knowledge base from the command line.
//!
//! ```text
//! cargo run --release --example kb -- [--db DIR] <command> [--json]
//!   init                  store the default content (replaces what is there)
//!   import FILE           .json: whole content; .csv: hospitals (validated, all or nothing)
//!   export FILE           .json: whole content; .csv: hospitals
//!   find TEXT             text (Korean or English) → symptoms, side and qualifier
//!   suspect INTAKE.json   intake → suspected regions with evidence
//!   hospitals REGION[@SIDE] [--capability NAME]... [--near LAT,LON] [--limit N]
//! ```
//! Without `--db` the default place is used (`symptom_kb::default_db_dir()`:
//! `$BTS_KB_DIR`, else `$XDG_DATA_HOME/brain-tumour-seg/kb`, else
//! `~/.local/share/brain-tumour-seg/kb`), created with the default content on first use.
//! `suspect --json` prints `{"suspected": [{"region", "hemisphere", "score", "evidence"}],
//! "non_localising": [...], "unmatched": [...], ...}`. Decision support, not a diagnosis;
//! the hospital directory is sample data.

use anyhow::{bail, Context, Result};
use symptom_kb::{Capability, Intake, KnowledgeBase, Location, ReferralQuery};

fn main() -> Result<()> {
    let mut db = None;
    let mut json = false;
    let mut caps = Vec::new();
    let mut near = None;
    let mut limit = 10;
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--db" => db = Some(args.next().context("--db needs a folder")?),
            "--json" => json = true,
            "--capability" => {
                let c = args.next().context("--capability needs a name")?;
                let cap = Capability::from_name(&c).with_context(|| {
                    format!(
                        "unknown capability {c:?} (one of {})",
                        Capability::ALL.map(|c| c.name()).join(", ")
                    )
                })?;
                caps.push(cap);
            }
            "--near" => {
                let v = args.next().context("--near needs LAT,LON")?;
                let (lat, lon) = v.split_once(',').context("--near takes LAT,LON")?;
                near = Some(Location {
                    lat: lat.trim().parse()?,
                    lon: lon.trim().parse()?,
                });
            }
            "--limit" => limit = args.next().context("--limit needs a number")?.parse()?,
            "-h" | "--help" => {
                println!("kb [--db DIR] <init | import FILE | export FILE | find TEXT | suspect INTAKE.json | hospitals REGION[@SIDE]> [--json]");
                return Ok(());
            }
            _ => words.push(a),
        }
    }
    let dir = db
        .map(std::path::PathBuf::from)
        .unwrap_or_else(symptom_kb::default_db_dir);
    let mut kb = KnowledgeBase::open(&dir)?;
    let (cmd, rest) = words
        .split_first()
        .context("a command is needed (try --help)")?;
    let arg = || {
        rest.first()
            .cloned()
            .with_context(|| format!("{cmd} needs an argument"))
    };
    match cmd.as_str() {
        "init" => {
            kb.init()?;
            println!(
                "default content {} stored in {}",
                kb.content_version()?.unwrap_or_default(),
                dir.display()
            );
        }
        "import" => {
            let f = arg()?;
            kb.import(&f)?;
            println!("imported {f}");
        }
        "export" => {
            let f = arg()?;
            kb.export(&f)?;
            println!("exported to {f}");
        }
        "find" => {
            let text = rest.join(" ");
            let l = kb.find(&text);
            if json {
                println!("{}", serde_json::to_string_pretty(&l)?);
            } else {
                println!("side: {:?}  qualifier: {:?}", l.side, l.qualifier);
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
        "suspect" => {
            let f = arg()?;
            let text = std::fs::read_to_string(&f).with_context(|| format!("reading {f}"))?;
            let intake = Intake::from_json(&text).with_context(|| format!("in {f}"))?;
            let s = kb.suspect(&intake)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("suspected regions (decision support, not a diagnosis):");
                for c in s.suspected.iter().take(10) {
                    let h = c.hemisphere.map(|h| h.name()).unwrap_or("side unknown");
                    println!("  {:<24} {:<12} {:.2}", c.region, h, c.score);
                    for e in &c.evidence {
                        println!(
                            "      {} ({}) side {:?} — {} {:?}/{:?}",
                            e.label, e.symptom, e.side, e.rule, e.laterality, e.strength
                        );
                    }
                }
                for n in &s.non_localising {
                    println!(
                        "  non-localising: {} ({}) — {}",
                        n.label, n.symptom, n.reason
                    );
                }
                for u in &s.unmatched {
                    println!("  unmatched: symptoms[{}] {:?}", u.index, u.text);
                }
            }
        }
        "hospitals" => {
            let spec = arg()?;
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
                capabilities: caps,
                location: near,
                limit,
            })?;
            if json {
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
        other => bail!("unknown command {other:?} (try --help)"),
    }
    Ok(())
}
