//! `mtls ca import-openssl --config openssl.cnf`: sections, `$var` expansion, the policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_pki::openssl::cnf::Cnf;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Cnf::parse(s, "openssl.cnf") {
        let ca = c.default_ca();
        for key in [
            "dir",
            "database",
            "serial",
            "crlnumber",
            "certificate",
            "private_key",
        ] {
            let _ = c.get(&ca, key);
        }
        let _ = c.policy("openssl.cnf");
    }
});
