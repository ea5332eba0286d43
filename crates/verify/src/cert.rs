//! The parsed certificate model: every certificate is parsed once into owned data that the path
//! builder and the checks use.
//!
//! Problems that belong to the certificate alone (malformed or duplicated extensions, unknown
//! critical extensions, RFC 5280 profile violations) are recorded here as [`Problem`]s and
//! reported when the certificate ends up in the chosen path.

use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_PKCS9_EMAIL_ADDRESS;
use x509_parser::prelude::FromDer;

use crate::dn::Dn;
use crate::error::ErrorKind;
use crate::name::valid_dns;
use crate::nc::{GenName, NameConstraints};

use crate::report::{CertInfo, sha256};
use crate::sig::{AlgId, Spki};

/// keyUsage bits (x509-parser's `KeyUsage::flags` layout).
pub(crate) mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
}

/// A problem of a certificate on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub kind: ErrorKind,
    /// Reported only by a strict verifier (an RFC 5280 profile rule that OpenSSL also enforces
    /// only with `-x509_strict`).
    pub strict: bool,
    /// When the certificate is the trust anchor of the path, the problem is not reported.
    pub anchor_exempt: AnchorExempt,
    pub detail: String,
}

/// Whether a [`Problem`] is reported for the trust anchor of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnchorExempt {
    /// Reported for every certificate.
    No,
    /// Not reported for a trust anchor (rules about finding a certificate's issuer).
    Always,
    /// Not reported for a trust anchor above the end entity (rules about issuing that do not
    /// concern a configured CA); still reported for a directly trusted end entity.
    AsIssuer,
}

/// basicConstraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Basic {
    pub ca: bool,
    pub path_len: Option<u32>,
    pub critical: bool,
}

/// extendedKeyUsage, as far as the verifier cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Eku {
    pub server_auth: bool,
    pub client_auth: bool,
    pub any: bool,
    /// Every purpose, readable, for messages.
    pub names: Vec<String>,
}

/// A parsed certificate.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    pub info: CertInfo,
    /// 1, 2 or 3.
    pub version: u32,
    /// Serial number content bytes without leading zeros.
    pub serial: Vec<u8>,
    pub subject: Dn,
    pub issuer: Dn,
    pub not_before: i64,
    pub not_after: i64,
    pub spki: Spki,
    /// The DER of the TBSCertificate (what the issuer signed).
    pub tbs: Vec<u8>,
    pub sig_alg: AlgId,
    pub signature: Vec<u8>,
    pub basic: Option<Basic>,
    pub key_usage: Option<u16>,
    pub eku: Option<Eku>,
    pub san: Option<Vec<GenName>>,
    pub name_constraints: Option<NameConstraints>,
    pub ski: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
    /// Full-name URIs of the CRL distribution points (to match a CRL's issuingDistributionPoint).
    pub crl_dp_uris: Vec<String>,
    /// The names name constraints apply to: SAN entries, the subject DN (if not empty) and the
    /// subject's emailAddress attributes.
    pub nc_names: Vec<GenName>,
    pub problems: Vec<Problem>,
}

impl Cert {
    /// subject == issuer (by canonical comparison).
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// True when basicConstraints says cA.
    pub fn is_ca(&self) -> bool {
        self.basic.is_some_and(|b| b.ca)
    }

    /// Parses `der`, which must be exactly one certificate.
    pub fn parse(der: &[u8]) -> Result<Cert, String> {
        crate::structure::check(der)?;
        let (rest, x) = X509Certificate::from_der(der)
            .map_err(|e| format!("not a valid X.509 certificate ({e})"))?;
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes of trailing data after the certificate",
                rest.len()
            ));
        }
        Ok(Cert::from_x509(der, &x))
    }

    /// The model of `x`: its fields, then the rules it must meet on its own, one step each
    /// (problems are recorded, not returned: they count only if the certificate ends up in the
    /// chosen path).
    fn from_x509(der: &[u8], x: &X509Certificate<'_>) -> Cert {
        let mut p = Problems::default();
        serial_rules(x.raw_serial(), &mut p);
        let mut cert = Cert::fields(der, x);
        structure_rules(x, &cert, &mut p);
        let san_critical = crate::cert_ext::read_extensions(x, &mut cert, &mut p);
        ca_rules(&cert, &mut p);
        name_rules(&mut cert, x, san_critical, &mut p);
        cert.problems = p.0;
        cert
    }

    /// The certificate's fields, before any extension is read.
    fn fields(der: &[u8], x: &X509Certificate<'_>) -> Cert {
        let tbs = &x.tbs_certificate;
        let raw_serial = x.raw_serial();
        let info = CertInfo {
            der: rustls_pki_types::CertificateDer::from(der.to_vec()),
            subject: x.subject().to_string(),
            issuer: x.issuer().to_string(),
            serial: raw_serial
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            sha256: sha256(der),
        };
        Cert {
            info,
            version: x.version().0 + 1,
            serial: crate::der::trim_integer(raw_serial).to_vec(),
            subject: Dn::from_x509(x.subject()),
            issuer: Dn::from_x509(x.issuer()),
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            spki: Spki {
                alg: AlgId::from_x509(&tbs.subject_pki.algorithm),
                key: tbs.subject_pki.subject_public_key.data.to_vec(),
            },
            tbs: tbs.as_ref().to_vec(),
            sig_alg: AlgId::from_x509(&x.signature_algorithm),
            signature: x.signature_value.data.to_vec(),
            basic: None,
            key_usage: None,
            eku: None,
            san: None,
            name_constraints: None,
            ski: None,
            aki: None,
            crl_dp_uris: Vec::new(),
            nc_names: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// The problems of one certificate, as they are found.
#[derive(Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    /// A problem reported for every certificate.
    pub fn push(&mut self, kind: ErrorKind, strict: bool, detail: impl Into<String>) {
        self.exempt(kind, strict, AnchorExempt::No, detail);
    }

    /// A problem with its trust-anchor exemption.
    pub fn exempt(
        &mut self,
        kind: ErrorKind,
        strict: bool,
        anchor_exempt: AnchorExempt,
        detail: impl Into<String>,
    ) {
        self.0.push(Problem {
            kind,
            strict,
            anchor_exempt,
            detail: detail.into(),
        });
    }
}

/// Serial number rules (RFC 5280 §4.1.2.2, strict). A CA trust anchor's serial is never used
/// (§6.1.1 (d) takes only its name and key), and roots in use have serial 0 (Starfield and Go
/// Daddy Root G2): such anchors are exempt. A directly trusted end entity is not.
fn serial_rules(raw_serial: &[u8], p: &mut Problems) {
    let mut serial_problem = |detail: String| {
        p.exempt(
            ErrorKind::MalformedCertificate,
            true,
            AnchorExempt::AsIssuer,
            detail,
        )
    };
    if raw_serial.len() > 20 {
        serial_problem(format!(
            "serial number of {} octets (at most 20 allowed)",
            raw_serial.len()
        ));
    }
    if raw_serial.first().is_some_and(|b| b & 0x80 != 0) {
        serial_problem("negative serial number".into());
    } else if raw_serial.iter().all(|b| *b == 0) {
        serial_problem("serial number zero".into());
    }
}

/// Structure rules (RFC 5280 §4.1): the inner and outer signature algorithms agree, an
/// issuer name, extensions only in v3.
fn structure_rules(x: &X509Certificate<'_>, cert: &Cert, p: &mut Problems) {
    if AlgId::from_x509(&x.tbs_certificate.signature) != cert.sig_alg {
        p.push(
            ErrorKind::MalformedCertificate,
            false,
            "the signature algorithm inside the signed part differs from the outer one",
        );
    }
    if cert.issuer.is_empty() {
        p.push(
            ErrorKind::MalformedCertificate,
            false,
            "the issuer name is empty",
        );
    }
    if cert.version < 3 && !x.extensions().is_empty() {
        p.push(
            ErrorKind::MalformedCertificate,
            false,
            format!("a v{} certificate with extensions", cert.version),
        );
    }
}

/// Consistency of the CA extensions (RFC 5280 §4.2.1.3, §4.2.1.9, §4.2.1.10).
fn ca_rules(cert: &Cert, p: &mut Problems) {
    let ca = cert.is_ca();
    if cert.key_usage.is_some_and(|k| k & ku::KEY_CERT_SIGN != 0) && !ca {
        p.push(
            ErrorKind::InvalidExtension,
            false,
            "keyUsage keyCertSign is set but basicConstraints cA is not TRUE",
        );
    }
    if let Some(b) = cert.basic {
        if b.path_len.is_some() && !b.ca {
            p.push(
                ErrorKind::InvalidExtension,
                true,
                "pathLenConstraint without cA=TRUE",
            );
        }
        if b.ca && !b.critical {
            p.push(
                ErrorKind::InvalidExtension,
                true,
                "basicConstraints of a CA is not marked critical",
            );
        }
    }
    if ca && cert.ski.is_none() {
        p.push(
            ErrorKind::InvalidExtension,
            true,
            "a CA certificate without subjectKeyIdentifier",
        );
    }
    if cert.name_constraints.is_some() && !ca {
        p.push(
            ErrorKind::InvalidExtension,
            true,
            "nameConstraints in a certificate that is not a CA",
        );
    }
}

/// Names (RFC 5280 §4.1.2.6, §4.2.1.6): subject or SAN present, SAN entries well formed; then
/// the names that name constraints apply to, and the AKI rule for a certificate issued by
/// another.
fn name_rules(cert: &mut Cert, x: &X509Certificate<'_>, san_critical: bool, p: &mut Problems) {
    if cert.subject.is_empty() && cert.san.is_some() && !san_critical {
        p.push(
            ErrorKind::InvalidExtension,
            true,
            "the subject is empty but subjectAltName is not critical",
        );
    }
    if cert.subject.is_empty() && cert.san.is_none() && cert.version == 3 && !cert.is_ca() {
        p.push(
            ErrorKind::MalformedCertificate,
            true,
            "neither a subject nor a subjectAltName",
        );
    }
    for n in cert.san.iter().flatten() {
        match n {
            GenName::Dns(d) if !valid_dns(d, true, false) => p.push(
                ErrorKind::InvalidExtension,
                true,
                format!("subjectAltName has the malformed DNS name {d:?}"),
            ),
            GenName::Ip(o) if !matches!(o.len(), 4 | 16) => p.push(
                ErrorKind::InvalidExtension,
                false,
                format!("subjectAltName has an IP address of {} bytes", o.len()),
            ),
            GenName::Email(e) if e.matches('@').count() != 1 => p.push(
                ErrorKind::InvalidExtension,
                true,
                format!("subjectAltName has the malformed email address {e:?}"),
            ),
            GenName::Invalid(_) => p.push(
                ErrorKind::InvalidExtension,
                false,
                format!("subjectAltName has a {}", n.describe()),
            ),
            _ => {}
        }
    }
    cert.nc_names = cert.san.clone().unwrap_or_default();
    if !cert.subject.is_empty() {
        cert.nc_names.push(GenName::Dir(cert.subject.clone()));
    }
    for atv in x.subject().iter_by_oid(&OID_PKCS9_EMAIL_ADDRESS) {
        let email = atv.as_str().map(str::to_string).unwrap_or_default();
        cert.nc_names.push(GenName::Email(email));
    }
    if cert.aki.is_none() && !cert.self_issued() && cert.version == 3 {
        p.exempt(
            ErrorKind::InvalidExtension,
            true,
            AnchorExempt::Always,
            "authorityKeyIdentifier keyIdentifier is missing",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Cert::parse(&[]).is_err());
        assert!(Cert::parse(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(Cert::parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
