//! Inputs found while fuzzing (`fuzz/`), each fed through the same entry point as its fuzz
//! target: none may panic, abort or hang. Files live in `tests/data/fuzz-regressions/`, named
//! `TARGET-description.ext` after the fuzz target that reads them.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use mtls_pki::openssl::{
    cnf::{Cnf, memory_reader},
    index,
};
use mtls_pki::{Name, PrivateKey, Request, San};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions")
}

/// Runs `f` on another thread; fails if it takes more than a minute (the inputs are hangs and
/// resource bombs: a regression must fail the test, not stall it).
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what}: still running after 60 s (or panicked)"))
}

/// What the fuzz target of `target` does with `data` (see fuzz/fuzz_targets/TARGET.rs).
fn feed(target: &str, data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    match target {
        "private_key" => {
            let _ = PrivateKey::is_encrypted(data);
            let _ = PrivateKey::from_bytes(data, None, "fuzz");
            for pass in [&b"fuzz"[..], b"wrong"] {
                if let Ok(k) = PrivateKey::from_bytes(data, Some(pass), "fuzz") {
                    let _ = (k.description(), k.public_key_der(), k.rsa_bits());
                }
            }
        }
        "openssl_cnf" => {
            // As the fuzz target: NUL-separated parts are the main file and /f/N.cnf.
            let Some(s) = text else { return };
            let mut parts = s.split('\0');
            let main = parts.next().unwrap_or_default();
            let files = parts
                .enumerate()
                .map(|(i, t)| (PathBuf::from(format!("/f/{}.cnf", i + 1)), t.to_string()))
                .collect();
            let mut read = memory_reader(files);
            if let Ok(c) = Cnf::parse_with(main, "openssl.cnf", None, &mut read) {
                let ca = c.default_ca();
                let _ = c.get(&ca, "dir");
                let _ = c.policy("openssl.cnf");
                let _ = c.notes();
            }
        }
        "openssl_index" => {
            if let Some(s) = text {
                let _ = index::parse_hex_number(s, "serial");
                if let Ok(entries) = index::parse_index(s, "index.txt") {
                    for e in &entries {
                        let _ = Name::parse(&e.subject);
                        let _ = index::parse_index(&index::format_entry(e), "rewritten");
                    }
                }
            }
        }
        "subject" => {
            if let Some(s) = text {
                if let Ok(n) = Name::parse(s) {
                    assert_eq!(Name::parse(&n.rfc4514()).unwrap(), n);
                }
                if let Ok(san) = s.parse::<San>() {
                    assert_eq!(san.to_string().parse::<San>().unwrap(), san);
                }
            }
        }
        "ca_toml" => {
            if let Some(s) = text {
                let p = Path::new("ca.toml");
                if let Ok(c) = mtls_pki::config::Config::parse(s, p) {
                    mtls_pki::config::Config::parse(&c.to_toml(), p).unwrap();
                }
            }
        }
        "csr" => {
            let _ = Request::from_bytes(data, "fuzz");
            if let Ok(shown) = mtls_pki::show::show(data, "fuzz") {
                shown.iter().for_each(|s| drop(s.to_text()));
            }
        }
        "cert_der_pem" | "crl" => {
            if let Ok(shown) = mtls_pki::show::show(data, "fuzz") {
                shown.iter().for_each(|s| drop(s.to_text()));
            }
        }
        // peer_chain inputs are for mtls-verify's tests.
        "peer_chain" => {}
        other => panic!("no fuzz target {other:?}"),
    }
}

#[test]
fn every_regression_input_goes_through_its_target() {
    let mut n = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let target = name.split_once('-').map(|(t, _)| t.to_string()).unwrap();
        let data = std::fs::read(&path).unwrap();
        bounded(&name, move || feed(&target, &data));
        n += 1;
    }
    // The private-key inputs live with the key loader, in crates/keys.
    assert!(n >= 3, "only {n} regression inputs");
}

/// `a = $a$a` on every line doubled the value: 40 lines asked for 2^44 bytes. Values are now
/// bounded as in OpenSSL (65536 bytes after expansion).
#[test]
fn doubling_variable_expansion_is_refused() {
    let text = std::fs::read_to_string(dir().join("openssl_cnf-doubling-expansion.cnf")).unwrap();
    let e = bounded("cnf", move || Cnf::parse(&text, "openssl.cnf").map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("65536 bytes after $-expansion"), "{e}");
}
