//! CRLs that can be swapped while a server runs: new handshakes see the new set at once;
//! established connections can ask whether their peer is now revoked.
//!
//! The set is an `Arc` of `Arc<Crl>`s: a reload shares every CRL whose file did not change
//! (it is not parsed again), and contexts that verify with the set are told of each new set
//! ([`CrlHandle`] listeners) so that they build their verifier in the thread that reloads,
//! never in a handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use mtls_verify::Crl;

use crate::error::{Error, Result};

/// One watched file: its path, the digest of what was read, and its CRLs.
#[derive(Debug, Clone)]
struct FileCrls {
    path: PathBuf,
    digest: [u8; 32],
    crls: Vec<Arc<Crl>>,
}

#[derive(Default, Debug)]
struct Inner {
    files: Vec<FileCrls>,
    /// CRLs given with [`CrlHandle::set`] (no file).
    loose: Vec<Arc<Crl>>,
    /// The last good CRL fetched from each URL ([`CrlHandle::set_url_crl`]).
    urls: Vec<(String, Arc<Crl>)>,
    crls: Arc<Vec<Arc<Crl>>>,
    generation: u64,
}

/// Something that must know when the CRL set changes (a context rebuilding its verifier).
pub(crate) trait CrlListener: Send + Sync + std::fmt::Debug {
    /// Called after every change, in the thread that made it, with the new set.
    fn crls_changed(&self, crls: &Arc<Vec<Arc<Crl>>>, generation: u64);
}

/// A shared, reloadable set of CRLs. Clones share the same set.
#[derive(Clone, Default, Debug)]
pub struct CrlHandle {
    inner: Arc<RwLock<Inner>>,
    listeners: Arc<Mutex<Vec<Weak<dyn CrlListener>>>>,
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

    /// Registers `l` to hear of every change (dropped listeners are forgotten).
    pub(crate) fn listen(&self, l: Weak<dyn CrlListener>) {
        let mut ls = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        ls.retain(|w| w.strong_count() > 0);
        ls.push(l);
    }

    /// Installs a new set (under the write lock only for the swap), then tells the listeners.
    fn publish(&self, update: impl FnOnce(&mut Inner)) -> CrlSummary {
        let (crls, summary) = {
            let mut w = self.write();
            update(&mut w);
            let all: Vec<Arc<Crl>> = w
                .files
                .iter()
                .flat_map(|f| f.crls.iter().cloned())
                .chain(w.loose.iter().cloned())
                .chain(w.urls.iter().map(|(_, c)| c.clone()))
                .collect();
            w.crls = Arc::new(all);
            w.generation += 1;
            (w.crls.clone(), summary(&w))
        };
        let listeners: Vec<Arc<dyn CrlListener>> = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for l in listeners {
            l.crls_changed(&crls, summary.generation);
        }
        summary
    }

    /// Loads the CRLs of `path` and remembers the file for [`reload`](Self::reload).
    ///
    /// # Errors
    ///
    /// [`Error::File`] when it cannot be read, [`Error::Config`] naming it when it holds no
    /// valid CRL; the set is then unchanged.
    pub fn add_file(&self, path: &Path) -> Result<CrlSummary> {
        let file = load_file(path, None, &|| {})?;
        Ok(self.publish(|w| w.files.push(file)))
    }

    /// Installs `crl` as the current CRL from `url`, replacing the one fetched from it before
    /// (files and other URLs keep theirs). See [`crate::crl_fetch`].
    pub fn set_url_crl(&self, url: &str, crl: Arc<Crl>) -> CrlSummary {
        self.publish(|w| match w.urls.iter_mut().find(|(u, _)| u == url) {
            Some(slot) => slot.1 = crl,
            None => w.urls.push((url.to_string(), crl)),
        })
    }

    /// The CRL last installed from `url`, if any.
    pub fn url_crl(&self, url: &str) -> Option<Arc<Crl>> {
        self.read()
            .urls
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, c)| c.clone())
    }

    /// Replaces the whole set (files are forgotten).
    pub fn set(&self, crls: Vec<Crl>) -> CrlSummary {
        self.publish(|w| {
            w.files.clear();
            w.loose = crls.into_iter().map(Arc::new).collect();
        })
    }

    /// Re-reads every file added with [`add_file`](Self::add_file); a file whose content did
    /// not change keeps its parsed CRLs. On any error the old set stays in force and the error
    /// names the file. This parses (a million-entry CRL: about half a second of CPU) and the
    /// listeners rebuild their verifiers in the calling thread: call it off the async runtime.
    ///
    /// # Errors
    ///
    /// As [`add_file`](Self::add_file), for the first file that fails.
    pub fn reload(&self) -> Result<CrlSummary> {
        self.reload_paced(&|| {})
    }

    /// [`reload`](Self::reload), yielding the CPU every fraction of a millisecond of work.
    fn reload_paced(&self, pause: &dyn Fn()) -> Result<CrlSummary> {
        let files = self.read().files.clone();
        let mut fresh = Vec::with_capacity(files.len());
        for f in &files {
            fresh.push(load_file(&f.path, Some(f), pause)?);
        }
        Ok(self.publish(|w| w.files = fresh))
    }

    /// [`reload`](Self::reload) on a thread of its own at a lower scheduling priority (nice
    /// 10 on Linux), awaited without blocking the runtime: parsing a large CRL and rebuilding
    /// the verifiers takes CPU that handshakes on the same cores must not lose. On Linux the
    /// nice value is per thread, so the rest of the process keeps its priority.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not stop the reload: it completes in its thread, and the new
    /// set is installed (or the old one kept) all the same.
    ///
    /// # Errors
    ///
    /// As [`reload`](Self::reload); [`Error::Io`] if the thread cannot be started.
    pub async fn reload_in_background(&self) -> Result<CrlSummary> {
        let handle = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("mtls-crl-reload".into())
            .spawn(move || {
                // Nice 10: a tenth of a busy core's time, so a reload still finishes within
                // seconds on a saturated server (revocation must take effect), while handshakes
                // keep most of the CPU. (SCHED_IDLE measured no better for handshake latency,
                // and would starve the reload under full load.)
                #[cfg(target_os = "linux")]
                let _ = rustix::process::setpriority_process(None, 10);
                // Yielding every quarter millisecond of work lets a handshake that becomes
                // runnable go first, instead of waiting out a scheduler slice.
                let _ = tx.send(handle.reload_paced(&std::thread::yield_now));
            })
            .map_err(|e| Error::io("starting the CRL reload thread", e))?;
        rx.await
            .map_err(|_| Error::State("the CRL reload thread ended without an answer".into()))?
    }

    /// The files being watched.
    pub fn files(&self) -> Vec<PathBuf> {
        self.read().files.iter().map(|f| f.path.clone()).collect()
    }

    /// The current set and its generation.
    pub fn snapshot(&self) -> (Arc<Vec<Arc<Crl>>>, u64) {
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

/// Reads `path`; reuses `previous`'s CRLs when the content is the same. Reads, hashes and
/// parses in pieces, calling `pause` between them (see [`mtls_verify::load_crls_paced`]): one
/// `read` of a 67 MB file is a copy the kernel does not interrupt.
fn load_file(path: &Path, previous: Option<&FileCrls>, pause: &dyn Fn()) -> Result<FileCrls> {
    use std::io::Read;
    let file_err = |e| Error::File {
        path: path.display().to_string(),
        source: e,
    };
    let mut f = std::fs::File::open(path).map_err(file_err)?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(file_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        data.extend_from_slice(&buf[..n]);
        pause();
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(h.finish().as_ref());
    if let Some(p) = previous.filter(|p| p.digest == digest) {
        return Ok(p.clone());
    }
    let crls = mtls_verify::load_crls_paced(&data, &path.display().to_string(), pause)
        .map_err(Error::Load)?;
    Ok(FileCrls {
        path: path.to_path_buf(),
        digest,
        crls: crls.into_iter().map(Arc::new).collect(),
    })
}
