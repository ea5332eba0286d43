//! Inputs found while fuzzing (`fuzz/`, target `private_key`), through the socket layer's key
//! loader (`serve`/`connect --key`): none may panic, abort or hang.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions")
}

fn load(data: Vec<u8>, pass: Option<&'static [u8]>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = mtls_socket::load_private_key(&data, pass, "k").map(|_| ());
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("still running after 60 s (or panicked)")
}

#[test]
fn every_regression_input_loads_or_fails_quickly() {
    let mut n = 0;
    for e in std::fs::read_dir(dir()).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let _ = load(data.clone(), None);
        for pass in [&b"fuzz"[..], b"wrong"] {
            let _ = load(data.clone(), Some(pass));
        }
        n += 1;
    }
    assert!(n >= 3);
}

/// scrypt N = 2^40 (128 TiB: an allocation failure aborts), r = p = 65535 and 2^32-1 PBKDF2
/// iterations (hours), and N = 0 (a panic inside pkcs5) are refused before any key derivation.
#[test]
fn costly_key_derivation_parameters_are_refused() {
    for file in [
        "private_key-scrypt-n-2-40.pem",
        "private_key-scrypt-r-p-65535.pem",
        "private_key-pbkdf2-4g-iterations.der",
        // pkcs5 0.8.1 panics on N = 0 (found by the private_key fuzz target).
        "private_key-scrypt-n-0.pem",
    ] {
        let data = std::fs::read(dir().join(file)).unwrap();
        let e = load(data, Some(b"fuzz")).unwrap_err();
        assert!(
            e.contains("too costly") || e.contains("invalid"),
            "{file}: {e}"
        );
    }
}
