//! `mtls demo` plays the whole story and exits 0 only when every expected outcome was seen.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `mtls demo ARGS --dir DIR`; it must succeed within the 15 s the demo promises.
/// Returns what it printed.
fn demo(dir: &std::path::Path, args: &[&str]) -> String {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_mtls"))
        .arg("demo")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
    text
}

#[test]
fn demo_observes_every_expected_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let text = demo(dir.path(), &["--clients", "3"]);
    assert!(text.contains("all 20 expected outcomes observed"), "{text}");
    for needle in [
        "refused: HostNameMismatch",
        "CRL reloaded: 1 entries, CRL number 2",
        "closed: its certificate is now revoked",
        "refused: CertificateRevoked",
        "UnableToGetLocalIssuerCertificate",
        // The online act.
        "refused the enrollment (401)",
        "renew    | renewed: serial",
        "certificate reloaded",
        "CRL fetched from http://127.0.0.1:",
        "stays connected",
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
        "online/device1.crt",
        "online/web.crt",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}

#[test]
fn demo_online_plays_the_second_act_alone() {
    let dir = tempfile::tempdir().unwrap();
    let text = demo(dir.path(), &["--online"]);
    assert!(text.contains("all 8 expected outcomes observed"), "{text}");
    assert!(
        !text.contains("HostNameMismatch"),
        "the first act was played:\n{text}"
    );
    // 2/3 of the 5-second life counted from receipt, not from the notBefore backdated a
    // minute (which would renew at once, and again, in a loop).
    assert!(
        text.contains("next renewal in 3 s") || text.contains("next renewal in 2 s"),
        "{text}"
    );
    // The renewed certificate is the one on disk, and it chains to the CA (it lives 5 s, so
    // the time is not checked).
    let v = Command::new("openssl")
        .args([
            "verify",
            "-no_check_time",
            "-CAfile",
            "ca/ca.crt",
            "online/web.crt",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}
