//! `mtls ca import-openssl --config openssl.cnf`: sections, quoting, `$var` expansion,
//! `.include` and the policy.
//!
//! The input is a small file system: parts separated by NUL bytes. The first part is the main
//! file; part N (N ≥ 1) is `/f/N.cnf`, and the directory `/f` holds them all, so the fuzzer can
//! reach file includes, directory includes and include cycles without touching the disk.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use mtls_pki::openssl::cnf::{memory_reader, Cnf};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = s.split('\0');
    let main = parts.next().unwrap_or_default();
    let files: Vec<(PathBuf, String)> = parts
        .enumerate()
        .map(|(i, t)| (PathBuf::from(format!("/f/{}.cnf", i + 1)), t.to_string()))
        .collect();
    let mut read = memory_reader(files);
    if let Ok(c) = Cnf::parse_with(main, "openssl.cnf", None, &mut read) {
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
        let _ = c.notes();
    }
});
