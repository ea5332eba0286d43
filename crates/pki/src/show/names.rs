//! Notations: general names, string values, policy qualifiers, request attributes, OID name tables (OpenSSL's names
//! where it has them) and OpenSSL's trusted-certificate auxiliary data.

use std::net::IpAddr;

use x509_parser::asn1_rs::{Any, Class, FromDer, Oid, Tag};
use x509_parser::extensions::GeneralName;
use x509_parser::x509::AlgorithmIdentifier;

use super::{AlgInfo, Attribute, children, dn_info, hex_plain};
use crate::name::decode_string;

/// A policy qualifier: CPS URI or user notice.
pub(super) fn qualifier(id: &str, data: &[u8]) -> String {
    let Ok((_, any)) = Any::from_der(data) else {
        return format!("{id}: #{}", hex_plain(data));
    };
    match id {
        "1.3.6.1.5.5.7.2.1" => format!("CPS: {}", any_text(&any)),
        "1.3.6.1.5.5.7.2.2" => {
            let mut parts = Vec::new();
            for part in children(any.data) {
                if part.tag() == Tag::Sequence {
                    // noticeRef: organization, noticeNumbers
                    let items = children(part.data);
                    let org = items.first().map(any_text).unwrap_or_default();
                    let numbers = items
                        .get(1)
                        .map(|n| {
                            children(n.data)
                                .iter()
                                .map(|i| hex_plain(i.data))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    parts.push(format!("Organization: {org}, Number(s): {numbers}"));
                } else {
                    parts.push(format!("Explicit Text: {}", any_text(&part)));
                }
            }
            format!("User Notice: {}", parts.join("; "))
        }
        other => format!("{other}: {}", any_text(&any)),
    }
}

/// A DER value as text: the string for string types, else `#` and the hex of the whole element.
pub(super) fn any_text(a: &Any<'_>) -> String {
    decode_string(a.tag(), a.data).unwrap_or_else(|| {
        let mut hdr = vec![];
        if let Ok(t) = u8::try_from(a.tag().0) {
            hdr.push(t);
        }
        format!("#{}{}", hex_plain(&hdr), hex_plain(a.data))
    })
}

/// A general name in OpenSSL's notation.
pub(super) fn general_name(g: &GeneralName<'_>) -> String {
    match g {
        GeneralName::DNSName(s) => format!("DNS:{s}"),
        GeneralName::RFC822Name(s) => format!("email:{s}"),
        GeneralName::URI(s) => format!("URI:{s}"),
        GeneralName::IPAddress(b) => format!("IP:{}", ip_text(b)),
        GeneralName::DirectoryName(n) => format!("DirName:{}", dn_info(n).text),
        GeneralName::RegisteredID(o) => format!("RID:{}", o.to_id_string()),
        GeneralName::OtherName(oid, value) => {
            let oid = oid.to_id_string();
            let name = match oid.as_str() {
                "1.3.6.1.4.1.311.20.2.3" => "UPN",
                "1.3.6.1.5.5.7.8.9" => "SmtpUTF8Mailbox",
                _ => &oid,
            };
            // value is [0] EXPLICIT ANY
            let text = Any::from_der(value)
                .ok()
                .and_then(|(_, outer)| Any::from_der(outer.data).ok())
                .map(|(_, inner)| any_text(&inner))
                .unwrap_or_else(|| format!("#{}", hex_plain(value)));
            format!("othername:{name}:{text}")
        }
        GeneralName::X400Address(a) => format!("X400Name:#{}", hex_plain(a.data)),
        GeneralName::EDIPartyName(a) => format!("EdiPartyName:#{}", hex_plain(a.data)),
        GeneralName::Invalid(tag, data) => format!("invalid[{}]:#{}", tag.0, hex_plain(data)),
    }
}

/// An IP address, or address/mask as in nameConstraints.
fn ip_text(b: &[u8]) -> String {
    let ip = |b: &[u8]| -> Option<IpAddr> {
        match b.len() {
            4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
            _ => None,
        }
    };
    if let Some(a) = ip(b) {
        return a.to_string();
    }
    if b.len() == 8 || b.len() == 32 {
        let (addr, mask) = b.split_at(b.len() / 2);
        if let (Some(a), Some(m)) = (ip(addr), ip(mask)) {
            return format!("{a}/{m}");
        }
    }
    format!("#{}", hex_plain(b))
}

/// A request's attributes other than extensionRequest, parsed from the raw CertificationRequestInfo.
pub(super) fn request_attributes(cri: &[u8]) -> Vec<Attribute> {
    let mut out = Vec::new();
    let Ok((_, seq)) = Any::from_der(cri) else {
        return out;
    };
    // version, subject, subjectPKInfo, then [0] attributes.
    let Some(attrs) = children(seq.data).into_iter().nth(3) else {
        return out;
    };
    for attr in children(attrs.data) {
        let Ok((rest, oid)) = Oid::from_der(attr.data) else {
            continue;
        };
        let oid_s = oid.to_id_string();
        if oid_s == "1.2.840.113549.1.9.14" {
            continue;
        }
        let values = match Any::from_der(rest) {
            Ok((_, set)) if set.tag() == Tag::Set => {
                children(set.data).iter().map(|v| any_text(v)).collect()
            }
            _ => vec![format!("#{}", hex_plain(rest))],
        };
        out.push(Attribute {
            name: attribute_name(&oid_s).unwrap_or(&oid_s).to_string(),
            oid: oid_s,
            values,
        });
    }
    out
}

/// A note on OpenSSL's `TRUSTED CERTIFICATE` auxiliary data after the certificate
/// (`X509_CERT_AUX`: trusted and rejected purposes, alias).
pub(super) fn trust_note(aux: &[u8]) -> Option<String> {
    if aux.is_empty() {
        return None;
    }
    let Ok((_, seq)) = Any::from_der(aux) else {
        return Some(format!(
            "{} bytes of undecodable trust data follow the certificate",
            aux.len()
        ));
    };
    let purposes = |d: &[u8]| {
        children(d)
            .iter()
            .map(|el| match el.as_oid() {
                Ok(o) => {
                    let oid = o.to_id_string();
                    eku_name(&oid).unwrap_or(&oid).to_string()
                }
                Err(_) => format!("#{}", hex_plain(el.data)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    for item in children(seq.data) {
        match (item.class(), item.tag()) {
            (Class::Universal, Tag::Sequence) => {
                parts.push(format!("trusted for: {}", purposes(item.data)));
            }
            (Class::ContextSpecific, Tag(0)) => {
                parts.push(format!("rejected for: {}", purposes(item.data)));
            }
            (Class::Universal, Tag::Utf8String) => {
                parts.push(format!("alias: {}", any_text(&item)));
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        parts.push("none set".into());
    }
    Some(format!(
        "OpenSSL trust settings follow the certificate ({})",
        parts.join("; ")
    ))
}

/// The signature algorithm by OpenSSL's name.
pub(super) fn sig_alg(a: &AlgorithmIdentifier<'_>) -> AlgInfo {
    let oid = a.algorithm.to_id_string();
    let name = match oid.as_str() {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.3.14.3.2.29" => "sha1WithRSA",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        "1.2.840.10040.4.3" => "dsaWithSHA1",
        "2.16.840.1.101.3.4.3.1" => "dsa_with_SHA224",
        "2.16.840.1.101.3.4.3.2" => "dsa_with_SHA256",
        "1.2.156.10197.1.501" => "SM2-with-SM3",
        _ => &oid,
    };
    AlgInfo {
        name: name.to_string(),
        oid,
    }
}

/// A named curve and its size in bits.
pub(super) fn curve(oid: &str) -> (String, Option<usize>) {
    let (name, bits) = match oid {
        "1.2.840.10045.3.1.7" => ("P-256", 256),
        "1.3.132.0.34" => ("P-384", 384),
        "1.3.132.0.35" => ("P-521", 521),
        "1.3.132.0.10" => ("secp256k1", 256),
        "1.2.840.10045.3.1.1" => ("P-192", 192),
        "1.3.132.0.33" => ("P-224", 224),
        "1.3.36.3.3.2.8.1.1.7" => ("brainpoolP256r1", 256),
        "1.3.36.3.3.2.8.1.1.11" => ("brainpoolP384r1", 384),
        "1.3.36.3.3.2.8.1.1.13" => ("brainpoolP512r1", 512),
        "1.2.156.10197.1.301" => ("SM2", 256),
        other => return (other.to_string(), None),
    };
    (name.to_string(), Some(bits))
}

/// A CRL reason code's RFC 5280 name (as `openssl ca -crl_reason` takes it).
pub(crate) fn reason_name(code: u8) -> String {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        other => return format!("reason {other}"),
    }
    .to_string()
}

pub(super) fn ext_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.29.9" => "subjectDirectoryAttributes",
        "2.5.29.14" => "subjectKeyIdentifier",
        "2.5.29.15" => "keyUsage",
        "2.5.29.16" => "privateKeyUsagePeriod",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.18" => "issuerAltName",
        "2.5.29.19" => "basicConstraints",
        "2.5.29.20" => "cRLNumber",
        "2.5.29.21" => "reasonCode",
        "2.5.29.23" => "holdInstructionCode",
        "2.5.29.24" => "invalidityDate",
        "2.5.29.27" => "deltaCRLIndicator",
        "2.5.29.28" => "issuingDistributionPoint",
        "2.5.29.29" => "certificateIssuer",
        "2.5.29.30" => "nameConstraints",
        "2.5.29.31" => "cRLDistributionPoints",
        "2.5.29.32" => "certificatePolicies",
        "2.5.29.33" => "policyMappings",
        "2.5.29.35" => "authorityKeyIdentifier",
        "2.5.29.36" => "policyConstraints",
        "2.5.29.37" => "extendedKeyUsage",
        "2.5.29.46" => "freshestCRL",
        "2.5.29.54" => "inhibitAnyPolicy",
        "1.3.6.1.5.5.7.1.1" => "authorityInfoAccess",
        "1.3.6.1.5.5.7.1.11" => "subjectInfoAccess",
        "1.3.6.1.5.5.7.1.24" => "tlsFeature",
        "1.3.6.1.5.5.7.48.1.5" => "ocspNoCheck",
        "1.3.6.1.4.1.11129.2.4.2" => "signedCertificateTimestampList",
        "1.3.6.1.4.1.11129.2.4.3" => "precertificatePoison",
        "2.16.840.1.113730.1.1" => "nsCertType",
        "2.16.840.1.113730.1.13" => "nsComment",
        "1.3.6.1.4.1.311.20.2" => "msCertificateTemplateName",
        "1.3.6.1.4.1.311.21.7" => "msCertificateTemplate",
        _ => return None,
    })
}

pub(super) fn eku_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.29.37.0" => "Any Extended Key Usage",
        "1.3.6.1.5.5.7.3.1" => "TLS Web Server Authentication",
        "1.3.6.1.5.5.7.3.2" => "TLS Web Client Authentication",
        "1.3.6.1.5.5.7.3.3" => "Code Signing",
        "1.3.6.1.5.5.7.3.4" => "E-mail Protection",
        "1.3.6.1.5.5.7.3.5" => "IPSec End System",
        "1.3.6.1.5.5.7.3.6" => "IPSec Tunnel",
        "1.3.6.1.5.5.7.3.7" => "IPSec User",
        "1.3.6.1.5.5.7.3.8" => "Time Stamping",
        "1.3.6.1.5.5.7.3.9" => "OCSP Signing",
        "1.3.6.1.5.5.7.3.17" => "ipsec Internet Key Exchange",
        "1.3.6.1.5.2.3.4" => "PKINIT Client Auth",
        "1.3.6.1.5.2.3.5" => "Signing KDC Response",
        "1.3.6.1.4.1.311.20.2.2" => "Microsoft Smartcard Login",
        "1.3.6.1.4.1.311.10.3.3" => "Microsoft Server Gated Crypto",
        "1.3.6.1.4.1.311.10.3.4" => "Microsoft Encrypted File System",
        "2.16.840.1.113730.4.1" => "Netscape Server Gated Crypto",
        _ => return None,
    })
}

pub(super) fn access_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.3.6.1.5.5.7.48.1" => "OCSP",
        "1.3.6.1.5.5.7.48.2" => "CA Issuers",
        "1.3.6.1.5.5.7.48.3" => "Time Stamping",
        "1.3.6.1.5.5.7.48.5" => "CA Repository",
        _ => return None,
    })
}

pub(super) fn policy_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.29.32.0" => "anyPolicy",
        "2.23.140.1.1" => "CA/B extended-validation",
        "2.23.140.1.2.1" => "CA/B domain-validated",
        "2.23.140.1.2.2" => "CA/B organization-validated",
        "2.23.140.1.2.3" => "CA/B individual-validated",
        _ => return None,
    })
}

/// The name of a PKCS#9 request attribute.
pub(super) fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "1.2.840.113549.1.9.3" => "contentType",
        "1.2.840.113549.1.9.7" => "challengePassword",
        "1.2.840.113549.1.9.8" => "unstructuredAddress",
        "1.2.840.113549.1.9.14" => "extensionRequest",
        "1.2.840.113549.1.9.15" => "smimeCapabilities",
        "1.3.6.1.4.1.311.13.2.3" => "msOsVersion",
        "1.3.6.1.4.1.311.21.20" => "msRequestClientInfo",
        _ => return None,
    })
}
