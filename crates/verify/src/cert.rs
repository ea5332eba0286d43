//! The parsed certificate model: every certificate is parsed once into owned data that the path
//! builder and the checks use.
//!
//! Problems that belong to the certificate alone (malformed or duplicated extensions, unknown
//! critical extensions, RFC 5280 profile violations) are recorded here as [`Problem`]s and
//! reported when the certificate ends up in the chosen path.

use std::collections::HashSet;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
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

    fn from_x509(der: &[u8], x: &X509Certificate<'_>) -> Cert {
        let tbs = &x.tbs_certificate;
        let mut problems = Vec::new();
        // Serial number rules (strict). A CA trust anchor's serial is never used (RFC 5280
        // §6.1.1 (d) takes only its name and key), and roots in use have serial 0 (Starfield and
        // Go Daddy Root G2): such anchors are exempt. A directly trusted end entity is not.
        let raw_serial = x.raw_serial();
        let mut serial_problem = |detail: String| {
            problems.push(Problem {
                kind: ErrorKind::MalformedCertificate,
                strict: true,
                anchor_exempt: AnchorExempt::AsIssuer,
                detail,
            })
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
        let mut problem = |kind, strict, detail: String| {
            problems.push(Problem {
                kind,
                strict,
                anchor_exempt: AnchorExempt::No,
                detail,
            })
        };

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
        let version = x.version().0 + 1;
        let subject = Dn::from_x509(x.subject());
        let issuer = Dn::from_x509(x.issuer());

        // Structure (RFC 5280 §4.1).
        let sig_alg = AlgId::from_x509(&x.signature_algorithm);
        if AlgId::from_x509(&tbs.signature) != sig_alg {
            problem(
                ErrorKind::MalformedCertificate,
                false,
                "the signature algorithm inside the signed part differs from the outer one".into(),
            );
        }
        if issuer.is_empty() {
            problem(
                ErrorKind::MalformedCertificate,
                false,
                "the issuer name is empty".into(),
            );
        }
        if version < 3 && !x.extensions().is_empty() {
            problem(
                ErrorKind::MalformedCertificate,
                false,
                format!("a v{version} certificate with extensions"),
            );
        }
        let mut cert = Cert {
            info,
            version,
            serial: crate::der::trim_integer(raw_serial).to_vec(),
            subject,
            issuer,
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            spki: Spki {
                alg: AlgId::from_x509(&tbs.subject_pki.algorithm),
                key: tbs.subject_pki.subject_public_key.data.to_vec(),
            },
            tbs: tbs.as_ref().to_vec(),
            sig_alg,
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
        };

        let mut seen = HashSet::new();
        let mut san_critical = false;
        for ext in x.extensions() {
            let oid_name = crate::sig::oid_name(ext.oid.as_bytes());
            if !seen.insert(ext.oid.as_bytes().to_vec()) {
                problem(
                    ErrorKind::InvalidExtension,
                    false,
                    format!("the {oid_name} extension appears more than once"),
                );
                continue;
            }
            let crit = ext.critical;
            match ext.parsed_extension() {
                ParsedExtension::ParseError { .. } => {
                    problem(
                        ErrorKind::InvalidExtension,
                        false,
                        format!("the {oid_name} extension is malformed"),
                    );
                }
                ParsedExtension::BasicConstraints(bc) => {
                    cert.basic = Some(Basic {
                        ca: bc.ca,
                        path_len: bc.path_len_constraint,
                        critical: crit,
                    });
                }
                ParsedExtension::KeyUsage(k) => {
                    cert.key_usage = Some(k.flags);
                    if k.flags == 0 {
                        problem(
                            ErrorKind::InvalidExtension,
                            true,
                            "keyUsage has no bit set".into(),
                        );
                    }
                }
                ParsedExtension::ExtendedKeyUsage(e) => {
                    let mut names = Vec::new();
                    for (set, n) in [
                        (e.any, "anyExtendedKeyUsage"),
                        (e.server_auth, "serverAuth"),
                        (e.client_auth, "clientAuth"),
                        (e.code_signing, "codeSigning"),
                        (e.email_protection, "emailProtection"),
                        (e.time_stamping, "timeStamping"),
                        (e.ocsp_signing, "OCSPSigning"),
                    ] {
                        if set {
                            names.push(n.to_string());
                        }
                    }
                    names.extend(e.other.iter().map(|o| o.to_id_string()));
                    if names.is_empty() {
                        problem(
                            ErrorKind::InvalidExtension,
                            false,
                            "extendedKeyUsage lists no purpose".into(),
                        );
                    }
                    cert.eku = Some(Eku {
                        server_auth: e.server_auth,
                        client_auth: e.client_auth,
                        any: e.any,
                        names,
                    });
                }
                ParsedExtension::SubjectAlternativeName(s) => {
                    san_critical = crit;
                    if s.general_names.is_empty() {
                        problem(
                            ErrorKind::InvalidExtension,
                            false,
                            "subjectAltName is empty".into(),
                        );
                    }
                    cert.san = Some(s.general_names.iter().map(GenName::from_x509).collect());
                }
                ParsedExtension::NameConstraints(nc) => {
                    let nc = NameConstraints::from_x509(nc);
                    for (strict, detail) in nc.problems() {
                        problem(ErrorKind::InvalidExtension, strict, detail);
                    }
                    if !crit {
                        problem(
                            ErrorKind::InvalidExtension,
                            true,
                            "nameConstraints is not marked critical".into(),
                        );
                    }
                    cert.name_constraints = Some(nc);
                }
                ParsedExtension::SubjectKeyIdentifier(k) => {
                    cert.ski = Some(k.0.to_vec());
                    if crit {
                        problem(
                            ErrorKind::InvalidExtension,
                            true,
                            "subjectKeyIdentifier is marked critical".into(),
                        );
                    }
                }
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    cert.aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
                    if crit {
                        problem(
                            ErrorKind::InvalidExtension,
                            true,
                            "authorityKeyIdentifier is marked critical".into(),
                        );
                    }
                }
                ParsedExtension::CRLDistributionPoints(dps) => {
                    for dp in dps.iter() {
                        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point
                        {
                            for n in names {
                                if let GeneralName::URI(u) = n {
                                    cert.crl_dp_uris.push((*u).to_string());
                                }
                            }
                        }
                    }
                }
                ParsedExtension::PolicyConstraints(_)
                | ParsedExtension::PolicyMappings(_)
                | ParsedExtension::InhibitAnyPolicy(_) => {
                    // Policy processing is not implemented: fail closed on critical ones.
                    if crit {
                        problem(
                            ErrorKind::UnhandledCriticalExtension,
                            false,
                            format!(
                                "critical {oid_name} (certificate policy processing is not supported)"
                            ),
                        );
                    } else if matches!(
                        ext.parsed_extension(),
                        ParsedExtension::PolicyConstraints(_)
                    ) {
                        problem(
                            ErrorKind::InvalidExtension,
                            true,
                            "policyConstraints is not marked critical".into(),
                        );
                    }
                }
                ParsedExtension::AuthorityInfoAccess(_) | ParsedExtension::SubjectInfoAccess(_) => {
                    if crit {
                        problem(
                            ErrorKind::InvalidExtension,
                            true,
                            format!("{oid_name} is marked critical"),
                        );
                    }
                }
                ParsedExtension::CertificatePolicies(_)
                | ParsedExtension::IssuerAlternativeName(_)
                | ParsedExtension::NSCertType(_)
                | ParsedExtension::NsCertComment(_)
                | ParsedExtension::SCT(_) => {}
                _ => {
                    if crit {
                        problem(
                            ErrorKind::UnhandledCriticalExtension,
                            false,
                            format!("critical extension {oid_name} is not understood"),
                        );
                    }
                }
            }
        }

        // Consistency of the CA extensions (RFC 5280 §4.2.1.3, §4.2.1.9, §4.2.1.10).
        let ca = cert.is_ca();
        if cert.key_usage.is_some_and(|k| k & ku::KEY_CERT_SIGN != 0) && !ca {
            problem(
                ErrorKind::InvalidExtension,
                false,
                "keyUsage keyCertSign is set but basicConstraints cA is not TRUE".into(),
            );
        }
        if let Some(b) = cert.basic {
            if b.path_len.is_some() && !b.ca {
                problem(
                    ErrorKind::InvalidExtension,
                    true,
                    "pathLenConstraint without cA=TRUE".into(),
                );
            }
            if b.ca && !b.critical {
                problem(
                    ErrorKind::InvalidExtension,
                    true,
                    "basicConstraints of a CA is not marked critical".into(),
                );
            }
        }
        if ca && cert.ski.is_none() {
            problem(
                ErrorKind::InvalidExtension,
                true,
                "a CA certificate without subjectKeyIdentifier".into(),
            );
        }
        if cert.name_constraints.is_some() && !ca {
            problem(
                ErrorKind::InvalidExtension,
                true,
                "nameConstraints in a certificate that is not a CA".into(),
            );
        }

        // Names.
        if cert.subject.is_empty() && cert.san.is_some() && !san_critical {
            problem(
                ErrorKind::InvalidExtension,
                true,
                "the subject is empty but subjectAltName is not critical".into(),
            );
        }
        if cert.subject.is_empty() && cert.san.is_none() && version == 3 && !ca {
            problem(
                ErrorKind::MalformedCertificate,
                true,
                "neither a subject nor a subjectAltName".into(),
            );
        }
        for n in cert.san.iter().flatten() {
            match n {
                GenName::Dns(d) if !valid_dns(d, true, false) => {
                    problem(
                        ErrorKind::InvalidExtension,
                        true,
                        format!("subjectAltName has the malformed DNS name {d:?}"),
                    );
                }
                GenName::Ip(o) if !matches!(o.len(), 4 | 16) => {
                    problem(
                        ErrorKind::InvalidExtension,
                        false,
                        format!("subjectAltName has an IP address of {} bytes", o.len()),
                    );
                }
                GenName::Email(e) if e.matches('@').count() != 1 => {
                    problem(
                        ErrorKind::InvalidExtension,
                        true,
                        format!("subjectAltName has the malformed email address {e:?}"),
                    );
                }
                GenName::Invalid(_) => {
                    problem(
                        ErrorKind::InvalidExtension,
                        false,
                        format!("subjectAltName has a {}", n.describe()),
                    );
                }
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
        if cert.aki.is_none() && !cert.self_issued() && version == 3 {
            problems.push(Problem {
                kind: ErrorKind::InvalidExtension,
                strict: true,
                anchor_exempt: AnchorExempt::Always,
                detail: "authorityKeyIdentifier keyIdentifier is missing".into(),
            });
        }
        cert.problems = problems;
        cert
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
