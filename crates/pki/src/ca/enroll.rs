//! Enrollment with one-time tokens: the operator (or an admin over the API) makes a token for
//! a profile and a set of names; a client trades it, once, for a certificate.

use super::{CertificateAuthority, Issued, SignRequest};
use crate::csr::Request;
use crate::error::{Error, Result};
use crate::san::San;
use crate::serial::Serial;
use crate::store::{AuditEntry, CertRecord, InsertGuard};
use crate::time;
use crate::token::{self, Secret, TokenRecord};

/// One enrollment of a batch: a request, the token's secret, and what else the caller knows.
#[derive(Debug, Clone)]
pub struct EnrollJob {
    /// The parsed CSR.
    pub csr: Request,
    /// The token's secret.
    pub token: String,
    /// An audit entry to complete and write with the certificate (see
    /// [`CertificateAuthority::enroll_many`]).
    pub audit: Option<AuditEntry>,
    /// The token's name as the client gave it (EST's HTTP Basic user): another refuses.
    pub name: Option<String>,
    /// The profile the client asked for (an EST label): another than the token's refuses.
    pub profile: Option<String>,
}

impl EnrollJob {
    /// A job with nothing but the request and the secret.
    pub fn new(csr: Request, token: &str) -> EnrollJob {
        EnrollJob {
            csr,
            token: token.to_string(),
            audit: None,
            name: None,
            profile: None,
        }
    }
}

impl CertificateAuthority {
    /// Stores a new token and returns its secret, which exists nowhere else: show it once.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the token's profile is not one of `ca.toml`; store errors.
    pub fn create_token(&mut self, token: &TokenRecord) -> Result<Secret> {
        self.profile(&token.profile)?;
        let secret = token::generate()?;
        self.store.add_token(&secret.hash(), token)?;
        Ok(secret)
    }

    /// Signs `req` under the token `secret`: the token's profile, only the subjectAltNames it
    /// allows, and one of its uses consumed in the transaction that records the certificate.
    ///
    /// # Errors
    ///
    /// [`Error::TokenRefused`] (unknown, expired or used: checked before signing, and again
    /// when recording, so that a token raced by two requests serves one), [`Error::TokenScope`]
    /// naming a subjectAltName the token does not allow, and whatever [`sign`](Self::sign)
    /// refuses (the profile's policy and `san_allow` still apply).
    pub fn enroll(&mut self, req: Request, secret: &str) -> Result<(TokenRecord, Issued)> {
        self.enroll_many(vec![EnrollJob::new(req, secret)])?
            .pop()
            .unwrap_or_else(|| Err(Error::invalid("enrollment", "nothing was issued")))
    }

    /// [`enroll`](Self::enroll) for many requests at once, recorded in one transaction (one
    /// fsync: the online CA's group commit). Each result is that request's; the outer error
    /// is the CA's own (expired, the database).
    ///
    /// A job's audit entry, when given, is completed (actor `token:NAME`, the profile, the
    /// new serial) and written in that transaction for each certificate recorded; for a
    /// refused job, the caller writes its own.
    pub fn enroll_many(
        &mut self,
        jobs: Vec<EnrollJob>,
    ) -> Result<Vec<Result<(TokenRecord, Issued)>>> {
        let now = time::now().unix_timestamp();
        let started = std::time::Instant::now();
        let mut out: Vec<Option<Result<(TokenRecord, Issued)>>> = Vec::with_capacity(jobs.len());
        let mut batch = Vec::new();
        let mut tokens = Vec::new();
        // Every job's token in one store call (one round trip for a remote store).
        let hashes: Vec<token::TokenHash> = jobs.iter().map(|j| token::hash(&j.token)).collect();
        let found = self.store.tokens_by_hash(&hashes)?;
        for (job, t) in jobs.into_iter().zip(found) {
            let audit = job.audit.clone();
            match self.enroll_request(job, t, now) {
                Ok((t, sign, mut guard)) => {
                    guard.audit = audit.map(|mut e| {
                        e.actor = format!("token:{}", t.name);
                        e.detail = Some(format!("profile {}", t.profile));
                        e
                    });
                    out.push(None);
                    batch.push((sign, guard));
                    tokens.push(t);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        let tokens_ns = super::ns(started);
        self.add_timing(|t| t.tokens_ns += tokens_ns);
        let mut signed = self.sign_each(batch)?.into_iter().zip(tokens);
        Ok(out
            .into_iter()
            .map(|slot| match slot {
                Some(r) => r,
                None => match signed.next() {
                    Some((r, t)) => r.map(|issued| (t, issued)),
                    None => Err(Error::invalid("enrollment", "nothing was issued")),
                },
            })
            .collect())
    }

    /// The token's checks for one enrollment, and what to sign and record.
    fn enroll_request(
        &self,
        job: EnrollJob,
        found: Option<TokenRecord>,
        now: i64,
    ) -> Result<(TokenRecord, SignRequest, InsertGuard)> {
        let req = job.csr;
        let hash = token::hash(&job.token);
        let unknown = Error::TokenRefused {
            refusal: token::TokenRefusal::Unknown,
        };
        let t = found.ok_or(unknown)?;
        // A secret given with another name is treated as no token at all.
        if job.name.as_ref().is_some_and(|n| *n != t.name) {
            return Err(Error::TokenRefused {
                refusal: token::TokenRefusal::Unknown,
            });
        }
        if let Some(refusal) = t.refusal(now) {
            return Err(Error::TokenRefused { refusal });
        }
        if let Some(p) = job.profile.as_ref().filter(|p| **p != t.profile) {
            return Err(Error::TokenScope {
                field: "profile".into(),
                detail: format!("{p:?} was asked; token {:?} is for {:?}", t.name, t.profile),
            });
        }
        t.check_sans(&req.sans)?;
        let sign = SignRequest {
            what: req.what,
            // A device asks for its name; the organisation's fields come from the CA, as
            // with `ca issue`.
            subject: self.fill_matched(req.subject),
            // Granted by the token: the profile's san_allow must allow each, or it is refused.
            sans: req.sans,
            requested_sans: Vec::new(),
            overridden: req.overridden,
            spki_der: req.spki_der,
            profile: t.profile.clone(),
            lifetime: Some(t.validity.unwrap_or_else(|| self.config.online.lifetime())),
        };
        let guard = InsertGuard {
            token: Some((hash, now)),
            ..InsertGuard::default()
        };
        Ok((t, sign, guard))
    }

    /// Renews the certificate `old_der`, which its holder presented over mutual TLS: a new
    /// serial with the same subject, subjectAltNames, profile and lifetime (as long as the old
    /// one's, so a 15-minute certificate renews into another 15-minute one), for
    /// the same key, or for the key of `csr` (whose subject must be the same). The store
    /// records that the new certificate supersedes the old one.
    ///
    /// # Errors
    ///
    /// [`Error::RenewRefused`] for a certificate this CA did not issue, a revoked one, one
    /// expired more than `grace_secs` ago, or a CSR with another subject; what
    /// [`sign`](Self::sign) refuses.
    pub fn renew(
        &mut self,
        old_der: &[u8],
        csr: Option<Request>,
        grace_secs: i64,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<(CertRecord, Issued)> {
        let serial = crate::inspect::cert_serial(old_der, "the presented certificate")?;
        let old = self.renewable(&serial, old_der, grace_secs)?;
        let subject = crate::name::Name::parse(&old.subject)?;
        let spki_der = match &csr {
            Some(r) => {
                if r.subject.to_string() != old.subject {
                    return Err(refused(
                        &serial,
                        format!(
                            "the request's subject {} differs from the certificate's {}; a renewal keeps the subject (enroll anew for another)",
                            r.subject, old.subject
                        ),
                    ));
                }
                r.spki_der.clone()
            }
            None => crate::inspect::cert_spki(old_der, "the presented certificate")?,
        };
        let sans = old
            .sans
            .iter()
            .map(|s| s.parse::<San>())
            .collect::<Result<Vec<_>>>()?;
        let req = SignRequest {
            what: format!("renewal of {}", serial.hex()),
            subject,
            sans,
            requested_sans: Vec::new(),
            overridden: Vec::new(),
            spki_der,
            profile: old.profile.clone(),
            lifetime: Some(renewal_lifetime(&old, self.config.online.lifetime())),
        };
        let issued = self
            .sign_guarded(vec![req], &|_| {}, None, Some(&serial), audit)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("renewal", "nothing was issued"))?;
        Ok((old, issued))
    }

    /// The store record of `serial`, if it may be renewed.
    fn renewable(&self, serial: &Serial, der: &[u8], grace_secs: i64) -> Result<CertRecord> {
        let now = time::now().unix_timestamp();
        let rec = match self.store.get(serial)? {
            Some(r) if r.der == der => r,
            _ => {
                return Err(refused(
                    serial,
                    "this CA has no record of that certificate; enroll with a token instead".into(),
                ));
            }
        };
        if let Some(at) = rec.revoked_at {
            return Err(refused(
                serial,
                format!(
                    "it was revoked at {}; enroll anew with a token",
                    time::rfc3339(at)
                ),
            ));
        }
        if now > rec.not_after.saturating_add(grace_secs) {
            return Err(refused(
                serial,
                format!(
                    "it expired at {}, beyond the {} s grace period; enroll anew with a token",
                    time::rfc3339(rec.not_after),
                    grace_secs
                ),
            ));
        }
        if rec.profile == crate::profile::ADMIN {
            return Err(refused(
                serial,
                "admin certificates are issued on the CA machine (`mtls ca issue --profile admin`), not renewed over the network".into(),
            ));
        }
        Ok(rec)
    }
}

fn refused(serial: &Serial, detail: String) -> Error {
    Error::RenewRefused {
        serial: serial.hex(),
        detail,
    }
}

/// The life of a renewal: that of the certificate it replaces (its notBefore was backdated by
/// [`BACKDATE_SECS`](super::issue::BACKDATE_SECS)), or `default` when the record lacks a
/// notBefore.
fn renewal_lifetime(old: &CertRecord, default: time::Lifetime) -> time::Lifetime {
    old.not_before
        .and_then(|nb| {
            let secs = old.not_after - nb - super::issue::BACKDATE_SECS;
            time::Lifetime::from_secs(u64::try_from(secs).ok()?)
        })
        .unwrap_or(default)
}
