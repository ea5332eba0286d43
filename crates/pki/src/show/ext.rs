//! Extension decoding behind [`super::show`].

use serde::Serialize;
use x509_parser::asn1_rs::{Any, FromDer, Oid, Tag};
use x509_parser::der_parser::der::parse_der_integer;
use x509_parser::extensions::{
    CRLDistributionPoint, CRLDistributionPoints, DistributionPointName, GeneralName,
    ParsedExtension, ReasonFlags, SubjectAlternativeName, X509Extension,
};

use super::names::{
    access_name, eku_name, ext_name, general_name, policy_name, qualifier, reason_name,
};
use super::{children, hex_colon, hex_plain, rfc3339};
use crate::name::decode_string;

/// One extension, decoded.
#[derive(Debug, Clone, Serialize)]
pub struct Extension {
    /// Its name (`basicConstraints`, `subjectAltName` …), or the dotted OID when unknown.
    pub name: String,
    /// Dotted OID.
    pub oid: String,
    /// The critical flag.
    pub critical: bool,
    /// The decoded value.
    pub value: ExtValue,
}

/// A decoded extension value; serialized with a `type` tag (the snake_case variant name) next to
/// the variant's fields.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExtValue {
    /// basicConstraints.
    BasicConstraints {
        /// cA.
        ca: bool,
        /// pathLenConstraint.
        path_len: Option<u32>,
    },
    /// keyUsage, with OpenSSL's names (`Digital Signature`, `Certificate Sign` …).
    KeyUsage {
        /// The usages set, in bit order.
        usages: Vec<String>,
    },
    /// extendedKeyUsage, in encoding order.
    ExtendedKeyUsage {
        /// Each purpose with OpenSSL's name (`TLS Web Server Authentication`) or its OID.
        usages: Vec<Named>,
    },
    /// subjectAltName, issuerAltName, certificateIssuer: `DNS:…`, `IP:…`, `email:…`, `URI:…`,
    /// `DirName:/…`, `RID:…`, `othername:OID:…`.
    GeneralNames {
        /// The names in encoding order.
        names: Vec<String>,
    },
    /// subjectKeyIdentifier.
    KeyIdentifier {
        /// Uppercase colon-hex.
        key_id: String,
    },
    /// authorityKeyIdentifier.
    AuthorityKeyIdentifier {
        /// keyIdentifier, uppercase colon-hex.
        key_id: Option<String>,
        /// authorityCertIssuer as general names.
        issuer: Vec<String>,
        /// authorityCertSerialNumber, uppercase colon-hex.
        serial: Option<String>,
    },
    /// cRLDistributionPoints and freshestCRL.
    DistributionPoints {
        /// The distribution points.
        points: Vec<DistPoint>,
    },
    /// authorityInfoAccess and subjectInfoAccess.
    InfoAccess {
        /// The access descriptions.
        access: Vec<Access>,
    },
    /// certificatePolicies.
    CertificatePolicies {
        /// The policies.
        policies: Vec<Policy>,
    },
    /// nameConstraints, as general names (`IP:` carries address/mask).
    NameConstraints {
        /// permittedSubtrees.
        permitted: Vec<String>,
        /// excludedSubtrees.
        excluded: Vec<String>,
    },
    /// policyConstraints.
    PolicyConstraints {
        /// requireExplicitPolicy.
        require_explicit_policy: Option<u32>,
        /// inhibitPolicyMapping.
        inhibit_policy_mapping: Option<u32>,
    },
    /// inhibitAnyPolicy.
    InhibitAnyPolicy {
        /// SkipCerts.
        skip_certs: u32,
    },
    /// policyMappings.
    PolicyMappings {
        /// The mappings.
        mappings: Vec<PolicyMap>,
    },
    /// cRLNumber and deltaCRLIndicator.
    Number {
        /// The number, decimal.
        number: String,
    },
    /// issuingDistributionPoint.
    IssuingDistributionPoint {
        /// distributionPoint as general names.
        names: Vec<String>,
        /// onlyContainsUserCerts.
        only_user_certs: bool,
        /// onlyContainsCACerts.
        only_ca_certs: bool,
        /// onlyContainsAttributeCerts.
        only_attribute_certs: bool,
        /// indirectCRL.
        indirect_crl: bool,
        /// onlySomeReasons (`keyCompromise` …).
        only_some_reasons: Vec<String>,
    },
    /// reasonCode (a CRL entry's): `keyCompromise`, `superseded` ….
    ReasonCode {
        /// The reason's RFC 5280 name.
        reason: String,
    },
    /// invalidityDate.
    Date {
        /// RFC 3339.
        date: String,
    },
    /// nsCertType, with OpenSSL's names (`SSL Server` …).
    NetscapeCertType {
        /// The types set.
        types: Vec<String>,
    },
    /// nsComment.
    Text {
        /// The text.
        text: String,
    },
    /// tlsFeature (`status_request` is OCSP must-staple).
    TlsFeature {
        /// The features by name, or number.
        features: Vec<String>,
    },
    /// The signed certificate timestamps of Certificate Transparency.
    Sct {
        /// One per timestamp.
        entries: Vec<SctEntry>,
    },
    /// An extension whose value is NULL (ocspNoCheck, the CT precertificate poison).
    Null,
    /// Unknown or undecodable: the raw value.
    Raw {
        /// The extnValue contents, uppercase colon-hex.
        hex: String,
        /// Why it could not be decoded, if it is a known extension.
        error: Option<String>,
    },
}

/// An OID with its name (the OID again when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The name.
    pub name: String,
    /// Dotted OID.
    pub oid: String,
}

/// One CRL distribution point.
#[derive(Debug, Clone, Serialize)]
pub struct DistPoint {
    /// Where the CRL is (`URI:http://…`); a name relative to the issuer is `RelativeName:/CN=…`.
    pub names: Vec<String>,
    /// The reasons it covers, when limited.
    pub reasons: Vec<String>,
    /// cRLIssuer as general names.
    pub crl_issuer: Vec<String>,
}

/// One access description of authorityInfoAccess / subjectInfoAccess.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    /// The method's name (`OCSP`, `CA Issuers`) or OID.
    pub method: String,
    /// Dotted OID of the method.
    pub oid: String,
    /// Where (`URI:http://…`).
    pub location: String,
}

/// One certificate policy.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Dotted OID.
    pub oid: String,
    /// Its name when well known (`anyPolicy`, `CA/B domain-validated`).
    pub name: Option<String>,
    /// Qualifiers: `CPS: https://…`, `User Notice: …`.
    pub qualifiers: Vec<String>,
}

/// One policy mapping.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyMap {
    /// issuerDomainPolicy, dotted OID.
    pub issuer_domain: String,
    /// subjectDomainPolicy, dotted OID.
    pub subject_domain: String,
}

/// One signed certificate timestamp.
#[derive(Debug, Clone, Serialize)]
pub struct SctEntry {
    /// The log's ID, uppercase colon-hex.
    pub log_id: String,
    /// When the log saw the certificate, RFC 3339.
    pub timestamp: String,
}

/// Decodes a list of extensions; notes malformed ones and unknown critical ones.
pub(super) fn decode_all(exts: &[X509Extension<'_>], notes: &mut Vec<String>) -> Vec<Extension> {
    let mut out: Vec<Extension> = Vec::new();
    for e in exts {
        let oid = e.oid.to_id_string();
        let name = ext_name(&oid).unwrap_or(&oid).to_string();
        let value = decode(e, &oid);
        match &value {
            ExtValue::Raw { error: Some(err), .. } => {
                notes.push(format!("the {name} extension is malformed: {err}"));
            }
            ExtValue::Raw { error: None, .. } if e.critical => notes.push(format!(
                "the unknown extension {oid} is critical: software that does not know it must reject this object"
            )),
            _ => {}
        }
        if out.iter().any(|x| x.oid == oid) {
            notes.push(format!(
                "the {name} extension appears more than once (RFC 5280 forbids it)"
            ));
        }
        out.push(Extension {
            name,
            oid,
            critical: e.critical,
            value,
        });
    }
    out
}

fn raw(value: &[u8], error: Option<String>) -> ExtValue {
    ExtValue::Raw {
        hex: hex_colon(value),
        error,
    }
}

fn decode(e: &X509Extension<'_>, oid: &str) -> ExtValue {
    let names = |g: &[GeneralName<'_>]| g.iter().map(general_name).collect::<Vec<_>>();
    match e.parsed_extension() {
        ParsedExtension::BasicConstraints(b) => ExtValue::BasicConstraints {
            ca: b.ca,
            path_len: b.path_len_constraint,
        },
        ParsedExtension::KeyUsage(k) => ExtValue::KeyUsage {
            usages: bits(k.flags, KEY_USAGES),
        },
        ParsedExtension::ExtendedKeyUsage(_) => match Vec::<Oid>::from_der(e.value) {
            Ok((_, oids)) => ExtValue::ExtendedKeyUsage {
                usages: oids
                    .iter()
                    .map(|o| {
                        let oid = o.to_id_string();
                        Named {
                            name: eku_name(&oid).unwrap_or(&oid).to_string(),
                            oid,
                        }
                    })
                    .collect(),
            },
            Err(err) => raw(e.value, Some(err.to_string())),
        },
        ParsedExtension::SubjectAlternativeName(s) => ExtValue::GeneralNames {
            names: names(&s.general_names),
        },
        ParsedExtension::IssuerAlternativeName(s) => ExtValue::GeneralNames {
            names: names(&s.general_names),
        },
        ParsedExtension::SubjectKeyIdentifier(k) => ExtValue::KeyIdentifier {
            key_id: hex_colon(k.0),
        },
        ParsedExtension::AuthorityKeyIdentifier(a) => ExtValue::AuthorityKeyIdentifier {
            key_id: a.key_identifier.as_ref().map(|k| hex_colon(k.0)),
            issuer: a
                .authority_cert_issuer
                .as_deref()
                .map(names)
                .unwrap_or_default(),
            serial: a.authority_cert_serial.map(hex_colon),
        },
        ParsedExtension::CRLDistributionPoints(c) => dist_points(&c.points),
        ParsedExtension::AuthorityInfoAccess(a) => info_access(&a.accessdescs),
        ParsedExtension::SubjectInfoAccess(a) => info_access(&a.accessdescs),
        ParsedExtension::CertificatePolicies(p) => ExtValue::CertificatePolicies {
            policies: p
                .iter()
                .map(|p| {
                    let oid = p.policy_id.to_id_string();
                    Policy {
                        name: policy_name(&oid).map(str::to_string),
                        oid,
                        qualifiers: p
                            .policy_qualifiers
                            .iter()
                            .flatten()
                            .map(|q| qualifier(&q.policy_qualifier_id.to_id_string(), q.qualifier))
                            .collect(),
                    }
                })
                .collect(),
        },
        ParsedExtension::NameConstraints(n) => {
            let subtrees = |s: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                s.iter().flatten().map(|t| general_name(&t.base)).collect()
            };
            ExtValue::NameConstraints {
                permitted: subtrees(&n.permitted_subtrees),
                excluded: subtrees(&n.excluded_subtrees),
            }
        }
        ParsedExtension::PolicyConstraints(p) => ExtValue::PolicyConstraints {
            require_explicit_policy: p.require_explicit_policy,
            inhibit_policy_mapping: p.inhibit_policy_mapping,
        },
        ParsedExtension::InhibitAnyPolicy(i) => ExtValue::InhibitAnyPolicy {
            skip_certs: i.skip_certs,
        },
        ParsedExtension::PolicyMappings(m) => ExtValue::PolicyMappings {
            mappings: m
                .mappings
                .iter()
                .map(|m| PolicyMap {
                    issuer_domain: m.issuer_domain_policy.to_id_string(),
                    subject_domain: m.subject_domain_policy.to_id_string(),
                })
                .collect(),
        },
        ParsedExtension::NSCertType(t) => {
            let flags = [
                (t.ssl_client(), "SSL Client"),
                (t.ssl_server(), "SSL Server"),
                (t.smime(), "S/MIME"),
                (t.object_signing(), "Object Signing"),
                (t.ssl_ca(), "SSL CA"),
                (t.smime_ca(), "S/MIME CA"),
                (t.object_signing_ca(), "Object Signing CA"),
            ];
            ExtValue::NetscapeCertType {
                types: flags
                    .iter()
                    .filter(|(set, _)| *set)
                    .map(|(_, n)| n.to_string())
                    .collect(),
            }
        }
        ParsedExtension::NsCertComment(s) => ExtValue::Text {
            text: (*s).to_string(),
        },
        ParsedExtension::IssuingDistributionPoint(i) => ExtValue::IssuingDistributionPoint {
            names: i
                .distribution_point
                .as_ref()
                .map(dp_names)
                .unwrap_or_default(),
            only_user_certs: i.only_contains_user_certs,
            only_ca_certs: i.only_contains_ca_certs,
            only_attribute_certs: i.only_contains_attribute_certs,
            indirect_crl: i.indirect_crl,
            only_some_reasons: i
                .only_some_reasons
                .as_ref()
                .map(reasons)
                .unwrap_or_default(),
        },
        ParsedExtension::CRLNumber(n) => ExtValue::Number {
            number: n.to_string(),
        },
        ParsedExtension::ReasonCode(r) => ExtValue::ReasonCode {
            reason: reason_name(r.0),
        },
        ParsedExtension::InvalidityDate(d) => ExtValue::Date { date: rfc3339(*d) },
        ParsedExtension::SCT(list) => ExtValue::Sct {
            entries: list
                .iter()
                .map(|s| SctEntry {
                    log_id: hex_colon(s.id.key_id),
                    timestamp: i64::try_from(s.timestamp / 1000)
                        .ok()
                        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                        .map(super::rfc3339_dt)
                        .unwrap_or_else(|| format!("{} ms", s.timestamp)),
                })
                .collect(),
        },
        ParsedExtension::ParseError { error } => raw(e.value, Some(error.to_string())),
        ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::Unparsed => {
            decode_other(oid, e.value)
        }
    }
}

/// Extensions x509-parser leaves undecoded.
fn decode_other(oid: &str, value: &[u8]) -> ExtValue {
    let bad = |e: String| raw(value, Some(e));
    match oid {
        // deltaCRLIndicator
        "2.5.29.27" => match parse_der_integer(value).map(|(_, i)| i.as_biguint()) {
            Ok(Ok(n)) => ExtValue::Number {
                number: n.to_string(),
            },
            Ok(Err(e)) => bad(e.to_string()),
            Err(e) => bad(e.to_string()),
        },
        // freshestCRL
        "2.5.29.46" => match CRLDistributionPoints::from_der(value) {
            Ok((_, c)) => dist_points(&c.points),
            Err(e) => bad(e.to_string()),
        },
        // certificateIssuer (a CRL entry's), GeneralNames like subjectAltName
        "2.5.29.29" => match SubjectAlternativeName::from_der(value) {
            Ok((_, s)) => ExtValue::GeneralNames {
                names: s.general_names.iter().map(general_name).collect(),
            },
            Err(e) => bad(e.to_string()),
        },
        // tlsFeature: SEQUENCE OF INTEGER
        "1.3.6.1.5.5.7.1.24" => match Any::from_der(value) {
            Ok((_, seq)) if seq.tag() == Tag::Sequence => ExtValue::TlsFeature {
                features: children(seq.data)
                    .iter()
                    .map(|i| match i.data {
                        [5] => "status_request".to_string(),
                        [17] => "status_request_v2".to_string(),
                        d => hex_plain(d),
                    })
                    .collect(),
            },
            _ => bad("not a SEQUENCE OF INTEGER".into()),
        },
        "1.3.6.1.5.5.7.48.1.5" | "1.3.6.1.4.1.11129.2.4.3" if value == [5, 0] => ExtValue::Null,
        _ => raw(value, None),
    }
}

fn dist_points(points: &[CRLDistributionPoint<'_>]) -> ExtValue {
    ExtValue::DistributionPoints {
        points: points
            .iter()
            .map(|p| DistPoint {
                names: p
                    .distribution_point
                    .as_ref()
                    .map(dp_names)
                    .unwrap_or_default(),
                reasons: p.reasons.as_ref().map(reasons).unwrap_or_default(),
                crl_issuer: p.crl_issuer.iter().flatten().map(general_name).collect(),
            })
            .collect(),
    }
}

fn dp_names(d: &DistributionPointName<'_>) -> Vec<String> {
    match d {
        DistributionPointName::FullName(g) => g.iter().map(general_name).collect(),
        DistributionPointName::NameRelativeToCRLIssuer(rdn) => {
            let text = rdn
                .iter()
                .map(|atv| {
                    let v = atv.attr_value();
                    let value = decode_string(v.header.tag(), v.data)
                        .unwrap_or_else(|| format!("#{}", hex_plain(v.data)));
                    format!("{}={value}", atv.attr_type().to_id_string())
                })
                .collect::<Vec<_>>()
                .join("+");
            vec![format!("RelativeName:{text}")]
        }
    }
}

fn info_access(descs: &[x509_parser::extensions::AccessDescription<'_>]) -> ExtValue {
    ExtValue::InfoAccess {
        access: descs
            .iter()
            .map(|d| {
                let oid = d.access_method.to_id_string();
                Access {
                    method: access_name(&oid).unwrap_or(&oid).to_string(),
                    oid,
                    location: general_name(&d.access_location),
                }
            })
            .collect(),
    }
}

fn reasons(f: &ReasonFlags) -> Vec<String> {
    const FLAGS: &[&str] = &[
        "unused",
        "keyCompromise",
        "cACompromise",
        "affiliationChanged",
        "superseded",
        "cessationOfOperation",
        "certificateHold",
        "privilegeWithdrawn",
        "aACompromise",
    ];
    bits(f.flags, FLAGS)
}

const KEY_USAGES: &[&str] = &[
    "Digital Signature",
    "Non Repudiation",
    "Key Encipherment",
    "Data Encipherment",
    "Key Agreement",
    "Certificate Sign",
    "CRL Sign",
    "Encipher Only",
    "Decipher Only",
];

fn bits(flags: u16, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| (flags >> i) & 1 == 1)
        .map(|(_, n)| n.to_string())
        .collect()
}
