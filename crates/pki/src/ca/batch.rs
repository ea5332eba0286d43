//! Group commit: many independent requests (the online CA's concurrent enrollments and
//! renewals) signed together and recorded in one transaction, so that they share one fsync.
//! Each keeps its own outcome: one refused does not hold back the others.

use rcgen::Issuer;

use super::CertificateAuthority;
use super::issue::{Issued, SignRequest, sign_parallel};
use super::limits::IssuerLimits;
use super::prepare::Prepared;
use crate::error::{Error, Result};
use crate::store::{CertRecord, InsertGuard};
use crate::time;

impl CertificateAuthority {
    /// Signs each request and records every one that passes in one store transaction, each
    /// under its own guard (a token use, a renewal). The outer error is the CA's own (expired,
    /// locked key, the database); each inner result is that request's alone.
    pub(super) fn sign_each(
        &mut self,
        jobs: Vec<(SignRequest, InsertGuard)>,
    ) -> Result<Vec<Result<Issued>>> {
        let now = time::now();
        if now.unix_timestamp() >= self.not_after {
            return Err(Error::CaExpired {
                not_after: time::rfc3339(self.not_after),
            });
        }
        let limits = IssuerLimits::read(&self.cert_der, &self.chain_pem)?;
        let unique_at = self.config.ca.unique_subject.then(|| now.unix_timestamp());
        let mut results: Vec<Option<Result<Issued>>> = Vec::with_capacity(jobs.len());
        let mut ready: Vec<(usize, Prepared, InsertGuard)> = Vec::new();
        for (i, (req, mut guard)) in jobs.into_iter().enumerate() {
            guard.unique_at = unique_at;
            match self.prepare(&req, now, &limits) {
                Ok(p) => {
                    ready.push((i, p, guard));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::invalid("CA key", "not unlocked (internal error)"))?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), key.key_pair())
            .map_err(|e| Error::crypto("loading ca.crt as issuer", e))?;
        let (idx, mut prepared, guards): (Vec<usize>, Vec<Prepared>, Vec<InsertGuard>) = ready
            .into_iter()
            .fold((vec![], vec![], vec![]), |mut acc, (i, p, g)| {
                acc.0.push(i);
                acc.1.push(p);
                acc.2.push(g);
                acc
            });
        let signing = std::time::Instant::now();
        sign_parallel(&mut prepared, &issuer)?;
        let sign_ns = super::ns(signing);
        let mut items: Vec<(CertRecord, InsertGuard)> = Vec::with_capacity(prepared.len());
        let mut signed: Vec<(usize, Issued)> = Vec::with_capacity(prepared.len());
        for ((i, p), g) in idx.into_iter().zip(prepared).zip(guards) {
            // Names are checked on the signed certificate, exactly as a verifier will see it.
            if limits.has_name_constraints() {
                if let Err(e) = limits.check_names(&p.issued.what, &p.issued.der) {
                    results[i] = Some(Err(e));
                    continue;
                }
            }
            items.push((p.record, g));
            signed.push((i, p.issued));
        }
        let recording = std::time::Instant::now();
        let recorded = self.store.insert_each(&items)?;
        let record_ns = super::ns(recording);
        let n = recorded.iter().filter(|r| r.is_ok()).count() as u64;
        self.add_timing(|t| {
            t.sign_ns += sign_ns;
            t.record_ns += record_ns;
            t.enrolled += n;
        });
        for ((i, issued), r) in signed.into_iter().zip(recorded) {
            results[i] = Some(r.map(|()| issued));
        }
        // Every request was refused before signing, or signed and recorded (or refused) above.
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::invalid("request", "not recorded"))))
            .collect())
    }
}
