//! Inputs found while fuzzing (`fuzz/`, target `private_key`), through the one key loader that
//! the CA and the socket layer share: none may panic, abort or hang.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions")
}

fn load(data: Vec<u8>, pass: Option<&'static [u8]>) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = mtls_keys::decode(&data, pass, "k").map(|_| ());
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

/// A key file chooses its own scrypt and PBKDF2 parameters. Before the bound, N = 2^40 made
/// scrypt ask for 128 TiB (the allocation failure aborts the process); r = p = 65535 and
/// 2^32-1 PBKDF2 iterations ran for hours; N = 0 panicked inside pkcs5.
#[test]
fn costly_key_derivation_parameters_are_refused() {
    for (file, needle) in [
        ("private_key-scrypt-n-2-40.pem", "N=1099511627776"),
        ("private_key-scrypt-r-p-65535.pem", "r=65535, p=65535"),
        (
            "private_key-pbkdf2-4g-iterations.der",
            "PBKDF2 iteration count 4294967295",
        ),
        // pkcs5 0.8.1 computes log2(N) with an underflow for N = 0 (a panic in debug and,
        // through an `expect`, in release builds too).
        ("private_key-scrypt-n-0.pem", "N=0, r=1, p=1) are invalid"),
    ] {
        let data = std::fs::read(dir().join(file)).unwrap();
        assert!(mtls_keys::is_encrypted(&data), "{file}");
        let e = load(data, Some(b"fuzz")).unwrap_err();
        assert!(e.contains(needle), "{file}: {e}");
    }
}
