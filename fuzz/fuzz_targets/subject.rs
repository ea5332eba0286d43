//! Subject strings (`/C=…/CN=…` and RFC 4514) and subjectAltName entries (`DNS:…`, `IP:…`) as
//! the command line, `import-openssl` (index.txt subjects) and requests give them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_pki::{Name, San};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = Name::parse(s) {
        let text = name.rfc4514();
        let again = Name::parse(&text).unwrap_or_else(|e| {
            panic!("{s:?} parsed, but its RFC 4514 form {text:?} did not: {e}")
        });
        assert_eq!(again, name, "{s:?} -> {text:?} changed the name");
        let _ = name.to_rcgen();
    }
    if let Ok(san) = s.parse::<San>() {
        let text = san.to_string();
        let again: San = text
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} parsed, but {text:?} did not: {e}"));
        assert_eq!(again, san);
        let _ = san.to_rcgen();
    }
    let _ = mtls_pki::san::is_dns_name(s);
});
