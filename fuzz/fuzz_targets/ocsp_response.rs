//! OCSP responses as the socket layer reads them from a peer (a stapled response) or from a
//! responder: parsed and checked for one certificate (status, signer, delegated responder
//! certificate, CertID, dates). The seeds are `openssl ocsp` answers for `seeds/ocsp_leaf.der`
//! signed by `seeds/ocsp_ca.der`, by its key and by a delegated responder, so that mutations
//! start from responses whose signatures verify.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mtls_ocsp::Issuer;

const CA: &[u8] = include_bytes!("../seeds/ocsp_ca.der");
const LEAF: &[u8] = include_bytes!("../seeds/ocsp_leaf.der");

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| Issuer::from_cert_der(CA).expect("issuer"))
}

fuzz_target!(|data: &[u8]| {
    // Inside the seeds' validity, and far outside it.
    for now in [1_800_000_000, 0, i64::MAX] {
        if let Ok(a) = issuer().check_response(data, LEAF, now) {
            let _ = (a.valid_until(), a.refresh_at());
        }
    }
});
