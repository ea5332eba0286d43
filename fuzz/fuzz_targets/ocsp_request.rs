//! OCSP requests as `mtls ca serve` reads them (POST /ocsp, GET /ocsp/…): parsed, matched
//! against an issuer, answered and encoded, with a stand-in signature.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtls_ocsp::{Issuer, Query, Signer, Status};

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("cert");
        Issuer::from_cert_der(cert.der()).expect("issuer")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = Query::parse(data) else { return };
    let _ = q.check(issuer());
    // ecdsa-with-SHA256
    let alg = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let sign = |_: &[u8]| Ok(vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]);
    let signer = Signer { algorithm_der: &alg, sign: &sign, delegate: None };
    let mut n = 0u8;
    let mut status = |_: &[u8]| {
        n = n.wrapping_add(1);
        match n % 3 {
            0 => Status::Good,
            1 => Status::Revoked { at: 1_700_000_000, reason: Some(n % 12) },
            _ => Status::Unknown,
        }
    };
    let _ = issuer().respond(&q, &mut status, 1_700_000_000, 1_700_003_600, &signer);
});
