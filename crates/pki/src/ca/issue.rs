//! Signing: requests in, certificates out, recorded in the store before they are returned.

use rcgen::{Issuer, SerialNumber, SubjectPublicKeyInfo};

use super::CertificateAuthority;
use super::limits::IssuerLimits;
use super::prepare::Prepared;
use crate::csr::Request;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::name::Name;
use crate::san::San;
use crate::serial::Serial;
use crate::store::{CertRecord, InsertGuard};
use crate::time::Lifetime;
use crate::token::TokenHash;
use crate::{pemutil, time};

/// Certificates start this many seconds in the past, so a peer whose clock is slightly behind
/// does not see them as not yet valid.
pub(crate) const BACKDATE_SECS: i64 = 60;

/// How many certificates are committed per store transaction in a batch.
const BATCH: usize = 1000;

/// What to certify.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// Where it came from, for messages (a file name, or `NAME` for `ca issue`).
    pub what: String,
    /// The requested subject; the policy decides what is kept.
    pub subject: Name,
    /// subjectAltNames the operator gave (on the command line): each must be allowed by the
    /// profile's `san_allow`, or signing is refused.
    pub sans: Vec<San>,
    /// subjectAltNames the request asked for: those the profile's `san_allow` does not allow
    /// are dropped, and the notes say so.
    pub requested_sans: Vec<San>,
    /// Extensions of the request that the profile replaces (keyUsage, extendedKeyUsage …),
    /// for the notes.
    pub overridden: Vec<String>,
    /// The DER SubjectPublicKeyInfo to certify.
    pub spki_der: Vec<u8>,
    /// Profile name (a `[profiles.NAME]` of `ca.toml`).
    pub profile: String,
    /// Validity; the profile's default when `None`.
    pub lifetime: Option<Lifetime>,
}

impl SignRequest {
    /// From a parsed CSR plus the operator's extra SANs.
    pub fn from_request(
        req: Request,
        profile: &str,
        lifetime: Option<Lifetime>,
        extra: &[San],
    ) -> Self {
        SignRequest {
            what: req.what,
            subject: req.subject,
            sans: extra.to_vec(),
            requested_sans: req.sans,
            overridden: req.overridden,
            spki_der: req.spki_der,
            profile: profile.into(),
            lifetime,
        }
    }

    /// For a key the CA made itself (`ca issue`, intermediates): every name is the operator's.
    pub fn new(
        what: impl Into<String>,
        subject: Name,
        sans: Vec<San>,
        spki_der: Vec<u8>,
        profile: impl Into<String>,
        lifetime: Option<Lifetime>,
    ) -> Self {
        SignRequest {
            what: what.into(),
            subject,
            sans,
            requested_sans: Vec::new(),
            overridden: Vec::new(),
            spki_der,
            profile: profile.into(),
            lifetime,
        }
    }
}

/// One issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The request's label.
    pub what: String,
    /// The serial.
    pub serial: Serial,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// The subject it carries.
    pub subject: Name,
    /// Its subjectAltNames.
    pub sans: Vec<San>,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Things the user should know (dropped fields, SAN copied from CN …).
    pub notes: Vec<String>,
    /// Things the user should check (validity capped at the CA's expiry …).
    pub warnings: Vec<String>,
}

impl CertificateAuthority {
    /// Checks, signs and records `requests`. Signing runs on every core; records are committed
    /// in transactions of up to 1000 before anything is returned. `progress` is called with the
    /// number of certificates committed so far. Any invalid request fails the whole call before
    /// anything is signed, naming the request.
    pub fn sign(
        &mut self,
        requests: Vec<SignRequest>,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Issued>> {
        self.sign_guarded(requests, progress, None, None, None)
    }

    /// [`sign`](Self::sign), also consuming one use of the token `token` and recording the
    /// renewal of `supersedes`, in each recording transaction, when given.
    pub(super) fn sign_guarded(
        &mut self,
        requests: Vec<SignRequest>,
        progress: &dyn Fn(usize),
        token: Option<&TokenHash>,
        supersedes: Option<&Serial>,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<Vec<Issued>> {
        let now = time::now();
        if now.unix_timestamp() >= self.not_after {
            return Err(Error::CaExpired {
                not_after: time::rfc3339(self.not_after),
            });
        }
        let limits = IssuerLimits::read(&self.cert_der, &self.chain_pem)?;
        let mut prepared = requests
            .iter()
            .map(|r| self.prepare(r, now, &limits))
            .collect::<Result<Vec<_>>>()?;
        // openssl's unique_subject = yes: checked before signing (so a batch fails whole), and
        // again in each recording transaction (so concurrent runs cannot both pass).
        let unique_at = self.config.ca.unique_subject.then(|| now.unix_timestamp());
        if let Some(at) = unique_at {
            check_unique_subjects(self.store.as_ref(), &prepared, at)?;
        }
        // Field borrows (not `self.key()`) so that the store stays mutably borrowable.
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::invalid("CA key", "not unlocked (internal error)"))?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), key.key_pair())
            .map_err(|e| Error::crypto("loading ca.crt as issuer", e))?;
        // Everything is signed and checked before anything is recorded: a request that fails
        // (a name outside the chain's constraints) fails the whole call.
        for chunk in prepared.chunks_mut(BATCH) {
            sign_parallel(chunk, &issuer)?;
            // Names are checked on the signed certificate, exactly as a verifier will see it.
            if limits.has_name_constraints() {
                for p in chunk.iter() {
                    limits.check_names(&p.issued.what, &p.issued.der)?;
                }
            }
        }
        let mut out = Vec::with_capacity(prepared.len());
        let mut done = 0;
        for chunk in prepared.chunks_mut(BATCH) {
            let guard = InsertGuard {
                unique_at,
                token: token.map(|t| (*t, now.unix_timestamp())),
                supersedes: supersedes.cloned(),
                audit: audit.cloned(),
            };
            record_chunk(self.store.as_mut(), chunk, &issuer, &guard)?;
            done += chunk.len();
            progress(done);
            out.extend(chunk.iter().map(|p| p.issued.clone()));
        }
        Ok(out)
    }

    /// `subject` with the fields the policy says must match filled from the CA's subject where
    /// it lacks them (a value that differs is left for the policy to refuse).
    pub(crate) fn fill_matched(&self, mut subject: Name) -> Name {
        for (attr, rule) in &self.config.policy.fields {
            if *rule == crate::policy::Rule::Match
                && subject.get(attr).is_none()
                && let Some(v) = self.subject.get(attr)
            {
                subject.entries.push((attr.clone(), v.to_string()));
            }
        }
        // Keep canonical order (C, ST, L, O, OU, CN …) after filling.
        subject.entries.sort_by(|a, b| a.0.cmp(&b.0));
        subject
    }

    /// `mtls ca issue`: a new key and a certificate for it in one step. Fields the policy says
    /// must match are filled from the CA when the subject lacks them.
    pub fn issue(
        &mut self,
        name: &str,
        subject: Name,
        sans: Vec<San>,
        profile: &str,
        lifetime: Option<Lifetime>,
        key_type: crate::key::KeyType,
    ) -> Result<(PrivateKey, Issued)> {
        let subject = self.fill_matched(subject);
        let key = PrivateKey::generate(key_type)?;
        let req = SignRequest::new(name, subject, sans, key.public_key_der(), profile, lifetime);
        let issued = self
            .sign(vec![req], &|_| {})?
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid(name, "nothing was issued"))?;
        Ok((key, issued))
    }
}

/// Records one chunk of signed certificates in one transaction. A serial already in the store
/// (astronomically unlikely with 126 random bits) is drawn again and re-signed.
fn record_chunk(
    store: &mut dyn crate::store::Store,
    chunk: &mut [Prepared],
    issuer: &Issuer<'_, &rcgen::KeyPair>,
    guard: &InsertGuard,
) -> Result<()> {
    let insert = |store: &mut dyn crate::store::Store, records: &[CertRecord]| {
        store.insert_guarded(records, guard)
    };
    for _ in 0..3 {
        let records: Vec<CertRecord> = chunk.iter().map(|p| p.record.clone()).collect();
        match insert(store, &records) {
            Ok(()) => return Ok(()),
            Err(Error::DuplicateSerial { .. }) => {
                for p in chunk.iter_mut() {
                    if store.contains(&p.record.serial)? {
                        p.params.serial_number = None;
                    }
                }
                sign_parallel(chunk, issuer)?;
            }
            Err(e) => return Err(e),
        }
    }
    let records: Vec<CertRecord> = chunk.iter().map(|p| p.record.clone()).collect();
    insert(store, &records)
}

/// Refuses a subject that a certificate valid at `at` has, or that two requests share.
fn check_unique_subjects(
    store: &dyn crate::store::Store,
    prepared: &[Prepared],
    at: i64,
) -> Result<()> {
    let mut seen = std::collections::HashMap::new();
    for p in prepared {
        let subject = &p.record.subject;
        if let Some(serial) = store.valid_with_subject(subject, at)? {
            return Err(Error::SubjectNotUnique {
                subject: subject.clone(),
                serial: serial.hex(),
            });
        }
        if let Some(first) = seen.insert(subject.clone(), p.issued.what.clone()) {
            return Err(Error::invalid(
                &p.issued.what,
                format!(
                    "has the subject {subject} of {first} in the same run, and ca.toml sets unique_subject = true"
                ),
            ));
        }
    }
    Ok(())
}

/// Signs every prepared certificate lacking a serial or a DER, on all cores.
pub(super) fn sign_parallel(
    chunk: &mut [Prepared],
    issuer: &Issuer<'_, &rcgen::KeyPair>,
) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let per = chunk.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks_mut(per)
            .map(|part| s.spawn(move || part.iter_mut().try_for_each(|p| sign_one(p, issuer))))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| Error::crypto("signing", "a signing thread panicked"))?
        })
    })
}

fn sign_one(p: &mut Prepared, issuer: &Issuer<'_, &rcgen::KeyPair>) -> Result<()> {
    if p.params.serial_number.is_some() && !p.issued.der.is_empty() {
        return Ok(());
    }
    let serial = Serial::random()?;
    p.params.serial_number = Some(SerialNumber::from_slice(serial.as_bytes()));
    let spki = SubjectPublicKeyInfo::from_der(&p.spki_der)
        .map_err(|e| Error::crypto(format!("{}: reading the public key", p.issued.what), e))?;
    let cert = p
        .params
        .signed_by(&spki, issuer)
        .map_err(|e| Error::crypto(format!("{}: signing", p.issued.what), e))?;
    let der = cert.der().to_vec();
    p.record.serial = serial.clone();
    p.record.der = der.clone();
    p.issued.serial = serial;
    p.issued.pem = pemutil::encode("CERTIFICATE", &der);
    p.issued.der = der;
    Ok(())
}
