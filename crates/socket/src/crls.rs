//! CRLs that can be swapped while a server runs: new handshakes see the new set at once;
//! established connections can ask whether their peer is now revoked.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use mtls_verify::Crl;

use crate::error::{Error, Result};

#[derive(Default, Debug)]
struct Inner {
    files: Vec<PathBuf>,
    crls: Arc<Vec<Crl>>,
    generation: u64,
}

/// A shared, reloadable set of CRLs. Clones share the same set.
#[derive(Clone, Default, Debug)]
pub struct CrlHandle {
    inner: Arc<RwLock<Inner>>,
}

/// What a reload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlSummary {
    /// How many CRLs.
    pub crls: usize,
    /// Revoked entries in all of them.
    pub entries: usize,
    /// The highest CRL number seen (decimal), if any.
    pub crl_number: Option<String>,
    /// Generation counter after the change.
    pub generation: u64,
}

impl CrlHandle {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the CRLs of `path` and remembers the file for [`reload`](Self::reload).
    pub fn add_file(&self, path: &Path) -> Result<CrlSummary> {
        let mut new = load_file(path)?;
        let mut w = self.write();
        let mut all: Vec<Crl> = w.crls.as_ref().clone();
        all.append(&mut new);
        w.files.push(path.to_path_buf());
        w.crls = Arc::new(all);
        w.generation += 1;
        Ok(summary(&w))
    }

    /// Replaces the whole set (files are forgotten).
    pub fn set(&self, crls: Vec<Crl>) -> CrlSummary {
        let mut w = self.write();
        w.files.clear();
        w.crls = Arc::new(crls);
        w.generation += 1;
        summary(&w)
    }

    /// Re-reads every file added with [`add_file`](Self::add_file). On any error the old set
    /// stays in force and the error names the file.
    pub fn reload(&self) -> Result<CrlSummary> {
        let files = self.read().files.clone();
        let mut all = Vec::new();
        for f in &files {
            all.extend(load_file(f)?);
        }
        let mut w = self.write();
        w.crls = Arc::new(all);
        w.generation += 1;
        Ok(summary(&w))
    }

    /// The files being watched.
    pub fn files(&self) -> Vec<PathBuf> {
        self.read().files.clone()
    }

    /// The current set and its generation.
    pub fn snapshot(&self) -> (Arc<Vec<Crl>>, u64) {
        let r = self.read();
        (r.crls.clone(), r.generation)
    }

    /// The current generation (changes on every swap).
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// True when no CRL is configured.
    pub fn is_empty(&self) -> bool {
        self.read().crls.is_empty()
    }

    /// True when some current CRL lists `serial` (big-endian bytes) — for closing connections
    /// whose peer was revoked after it connected. Issuers are not compared: a private CA's
    /// serials are random 128-bit numbers.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.read().crls.iter().any(|c| c.is_revoked(serial))
    }
}

fn summary(i: &Inner) -> CrlSummary {
    CrlSummary {
        crls: i.crls.len(),
        entries: i.crls.iter().map(|c| c.len()).sum(),
        crl_number: i
            .crls
            .iter()
            .filter_map(|c| c.crl_number().map(str::to_owned))
            .max_by_key(|n| (n.len(), n.clone())),
        generation: i.generation,
    }
}

fn load_file(path: &Path) -> Result<Vec<Crl>> {
    let data = std::fs::read(path).map_err(|e| Error::File {
        path: path.display().to_string(),
        source: e,
    })?;
    mtls_verify::load_crls(&data, &path.display().to_string())
        .map_err(|e| Error::config(path.display().to_string(), e.to_string()))
}
