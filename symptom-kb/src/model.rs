//! The knowledge base's content types: symptoms, regions, symptom → region rules and
//! hospitals. All are serde types; the JSON field names are the public import/export format.

use serde::{Deserialize, Serialize};

/// How much a symptom says about *where* a tumour is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Localising {
    /// Localising or lateralising with one substrate.
    Strong,
    /// Hemisphere reliable but not lobe, or the reverse.
    Moderate,
    /// A statistical tendency.
    Weak,
    /// No localising value (raised-pressure signs, generalised seizures) or a known
    /// false-localising sign.
    NonLocalising,
}

/// Strength of a rule's evidence (domain reference, section 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Localising with one substrate.
    Strong,
    /// Hemisphere or lobe, not both.
    Moderate,
    /// A tendency.
    Weak,
}

impl Strength {
    /// The weight a rule of this strength adds to a candidate region (1, 0.6, 0.3).
    pub fn weight(self) -> f64 {
        match self {
            Strength::Strong => 1.0,
            Strength::Moderate => 0.6,
            Strength::Weak => 0.3,
        }
    }
}

/// Symptom groups, for display and for the questionnaire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Raised intracranial pressure and general symptoms.
    General,
    /// Seizures and auras.
    Seizure,
    /// Weakness and movement.
    Motor,
    /// Sensation.
    Sensory,
    /// Language, calculation, praxis and other parietal signs.
    Language,
    /// Personality, cognition, continence, smell.
    Cognitive,
    /// Vision and eye movements.
    Visual,
    /// Coordination and balance.
    Cerebellar,
    /// Cranial nerves (face, hearing, swallowing, eye muscles).
    CranialNerve,
    /// Hormones and the hypothalamus.
    Endocrine,
}

/// A symptom the patient or clinician can report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symptom {
    /// HPO id (`HP:0001269`) or a local code (`X-…`) where HPO has no term.
    pub code: String,
    /// English label.
    pub label_en: String,
    /// Korean label.
    pub label_ko: String,
    /// English synonyms and lay phrasings.
    #[serde(default)]
    pub synonyms_en: Vec<String>,
    /// Korean synonyms and lay phrasings.
    #[serde(default)]
    pub synonyms_ko: Vec<String>,
    /// Group.
    pub category: Category,
    /// How localising it is.
    pub localising: Localising,
    /// A false-localising sign when raised-pressure symptoms are also present (abducens
    /// palsy): then it is treated as non-localising.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub false_localising_with_raised_icp: bool,
}

impl Symptom {
    /// True for a local (non-HPO) code.
    pub fn is_local_code(&self) -> bool {
        !self.code.starts_with("HP:")
    }
}

/// A side of the brain (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hemisphere {
    /// Left hemisphere.
    Left,
    /// Right hemisphere.
    Right,
    /// A midline structure.
    Midline,
    /// Both sides.
    Bilateral,
}

impl Hemisphere {
    /// The other side (left ↔ right); midline and bilateral stay.
    pub fn opposite(self) -> Self {
        match self {
            Hemisphere::Left => Hemisphere::Right,
            Hemisphere::Right => Hemisphere::Left,
            other => other,
        }
    }

    /// `"left"`, `"right"`, `"midline"`, `"bilateral"`.
    pub fn name(self) -> &'static str {
        match self {
            Hemisphere::Left => "left",
            Hemisphere::Right => "right",
            Hemisphere::Midline => "midline",
            Hemisphere::Bilateral => "bilateral",
        }
    }
}

/// A brain region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrainRegion {
    /// snake_case id (`frontal_lobe`).
    pub id: String,
    /// English name.
    pub name_en: String,
    /// Korean name.
    pub name_ko: String,
    /// UBERON id, when one is known.
    pub uberon: Option<String>,
    /// The region it lies within (`pons` → `brainstem`).
    pub parent: Option<String>,
    /// What it does, in a few words (English).
    #[serde(default)]
    pub functions: Vec<String>,
    /// True when the region exists once per hemisphere (lobes); false for midline
    /// structures (vermis, pituitary, pineal) and for wholes that span the midline
    /// (brainstem, ventricles).
    pub paired: bool,
}

/// How a rule turns the side of a symptom into a hemisphere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Laterality {
    /// The opposite hemisphere to the body side / visual hemifield (motor, sensory, fields).
    Contralateral,
    /// The same side (cerebellar hemisphere, CPA ear signs, brainstem cranial-nerve palsy).
    Ipsilateral,
    /// The language-dominant hemisphere (by handedness).
    Dominant,
    /// The non-dominant hemisphere.
    NonDominant,
    /// A midline structure.
    Midline,
    /// The rule predicts a region but no side.
    None,
}

/// An optional condition on a rule (e.g. which quadrant of a visual field defect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    /// Upper quadrant ("pie in the sky").
    Superior,
    /// Lower quadrant ("pie on the floor").
    Inferior,
}

/// Symptom → region, with how the side maps and how strong the evidence is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The domain reference's rule id (`R-CONTRA-MOTOR`).
    pub rule: String,
    /// Symptom code.
    pub symptom: String,
    /// Region id.
    pub region: String,
    /// Side mapping.
    pub laterality: Laterality,
    /// Evidence strength.
    pub strength: Strength,
    /// Applies only when the intake carries this qualifier (`None`: always).
    #[serde(default)]
    pub qualifier: Option<Qualifier>,
    /// Where the fact comes from.
    pub source: String,
}

/// A hospital department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// Code (`neurosurgery`, `endocrinology`, …).
    pub code: String,
    /// Korean name (`신경외과`).
    pub name_ko: String,
    /// English name.
    pub name_en: String,
}

/// A special capability the referral can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Awake craniotomy / brain mapping for eloquent cortex.
    AwakeCraniotomy,
    /// Endoscopic endonasal (transsphenoidal) surgery.
    EndoscopicEndonasal,
    /// Stereotactic radiosurgery (Gamma Knife, CyberKnife).
    Radiosurgery,
    /// Proton therapy.
    ProtonTherapy,
    /// Paediatric neurosurgery.
    PaediatricNeurosurgery,
    /// Epilepsy surgery centre.
    EpilepsySurgery,
    /// Neuro-ophthalmology (visual fields).
    NeuroOphthalmology,
    /// Pituitary centre (endocrinology + pituitary surgeon).
    PituitaryCentre,
    /// Intra-operative MRI.
    IntraoperativeMri,
    /// Skull-base surgery with neurotology.
    SkullBaseSurgery,
    /// CSF diversion for hydrocephalus (external ventricular drain, shunt, endoscopic
    /// third ventriculostomy).
    CsfDiversion,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 11] = [
        Capability::AwakeCraniotomy,
        Capability::EndoscopicEndonasal,
        Capability::Radiosurgery,
        Capability::ProtonTherapy,
        Capability::PaediatricNeurosurgery,
        Capability::EpilepsySurgery,
        Capability::NeuroOphthalmology,
        Capability::PituitaryCentre,
        Capability::IntraoperativeMri,
        Capability::SkullBaseSurgery,
        Capability::CsfDiversion,
    ];

    /// The snake_case name used in JSON, CSV and the indexes.
    pub fn name(self) -> &'static str {
        match self {
            Capability::AwakeCraniotomy => "awake_craniotomy",
            Capability::EndoscopicEndonasal => "endoscopic_endonasal",
            Capability::Radiosurgery => "radiosurgery",
            Capability::ProtonTherapy => "proton_therapy",
            Capability::PaediatricNeurosurgery => "paediatric_neurosurgery",
            Capability::EpilepsySurgery => "epilepsy_surgery",
            Capability::NeuroOphthalmology => "neuro_ophthalmology",
            Capability::PituitaryCentre => "pituitary_centre",
            Capability::IntraoperativeMri => "intraoperative_mri",
            Capability::SkullBaseSurgery => "skull_base_surgery",
            Capability::CsfDiversion => "csf_diversion",
        }
    }

    /// The capability with this name.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A hospital with its departments and capabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hospital {
    /// Id.
    pub id: String,
    /// Korean name.
    pub name_ko: String,
    /// English name.
    pub name_en: String,
    /// Street address.
    pub address: String,
    /// Province / city (시도).
    pub region: String,
    /// Latitude, degrees.
    pub lat: Option<f64>,
    /// Longitude, degrees.
    pub lon: Option<f64>,
    /// Department codes.
    pub departments: Vec<String>,
    /// Capabilities.
    pub capabilities: Vec<Capability>,
    /// Region ids treated (empty: all).
    #[serde(default)]
    pub sites: Vec<String>,
    /// True for the built-in sample directory: illustrative, not a claim about a real
    /// hospital.
    #[serde(default)]
    pub sample: bool,
}
