//! Departments and hospitals for the confirmed site, asking for the capabilities the finding
//! and the patient call for:
//! * **every child** (< 18 years) → paediatric neurosurgery, whatever the site; adults are
//!   never routed there;
//! * adults with a lesion in the language-dominant hemisphere's frontal, temporal or
//!   parietal lobe or insula (left for right-handed or unknown handedness; either side for
//!   left-handed or ambidextrous patients, whose dominance is uncertain), or near the motor
//!   strip on either side (a frontal or parietal tumour with hemiparesis or focal motor
//!   seizures) → awake craniotomy / mapping;
//! * sellar/suprasellar (`pituitary_sellar`, `hypothalamus`) → pituitary centre, endoscopic
//!   endonasal surgery and neuro-ophthalmology (the chiasm);
//! * temporal lobe or insula with a seizure among the symptoms → epilepsy surgery;
//! * cerebellopontine angle → skull-base surgery; occipital lobe → neuro-ophthalmology;
//! * hydrocephalus (reported, or papilledema with a tumour that can block CSF flow: posterior
//!   fossa, pineal region, third ventricle) → CSF diversion;
//! * with several lesions, each lesion's own site as above (the reason names the lesion),
//!   and 2–10 lesions with cores under 3 cm across → stereotactic radiosurgery.
//!
//! Hospitals come from the knowledge base ranked by capabilities matched, then distance
//! from the patient when the intake gives a location. The default knowledge base's
//! hospitals are **sample data**, and every referral says so.

use serde::{Deserialize, Serialize};
use symptom_kb::{
    Capability, Category, Handedness, Hemisphere, Intake, KnowledgeBase, ReferralQuery, Suspicion,
};

use crate::error::Result;
use crate::localize::TumourFinding;

/// A capability and why it was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    /// The capability.
    pub capability: Capability,
    /// Why.
    pub reason: String,
}

/// One recommended hospital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HospitalReferral {
    /// Hospital id.
    pub id: String,
    /// Korean name.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
    /// Address.
    pub address: String,
    /// Departments to see there.
    pub departments: Vec<String>,
    /// Requested capabilities it has.
    pub matched_capabilities: Vec<Capability>,
    /// Requested capabilities it lacks.
    pub missing_capabilities: Vec<Capability>,
    /// Distance from the patient, when known.
    pub distance_km: Option<f64>,
    /// True for sample data (not a real hospital).
    pub sample: bool,
}

/// The referral for a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    /// Region the referral is for.
    pub region: Option<String>,
    /// Departments for that region (knowledge base codes).
    pub departments: Vec<String>,
    /// Capabilities asked for, with reasons.
    pub capabilities: Vec<Requested>,
    /// Hospitals, best first.
    pub hospitals: Vec<HospitalReferral>,
    /// A note when any hospital is sample data.
    pub note: Option<String>,
}

const ELOQUENT: [&str; 4] = ["frontal_lobe", "temporal_lobe", "parietal_lobe", "insula"];

/// The capabilities a finding calls for: those of the whole tumour's site, then (with
/// several lesions) those of each lesion's own site, each asked for once with the first
/// reason, and radiosurgery for several small lesions.
pub fn capabilities_for(
    kb: &KnowledgeBase,
    finding: &TumourFinding,
    intake: &Intake,
    suspicion: &Suspicion,
) -> Vec<Requested> {
    let mut out = Vec::new();
    let Some(region) = finding.primary_region.as_deref() else {
        return out;
    };
    let child = intake.patient.age_years.is_some_and(|a| a < 18.0);
    if child {
        out.push(Requested {
            capability: Capability::PaediatricNeurosurgery,
            reason: "patient under 18: paediatric neurosurgery, whatever the site".into(),
        });
    }
    let mut add = |asked: Vec<Requested>| {
        for r in asked {
            if !out.iter().any(|o| o.capability == r.capability) {
                out.push(r);
            }
        }
    };
    add(site_capabilities(
        kb,
        region,
        finding.hemisphere,
        intake,
        suspicion,
    ));
    if finding.lesions.len() >= 2 {
        for l in &finding.lesions {
            let Some(lr) = l.primary_region.as_deref() else {
                continue;
            };
            let mut asked = site_capabilities(kb, lr, Some(l.hemisphere), intake, suspicion);
            for r in &mut asked {
                r.reason = format!("lesion {} ({}): {}", l.id, l.name(), r.reason);
            }
            add(asked);
        }
        // Stereotactic radiosurgery is the usual treatment of a few small brain metastases
        // (cores up to about 3 cm across: 14 cm³ as a sphere).
        let small = |l: &crate::localize::Lesion| {
            l.volumes_cm3.get("TC").copied().unwrap_or(0.0) <= SRS_MAX_CORE_CM3
        };
        if finding.lesions.len() <= SRS_MAX_LESIONS && finding.lesions.iter().all(small) {
            add(vec![Requested {
                capability: Capability::Radiosurgery,
                reason: format!(
                    "{} separate lesions, each with a core under 3 cm across (the pattern of metastases): stereotactic radiosurgery is the usual treatment of a few small ones",
                    finding.lesions.len()
                ),
            }]);
        }
    }
    out
}

/// The largest core (cm³) radiosurgery is asked for: a sphere 3 cm across.
pub const SRS_MAX_CORE_CM3: f64 = 14.1;

/// The most lesions radiosurgery is asked for (beyond, whole-brain treatment is weighed).
pub const SRS_MAX_LESIONS: usize = 10;

/// The capabilities one site calls for (everything but the patient's age).
fn site_capabilities(
    kb: &KnowledgeBase,
    region: &str,
    side: Option<Hemisphere>,
    intake: &Intake,
    suspicion: &Suspicion,
) -> Vec<Requested> {
    let mut out = Vec::new();
    let within = |a: &str| kb.is_within(region, a);
    let dominant_left_only = matches!(
        intake.patient.handedness,
        Handedness::Right | Handedness::Unknown
    );
    let child = intake.patient.age_years.is_some_and(|a| a < 18.0);
    let has = |codes: &[&str]| {
        suspicion
            .resolved
            .iter()
            .any(|r| codes.contains(&r.code.as_str()))
    };
    let motor = has(&[
        "HP:0001269",
        "HP:0002301",
        "HP:0004374",
        "HP:0011153",
        "HP:0002266",
    ]);
    if !child && ELOQUENT.iter().any(|e| within(e)) {
        let dominant = match side {
            Some(Hemisphere::Left) | Some(Hemisphere::Bilateral) => true,
            Some(Hemisphere::Right) => !dominant_left_only,
            _ => false,
        };
        let motor_strip = motor && (within("frontal_lobe") || within("parietal_lobe"));
        if dominant {
            out.push(Requested {
                capability: Capability::AwakeCraniotomy,
                reason: format!(
                    "{region} in the {} hemisphere, {} for language ({:?} handedness): awake mapping protects eloquent cortex",
                    side.map_or("?", Hemisphere::name),
                    if dominant_left_only { "dominant" } else { "possibly dominant" },
                    intake.patient.handedness
                )
                .to_lowercase(),
            });
        } else if motor_strip {
            out.push(Requested {
                capability: Capability::AwakeCraniotomy,
                reason: format!(
                    "{region} with motor signs: the motor strip may be involved; mapping protects it on either side"
                ),
            });
        }
    }
    if within("pituitary_sellar") || within("hypothalamus") {
        out.push(Requested {
            capability: Capability::PituitaryCentre,
            reason: "sellar/suprasellar site: endocrine work-up and pituitary surgery".into(),
        });
        out.push(Requested {
            capability: Capability::EndoscopicEndonasal,
            reason: "sellar site: endoscopic endonasal approach".into(),
        });
        out.push(Requested {
            capability: Capability::NeuroOphthalmology,
            reason: "sellar/chiasmal site: visual fields and acuity".into(),
        });
    }
    let seizures = suspicion.resolved.iter().any(|r| {
        kb.symptom(&r.code)
            .is_some_and(|s| s.category == Category::Seizure)
    });
    if (within("temporal_lobe") || within("insula")) && seizures {
        out.push(Requested {
            capability: Capability::EpilepsySurgery,
            reason: "temporal/insular tumour with seizures: epilepsy surgery team".into(),
        });
    }
    let posterior_fossa =
        within("cerebellum") || within("brainstem") || within("cerebellopontine_angle");
    let blocks_csf = posterior_fossa || within("pineal_region") || within("ventricles");
    if has(&["HP:0000238"]) || (blocks_csf && has(&["HP:0001085", "HP:0002516"])) {
        out.push(Requested {
            capability: Capability::CsfDiversion,
            reason: "hydrocephalus or raised pressure with a tumour that can block CSF flow: CSF diversion may be needed first".into(),
        });
    }
    if within("cerebellopontine_angle") {
        out.push(Requested {
            capability: Capability::SkullBaseSurgery,
            reason: "cerebellopontine angle: skull-base surgery with neurotology".into(),
        });
    }
    if within("occipital_lobe") {
        out.push(Requested {
            capability: Capability::NeuroOphthalmology,
            reason: "occipital lobe: visual-field assessment".into(),
        });
    }
    out
}

/// Builds the referral (hospitals limited to `limit`).
///
/// # Errors
/// [`crate::Error::Kb`] for a region the knowledge base does not know.
pub fn refer(
    kb: &KnowledgeBase,
    finding: &TumourFinding,
    intake: &Intake,
    suspicion: &Suspicion,
    limit: usize,
) -> Result<Referral> {
    let Some(region) = finding.primary_region.clone() else {
        return Ok(Referral {
            region: None,
            departments: Vec::new(),
            capabilities: Vec::new(),
            hospitals: Vec::new(),
            note: Some("no tumour site: no referral".into()),
        });
    };
    let capabilities = capabilities_for(kb, finding, intake, suspicion);
    let found = kb.hospitals(&ReferralQuery {
        region: region.clone(),
        capabilities: capabilities.iter().map(|r| r.capability).collect(),
        location: intake.patient.location,
        limit,
    })?;
    let hospitals: Vec<HospitalReferral> = found
        .into_iter()
        .map(|r| HospitalReferral {
            id: r.hospital.id,
            name_ko: r.hospital.name_ko,
            name_en: r.hospital.name_en,
            address: r.hospital.address,
            departments: r.departments,
            matched_capabilities: r.matched_capabilities,
            missing_capabilities: r.missing_capabilities,
            distance_km: r.distance_km,
            sample: r.hospital.sample,
        })
        .collect();
    let note = hospitals.iter().any(|h| h.sample).then(|| {
        "SAMPLE DATA: the hospitals listed are fictitious examples shipped with the default knowledge base, not real recommendations. Import your own hospital list (symptom-kb import).".to_string()
    });
    Ok(Referral {
        departments: symptom_kb::query::departments_for(&region)
            .iter()
            .map(|s| s.to_string())
            .collect(),
        region: Some(region),
        capabilities,
        hospitals,
        note,
    })
}
