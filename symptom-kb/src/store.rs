//! The sled store: one tree per entity plus secondary indexes, replaced all-or-nothing.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `schema_version`, `content_version`, `sources` | text |
//! | `symptoms` | code | JSON [`Symptom`] |
//! | `regions` | id | JSON [`Region`] |
//! | `rules` | `symptom \0 nnnnn` | JSON [`Rule`] |
//! | `rules_by_region` | `region \0 symptom \0 nnnnn` | rules key |
//! | `text_index` | normalised phrase | JSON list of codes |
//! | `departments` | code | JSON [`Department`] |
//! | `hospitals` | id | JSON [`Hospital`] |
//! | `hospitals_by_site` | `region \0 id` | empty |
//! | `hospitals_by_capability` | `capability \0 id` | empty |
//!
//! A content replacement removes every old key and inserts every new one in a single
//! transaction over all trees, then flushes: a crash leaves either the old or the new
//! content. sled holds an exclusive file lock; a second opener gets [`Error::InUse`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::content::{Content, SCHEMA_VERSION};
use crate::error::{Error, Result};
use crate::lexicon::Lexicon;
use crate::model::{Department, Hospital, Region, Rule, Symptom};

/// The trees, in opening order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeId {
    Meta,
    Symptoms,
    Regions,
    Rules,
    RulesByRegion,
    TextIndex,
    Departments,
    Hospitals,
    HospitalsBySite,
    HospitalsByCapability,
}

impl TreeId {
    const ALL: [TreeId; 10] = [
        TreeId::Meta,
        TreeId::Symptoms,
        TreeId::Regions,
        TreeId::Rules,
        TreeId::RulesByRegion,
        TreeId::TextIndex,
        TreeId::Departments,
        TreeId::Hospitals,
        TreeId::HospitalsBySite,
        TreeId::HospitalsByCapability,
    ];

    fn name(self) -> &'static str {
        match self {
            TreeId::Meta => "meta",
            TreeId::Symptoms => "symptoms",
            TreeId::Regions => "regions",
            TreeId::Rules => "rules",
            TreeId::RulesByRegion => "rules_by_region",
            TreeId::TextIndex => "text_index",
            TreeId::Departments => "departments",
            TreeId::Hospitals => "hospitals",
            TreeId::HospitalsBySite => "hospitals_by_site",
            TreeId::HospitalsByCapability => "hospitals_by_capability",
        }
    }
}

/// An open knowledge base.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    ///
    /// # Errors
    /// [`Error::InUse`] when another process (or another handle in this one) has it open;
    /// [`Error::Schema`] when it was written by a newer schema; [`Error::Storage`] otherwise.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let path = dir.as_ref().to_path_buf();
        // sled releases its file lock when the last handle *and* its background flusher are
        // gone, which can lag a drop by a few milliseconds; retry briefly (≤ 0.5 s) before
        // reporting the database as in use.
        let mut attempt = 0;
        let db = loop {
            match sled::Config::new().path(&path).open() {
                Ok(db) => break db,
                Err(e) => {
                    let message = e.to_string();
                    if !message.contains("could not acquire lock") {
                        return Err(Error::Storage {
                            path: path.clone(),
                            message,
                        });
                    }
                    attempt += 1;
                    if attempt >= 10 {
                        return Err(Error::InUse { path: path.clone() });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        };
        let mut trees = Vec::with_capacity(TreeId::ALL.len());
        for id in TreeId::ALL {
            trees.push(db.open_tree(id.name()).map_err(|e| storage(&path, e))?);
        }
        let store = Store { path, db, trees };
        if let Some(v) = store.meta("schema_version")? {
            let found: u32 = v.parse().unwrap_or(u32::MAX);
            if found != SCHEMA_VERSION {
                return Err(Error::Schema {
                    path: store.path.clone(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        Ok(store)
    }

    /// The database folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tree(&self, id: TreeId) -> &sled::Tree {
        &self.trees[id as usize]
    }

    /// A meta value.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tree(TreeId::Meta)
            .get(key)
            .map_err(|e| storage(&self.path, e))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// True when no content has been stored yet.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.meta("content_version")?.is_none())
    }

    /// Replaces the whole content, all or nothing (the content must be valid; callers
    /// validate first).
    ///
    /// # Errors
    /// [`Error::Storage`]; on error nothing has changed.
    pub fn replace(&self, content: &Content) -> Result<()> {
        let entries = encode(content)?;
        // Existing keys of every tree, removed inside the same transaction.
        let mut old: Vec<Vec<sled::IVec>> = Vec::with_capacity(self.trees.len());
        for t in &self.trees {
            let keys = t
                .iter()
                .keys()
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| storage(&self.path, e))?;
            old.push(keys);
        }
        let trees: Vec<&sled::Tree> = self.trees.iter().collect();
        sled::Transactional::transaction(trees.as_slice(), |views| {
            for (view, keys) in views.iter().zip(&old) {
                for k in keys {
                    view.remove(k.clone())?;
                }
            }
            for (tree, key, value) in &entries {
                views[*tree as usize].insert(key.as_slice(), value.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        })
        .map_err(|e: TransactionError<()>| Error::Storage {
            path: self.path.clone(),
            message: format!("transaction failed: {e:?}"),
        })?;
        self.db.flush().map_err(|e| storage(&self.path, e))?;
        Ok(())
    }

    fn all<T: DeserializeOwned>(&self, tree: TreeId) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for item in self.tree(tree).iter() {
            let (k, v) = item.map_err(|e| storage(&self.path, e))?;
            out.push(decode(&self.path, tree.name(), &k, &v)?);
        }
        Ok(out)
    }

    fn get<T: DeserializeOwned>(&self, tree: TreeId, key: &str) -> Result<Option<T>> {
        match self
            .tree(tree)
            .get(key)
            .map_err(|e| storage(&self.path, e))?
        {
            Some(v) => Ok(Some(decode(&self.path, tree.name(), key.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// One symptom.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn symptom(&self, code: &str) -> Result<Option<Symptom>> {
        self.get(TreeId::Symptoms, code)
    }

    /// One region.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn region(&self, id: &str) -> Result<Option<Region>> {
        self.get(TreeId::Regions, id)
    }

    /// One hospital.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn hospital(&self, id: &str) -> Result<Option<Hospital>> {
        self.get(TreeId::Hospitals, id)
    }

    /// Every symptom, by code.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn symptoms(&self) -> Result<Vec<Symptom>> {
        self.all(TreeId::Symptoms)
    }

    /// Every region, by id.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn regions(&self) -> Result<Vec<Region>> {
        self.all(TreeId::Regions)
    }

    /// Every rule, by symptom then order of import.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn rules(&self) -> Result<Vec<Rule>> {
        self.all(TreeId::Rules)
    }

    /// Every department, by code.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn departments(&self) -> Result<Vec<Department>> {
        self.all(TreeId::Departments)
    }

    /// Every hospital, by id.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn hospitals(&self) -> Result<Vec<Hospital>> {
        self.all(TreeId::Hospitals)
    }

    /// The rules of one symptom (prefix scan of `rules`).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn rules_for_symptom(&self, code: &str) -> Result<Vec<Rule>> {
        let mut prefix = code.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.tree(TreeId::Rules).scan_prefix(&prefix) {
            let (k, v) = item.map_err(|e| storage(&self.path, e))?;
            out.push(decode(&self.path, "rules", &k, &v)?);
        }
        Ok(out)
    }

    /// The rules that point at one region (through `rules_by_region`).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn rules_for_region(&self, region: &str) -> Result<Vec<Rule>> {
        let mut prefix = region.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.tree(TreeId::RulesByRegion).scan_prefix(&prefix) {
            let (_, rule_key) = item.map_err(|e| storage(&self.path, e))?;
            if let Some(v) = self
                .tree(TreeId::Rules)
                .get(&rule_key)
                .map_err(|e| storage(&self.path, e))?
            {
                out.push(decode(&self.path, "rules", &rule_key, &v)?);
            }
        }
        Ok(out)
    }

    /// Ids of the hospitals that list `site` among the regions they treat
    /// (`hospitals_by_site`; hospitals with no site list treat everything and are not here).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn hospital_ids_by_site(&self, site: &str) -> Result<Vec<String>> {
        self.hospital_ids(TreeId::HospitalsBySite, site)
    }

    /// Ids of the hospitals with a capability (`hospitals_by_capability`).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn hospital_ids_by_capability(
        &self,
        capability: crate::model::Capability,
    ) -> Result<Vec<String>> {
        self.hospital_ids(TreeId::HospitalsByCapability, capability.name())
    }

    fn hospital_ids(&self, index: TreeId, value: &str) -> Result<Vec<String>> {
        let mut prefix = value.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.tree(index).scan_prefix(&prefix) {
            let (k, _) = item.map_err(|e| storage(&self.path, e))?;
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
        }
        Ok(out)
    }

    /// The whole content, as stored.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn content(&self) -> Result<Content> {
        Ok(Content {
            schema_version: SCHEMA_VERSION,
            content_version: self.meta("content_version")?.unwrap_or_default(),
            sources: self.meta("sources")?.unwrap_or_default(),
            symptoms: self.symptoms()?,
            regions: self.regions()?,
            rules: self.rules()?,
            departments: self.departments()?,
            hospitals: self.hospitals()?,
        })
    }
}

fn storage(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Storage {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::record("encoding", e.to_string()))
}

fn decode<T: DeserializeOwned>(path: &Path, tree: &str, key: &[u8], v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| Error::Storage {
        path: path.to_path_buf(),
        message: format!(
            "corrupt record {tree}/{}: {e}",
            String::from_utf8_lossy(key)
        ),
    })
}

type Entry = (TreeId, Vec<u8>, Vec<u8>);

/// Every (tree, key, value) the content needs, indexes included.
fn encode(c: &Content) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = vec![
        (
            TreeId::Meta,
            b"schema_version".to_vec(),
            SCHEMA_VERSION.to_string().into_bytes(),
        ),
        (
            TreeId::Meta,
            b"content_version".to_vec(),
            c.content_version.clone().into_bytes(),
        ),
        (
            TreeId::Meta,
            b"sources".to_vec(),
            c.sources.clone().into_bytes(),
        ),
    ];
    for s in &c.symptoms {
        out.push((TreeId::Symptoms, s.code.clone().into_bytes(), json(s)?));
    }
    for r in &c.regions {
        out.push((TreeId::Regions, r.id.clone().into_bytes(), json(r)?));
    }
    for (n, r) in c.rules.iter().enumerate() {
        let key = format!("{}\0{n:05}", r.symptom).into_bytes();
        out.push((TreeId::Rules, key.clone(), json(r)?));
        out.push((
            TreeId::RulesByRegion,
            format!("{}\0{}\0{n:05}", r.region, r.symptom).into_bytes(),
            key,
        ));
    }
    let mut text: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let lex = Lexicon::new(&c.symptoms);
    for (k, code) in lex.keys() {
        let codes = text.entry(k).or_default();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    for (k, codes) in text {
        out.push((TreeId::TextIndex, k.as_bytes().to_vec(), json(&codes)?));
    }
    for d in &c.departments {
        out.push((TreeId::Departments, d.code.clone().into_bytes(), json(d)?));
    }
    for h in &c.hospitals {
        out.push((TreeId::Hospitals, h.id.clone().into_bytes(), json(h)?));
        for s in &h.sites {
            out.push((
                TreeId::HospitalsBySite,
                format!("{s}\0{}", h.id).into_bytes(),
                Vec::new(),
            ));
        }
        for cap in &h.capabilities {
            out.push((
                TreeId::HospitalsByCapability,
                format!("{}\0{}", cap.name(), h.id).into_bytes(),
                Vec::new(),
            ));
        }
    }
    Ok(out)
}
