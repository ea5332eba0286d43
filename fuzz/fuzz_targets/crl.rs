//! CRLs (PEM or DER) as `mtls verify --crl`, the socket's CRL reload and `mtls cert show` read them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(crls) = mtls_verify::load_crls(data, "fuzz") {
        for c in &crls {
            let _ = (
                c.issuer(),
                c.this_update(),
                c.next_update(),
                c.crl_number(),
                c.len(),
            );
            let _ = c.is_revoked(&[0x20, 0x02]);
        }
    }
    if let Ok(shown) = mtls_pki::show::show(data, "fuzz") {
        for s in &shown {
            let _ = s.to_text();
            let _ = serde_json::to_string(s);
        }
    }
});
