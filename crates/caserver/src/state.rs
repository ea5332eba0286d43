//! What every request handler shares.

use std::sync::{Arc, Mutex, MutexGuard};

use mtls_pki::CertificateAuthority;
use mtls_pki::store::AuditEntry;

use crate::crl::CrlCache;
use crate::error::ApiError;
use crate::limiter::FailureLimiter;

/// The server's shared state.
pub(crate) struct AppState {
    /// The CA. Locked only on the blocking pool: signing and store writes never run on the
    /// async workers.
    pub ca: Arc<Mutex<CertificateAuthority>>,
    /// The group-commit queue of enrollments.
    pub enroll: tokio::sync::mpsc::Sender<crate::batch::Job>,
    /// The CA certificate and its issuers, PEM (`/roots.pem`).
    pub roots_pem: String,
    /// The CA certificate, DER (`/ca.crt`, what issued certificates' caIssuers points at).
    pub ca_der: Vec<u8>,
    /// The OCSP responder.
    pub ocsp: crate::ocsp::Responder,
    /// The published CRL.
    pub crl: CrlCache,
    /// Failed token attempts per client address.
    pub failures: FailureLimiter,
    /// Wakes the CRL keeper after a revocation.
    pub crl_dirty: tokio::sync::Notify,
    /// This instance among those of a shared store: its API address, process id and a random
    /// tag (what its reports are filed under, and what a lagging instance is called).
    pub instance: String,
    /// The API's address (for the commands it prints).
    pub api_addr: std::net::SocketAddr,
    /// How long after expiry a certificate may still be renewed.
    pub renew_grace_secs: i64,
    /// `/metrics`.
    pub metrics: crate::metrics::Metrics,
    /// The names of the CA's profiles (what an EST label may name), renewed when the
    /// configuration changes.
    pub profiles: std::sync::RwLock<Vec<String>>,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    /// The CA, even if a panicking thread left the lock poisoned (every store write is its own
    /// transaction, so the CA is consistent whatever happened).
    pub fn ca(&self) -> MutexGuard<'_, CertificateAuthority> {
        self.ca.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `f` with the CA on the blocking pool.
pub(crate) async fn with_ca<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&mut CertificateAuthority) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&mut state.ca()))
        .await
        .map_err(|e| ApiError::internal(format!("the signing task failed: {e}")))?
}

/// Writes `entry` to the audit log; a failure is logged, never answered (the action itself is
/// already done or refused).
pub(crate) async fn audit(state: &Shared, entry: AuditEntry) {
    state.metrics.action(&entry.action, &entry.outcome);
    let r = with_ca(state, move |ca| {
        ca.store().add_audit(&entry).map_err(ApiError::from)
    })
    .await;
    if let Err(e) = r {
        eprintln!("warning: the audit log could not be written: {}", e.message);
    }
}

/// Writes `entry` as refused with `e` (its outcome and message), and gives `e` back.
pub(crate) async fn refused(s: &Shared, mut entry: AuditEntry, e: ApiError) -> ApiError {
    entry.outcome = e.outcome();
    entry.detail = Some(e.message.clone());
    audit(s, entry).await;
    e
}
