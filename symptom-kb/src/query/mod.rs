//! [`KnowledgeBase`]: the store plus an in-memory view for microsecond queries — text →
//! symptoms, intake → suspected regions, region → hospitals.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::content::Content;
use crate::error::{Error, Result};
use crate::intake::{Handedness, Intake, Location};
use crate::lexicon::{parse_qualifier, Lexicon, Lookup, Side, TextMatch};
use crate::model::{
    BrainRegion, Capability, Hemisphere, Hospital, Laterality, Localising, Qualifier, Rule,
    Strength, Symptom,
};
use crate::store::Store;

mod clause;
mod laterality;
mod resolve;

use laterality::{adjusted_rules, side_to_hemisphere, GERSTMANN, HEARING_LOSS};

/// Codes whose presence makes an abducens palsy false-localising (raised pressure).
const RAISED_ICP: [&str; 6] = [
    "HP:0002315",
    "HP:0002013",
    "HP:0002018",
    "HP:0001085",
    "HP:0002516",
    "HP:0000238",
];

/// An open knowledge base.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    store: Store,
    view: View,
}

#[derive(Debug, Clone, Default)]
struct View {
    symptoms: HashMap<String, Symptom>,
    regions: HashMap<String, BrainRegion>,
    rules: HashMap<String, Vec<Rule>>,
    lexicon: Lexicon,
}

impl View {
    fn load(store: &Store) -> Result<View> {
        let symptoms = store.symptoms()?;
        let lexicon = Lexicon::new(&symptoms);
        let mut rules: HashMap<String, Vec<Rule>> = HashMap::new();
        for r in store.rules()? {
            rules.entry(r.symptom.clone()).or_default().push(r);
        }
        Ok(View {
            symptoms: symptoms.into_iter().map(|s| (s.code.clone(), s)).collect(),
            regions: store
                .regions()?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect(),
            rules,
            lexicon,
        })
    }
}

/// One piece of evidence behind a suspected region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Symptom code.
    pub symptom: String,
    /// Its English label.
    pub label: String,
    /// The side reported.
    pub side: Option<Side>,
    /// Rule id.
    pub rule: String,
    /// Rule laterality.
    pub laterality: Laterality,
    /// Rule strength.
    pub strength: crate::model::Strength,
    /// The weight added (strength × certainty).
    pub weight: f64,
    /// Caveats (e.g. dominance assumed from handedness).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A region (and side) the symptoms point to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspected {
    /// Region id.
    pub region: String,
    /// Hemisphere, or `null` when the symptoms do not say.
    pub hemisphere: Option<Hemisphere>,
    /// Sum of the evidence weights.
    pub score: f64,
    /// Why.
    pub evidence: Vec<Evidence>,
}

/// A symptom that adds no regional weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonLocalising {
    /// Symptom code.
    pub symptom: String,
    /// Its English label.
    pub label: String,
    /// Why it does not localise.
    pub reason: String,
}

/// A clause of an intake text that matched no symptom (or that denies one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmatched {
    /// Position in the intake.
    pub index: usize,
    /// The clause.
    pub text: String,
    /// The nearest known phrases, best first (for a reviewer; none of them was taken).
    #[serde(default)]
    pub candidates: Vec<TextMatch>,
}

/// A symptom as understood from the intake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Position in the intake.
    pub index: usize,
    /// Symptom code.
    pub code: String,
    /// Side.
    pub side: Option<Side>,
    /// Qualifier.
    pub qualifier: Option<Qualifier>,
    /// How it was recognised (`code`, or the text match kind and score).
    pub how: String,
    /// The words it was understood from (the clause of the entry's text; absent for a
    /// code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The result of [`KnowledgeBase::suspect`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspicion {
    /// Candidates, highest score first.
    pub suspected: Vec<Suspected>,
    /// Symptoms with no localising value here.
    pub non_localising: Vec<NonLocalising>,
    /// Clauses nothing matched.
    pub unmatched: Vec<Unmatched>,
    /// Clauses that deny a complaint ("no headache", "두통은 없어요"); not counted.
    #[serde(default)]
    pub negated: Vec<Unmatched>,
    /// What each intake entry was taken to be.
    pub resolved: Vec<Resolved>,
    /// The handedness used.
    pub handedness: Handedness,
}

/// A hospital search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReferralQuery {
    /// The confirmed region.
    pub region: String,
    /// Capabilities the case calls for (ranked by how many a hospital has).
    pub capabilities: Vec<Capability>,
    /// The patient's location, for distances.
    pub location: Option<Location>,
    /// At most this many results (0: all).
    pub limit: usize,
}

/// One ranked hospital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HospitalMatch {
    /// The hospital.
    pub hospital: Hospital,
    /// Capabilities asked for that it has.
    pub matched_capabilities: Vec<Capability>,
    /// Capabilities asked for that it lacks.
    pub missing_capabilities: Vec<Capability>,
    /// Departments for the site that it has.
    pub departments: Vec<String>,
    /// Great-circle distance from the patient, km.
    pub distance_km: Option<f64>,
}

/// Departments for a tumour site (domain reference, section 3): lead first.
pub fn departments_for(region: &str) -> &'static [&'static str] {
    match region {
        "pituitary_sellar" => &[
            "endocrinology",
            "neurosurgery",
            "otolaryngology",
            "ophthalmology",
            "radiation_oncology",
        ],
        "hypothalamus" | "pineal_region" => &[
            "neurosurgery",
            "paediatrics",
            "radiation_oncology",
            "endocrinology",
        ],
        "cerebellopontine_angle" => &["neurosurgery", "otolaryngology", "radiation_oncology"],
        "occipital_lobe" => &[
            "neurosurgery",
            "ophthalmology",
            "radiation_oncology",
            "medical_oncology",
            "neurology",
        ],
        "cerebellum" | "cerebellar_hemisphere" | "cerebellar_vermis" => &[
            "neurosurgery",
            "paediatric_neurosurgery",
            "radiation_oncology",
            "medical_oncology",
        ],
        "brainstem" | "midbrain" | "pons" | "medulla" => {
            &["neurosurgery", "radiation_oncology", "paediatrics"]
        }
        "thalamus" | "basal_ganglia" => &["neurosurgery", "radiation_oncology", "medical_oncology"],
        "ventricles" => &["neurosurgery"],
        _ => &[
            "neurosurgery",
            "radiation_oncology",
            "medical_oncology",
            "neurology",
            "rehabilitation",
        ],
    }
}

fn haversine_km(a: Location, lat: f64, lon: f64) -> f64 {
    let (p1, p2) = (a.lat.to_radians(), lat.to_radians());
    let dp = p2 - p1;
    let dl = (lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Edit distance with adjacent transpositions (optimal string alignment), for
/// suggestions: `HP:0001296` is one step from `HP:0001269`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

fn suggest<'a>(wanted: &str, pool: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = pool.map(|c| (edit_distance(wanted, c), c)).collect();
    scored.sort();
    scored
        .into_iter()
        .filter(|(d, _)| *d <= 3)
        .take(3)
        .map(|(_, c)| c.clone())
        .collect()
}

impl KnowledgeBase {
    /// Opens the database in `dir`; when it holds no content yet, the default content is
    /// stored first.
    ///
    /// # Errors
    /// As [`Store::open`] and [`KnowledgeBase::init`].
    pub fn open(dir: impl AsRef<Path>) -> Result<KnowledgeBase> {
        let store = Store::open(dir)?;
        let mut kb = KnowledgeBase {
            view: View::default(),
            store,
        };
        if kb.store.is_empty()? {
            kb.init()?;
        } else {
            kb.view = View::load(&kb.store)?;
        }
        Ok(kb)
    }

    /// Replaces the content with the built-in default.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn init(&mut self) -> Result<()> {
        self.replace(&Content::default_content()?)
    }

    /// Replaces the whole content (validated first; all or nothing).
    ///
    /// # Errors
    /// [`Error::InvalidRecord`] (nothing changed); [`Error::Storage`].
    pub fn replace(&mut self, content: &Content) -> Result<()> {
        content.validate()?;
        self.store.replace(content)?;
        self.view = View::load(&self.store)?;
        Ok(())
    }

    /// The underlying store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The content version stored.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn content_version(&self) -> Result<Option<String>> {
        self.store.meta("content_version")
    }

    /// When the stored content is the built-in default of another version (stored by an
    /// earlier release: same `sources`, other `content_version`), the stored and the
    /// built-in versions. Content of one's own (an import with other sources) is never
    /// reported. The stored content is not replaced: [`KnowledgeBase::init`] does that, and
    /// it also drops an imported hospital directory.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn outdated_default(&self) -> Result<Option<(String, String)>> {
        let builtin = Content::default_content()?;
        let stored = self.store.meta("content_version")?.unwrap_or_default();
        let sources = self.store.meta("sources")?.unwrap_or_default();
        Ok(
            (sources == builtin.sources && stored != builtin.content_version)
                .then_some((stored, builtin.content_version)),
        )
    }

    /// A symptom by code.
    pub fn symptom(&self, code: &str) -> Option<&Symptom> {
        self.view.symptoms.get(code)
    }

    /// A region by id.
    pub fn region(&self, id: &str) -> Option<&BrainRegion> {
        self.view.regions.get(id)
    }

    /// A region by id, or an error with close ids.
    ///
    /// # Errors
    /// [`Error::UnknownRegion`].
    pub fn require_region(&self, id: &str) -> Result<&BrainRegion> {
        self.view
            .regions
            .get(id)
            .ok_or_else(|| Error::UnknownRegion {
                id: id.to_string(),
                suggestions: suggest(id, self.view.regions.keys()),
            })
    }

    /// True when `region` is `ancestor` or lies within it (`pons` within `brainstem`).
    pub fn is_within(&self, region: &str, ancestor: &str) -> bool {
        let mut cur = Some(region);
        let mut guard = 0;
        while let Some(r) = cur {
            if r == ancestor {
                return true;
            }
            cur = self.view.regions.get(r).and_then(|x| x.parent.as_deref());
            guard += 1;
            if guard > 32 {
                break;
            }
        }
        false
    }

    /// Text → candidate symptoms.
    pub fn find(&self, text: &str) -> Lookup {
        self.view.lexicon.lookup(text)
    }

    /// Intake → suspected regions with scores and evidence.
    ///
    /// # Errors
    /// [`Error::UnknownSymptom`] for a code that does not exist (with suggestions);
    /// [`Error::Intake`] for an invalid intake.
    pub fn suspect(&self, intake: &Intake) -> Result<Suspicion> {
        intake.check()?;
        let handedness = intake.patient.handedness;
        let mut resolved = Vec::new();
        let mut unmatched = Vec::new();
        let mut negated = Vec::new();
        for (index, s) in intake.symptoms.iter().enumerate() {
            let explicit_q = s.qualifier.as_deref().and_then(parse_qualifier);
            if let Some(code) = s.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                if !self.view.symptoms.contains_key(code) {
                    return Err(Error::UnknownSymptom {
                        code: code.to_string(),
                        suggestions: suggest(code, self.view.symptoms.keys()),
                    });
                }
                let from_text = s.text.as_deref().map(|t| self.find(t));
                resolved.push(Resolved {
                    index,
                    code: code.to_string(),
                    side: s.side.or(from_text.as_ref().and_then(|l| l.side)),
                    qualifier: explicit_q.or(from_text.as_ref().and_then(|l| l.qualifier)),
                    how: "code".into(),
                    text: None,
                });
                continue;
            }
            let text = s.text.clone().unwrap_or_default();
            self.resolve_text(
                index,
                &text,
                s.side,
                explicit_q,
                &mut resolved,
                &mut unmatched,
                &mut negated,
            );
        }
        let raised_icp = resolved
            .iter()
            .any(|r| RAISED_ICP.contains(&r.code.as_str()));
        let mut candidates: BTreeMap<(String, Option<Hemisphere>), Vec<Evidence>> = BTreeMap::new();
        let mut non_localising = Vec::new();
        // A symptom said twice ("왼쪽 팔이 저리고 다리도 저려요", or in two entries) is one
        // piece of evidence, not two.
        let mut seen = std::collections::HashSet::new();
        for r in &resolved {
            if !seen.insert((r.code.as_str(), r.side, r.qualifier)) {
                continue;
            }
            let Some(sym) = self.view.symptoms.get(&r.code) else {
                continue;
            };
            if sym.localising == Localising::NonLocalising {
                non_localising.push(NonLocalising {
                    symptom: sym.code.clone(),
                    label: sym.label_en.clone(),
                    reason: "non-localising (raised pressure or generalised)".into(),
                });
                continue;
            }
            if sym.false_localising_with_raised_icp && raised_icp {
                non_localising.push(NonLocalising {
                    symptom: sym.code.clone(),
                    label: sym.label_en.clone(),
                    reason: "false-localising with raised-pressure signs (R-FALSE-LOCAL-CN6)"
                        .into(),
                });
                continue;
            }
            // Bilateral hearing loss is not a cerebellopontine-angle sign.
            if sym.code == HEARING_LOSS && r.side == Some(Side::Bilateral) {
                non_localising.push(NonLocalising {
                    symptom: sym.code.clone(),
                    label: sym.label_en.clone(),
                    reason: "bilateral hearing loss: not a cerebellopontine-angle sign".into(),
                });
                continue;
            }
            let stored = self
                .view
                .rules
                .get(&sym.code)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let rules = adjusted_rules(sym.code.as_str(), stored, r, &resolved);
            for rule in &rules {
                if rule.qualifier.is_some() && rule.qualifier != r.qualifier {
                    continue;
                }
                let (hemisphere, certainty, note) =
                    side_to_hemisphere(rule.laterality, r.side, handedness);
                let weight = rule.strength.weight() * certainty;
                candidates
                    .entry((rule.region.clone(), hemisphere))
                    .or_default()
                    .push(Evidence {
                        symptom: sym.code.clone(),
                        label: sym.label_en.clone(),
                        side: r.side,
                        rule: rule.rule.clone(),
                        laterality: rule.laterality,
                        strength: rule.strength,
                        weight,
                        note,
                    });
            }
        }
        // Gerstmann: single elements are moderate, the full tetrad is strong.
        if GERSTMANN
            .iter()
            .all(|c| resolved.iter().any(|r| r.code == *c))
        {
            let (hemisphere, certainty, note) =
                side_to_hemisphere(Laterality::Dominant, None, handedness);
            candidates
                .entry(("parietal_lobe".to_string(), hemisphere))
                .or_default()
                .push(Evidence {
                    symptom: GERSTMANN.join("+"),
                    label: "Gerstmann syndrome (full tetrad)".into(),
                    side: None,
                    rule: "R-GERSTMANN-TETRAD".into(),
                    laterality: Laterality::Dominant,
                    strength: Strength::Strong,
                    weight: Strength::Strong.weight() * certainty,
                    note,
                });
        }
        let mut suspected: Vec<Suspected> = candidates
            .into_iter()
            .map(|((region, hemisphere), evidence)| Suspected {
                score: evidence.iter().map(|e| e.weight).sum(),
                region,
                hemisphere,
                evidence,
            })
            .collect();
        suspected.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.region.cmp(&b.region))
                .then_with(|| a.hemisphere.cmp(&b.hemisphere))
        });
        Ok(Suspicion {
            suspected,
            non_localising,
            unmatched,
            negated,
            resolved,
            handedness,
        })
    }

    /// Hospitals for a confirmed region, ranked by capabilities matched, then distance.
    ///
    /// # Errors
    /// [`Error::UnknownRegion`]; [`Error::Storage`].
    pub fn hospitals(&self, q: &ReferralQuery) -> Result<Vec<HospitalMatch>> {
        self.require_region(&q.region)?;
        let wanted_deps = departments_for(&q.region);
        let mut out = Vec::new();
        for h in self.store.hospitals()? {
            let treats = h.sites.is_empty() || h.sites.iter().any(|s| self.is_within(&q.region, s));
            if !treats {
                continue;
            }
            let (matched, missing): (Vec<Capability>, Vec<Capability>) = q
                .capabilities
                .iter()
                .partition(|c| h.capabilities.contains(c));
            let departments: Vec<String> = wanted_deps
                .iter()
                .filter(|d| h.departments.iter().any(|x| x == *d))
                .map(|d| d.to_string())
                .collect();
            if departments.is_empty() {
                continue;
            }
            let distance_km = match (q.location, h.lat, h.lon) {
                (Some(l), Some(lat), Some(lon)) => Some(haversine_km(l, lat, lon)),
                _ => None,
            };
            out.push(HospitalMatch {
                hospital: h,
                matched_capabilities: matched,
                missing_capabilities: missing,
                departments,
                distance_km,
            });
        }
        out.sort_by(|a, b| {
            b.matched_capabilities
                .len()
                .cmp(&a.matched_capabilities.len())
                .then_with(|| b.departments.len().cmp(&a.departments.len()))
                .then_with(|| {
                    a.distance_km
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&b.distance_km.unwrap_or(f64::INFINITY))
                })
                .then_with(|| a.hospital.id.cmp(&b.hospital.id))
        });
        if q.limit > 0 {
            out.truncate(q.limit);
        }
        Ok(out)
    }
}
