//! Group commit of enrollments: concurrent requests queue here, and one thread signs and
//! records each batch in a single store transaction, so they share one fsync. A request is
//! answered only once its batch is committed.

use std::sync::{Arc, Mutex};

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
    let (inputs, replies): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .map(|j| ((j.csr, j.token), j.reply))
        .unzip();
    let result = ca
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .enroll_many(inputs);
    match result {
        Ok(each) => {
            for (r, reply) in each.into_iter().zip(replies) {
                let _ = reply.send(r.map_err(ApiError::from));
            }
        }
        Err(e) => {
            let e = ApiError::from(e);
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Queues one enrollment and waits for its batch.
pub(crate) async fn enroll(tx: &mpsc::Sender<Job>, csr: Request, token: String) -> Enrolled {
    let (reply, answer) = oneshot::channel();
    tx.send(Job { csr, token, reply })
        .await
        .map_err(|_| ApiError::internal("the signing thread is not running"))?;
    answer
        .await
        .map_err(|_| ApiError::internal("the signing thread ended without an answer"))?
}
