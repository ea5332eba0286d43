//! Certificates (PEM bundle or DER) as `mtls cert show` and every certificate loader read them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(shown) = mtls_pki::show::show(data, "fuzz") {
        for s in &shown {
            let _ = s.to_text();
            let _ = serde_json::to_string(s);
        }
    }
    if let Ok(certs) = mtls_verify::load_certificates(data, "fuzz") {
        // Loaded certificates may become trust anchors (`--ca`, the socket's CA list).
        if let Ok(v) = mtls_verify::Verifier::new(certs.clone()) {
            let input = mtls_verify::VerifyInput::new(&certs[0]).intermediates(&certs[1..]);
            let _ = v.verify(&input).to_string();
        }
    }
});
