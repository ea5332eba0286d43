//! Checking one request before it is signed: key, profile, subject policy, subjectAltNames,
//! the issuing CA's own constraints and the validity period. One function per step; nothing
//! here touches the store.

use rcgen::CertificateParams;

use super::CertificateAuthority;
use super::issue::{BACKDATE_SECS, Issued, SignRequest};
use super::limits::IssuerLimits;
use crate::error::{Error, Result};
use crate::key::MIN_RSA_BITS;
use crate::name::Name;
use crate::profile::Profile;
use crate::san::{San, is_dns_name};
use crate::san_policy::{self, SanPattern};
use crate::serial::Serial;
use crate::store::CertRecord;
use crate::{inspect, time};

/// A request checked against policy and profile, ready to sign.
pub(crate) struct Prepared {
    pub params: CertificateParams,
    pub spki_der: Vec<u8>,
    pub record: CertRecord,
    pub issued: Issued,
}

/// What a request's checks said, for the user.
#[derive(Default)]
struct Notes {
    notes: Vec<String>,
    warnings: Vec<String>,
}

impl CertificateAuthority {
    /// Policy, profile, constraint and validity checks for one request.
    pub(crate) fn prepare(
        &self,
        r: &SignRequest,
        now: ::time::OffsetDateTime,
        limits: &IssuerLimits,
    ) -> Result<Prepared> {
        self.check_key(r)?;
        let profile = self.profile(&r.profile)?;
        limits.check_issue(&r.what, profile.ca)?;
        let mut n = Notes::default();
        let subject = self.subject_for(r, &mut n)?;
        let sans = subject_alt_names(r, profile, &subject, &mut n)?;
        if !r.overridden.is_empty() {
            n.notes.push(format!(
                "the request's {} replaced by profile {}'s",
                r.overridden.join(", "),
                r.profile
            ));
        }
        let (not_before, not_after) = self.validity(r, profile, now, &mut n)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject.to_rcgen().map_err(|e| match e {
            Error::Invalid { detail, .. } => Error::invalid(&r.what, detail),
            other => other,
        })?;
        params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
        params.not_before = not_before;
        params.not_after = not_after;
        profile.apply(&mut params, &r.profile)?;
        self.config.urls.apply(&mut params);
        if let Some(id) = inspect::key_id(&r.spki_der) {
            params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(id);
        }
        Ok(Prepared {
            params,
            spki_der: r.spki_der.clone(),
            record: CertRecord {
                serial: Serial::from_bytes(&[]),
                subject: subject.to_string(),
                cn: subject.common_name().map(str::to_owned),
                sans: sans.iter().map(ToString::to_string).collect(),
                profile: r.profile.clone(),
                not_before: Some(not_before.unix_timestamp()),
                not_after: not_after.unix_timestamp(),
                revoked_at: None,
                reason: None,
                invalidity_date: None,
                hold_instruction: None,
                der: Vec::new(),
            },
            issued: Issued {
                what: r.what.clone(),
                serial: Serial::from_bytes(&[]),
                der: Vec::new(),
                pem: String::new(),
                subject,
                sans,
                not_after: not_after.unix_timestamp(),
                notes: n.notes,
                warnings: n.warnings,
            },
        })
    }

    /// The key must be of a supported type, and RSA at least 2048 bits unless `ca.toml` allows
    /// weaker ones.
    fn check_key(&self, r: &SignRequest) -> Result<()> {
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
        Ok(())
    }

    /// The profile named `name`; unknown names are refused, listing the profiles.
    pub(super) fn profile(&self, name: &str) -> Result<&Profile> {
        self.config.profiles.get(name).ok_or_else(|| {
            Error::invalid(
                format!("profile {name:?}"),
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
        })
    }

    /// The subject the certificate gets: the request's, checked, under the DN policy.
    fn subject_for(&self, r: &SignRequest, n: &mut Notes) -> Result<Name> {
        r.subject.check(&r.what)?;
        let applied = self
            .config
            .policy
            .apply(&self.subject, &r.subject, &r.what)?;
        if !applied.dropped.is_empty() {
            n.notes.push(format!(
                "dropped subject field(s) the policy does not list: {}",
                applied
                    .dropped
                    .iter()
                    .map(|(a, v)| format!("{a}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(applied.subject)
    }

    /// notBefore (backdated a minute) and notAfter (the profile's validity unless asked, capped at
    /// the CA's own expiry).
    fn validity(
        &self,
        r: &SignRequest,
        profile: &Profile,
        now: ::time::OffsetDateTime,
        n: &mut Notes,
    ) -> Result<(::time::OffsetDateTime, ::time::OffsetDateTime)> {
        let life = r.lifetime.unwrap_or_else(|| profile.lifetime());
        let not_before = now - ::time::Duration::seconds(BACKDATE_SECS);
        let mut not_after = time::after(now, life, &r.what)?;
        if not_after.unix_timestamp() > self.not_after {
            not_after = time::from_unix(self.not_after);
            n.warnings.push(format!(
                "validity capped at the CA's own expiry, {} ({} asked for)",
                time::rfc3339(self.not_after),
                life.human()
            ));
        }
        Ok((not_before, not_after))
    }
}

/// The subjectAltNames the certificate gets, and notes saying which were kept and dropped:
/// the operator's names (each must be valid and allowed by the profile's `san_allow`), the
/// request's names that the profile allows, and for a profile that needs one, a hostname or
/// IP address CN copied into a SAN.
fn subject_alt_names(
    r: &SignRequest,
    profile: &Profile,
    subject: &Name,
    n: &mut Notes,
) -> Result<Vec<San>> {
    let patterns = san_policy::parse_list(&profile.san_allow, &r.profile)?;
    let allowed = |s: &San| patterns.is_empty() || patterns.iter().any(|p| p.allows(s));
    let mut sans: Vec<San> = Vec::new();
    let mut dropped = Vec::new();
    for s in &r.requested_sans {
        s.check()
            .map_err(|e| Error::invalid(&r.what, e.to_string()))?;
        if !allowed(s) {
            dropped.push(s.to_string());
        } else if !sans.contains(s) {
            sans.push(s.clone());
        }
    }
    for s in &r.sans {
        s.check()?;
        if !allowed(s) {
            return Err(not_allowed(r, s, &patterns));
        }
        if !sans.contains(s) {
            sans.push(s.clone());
        }
    }
    if !dropped.is_empty() {
        n.notes.push(format!(
            "dropped subjectAltName(s) profile {} does not allow: {}",
            r.profile,
            dropped.join(", ")
        ));
    }
    if profile.require_san && sans.is_empty() {
        let san = san_from_cn(r, subject)?;
        if !allowed(&san) {
            return Err(not_allowed(r, &san, &patterns));
        }
        n.notes.push(format!(
            "copied the CN into a subjectAltName {san} (clients ignore the CN; a CN-only certificate fails with HostNameMismatch)"
        ));
        sans.push(san);
    }
    if profile.ca && !sans.is_empty() {
        n.notes
            .push("a CA certificate with subjectAltNames is unusual".into());
    }
    Ok(sans)
}

/// The SAN a hostname or IP address CN stands for, for a profile that requires a SAN.
fn san_from_cn(r: &SignRequest, subject: &Name) -> Result<San> {
    let cn = subject.common_name();
    if let Some(cn) = cn {
        let dns = San::Dns(cn.to_ascii_lowercase());
        if let Ok(ip) = cn.parse::<std::net::IpAddr>() {
            return Ok(San::Ip(ip));
        } else if is_dns_name(cn) && dns.check().is_ok() {
            return Ok(dns);
        }
    }
    Err(Error::SanRequired {
        what: r.what.clone(),
        profile: r.profile.clone(),
        cn: cn.map(str::to_owned),
    })
}

fn not_allowed(r: &SignRequest, san: &San, patterns: &[SanPattern]) -> Error {
    let list: Vec<String> = patterns.iter().map(ToString::to_string).collect();
    Error::invalid(
        &r.what,
        format!(
            "subjectAltName {san} is not allowed by profile {} (san_allow = [{}])",
            r.profile,
            list.join(", ")
        ),
    )
}
