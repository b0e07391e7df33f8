//! Labels as data: [`LabelScheme`] presets, contiguous classes and the WT ⊇ TC ⊇ ET regions.
//!
//! | scheme | 1 | 2 | 3 / 4 |
//! |---|---|---|---|
//! | BraTS 2017–2021 | NCR (necrotic / non-enhancing core) | ED (edema) | 4 = ET (enhancing) |
//! | BraTS 2023+ | NETC (non-enhancing core) | SNFH (surrounding FLAIR hyperintensity) | 3 = ET |
//! | BraTS 2024 post-treatment | NETC | SNFH | 3 = ET; 4 = RC (resection cavity, not tumour) |
//! | Decathlon Task01 | **ED** (edema) | **NET** (non-enhancing tumour) | 3 = ET |
//!
//! Regions: whole tumour WT = all tumour labels; tumour core TC = core + ET; enhancing tumour
//! ET. A label that is no tumour ([`LabelScheme::non_tumour`], BraTS 2024's resection cavity)
//! is a valid value in a map but in no region, and background as a class.
//!
//! ```
//! use brats_io::{LabelScheme, TumourRegion};
//! use ndarray::Array3;
//! # fn main() -> brats_io::Result<()> {
//! let scheme = LabelScheme::brats2021();
//! let seg = Array3::from_shape_vec([1, 1, 4], vec![0u8, 1, 2, 4]).unwrap();
//! assert_eq!(scheme.to_classes(&seg, "seg")?.as_slice().unwrap(), &[0, 1, 2, 3]);
//! assert_eq!(scheme.region_mask(&seg, TumourRegion::Tc).as_slice().unwrap(), &[false, true, false, true]);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use ndarray::{Array3, ArrayBase, Data, Ix3, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The BraTS evaluation regions, nested WT ⊇ TC ⊇ ET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TumourRegion {
    /// Whole tumour: every tumour label.
    #[serde(rename = "WT")]
    Wt,
    /// Tumour core: necrotic/non-enhancing core plus enhancing tumour.
    #[serde(rename = "TC")]
    Tc,
    /// Enhancing tumour.
    #[serde(rename = "ET")]
    Et,
}

impl TumourRegion {
    /// WT, TC, ET in nesting order.
    pub const ALL: [TumourRegion; 3] = [TumourRegion::Wt, TumourRegion::Tc, TumourRegion::Et];

    /// `"WT"`, `"TC"` or `"ET"`.
    pub fn name(self) -> &'static str {
        match self {
            TumourRegion::Wt => "WT",
            TumourRegion::Tc => "TC",
            TumourRegion::Et => "ET",
        }
    }
}

impl std::fmt::Display for TumourRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a tumour label is, which fixes the regions it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compartment {
    /// Necrosis / non-enhancing core: in TC and WT.
    Core,
    /// Edema / surrounding FLAIR hyperintensity: in WT only.
    Edema,
    /// Enhancing tumour: in ET, TC and WT.
    Enhancing,
}

impl Compartment {
    /// True when this compartment is part of `region`.
    pub fn in_region(self, region: TumourRegion) -> bool {
        match (self, region) {
            (_, TumourRegion::Wt) => true,
            (Compartment::Edema, _) => false,
            (Compartment::Core, TumourRegion::Tc) => true,
            (Compartment::Core, TumourRegion::Et) => false,
            (Compartment::Enhancing, _) => true,
        }
    }
}

/// One tumour label of a scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelDef {
    /// The voxel value on disk.
    pub value: u8,
    /// Its short name (`"NCR"`, `"ED"`, `"ET"`, …).
    pub name: String,
    /// What it is.
    pub compartment: Compartment,
}

/// A labelled value that is no tumour (BraTS 2024's resection cavity, 4 = RC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonTumourLabel {
    /// The voxel value on disk.
    pub value: u8,
    /// Its short name (`"RC"`).
    pub name: String,
}

/// A set of tumour labels (background is always 0) and their meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelScheme {
    name: String,
    labels: Vec<LabelDef>,
    /// Values labelled but no tumour: valid in a map, in no region, background as a class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    non_tumour: Vec<NonTumourLabel>,
}

impl LabelScheme {
    /// BraTS 2017–2021: 1 NCR, 2 ED, 4 ET.
    pub fn brats2021() -> Self {
        Self::preset(
            "brats2021",
            [
                (1, "NCR", Compartment::Core),
                (2, "ED", Compartment::Edema),
                (4, "ET", Compartment::Enhancing),
            ],
        )
    }

    /// BraTS 2023+: 1 NETC, 2 SNFH, 3 ET.
    pub fn brats2023() -> Self {
        Self::preset(
            "brats2023",
            [
                (1, "NETC", Compartment::Core),
                (2, "SNFH", Compartment::Edema),
                (3, "ET", Compartment::Enhancing),
            ],
        )
    }

    /// BraTS 2024's post-treatment gliomas: BraTS 2023's 1 NETC, 2 SNFH, 3 ET, and 4 RC, the
    /// resection cavity, which is no tumour ([`LabelScheme::non_tumour`]): in no region
    /// (BraTS 2024 scores it on its own), background as a class. It reads every BraTS
    /// 2023 map too.
    pub fn brats2024() -> Self {
        let mut s = Self::brats2023();
        s.name = "brats2024".into();
        s.non_tumour = vec![NonTumourLabel {
            value: 4,
            name: "RC".into(),
        }];
        s
    }

    /// The Medical Segmentation Decathlon's Task01_BrainTumour: 1 ED (edema), 2 NET
    /// (non-enhancing tumour: the necrotic and non-enhancing core), 3 ET. Values 1–3 as
    /// BraTS 2023's, with the meanings of 1 and 2 swapped: [`crate::decathlon`].
    pub fn decathlon() -> Self {
        Self::preset(
            "decathlon",
            [
                (2, "NET", Compartment::Core),
                (1, "ED", Compartment::Edema),
                (3, "ET", Compartment::Enhancing),
            ],
        )
    }

    fn preset(name: &str, defs: [(u8, &str, Compartment); 3]) -> Self {
        LabelScheme {
            name: name.into(),
            labels: defs
                .iter()
                .map(|&(value, n, compartment)| LabelDef {
                    value,
                    name: n.into(),
                    compartment,
                })
                .collect(),
            non_tumour: Vec::new(),
        }
    }

    /// A preset by name: `"brats2021"` (also `"brats2017"`…`"brats2020"`), `"brats2023"`,
    /// `"brats2024"` (also `"brats2025"`) or `"decathlon"` (also `"msd"`).
    ///
    /// # Errors
    /// [`Error::Config`] for any other name.
    pub fn by_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "brats2017" | "brats2018" | "brats2019" | "brats2020" | "brats2021" => {
                Ok(Self::brats2021())
            }
            "brats2023" => Ok(Self::brats2023()),
            "brats2024" | "brats2025" => Ok(Self::brats2024()),
            "decathlon" | "msd" => Ok(Self::decathlon()),
            other => Err(Error::config(
                "label scheme",
                format!(
                    "unknown scheme {other:?} (expected brats2021, brats2023, brats2024 or decathlon)"
                ),
            )),
        }
    }

    /// A custom scheme.
    ///
    /// # Errors
    /// [`Error::Config`] when a value is 0 or repeated, or a compartment is missing or repeated.
    pub fn new(name: impl Into<String>, labels: Vec<LabelDef>) -> Result<Self> {
        let mut seen = [false; 256];
        for l in &labels {
            if l.value == 0 || seen[l.value as usize] {
                return Err(Error::config(
                    "labels",
                    format!("value {} is 0 or repeated", l.value),
                ));
            }
            seen[l.value as usize] = true;
        }
        for c in [
            Compartment::Core,
            Compartment::Edema,
            Compartment::Enhancing,
        ] {
            let n = labels.iter().filter(|l| l.compartment == c).count();
            if n != 1 {
                return Err(Error::config(
                    "labels",
                    format!("need exactly one {c:?} label, got {n}"),
                ));
            }
        }
        Ok(LabelScheme {
            name: name.into(),
            labels,
            non_tumour: Vec::new(),
        })
    }

    /// The scheme with `value` labelled as no tumour (`name`, e.g. a resection cavity).
    ///
    /// # Errors
    /// [`Error::Config`] when `value` is 0 or already a label of the scheme.
    pub fn with_non_tumour(mut self, value: u8, name: impl Into<String>) -> Result<Self> {
        if value == 0 || self.lookup()[value as usize].is_some() {
            return Err(Error::config(
                "labels",
                format!("value {value} is 0 or repeated"),
            ));
        }
        self.non_tumour.push(NonTumourLabel {
            value,
            name: name.into(),
        });
        Ok(self)
    }

    /// The labelled values that are no tumour (BraTS 2024's resection cavity): valid in a
    /// map, in no region, background as a class.
    pub fn non_tumour(&self) -> &[NonTumourLabel] {
        &self.non_tumour
    }

    /// The scheme's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tumour labels in class order (class `c` is `labels()[c - 1]`).
    pub fn labels(&self) -> &[LabelDef] {
        &self.labels
    }

    /// Number of classes including background (4 for the presets).
    pub fn n_classes(&self) -> usize {
        self.labels.len() + 1
    }

    /// The value of the label with this compartment.
    pub fn value_of(&self, compartment: Compartment) -> u8 {
        self.labels
            .iter()
            .find(|l| l.compartment == compartment)
            .map_or(0, |l| l.value)
    }

    /// Value → class (non-tumour values: background), `None` outside the scheme.
    fn lookup(&self) -> [Option<u8>; 256] {
        let mut t = [None; 256];
        t[0] = Some(0);
        for l in &self.non_tumour {
            t[l.value as usize] = Some(0);
        }
        for (c, l) in self.labels.iter().enumerate() {
            t[l.value as usize] = Some(c as u8 + 1);
        }
        t
    }

    /// For every class index (0 background, then the labels in order) whether it belongs to
    /// WT, TC and ET ([`TumourRegion::ALL`] order).
    pub fn class_regions(&self) -> Vec<[bool; 3]> {
        std::iter::once([false; 3])
            .chain(
                self.labels
                    .iter()
                    .map(|l| TumourRegion::ALL.map(|r| l.compartment.in_region(r))),
            )
            .collect()
    }

    /// Checks that every voxel is 0 or a label of the scheme.
    ///
    /// # Errors
    /// [`Error::UnexpectedLabels`] listing each unexpected value with its voxel count.
    pub fn check(&self, labels: &Array3<u8>, context: &str) -> Result<()> {
        let table = self.lookup();
        let mut counts = [0usize; 256];
        for &v in labels.iter() {
            counts[v as usize] += 1;
        }
        let unexpected: Vec<(u8, usize)> = (0..256)
            .filter(|&v| counts[v] > 0 && table[v].is_none())
            .map(|v| (v as u8, counts[v]))
            .collect();
        if unexpected.is_empty() {
            Ok(())
        } else {
            Err(Error::UnexpectedLabels {
                context: context.into(),
                scheme: self.name.clone(),
                unexpected,
            })
        }
    }

    /// Label values → contiguous classes `0..n_classes()` (background 0, then the scheme's
    /// labels in order; a non-tumour label is background).
    ///
    /// # Errors
    /// [`Error::UnexpectedLabels`] when a voxel holds a value outside the scheme.
    pub fn to_classes(&self, labels: &Array3<u8>, context: &str) -> Result<Array3<u8>> {
        self.check(labels, context)?;
        let table = self.lookup();
        Ok(labels.mapv(|v| table[v as usize].unwrap_or(0)))
    }

    /// Contiguous classes → label values.
    ///
    /// # Errors
    /// [`Error::UnexpectedLabels`] when a class is `≥ n_classes()`.
    pub fn from_classes(&self, classes: &Array3<u8>, context: &str) -> Result<Array3<u8>> {
        let n = self.n_classes();
        let mut counts = BTreeMap::new();
        for &c in classes.iter().filter(|&&c| c as usize >= n) {
            *counts.entry(c).or_insert(0usize) += 1;
        }
        if !counts.is_empty() {
            return Err(Error::UnexpectedLabels {
                context: format!("{context} (classes)"),
                scheme: self.name.clone(),
                unexpected: counts.into_iter().collect(),
            });
        }
        let values: Vec<u8> = std::iter::once(0)
            .chain(self.labels.iter().map(|l| l.value))
            .collect();
        Ok(classes.mapv(|c| values[c as usize]))
    }

    /// The voxels of `region`. Values outside the scheme count as background; call
    /// [`LabelScheme::check`] first when that must be an error.
    pub fn region_mask<S: Data<Elem = u8>>(
        &self,
        labels: &ArrayBase<S, Ix3>,
        region: TumourRegion,
    ) -> Array3<bool> {
        let mut member = [false; 256];
        for l in &self.labels {
            member[l.value as usize] = l.compartment.in_region(region);
        }
        labels.mapv(|v| member[v as usize])
    }

    /// Region masks → label values with ET ⊆ TC ⊆ WT enforced: a voxel in ET is
    /// enhancing; else in TC it is core; else in WT it is edema; else background. So a voxel
    /// flagged ET (or TC) but not WT still counts as tumour: the inner region wins.
    ///
    /// # Shapes
    /// All three masks share one shape `[D, H, W]`; the result has it too.
    ///
    /// # Errors
    /// [`Error::Shape`] when the masks' shapes differ.
    pub fn from_regions(
        &self,
        wt: &Array3<bool>,
        tc: &Array3<bool>,
        et: &Array3<bool>,
    ) -> Result<Array3<u8>> {
        if wt.shape() != tc.shape() || wt.shape() != et.shape() {
            return Err(Error::shape(
                "region masks",
                format!("one shape (WT {:?})", wt.shape()),
                format!("TC {:?}, ET {:?}", tc.shape(), et.shape()),
            ));
        }
        let (e, c, w) = (
            self.value_of(Compartment::Enhancing),
            self.value_of(Compartment::Core),
            self.value_of(Compartment::Edema),
        );
        let mut out = Array3::zeros(wt.raw_dim());
        Zip::from(&mut out)
            .and(wt)
            .and(tc)
            .and(et)
            .for_each(|o, &w_, &t_, &e_| {
                *o = if e_ {
                    e
                } else if t_ {
                    c
                } else if w_ {
                    w
                } else {
                    0
                }
            });
        Ok(out)
    }

    /// The same map in another scheme: every label becomes `to`'s label of the same
    /// compartment (BraTS 2021's 4, enhancing tumour, becomes BraTS 2023's 3), background
    /// stays 0, and a non-tumour label becomes `to`'s of the same name, or background when
    /// `to` has none (BraTS 2024's resection cavity in BraTS 2021's labels).
    ///
    /// # Errors
    /// [`Error::UnexpectedLabels`] (naming `context`) when a voxel holds a value outside this
    /// scheme.
    pub fn convert(
        &self,
        labels: &Array3<u8>,
        to: &LabelScheme,
        context: &str,
    ) -> Result<Array3<u8>> {
        self.check(labels, context)?;
        let mut table = [0u8; 256];
        for l in &self.labels {
            table[l.value as usize] = to.value_of(l.compartment);
        }
        for l in &self.non_tumour {
            table[l.value as usize] = to
                .non_tumour
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&l.name))
                .map_or(0, |t| t.value);
        }
        Ok(labels.mapv(|v| table[v as usize]))
    }

    /// What the scheme's values mean, `(value, compartment)` by value (`None`: a non-tumour
    /// label): two schemes with the same meaning read a map alike, whatever their names.
    pub fn meaning(&self) -> Vec<(u8, Option<Compartment>)> {
        let mut v: Vec<_> = self
            .labels
            .iter()
            .map(|l| (l.value, Some(l.compartment)))
            .chain(self.non_tumour.iter().map(|l| (l.value, None)))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// Voxel count of each value present (label → count), for reports.
    pub fn counts(labels: &Array3<u8>) -> BTreeMap<u8, usize> {
        let mut counts = [0usize; 256];
        for &v in labels.iter() {
            counts[v as usize] += 1;
        }
        (0..256)
            .filter(|&v| counts[v] > 0)
            .map(|v| (v as u8, counts[v]))
            .collect()
    }
}
