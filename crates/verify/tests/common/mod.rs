//! Test PKI helpers: real certificates made with rcgen at test time.
#![allow(dead_code)]

use mtls_verify::{CertificateDer, ErrorKind, Report, UnixTime, Verifier, unix_time};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A certificate with its parameters and key.
pub struct Node {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub der: CertificateDer<'static>,
}

impl Node {
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.to_vec()))
    }
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn at(t: OffsetDateTime) -> UnixTime {
    unix_time(t)
}

pub fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("random");
    b[0] &= 0x7f;
    b[0] |= 0x01;
    SerialNumber::from_slice(&b)
}

/// Parameters with a CN, a random serial, AKI, valid from yesterday for 30 days.
pub fn params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(random_serial());
    p.not_before = now() - Duration::days(1);
    p.not_after = now() + Duration::days(30);
    p.use_authority_key_identifier_extension = true;
    p
}

pub fn ca_params(cn: &str, pathlen: Option<u8>) -> CertificateParams {
    let mut p = params(cn);
    p.is_ca = IsCa::Ca(match pathlen {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

pub fn leaf_params(cn: &str, sans: &[&str]) -> CertificateParams {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("SANs");
    let base = params(cn);
    p.distinguished_name = base.distinguished_name;
    p.serial_number = base.serial_number;
    p.not_before = base.not_before;
    p.not_after = base.not_after;
    p.use_authority_key_identifier_extension = true;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p
}

/// Signs `params` for `key` by `issuer` (self-signed when None).
pub fn make(params: CertificateParams, key: KeyPair, issuer: Option<&Node>) -> Node {
    let cert = match issuer {
        Some(i) => params.signed_by(&key, &i.issuer()).expect("sign"),
        None => params.self_signed(&key).expect("self-sign"),
    };
    Node {
        der: cert.der().clone(),
        params,
        key,
    }
}

pub fn key() -> KeyPair {
    KeyPair::generate().expect("key")
}

pub fn root(cn: &str) -> Node {
    make(ca_params(cn, None), key(), None)
}

pub fn ca(cn: &str, issuer: &Node, pathlen: Option<u8>) -> Node {
    make(ca_params(cn, pathlen), key(), Some(issuer))
}

pub fn leaf(cn: &str, sans: &[&str], issuer: &Node) -> Node {
    make(leaf_params(cn, sans), key(), Some(issuer))
}

pub fn verifier(roots: &[&Node]) -> Verifier {
    Verifier::new(roots.iter().map(|n| n.der.clone())).expect("roots")
}

/// The kinds reported for the certificate at `index`.
pub fn kinds_at(report: &Report, index: usize) -> Vec<ErrorKind> {
    report
        .errors
        .iter()
        .filter(|e| e.cert_index == Some(index))
        .map(|e| e.kind)
        .collect()
}

/// Asserts the report has exactly `expected` (kind, index) pairs, in any order.
pub fn assert_errors(report: &Report, expected: &[(ErrorKind, usize)]) {
    let mut got: Vec<(ErrorKind, usize)> = report
        .errors
        .iter()
        .map(|e| (e.kind, e.cert_index.unwrap_or(usize::MAX)))
        .collect();
    let mut want = expected.to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want, "report:\n{report}");
}
