//! `ca.toml`, which every `mtls ca` command reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_pki::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("ca.toml");
    if let Ok(c) = Config::parse(s, path) {
        // What mtls writes back must read again.
        let text = c.to_toml();
        if let Err(e) = Config::parse(&text, path) {
            panic!(
                "config parsed but its rewrite did not: {e}\n--- input\n{s}\n--- rewrite\n{text}"
            );
        }
    }
});
