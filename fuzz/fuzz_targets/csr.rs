//! Certificate requests (PEM or DER) as `mtls ca sign` and `mtls csr show` read them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = mtls_pki::Request::from_bytes(data, "fuzz") {
        let _ = req.key_description();
    }
    if let Ok(shown) = mtls_pki::show::show(data, "fuzz") {
        for s in &shown {
            let _ = s.to_text();
        }
    }
});
