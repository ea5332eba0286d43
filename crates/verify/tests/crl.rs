//! Revocation with real CRLs (rcgen-signed, and a hand-encoded one with a million entries).

mod common;

use std::time::Instant;

use common::*;
use mtls_verify::{
    CertificateDer, Crl, ErrorKind as K, Purpose, RevocationMode, RevocationScope, VerifyInput,
    load_crls,
};
use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

fn crl_params(revoked: &[&Node]) -> CertificateRevocationListParams {
    CertificateRevocationListParams {
        this_update: now() - Duration::hours(1),
        next_update: now() + Duration::days(7),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|n| RevokedCertParams {
                serial_number: n.params.serial_number.clone().unwrap(),
                revocation_time: now() - Duration::hours(2),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
}

fn crl(issuer: &Node, revoked: &[&Node]) -> Crl {
    let der = crl_params(revoked).signed_by(&issuer.issuer()).unwrap();
    Crl::from_der(der.der()).unwrap()
}

struct Pki {
    root: Node,
    inter: Node,
    leaf: Node,
}

fn pki() -> Pki {
    let root = root("CRL Root");
    let inter = ca("CRL Intermediate", &root, None);
    let leaf = leaf("l", &["l.test"], &inter);
    Pki { root, inter, leaf }
}

fn run(p: &Pki, crls: Vec<Crl>, mode: RevocationMode) -> mtls_verify::Report {
    let inters = [p.inter.der.clone()];
    let v = verifier(&[&p.root]).crls(crls).revocation(mode);
    v.verify(
        &VerifyInput::new(&p.leaf.der)
            .intermediates(&inters)
            .purpose(Purpose::ServerAuth),
    )
}

const CHAIN: RevocationMode = RevocationMode {
    scope: RevocationScope::Chain,
    require_status: true,
    allow_expired_crls: false,
};

#[test]
fn revoked_leaf() {
    let p = pki();
    let r = run(
        &p,
        vec![crl(&p.inter, &[&p.leaf]), crl(&p.root, &[])],
        CHAIN,
    );
    assert_errors(&r, &[(K::CertificateRevoked, 0)]);
    assert!(r.errors[0].detail.contains("keyCompromise"), "{r}");
    // Not revoked: OK.
    let r = run(&p, vec![crl(&p.inter, &[]), crl(&p.root, &[])], CHAIN);
    assert!(r.is_ok(), "{r}");
    // Default mode when CRLs are given: the whole chain, status required.
    let inters = [p.inter.der.clone()];
    let v = verifier(&[&p.root]).crls(vec![crl(&p.inter, &[&p.leaf])]);
    let r = v.verify(&VerifyInput::new(&p.leaf.der).intermediates(&inters));
    assert_errors(
        &r,
        &[(K::CertificateRevoked, 0), (K::CertificateStatusUnknown, 1)],
    );
}

#[test]
fn revoked_intermediate() {
    let p = pki();
    let r = run(
        &p,
        vec![crl(&p.inter, &[]), crl(&p.root, &[&p.inter])],
        CHAIN,
    );
    assert_errors(&r, &[(K::CertificateRevoked, 1)]);
    // Leaf-only scope does not look at the intermediate.
    let leaf_only = RevocationMode {
        scope: RevocationScope::EndEntity,
        ..CHAIN
    };
    let r = run(
        &p,
        vec![crl(&p.inter, &[]), crl(&p.root, &[&p.inter])],
        leaf_only,
    );
    assert!(r.is_ok(), "{r}");
}

#[test]
fn missing_crl_is_status_unknown() {
    let p = pki();
    let r = run(&p, vec![crl(&p.inter, &[])], CHAIN);
    assert_errors(&r, &[(K::CertificateStatusUnknown, 1)]);
    assert!(
        r.errors[0].detail.contains("no CRL issued by CN=CRL Root"),
        "{r}"
    );
    let soft = RevocationMode {
        require_status: false,
        ..CHAIN
    };
    assert!(run(&p, vec![crl(&p.inter, &[])], soft).is_ok());
    let leaf_only = RevocationMode {
        scope: RevocationScope::EndEntity,
        ..CHAIN
    };
    assert!(run(&p, vec![crl(&p.inter, &[])], leaf_only).is_ok());
    let off = RevocationMode {
        scope: RevocationScope::Off,
        ..CHAIN
    };
    assert!(run(&p, vec![crl(&p.inter, &[&p.leaf])], off).is_ok());
}

#[test]
fn crl_signed_by_another_key_is_ignored() {
    let p = pki();
    // Same issuer name, different key: it must not be trusted, whatever it lists.
    let mut fp = ca_params("CRL Intermediate", None);
    fp.key_identifier_method = KeyIdMethod::Sha256;
    let forger = make(fp, key(), Some(&p.root));
    let forged = crl(&forger, &[&p.leaf]);
    let r = run(&p, vec![forged.clone(), crl(&p.root, &[])], CHAIN);
    assert_errors(&r, &[(K::CertificateStatusUnknown, 0)]);
    assert!(r.errors[0].detail.contains("not used"), "{r}");
    let soft = RevocationMode {
        require_status: false,
        ..CHAIN
    };
    assert!(run(&p, vec![forged, crl(&p.root, &[])], soft).is_ok());
}

#[test]
fn expired_crl() {
    let p = pki();
    let mut cp = crl_params(&[]);
    cp.this_update = now() - Duration::days(10);
    cp.next_update = now() - Duration::days(3);
    let old = Crl::from_der(cp.signed_by(&p.inter.issuer()).unwrap().der()).unwrap();
    let r = run(&p, vec![old.clone(), crl(&p.root, &[])], CHAIN);
    assert_errors(&r, &[(K::CrlExpired, 0)]);
    let lenient = RevocationMode {
        allow_expired_crls: true,
        ..CHAIN
    };
    assert!(run(&p, vec![old, crl(&p.root, &[])], lenient).is_ok());
    // A listed certificate is revoked even on an expired CRL.
    let mut cp = crl_params(&[&p.leaf]);
    cp.this_update = now() - Duration::days(10);
    cp.next_update = now() - Duration::days(3);
    let old = Crl::from_der(cp.signed_by(&p.inter.issuer()).unwrap().der()).unwrap();
    assert_errors(
        &run(&p, vec![old, crl(&p.root, &[])], CHAIN),
        &[(K::CertificateRevoked, 0)],
    );
}

#[test]
fn issuer_without_crl_sign() {
    let root = root("Root");
    let mut ip = ca_params("No CRL Sign", None);
    ip.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let inter = make(ip, key(), Some(&root));
    let leaf = leaf("l", &["l.test"], &inter);
    // rcgen refuses to sign for such an issuer: sign with parameters that claim cRLSign.
    let mut claims = inter.params.clone();
    claims.key_usages.push(KeyUsagePurpose::CrlSign);
    let der = crl_params(&[&leaf])
        .signed_by(&rcgen::Issuer::from_params(&claims, &inter.key))
        .unwrap();
    let bogus = Crl::from_der(der.der()).unwrap();
    let p = Pki { root, inter, leaf };
    let leaf_only = RevocationMode {
        scope: RevocationScope::EndEntity,
        ..CHAIN
    };
    let r = run(&p, vec![bogus], leaf_only);
    assert_errors(&r, &[(K::CertificateStatusUnknown, 0)]);
    assert!(r.errors[0].detail.contains("cRLSign"), "{r}");
}

#[test]
fn pem_loading() {
    let p = pki();
    let pem = crl_params(&[&p.leaf])
        .signed_by(&p.inter.issuer())
        .unwrap()
        .pem()
        .unwrap();
    let crls = load_crls(pem.as_bytes(), "inter.crl").unwrap();
    assert_eq!(crls.len(), 1);
    assert_eq!(crls[0].issuer(), "CN=CRL Intermediate");
    assert_eq!(crls[0].len(), 1);
    assert!(crls[0].is_revoked(&p.params_serial()));
    assert!(crls[0].crl_number().is_some());
    let e = load_crls(
        b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n",
        "bad.crl",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("bad.crl: CRL #1 cannot be parsed"), "{e}");
}

trait Serial {
    fn params_serial(&self) -> Vec<u8>;
}

impl Serial for Pki {
    fn params_serial(&self) -> Vec<u8> {
        self.leaf.params.serial_number.clone().unwrap().to_bytes()
    }
}

// ---- A large CRL, encoded by hand and signed with aws-lc-rs ----

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn big_crl(issuer: &Node, count: usize, also: &[u8], time: OffsetDateTime) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let (_, cert) =
        x509_parser::certificate::X509Certificate::from_der(issuer.der.as_ref()).unwrap();
    let name = cert.subject().as_raw().to_vec();
    let ecdsa_sha256 = tlv(
        0x30,
        &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let t = |dt: OffsetDateTime| {
        let f = time::macros::format_description!(
            "[year repr:last_two][month][day][hour][minute][second]Z"
        );
        tlv(0x17, dt.format(&f).unwrap().as_bytes())
    };
    let date = t(time - Duration::days(1));
    let mut entries = Vec::with_capacity(count * 24);
    for i in 0..count as u64 {
        let mut serial = vec![0x01];
        serial.extend_from_slice(&i.to_be_bytes());
        let mut e = tlv(0x02, &serial);
        e.extend_from_slice(&date);
        entries.extend(tlv(0x30, &e));
    }
    let mut e = tlv(0x02, also);
    e.extend_from_slice(&date);
    entries.extend(tlv(0x30, &e));
    let crl_number = tlv(
        0x30,
        &[
            tlv(0x06, &[0x55, 0x1d, 0x14]),
            tlv(0x04, &tlv(0x02, &[0x07])),
        ]
        .concat(),
    );
    let exts = tlv(0xa0, &tlv(0x30, &crl_number));
    let tbs = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01]),
            ecdsa_sha256.clone(),
            name,
            t(time - Duration::hours(1)),
            t(time + Duration::days(1)),
            tlv(0x30, &entries),
            exts,
        ]
        .concat(),
    );
    let pkcs8 = issuer.key.serialize_der();
    let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &pkcs8,
    )
    .unwrap();
    let sig = kp
        .sign(&aws_lc_rs::rand::SystemRandom::new(), &tbs)
        .unwrap();
    let mut bits = vec![0u8];
    bits.extend_from_slice(sig.as_ref());
    tlv(0x30, &[tbs, ecdsa_sha256, tlv(0x03, &bits)].concat())
}

/// A million entries load in well under a second in release builds (the index is a hash map,
/// lookups are O(1)). Debug builds use 200,000 entries and no time limit.
#[test]
fn large_crl() {
    let p = pki();
    let count = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    let serial = p.leaf.params.serial_number.clone().unwrap().to_bytes();
    let der = big_crl(&p.inter, count, &serial, now());
    let started = Instant::now();
    let big = Crl::from_der(&der).unwrap();
    let load = started.elapsed();
    eprintln!(
        "{} entries ({} MB) loaded in {load:?}",
        big.len(),
        der.len() / 1_000_000
    );
    assert_eq!(big.len(), count + 1);
    if !cfg!(debug_assertions) {
        assert!(load.as_secs_f64() < 1.0, "loading took {load:?}");
    }
    let started = Instant::now();
    for i in (0..count as u64).step_by(997) {
        let mut s = vec![0x01];
        s.extend_from_slice(&i.to_be_bytes());
        assert!(big.is_revoked(&s));
    }
    assert!(!big.is_revoked(&[0x02, 0, 0, 0, 0, 0, 0, 0, 0]));
    eprintln!("lookups: {:?}", started.elapsed());
    // Used for verification: the signature verifies and the leaf is found.
    let leaf_only = RevocationMode {
        scope: RevocationScope::EndEntity,
        ..CHAIN
    };
    let r = run(&p, vec![big], leaf_only);
    assert_errors(&r, &[(K::CertificateRevoked, 0)]);
    let _: CertificateDer<'_> = p.leaf.der.clone();
}

#[test]
fn hostile_crls_do_not_panic() {
    let p = pki();
    let der = big_crl(&p.inter, 3, &[0x05], now());
    for cut in 0..der.len() {
        let _ = Crl::from_der(&der[..cut]);
    }
    // A length field claiming 4 GB.
    let _ = Crl::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30]);
    let mut flipped = der.clone();
    for i in 0..flipped.len() {
        flipped[i] ^= 0xff;
        let _ = Crl::from_der(&flipped);
        flipped[i] ^= 0xff;
    }
}
