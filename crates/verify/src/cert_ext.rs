//! Reading a certificate's extensions into the model (RFC 5280 §4.2), one function per
//! extension, each recording the problems it finds. Extensions that are not understood make a
//! certificate unusable only when critical.

use std::collections::HashSet;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{
    AuthorityKeyIdentifier, BasicConstraints, CRLDistributionPoints, DistributionPointName,
    ExtendedKeyUsage, GeneralName, KeyUsage, ParsedExtension, SubjectAlternativeName,
};

use crate::cert::{Basic, Cert, Eku, Problems};
use crate::error::ErrorKind;
use crate::nc::{GenName, NameConstraints};

/// Reads every extension of `x` into `cert`; returns whether subjectAltName is critical.
pub(crate) fn read_extensions(x: &X509Certificate<'_>, cert: &mut Cert, p: &mut Problems) -> bool {
    let mut seen = HashSet::new();
    let mut san_critical = false;
    for ext in x.extensions() {
        let oid_name = crate::sig::oid_name(ext.oid.as_bytes());
        if !seen.insert(ext.oid.as_bytes().to_vec()) {
            p.push(
                ErrorKind::InvalidExtension,
                false,
                format!("the {oid_name} extension appears more than once"),
            );
            continue;
        }
        let crit = ext.critical;
        match ext.parsed_extension() {
            ParsedExtension::ParseError { .. } => p.push(
                ErrorKind::InvalidExtension,
                false,
                format!("the {oid_name} extension is malformed"),
            ),
            ParsedExtension::BasicConstraints(bc) => basic_constraints(bc, crit, cert),
            ParsedExtension::KeyUsage(k) => key_usage(k, cert, p),
            ParsedExtension::ExtendedKeyUsage(e) => extended_key_usage(e, cert, p),
            ParsedExtension::SubjectAlternativeName(s) => {
                san_critical = crit;
                subject_alt_name(s, cert, p);
            }
            ParsedExtension::NameConstraints(nc) => {
                name_constraints(NameConstraints::from_x509(nc), crit, cert, p)
            }
            ParsedExtension::SubjectKeyIdentifier(k) => {
                cert.ski = Some(k.0.to_vec());
                not_critical(crit, "subjectKeyIdentifier", p);
            }
            ParsedExtension::AuthorityKeyIdentifier(a) => authority_key_id(a, crit, cert, p),
            ParsedExtension::CRLDistributionPoints(dps) => crl_distribution_points(dps, cert),
            ParsedExtension::PolicyConstraints(_) => policy(crit, &oid_name, true, p),
            ParsedExtension::PolicyMappings(_) | ParsedExtension::InhibitAnyPolicy(_) => {
                policy(crit, &oid_name, false, p)
            }
            ParsedExtension::AuthorityInfoAccess(_) | ParsedExtension::SubjectInfoAccess(_) => {
                // Known (as OpenSSL knows them) and informational; critical only unless strict.
                if crit {
                    p.push(
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
                    p.push(
                        ErrorKind::UnhandledCriticalExtension,
                        false,
                        format!("critical extension {oid_name} is not understood"),
                    );
                }
            }
        }
    }
    san_critical
}

/// A strict rule: `name` MUST NOT be critical (RFC 5280 §4.2.1.1, §4.2.1.2).
fn not_critical(crit: bool, name: &str, p: &mut Problems) {
    if crit {
        p.push(
            ErrorKind::InvalidExtension,
            true,
            format!("{name} is marked critical"),
        );
    }
}

/// basicConstraints (§4.2.1.9).
fn basic_constraints(bc: &BasicConstraints, crit: bool, cert: &mut Cert) {
    cert.basic = Some(Basic {
        ca: bc.ca,
        path_len: bc.path_len_constraint,
        critical: crit,
    });
}

/// keyUsage (§4.2.1.3): at least one bit set.
fn key_usage(k: &KeyUsage, cert: &mut Cert, p: &mut Problems) {
    cert.key_usage = Some(k.flags);
    if k.flags == 0 {
        p.push(ErrorKind::InvalidExtension, true, "keyUsage has no bit set");
    }
}

/// extendedKeyUsage (§4.2.1.12): at least one purpose; names kept for messages.
fn extended_key_usage(e: &ExtendedKeyUsage<'_>, cert: &mut Cert, p: &mut Problems) {
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
        p.push(
            ErrorKind::InvalidExtension,
            false,
            "extendedKeyUsage lists no purpose",
        );
    }
    cert.eku = Some(Eku {
        server_auth: e.server_auth,
        client_auth: e.client_auth,
        any: e.any,
        names,
    });
}

/// subjectAltName (§4.2.1.6): not empty.
fn subject_alt_name(s: &SubjectAlternativeName<'_>, cert: &mut Cert, p: &mut Problems) {
    if s.general_names.is_empty() {
        p.push(
            ErrorKind::InvalidExtension,
            false,
            "subjectAltName is empty",
        );
    }
    cert.san = Some(s.general_names.iter().map(GenName::from_x509).collect());
}

/// nameConstraints (§4.2.1.10): well-formed subtrees, critical (strict).
fn name_constraints(nc: NameConstraints, crit: bool, cert: &mut Cert, p: &mut Problems) {
    for (strict, detail) in nc.problems() {
        p.push(ErrorKind::InvalidExtension, strict, detail);
    }
    if !crit {
        p.push(
            ErrorKind::InvalidExtension,
            true,
            "nameConstraints is not marked critical",
        );
    }
    cert.name_constraints = Some(nc);
}

/// authorityKeyIdentifier (§4.2.1.1): its keyIdentifier; not critical (strict).
fn authority_key_id(a: &AuthorityKeyIdentifier<'_>, crit: bool, cert: &mut Cert, p: &mut Problems) {
    cert.aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
    not_critical(crit, "authorityKeyIdentifier", p);
}

/// cRLDistributionPoints (§4.2.1.13): the full-name URIs, to match a CRL's
/// issuingDistributionPoint.
fn crl_distribution_points(dps: &CRLDistributionPoints<'_>, cert: &mut Cert) {
    for dp in dps.iter() {
        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
            for n in names {
                if let GeneralName::URI(u) = n {
                    cert.crl_dp_uris.push((*u).to_string());
                }
            }
        }
    }
}

/// Policy extensions (§4.2.1.11, .5, .14): policy processing is not implemented, so critical
/// ones fail closed; policyConstraints MUST be critical (`must_be_critical`, strict).
fn policy(crit: bool, name: &str, must_be_critical: bool, p: &mut Problems) {
    if crit {
        p.push(
            ErrorKind::UnhandledCriticalExtension,
            false,
            format!("critical {name} (certificate policy processing is not supported)"),
        );
    } else if must_be_critical {
        p.push(
            ErrorKind::InvalidExtension,
            true,
            "policyConstraints is not marked critical",
        );
    }
}
