//! `mtls ca import-openssl` readers: index.txt, serial and crlnumber files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_pki::openssl::index;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = index::parse_hex_number(s, "serial");
    if let Ok(entries) = index::parse_index(s, "index.txt") {
        for e in &entries {
            // What import does with each line, and what export writes back.
            let _ = mtls_pki::Name::parse(&e.subject);
            let line = index::format_entry(e);
            let _ = index::parse_index(&line, "rewritten");
        }
    }
    if let Some(t) = index::parse_time(s.trim()) {
        let _ = index::format_time(t);
    }
});
