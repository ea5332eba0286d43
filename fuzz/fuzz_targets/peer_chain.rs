//! The socket layer's handling of a peer's certificate chain: the DER certificates of a TLS
//! Certificate message (end entity first), checked by `mtls_verify::Verifier::verify` exactly as
//! mtls-socket's rustls verifiers do, against a fixed trusted root and CRL.
//!
//! Input: one flags byte, then `u16` big-endian length + DER per certificate (see common.rs).
//! Flags: bits 0-1 purpose (any, server, client, any), bit 4 CRL checking as the socket does it
//! (end entity only), bit 5 host check, bit 6 strict mode, bit 7 CRL checking of the whole chain.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mtls_verify::{
    CertificateDer, Purpose, RevocationMode, RevocationScope, UnixTime, Verifier, VerifyInput,
    load_certificates, load_crls,
};

const ROOT: &[u8] = include_bytes!("../seeds/root.crt");
const CRL: &[u8] = include_bytes!("../seeds/inter.crl");

static PLAIN: LazyLock<Verifier> =
    LazyLock::new(|| Verifier::new(load_certificates(ROOT, "root").unwrap()).unwrap());
/// As mtls-socket's `TlsContext::verifier` sets it up when CRLs are configured.
static WITH_CRL: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::new(load_certificates(ROOT, "root").unwrap())
        .unwrap()
        .crls(load_crls(CRL, "crl").unwrap())
        .revocation(RevocationMode {
            scope: RevocationScope::EndEntity,
            require_status: true,
            allow_expired_crls: false,
        })
});
/// Revocation of the whole chain (`mtls verify --crl`).
static CHAIN_CRL: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::new(load_certificates(ROOT, "root").unwrap())
        .unwrap()
        .crls(load_crls(CRL, "crl").unwrap())
        .revocation(RevocationMode::default())
});
static STRICT: LazyLock<Verifier> = LazyLock::new(|| {
    Verifier::new(load_certificates(ROOT, "root").unwrap())
        .unwrap()
        .strict(true)
});

fuzz_target!(|data: &[u8]| {
    let Some((flags, ders)) = common::split_chain(data) else {
        return;
    };
    let Some((ee, rest)) = ders.split_first() else {
        return;
    };
    let ee = CertificateDer::from(ee.as_slice());
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    let verifier: &Verifier = if flags & 0x80 != 0 {
        &CHAIN_CRL
    } else if flags & 0x10 != 0 {
        &WITH_CRL
    } else if flags & 0x40 != 0 {
        &STRICT
    } else {
        &PLAIN
    };
    let purpose = match flags & 3 {
        1 => Purpose::ServerAuth,
        2 => Purpose::ClientAuth,
        _ => Purpose::Any,
    };
    let mut input = VerifyInput::new(&ee)
        .intermediates(&intermediates)
        .purpose(purpose)
        .time(UnixTime::since_unix_epoch(Duration::from_secs(
            1_796_000_000,
        )));
    if flags & 0x20 != 0 {
        input = input.host("server.example");
    }
    let report = verifier.verify(&input);
    let _ = report.to_string();
    for e in &report.errors {
        let _ = e.to_string();
    }
});
