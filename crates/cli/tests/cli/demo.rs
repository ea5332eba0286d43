//! `mtls demo` plays the whole story and exits 0 only when every expected outcome was seen.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_observes_every_expected_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mtls"))
        .args(["demo", "--clients", "3", "--dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    assert!(text.contains("all 12 expected outcomes observed"), "{text}");
    for needle in [
        "refused: HostNameMismatch",
        "CRL reloaded: 1 entries, CRL number 2",
        "closed: its certificate is now revoked",
        "refused: CertificateRevoked",
        "UnableToGetLocalIssuerCertificate",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // --dir keeps the story's files.
    for f in [
        "ca/ca.crt",
        "ca/ca.key",
        "ca/crl.pem",
        "certs/server.chain.pem",
        "certs/client3.key",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}
