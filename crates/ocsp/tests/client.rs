//! The client side against the responder side of this crate: a request made by
//! `Issuer::request` is answered by `Issuer::respond`, and the answer is checked by
//! `Issuer::check_response`, signed by the CA or by a delegate, for every way it can be wrong.
//! (The responder is also checked against `openssl ocsp` in the CLI tests.)

use mtls_ocsp::{Delegate, Issuer, Query, ResponseError, Signer, Status};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer as RcIssuer,
    KeyPair, SigningKey,
};

/// ecdsa-with-SHA256, DER.
const ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

struct Pki {
    ca_der: Vec<u8>,
    ca_key: KeyPair,
    leaf_der: Vec<u8>,
    responder_der: Vec<u8>,
    responder_key: KeyPair,
}

fn pki(responder_eku: bool) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Test CA");
    let ca = p.self_signed(&ca_key).unwrap();
    let issuer = RcIssuer::new(p, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["leaf.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let responder_key = KeyPair::generate().unwrap();
    let mut rp = CertificateParams::new(Vec::<String>::new()).unwrap();
    rp.distinguished_name
        .push(rcgen::DnType::CommonName, "OCSP responder");
    if responder_eku {
        rp.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    }
    let responder = rp.signed_by(&responder_key, &issuer).unwrap();
    Pki {
        ca_der: ca.der().to_vec(),
        ca_key,
        leaf_der: leaf.der().to_vec(),
        responder_der: responder.der().to_vec(),
        responder_key,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The answer to a request for the leaf, signed by `key` (a delegate's when given).
fn respond(
    p: &Pki,
    status: Status,
    times: (i64, i64),
    key: &KeyPair,
    delegate: Option<&Delegate>,
) -> Vec<u8> {
    let issuer = Issuer::from_cert_der(&p.ca_der).unwrap();
    let req = issuer.request(&p.leaf_der).unwrap();
    let query = Query::parse(&req).unwrap();
    query.check(&issuer).unwrap();
    let sign = |m: &[u8]| key.sign(m).map_err(|e| e.to_string());
    let signer = Signer {
        algorithm_der: ECDSA_SHA256,
        sign: &sign,
        delegate,
    };
    issuer
        .respond(&query, &mut |_| status, times.0, times.1, &signer)
        .unwrap()
}

#[test]
fn good_and_revoked_answers_signed_by_the_ca_are_accepted() {
    let p = pki(true);
    let issuer = Issuer::from_cert_der(&p.ca_der).unwrap();
    let t = now();
    let good = respond(&p, Status::Good, (t, t + 3600), &p.ca_key, None);
    let a = issuer.check_response(&good, &p.leaf_der, t).unwrap();
    assert_eq!(a.status, Status::Good);
    assert_eq!(a.next_update, Some(t + 3600));
    assert_eq!(a.refresh_at(), t + 1800);
    let revoked = Status::Revoked {
        at: t - 10,
        reason: Some(1),
    };
    let r = respond(&p, revoked, (t, t + 3600), &p.ca_key, None);
    assert_eq!(
        issuer.check_response(&r, &p.leaf_der, t).unwrap().status,
        revoked
    );
}

#[test]
fn a_delegated_responder_needs_the_ocsp_signing_eku() {
    let t = now();
    let p = pki(true);
    let issuer = Issuer::from_cert_der(&p.ca_der).unwrap();
    let d = Delegate::from_cert_der(&p.responder_der).unwrap();
    let r = respond(&p, Status::Good, (t, t + 60), &p.responder_key, Some(&d));
    assert_eq!(
        issuer.check_response(&r, &p.leaf_der, t).unwrap().status,
        Status::Good
    );

    let p = pki(false);
    let issuer = Issuer::from_cert_der(&p.ca_der).unwrap();
    let d = Delegate::from_cert_der(&p.responder_der).unwrap();
    let r = respond(&p, Status::Good, (t, t + 60), &p.responder_key, Some(&d));
    let e = issuer.check_response(&r, &p.leaf_der, t).unwrap_err();
    assert!(e.to_string().contains("OCSPSigning"), "{e}");
}

#[test]
fn a_response_signed_by_another_key_is_untrusted() {
    let t = now();
    let p = pki(true);
    let issuer = Issuer::from_cert_der(&p.ca_der).unwrap();
    // The CA's responder id, another key's signature.
    let r = respond(&p, Status::Good, (t, t + 60), &p.responder_key, None);
    let e = issuer.check_response(&r, &p.leaf_der, t).unwrap_err();
    assert!(matches!(e, ResponseError::Untrusted(_)), "{e}");
    // Another CA's answer for a certificate of this one.
    let other = pki(true);
    let r = respond(&other, Status::Good, (t, t + 60), &other.ca_key, None);
    let e = issuer.check_response(&r, &p.leaf_der, t).unwrap_err();
    assert!(matches!(e, ResponseError::Untrusted(_)), "{e}");
}

#[test]
fn stale_future_foreign_and_garbled_responses_are_refused() {
    let t = now();
    let p = pki(true);
    let issuer = Issuer::from_cert_der(&p.ca_der).unwrap();
    let old = respond(&p, Status::Good, (t - 7200, t - 3600), &p.ca_key, None);
    let e = issuer.check_response(&old, &p.leaf_der, t).unwrap_err();
    assert!(matches!(e, ResponseError::Expired { .. }), "{e}");
    // Clocks at the ends of time are judged, not overflowed.
    let good = respond(&p, Status::Good, (t, t + 60), &p.ca_key, None);
    for now in [i64::MAX, i64::MIN, 0] {
        assert!(issuer.check_response(&good, &p.leaf_der, now).is_err());
    }
    let future = respond(&p, Status::Good, (t + 3600, t + 7200), &p.ca_key, None);
    let e = issuer.check_response(&future, &p.leaf_der, t).unwrap_err();
    assert!(matches!(e, ResponseError::NotYetValid { .. }), "{e}");
    // An answer about the responder certificate is none about the leaf.
    let good = respond(&p, Status::Good, (t, t + 60), &p.ca_key, None);
    let e = issuer
        .check_response(&good, &p.responder_der, t)
        .unwrap_err();
    assert!(matches!(e, ResponseError::NoAnswer { .. }), "{e}");
    for bad in [&b""[..], b"\x30\x03\x0a\x01\x03", &good[..good.len() - 3]] {
        let e = issuer.check_response(bad, &p.leaf_der, t).unwrap_err();
        assert!(
            matches!(e, ResponseError::Malformed(_) | ResponseError::Refused(_)),
            "{e}"
        );
    }
    let e = issuer
        .check_response(
            &mtls_ocsp::Refusal::Unauthorized("x".into()).response(),
            &p.leaf_der,
            t,
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "the OCSP responder answered unauthorized");
}
