//! Store backends other than the built-in SQLite one, chosen by the scheme of `[store] url` in
//! `ca.toml` (`postgres://…`). pki knows no network, so a backend lives in its own crate and
//! the program installs it at start ([`install`]), as rustls programs install a crypto
//! provider: `mtls` installs the PostgreSQL backend of `mtls-store-pg`.

use std::sync::RwLock;
use std::time::Duration;

use super::Store;
use crate::error::{Error, Result};
use crate::serial::Serial;

/// A kind of store reached by URL.
pub trait Backend: Send + Sync {
    /// The URL schemes it serves (`postgres`, `postgresql`).
    fn schemes(&self) -> &'static [&'static str];
    /// A new store at `url` with the current schema; refuses a store that holds a CA already.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] naming the store and what to fix.
    fn create(&self, url: &str) -> Result<Box<dyn Store>>;
    /// The store at `url`, migrated to the current schema.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] naming the store and what to fix.
    fn open(&self, url: &str) -> Result<Box<dyn Store>>;
    /// The changes other instances make to the store at `url`, from now on.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] naming the store and what to fix.
    fn feed(&self, url: &str) -> Result<Box<dyn ChangeFeed>>;
}

/// One change to a shared store that every instance must act on (drop an OCSP answer, make a
/// new CRL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its place in the store's change sequence.
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// What: `revoke`.
    pub kind: String,
    /// The certificate concerned.
    pub serial: Option<Serial>,
}

/// What one instance of a shared store last reported ([`ChangeFeed::report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceReport {
    /// The instance: its API address and process id.
    pub id: String,
    /// The newest change it has acted on.
    pub applied: i64,
    /// The number of the CRL it serves.
    pub crl_number: Option<u64>,
}

/// The instances in `reports` that have not yet acted on change `change`, or do not yet serve
/// a CRL numbered `crl_number` or later: those whose answers may still miss a revocation.
pub fn lagging(
    reports: &[InstanceReport],
    change: i64,
    crl_number: Option<u64>,
) -> Vec<&InstanceReport> {
    reports
        .iter()
        .filter(|r| {
            r.applied < change || crl_number.is_some_and(|k| r.crl_number.is_none_or(|n| n < k))
        })
        .collect()
}

/// The changes of a shared store, in order, none missed: what is not announced (a lost
/// notification, a reconnection) is caught up from the change sequence.
pub trait ChangeFeed: Send {
    /// Waits up to `timeout` for changes after the last ones returned, and returns them
    /// (empty: none came).
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the store cannot be reached; the next call reconnects and
    /// catches up.
    fn next(&mut self, timeout: Duration) -> Result<Vec<Change>>;
    /// Records, for the other instances, that `instance` has acted on every change this feed
    /// has returned and serves the CRL numbered `crl_number`. It doubles as a heartbeat: an
    /// instance that stops reporting is taken for dead after a few seconds
    /// ([`super::Store::instances`]).
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the store cannot be reached.
    fn report(&mut self, instance: &str, crl_number: Option<u64>) -> Result<()> {
        let _ = (instance, crl_number);
        Ok(())
    }
    /// Removes `instance`'s report (it is stopping), so nobody waits for it.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the store cannot be reached.
    fn leave(&mut self, instance: &str) -> Result<()> {
        let _ = instance;
        Ok(())
    }
}

static BACKENDS: RwLock<Vec<&'static dyn Backend>> = RwLock::new(Vec::new());

/// Makes `backend` serve its schemes from now on (a second install of a scheme wins).
pub fn install(backend: &'static dyn Backend) {
    let mut list = BACKENDS.write().unwrap_or_else(|p| p.into_inner());
    list.insert(0, backend);
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

fn find(url: &str) -> Result<&'static dyn Backend> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    let list = BACKENDS.read().unwrap_or_else(|p| p.into_inner());
    list.iter()
        .copied()
        .find(|b| b.schemes().contains(&scheme))
        .ok_or_else(|| Error::Backend {
            store: redact(url),
            detail: format!(
                "no store backend for {scheme:?} URLs in this program (known: {}); leave [store] url unset for the built-in SQLite store",
                list.iter().flat_map(|b| b.schemes()).copied().collect::<Vec<_>>().join(", ")
            ),
            retryable: false,
        })
}

/// Creates the store at `url` with the backend of its scheme.
pub(crate) fn create(url: &str) -> Result<Box<dyn Store>> {
    find(url)?.create(url)
}

/// The change feed of the store at `url`.
pub(crate) fn feed(url: &str) -> Result<Box<dyn ChangeFeed>> {
    find(url)?.feed(url)
}

/// Opens the store at `url` with the backend of its scheme.
pub(crate) fn open(url: &str) -> Result<Box<dyn Store>> {
    find(url)?.open(url)
}
