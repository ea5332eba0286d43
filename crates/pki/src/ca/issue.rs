//! Signing: requests in, certificates out, recorded in the store before they are returned.

use rcgen::{CertificateParams, Issuer, SerialNumber, SubjectPublicKeyInfo};

use super::CertificateAuthority;
use crate::csr::Request;
use crate::error::{Error, Result};
use crate::key::{MIN_RSA_BITS, PrivateKey};
use crate::name::Name;
use crate::san::{San, is_dns_name};
use crate::serial::Serial;
use crate::store::CertRecord;
use crate::{inspect, pemutil, time};

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
    /// subjectAltNames (the request's plus any added on the command line).
    pub sans: Vec<San>,
    /// The DER SubjectPublicKeyInfo to certify.
    pub spki_der: Vec<u8>,
    /// Profile name (a `[profiles.NAME]` of `ca.toml`).
    pub profile: String,
    /// Validity in days; the profile's default when `None`.
    pub days: Option<u32>,
}

impl SignRequest {
    /// From a parsed CSR plus extra SANs.
    pub fn from_request(req: Request, profile: &str, days: Option<u32>, extra: &[San]) -> Self {
        let mut sans = req.sans;
        for s in extra {
            if !sans.contains(s) {
                sans.push(s.clone());
            }
        }
        SignRequest {
            what: req.what,
            subject: req.subject,
            sans,
            spki_der: req.spki_der,
            profile: profile.into(),
            days,
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

/// A request checked against policy and profile, ready to sign.
struct Prepared {
    params: CertificateParams,
    spki_der: Vec<u8>,
    record: CertRecord,
    issued: Issued,
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
        let now = time::now();
        if now.unix_timestamp() >= self.not_after {
            return Err(Error::CaExpired {
                not_after: time::rfc3339(self.not_after),
            });
        }
        let mut prepared = requests
            .iter()
            .map(|r| self.prepare(r, now))
            .collect::<Result<Vec<_>>>()?;
        // Field borrows (not `self.key()`) so that the store stays mutably borrowable.
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::invalid("CA key", "not unlocked (internal error)"))?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), key.key_pair())
            .map_err(|e| Error::crypto("loading ca.crt as issuer", e))?;
        let mut out = Vec::with_capacity(prepared.len());
        let mut done = 0;
        for chunk in prepared.chunks_mut(BATCH) {
            sign_parallel(chunk, &issuer)?;
            let mut records: Vec<CertRecord> = chunk.iter().map(|p| p.record.clone()).collect();
            // A duplicate serial (astronomically unlikely with 126 random bits) is re-drawn.
            let mut attempts = 0;
            loop {
                match self.store.insert(&records) {
                    Ok(()) => break,
                    Err(e @ Error::Invalid { .. }) if attempts < 3 => {
                        attempts += 1;
                        let mut redo = false;
                        for p in chunk.iter_mut() {
                            if self.store.contains(&p.record.serial)? {
                                p.params.serial_number = None;
                                redo = true;
                            }
                        }
                        if !redo {
                            return Err(e);
                        }
                        sign_parallel(chunk, &issuer)?;
                        records = chunk.iter().map(|p| p.record.clone()).collect();
                    }
                    Err(e) => return Err(e),
                }
            }
            done += chunk.len();
            progress(done);
            out.extend(chunk.iter().map(|p| p.issued.clone()));
        }
        Ok(out)
    }

    /// Policy, profile and validity checks for one request.
    fn prepare(&self, r: &SignRequest, now: ::time::OffsetDateTime) -> Result<Prepared> {
        let desc = inspect::describe_spki(&r.spki_der);
        if !inspect::is_supported(&desc) {
            return Err(Error::UnsupportedKey {
                what: r.what.clone(),
                detail: desc,
            });
        }
        if let Some(bits) = inspect::rsa_bits(&r.spki_der)
            && bits < MIN_RSA_BITS
            && !self.config.ca.allow_weak_rsa
        {
            return Err(Error::WeakRsaKey {
                what: r.what.clone(),
                bits,
            });
        }
        let profile = self.config.profiles.get(&r.profile).ok_or_else(|| {
            Error::invalid(
                format!("profile {:?}", r.profile),
                format!(
                    "unknown; this CA has {}",
                    self.config
                        .profiles
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let applied = self
            .config
            .policy
            .apply(&self.subject, &r.subject, &r.what)?;
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        if !applied.dropped.is_empty() {
            notes.push(format!(
                "dropped subject field(s) the policy does not list: {}",
                applied
                    .dropped
                    .iter()
                    .map(|(a, v)| format!("{a}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut sans = r.sans.clone();
        if profile.require_san && sans.is_empty() {
            match applied.subject.common_name() {
                Some(cn) if cn.parse::<std::net::IpAddr>().is_ok() => {
                    if let Ok(ip) = cn.parse::<std::net::IpAddr>() {
                        notes.push(format!("copied the CN into a subjectAltName IP:{ip}"));
                        sans.push(San::Ip(ip));
                    }
                }
                Some(cn) if is_dns_name(cn) => {
                    let san = San::Dns(cn.to_ascii_lowercase());
                    notes.push(format!(
                        "copied the CN into a subjectAltName {san} (clients ignore the CN; a CN-only certificate fails with HostNameMismatch)"
                    ));
                    sans.push(san);
                }
                Some(cn) => {
                    return Err(Error::invalid(
                        &r.what,
                        format!(
                            "profile {} needs a subjectAltName and the CN {cn:?} is not a hostname; add --san DNS:<host> or --san IP:<address>",
                            r.profile
                        ),
                    ));
                }
                None => {
                    return Err(Error::invalid(
                        &r.what,
                        format!(
                            "profile {} needs a subjectAltName; add --san DNS:<host>",
                            r.profile
                        ),
                    ));
                }
            }
        }
        if profile.ca && !sans.is_empty() {
            notes.push("a CA certificate with subjectAltNames is unusual".into());
        }
        let days = r.days.unwrap_or(profile.days);
        if days == 0 {
            return Err(Error::invalid(&r.what, "--days must be at least 1"));
        }
        let not_before = now - ::time::Duration::seconds(BACKDATE_SECS);
        let mut not_after = now + ::time::Duration::days(i64::from(days));
        if not_after.unix_timestamp() > self.not_after {
            not_after = time::from_unix(self.not_after);
            warnings.push(format!(
                "validity capped at the CA's own expiry, {} ({days} days were asked)",
                time::rfc3339(self.not_after)
            ));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = applied.subject.to_rcgen().map_err(|e| match e {
            Error::Invalid { detail, .. } => Error::invalid(&r.what, detail),
            other => other,
        })?;
        params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
        params.not_before = not_before;
        params.not_after = not_after;
        profile.apply(&mut params, &r.profile)?;
        if let Some(id) = inspect::key_id(&r.spki_der) {
            params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(id);
        }
        let subject_text = applied.subject.to_string();
        let san_text: Vec<String> = sans.iter().map(ToString::to_string).collect();
        Ok(Prepared {
            params,
            spki_der: r.spki_der.clone(),
            record: CertRecord {
                serial: Serial::from_bytes(&[]),
                subject: subject_text,
                cn: applied.subject.common_name().map(str::to_owned),
                sans: san_text,
                profile: r.profile.clone(),
                not_before: not_before.unix_timestamp(),
                not_after: not_after.unix_timestamp(),
                revoked_at: None,
                reason: None,
                der: Vec::new(),
            },
            issued: Issued {
                what: r.what.clone(),
                serial: Serial::from_bytes(&[]),
                der: Vec::new(),
                pem: String::new(),
                subject: applied.subject,
                sans,
                not_after: not_after.unix_timestamp(),
                notes,
                warnings,
            },
        })
    }

    /// `mtls ca issue`: a new key and a certificate for it in one step. Fields the policy says
    /// must match are filled from the CA when the subject lacks them.
    pub fn issue(
        &mut self,
        name: &str,
        subject: Name,
        sans: Vec<San>,
        profile: &str,
        days: Option<u32>,
        key_type: crate::key::KeyType,
    ) -> Result<(PrivateKey, Issued)> {
        let mut subject = subject;
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
        let key = PrivateKey::generate(key_type)?;
        let req = SignRequest {
            what: name.into(),
            subject,
            sans,
            spki_der: key.public_key_der(),
            profile: profile.into(),
            days,
        };
        let issued = self
            .sign(vec![req], &|_| {})?
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid(name, "nothing was issued"))?;
        Ok((key, issued))
    }
}

/// Signs every prepared certificate lacking a serial or a DER, on all cores.
fn sign_parallel(chunk: &mut [Prepared], issuer: &Issuer<'_, &rcgen::KeyPair>) -> Result<()> {
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
