//! The sled store: one tree per entity, replaced all-or-nothing.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `schema_version`, `content_version`, `sources` | text |
//! | `symptoms` | code | JSON [`Symptom`] |
//! | `regions` | id | JSON [`BrainRegion`] |
//! | `rules` | `symptom \0 nnnnn` | JSON [`Rule`] |
//! | `departments` | code | JSON [`Department`] |
//! | `hospitals` | id | JSON [`Hospital`] |
//!
//! No secondary index is kept: every query reads these trees (a knowledge base has
//! hundreds of records, and the free-text lexicon is built in memory when the base is
//! opened). Trees that earlier versions wrote as indexes are dropped on open.
//!
//! A content replacement removes every old key and inserts every new one in a single
//! transaction over all trees, then flushes: a crash leaves either the old or the new
//! content. sled holds an exclusive file lock; a second opener gets [`Error::InUse`].

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::content::{Content, SCHEMA_VERSION};
use crate::error::{Error, Result};
use crate::model::{BrainRegion, Department, Hospital, Rule, Symptom};

/// The trees, in opening order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeId {
    Meta,
    Symptoms,
    Regions,
    Rules,
    Departments,
    Hospitals,
}

/// Index trees written by earlier versions and read by no query; dropped on open.
const LEGACY_TREES: [&str; 4] = [
    "rules_by_region",
    "text_index",
    "hospitals_by_site",
    "hospitals_by_capability",
];

impl TreeId {
    const ALL: [TreeId; 6] = [
        TreeId::Meta,
        TreeId::Symptoms,
        TreeId::Regions,
        TreeId::Rules,
        TreeId::Departments,
        TreeId::Hospitals,
    ];

    fn name(self) -> &'static str {
        match self {
            TreeId::Meta => "meta",
            TreeId::Symptoms => "symptoms",
            TreeId::Regions => "regions",
            TreeId::Rules => "rules",
            TreeId::Departments => "departments",
            TreeId::Hospitals => "hospitals",
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
        for name in LEGACY_TREES {
            db.drop_tree(name).map_err(|e| storage(&path, e))?;
        }
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
    pub fn region(&self, id: &str) -> Result<Option<BrainRegion>> {
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
    pub fn regions(&self) -> Result<Vec<BrainRegion>> {
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

    /// The rules that point at one region, in import order.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn rules_for_region(&self, region: &str) -> Result<Vec<Rule>> {
        let mut rules: Vec<Rule> = self.rules()?;
        rules.retain(|r| r.region == region);
        Ok(rules)
    }

    /// Ids of the hospitals that list `site` among the regions they treat (hospitals with
    /// no site list treat everything and are not here), sorted.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn hospital_ids_by_site(&self, site: &str) -> Result<Vec<String>> {
        self.hospital_ids(|h| h.sites.iter().any(|s| s == site))
    }

    /// Ids of the hospitals with a capability, sorted.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn hospital_ids_by_capability(
        &self,
        capability: crate::model::Capability,
    ) -> Result<Vec<String>> {
        self.hospital_ids(|h| h.capabilities.contains(&capability))
    }

    fn hospital_ids(&self, keep: impl Fn(&Hospital) -> bool) -> Result<Vec<String>> {
        Ok(self
            .hospitals()?
            .into_iter()
            .filter(|h| keep(h))
            .map(|h| h.id)
            .collect())
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

/// Every (tree, key, value) the content needs.
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
        out.push((TreeId::Rules, key, json(r)?));
    }
    for d in &c.departments {
        out.push((TreeId::Departments, d.code.clone().into_bytes(), json(d)?));
    }
    for h in &c.hospitals {
        out.push((TreeId::Hospitals, h.id.clone().into_bytes(), json(h)?));
    }
    Ok(out)
}
