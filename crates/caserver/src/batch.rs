//! Group commit of enrollments: concurrent requests queue here, and one thread signs and
//! records each batch in a single store transaction, so they share one fsync. A request is
//! answered only once its batch is committed.

use std::sync::{Arc, Mutex};

use mtls_pki::store::AuditEntry;
use mtls_pki::token::TokenRecord;
use mtls_pki::{CertificateAuthority, Issued, Request};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// The most requests signed and committed together.
pub(crate) const MAX_BATCH: usize = 256;

/// Requests waiting at most; beyond it, callers wait for room (back-pressure, not memory).
const QUEUE: usize = 4096;

/// What one enrollment gets back.
pub(crate) type Enrolled = Result<(TokenRecord, Issued), ApiError>;

/// One queued enrollment.
pub(crate) struct Job {
    pub csr: Request,
    pub token: String,
    /// The token name and profile the client claimed (EST), checked against the token.
    pub claims: (Option<String>, Option<String>),
    /// Its audit entry (time, peer); the batch fills in who, what and the outcome, and writes
    /// the batch's entries in one transaction.
    pub audit: AuditEntry,
    pub reply: oneshot::Sender<Enrolled>,
}

/// Starts the batching thread; it ends when every sender is dropped.
pub(crate) fn start(ca: Arc<Mutex<CertificateAuthority>>) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("mtls-ca-batch".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                run(&ca, jobs);
            }
        });
    if let Err(e) = spawned {
        // Without the thread every enrollment is answered 500 (the channel is closed).
        eprintln!("error: ca serve could not start its signing thread: {e}");
    }
    tx
}

fn run(ca: &Mutex<CertificateAuthority>, jobs: Vec<Job>) {
    let mut inputs = Vec::with_capacity(jobs.len());
    let mut rest = Vec::with_capacity(jobs.len());
    for j in jobs {
        // The store writes the entry of each certificate it records, in the same transaction.
        inputs.push(mtls_pki::ca::EnrollJob {
            csr: j.csr,
            token: j.token,
            audit: Some(j.audit.clone()),
            name: j.claims.0,
            profile: j.claims.1,
        });
        rest.push((j.audit, j.reply));
    }
    let mut ca = ca.lock().unwrap_or_else(|p| p.into_inner());
    let results: Vec<Enrolled> = match ca.enroll_many(inputs) {
        Ok(each) => each
            .into_iter()
            .map(|r| r.map_err(ApiError::from))
            .collect(),
        Err(e) => {
            let e = ApiError::from(e);
            rest.iter().map(|_| Err(e.clone())).collect()
        }
    };
    // Refusals are logged here (one more transaction only when a batch has any).
    let mut entries = Vec::new();
    for (r, (entry, _)) in results.iter().zip(rest.iter_mut()) {
        if let Err(err) = r {
            let mut e = std::mem::replace(entry, AuditEntry::new(0, "", ""));
            e.outcome = err.outcome();
            e.detail = Some(err.message.clone());
            entries.push(e);
        }
    }
    if !entries.is_empty()
        && let Err(e) = ca.store().add_audits(&entries)
    {
        eprintln!("warning: the audit log could not be written: {e}");
    }
    drop(ca);
    for (r, (_, reply)) in results.into_iter().zip(rest) {
        let _ = reply.send(r);
    }
}

/// Queues one enrollment and waits for its batch.
pub(crate) async fn enroll(
    tx: &mpsc::Sender<Job>,
    csr: Request,
    token: String,
    audit: AuditEntry,
    claims: (Option<String>, Option<String>),
) -> Enrolled {
    let (reply, answer) = oneshot::channel();
    tx.send(Job {
        csr,
        token,
        claims,
        audit,
        reply,
    })
    .await
    .map_err(|_| ApiError::internal("the signing thread is not running"))?;
    answer
        .await
        .map_err(|_| ApiError::internal("the signing thread ended without an answer"))?
}
