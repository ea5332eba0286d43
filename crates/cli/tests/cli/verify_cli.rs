//! `mtls verify`: OK and exit 0, or every problem with the socket layer's error names and exit 1.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mtls(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mtls"))
        .current_dir(dir)
        .env_remove("MTLS_CA_DIR")
        .env("MTLS_CA_PASSPHRASE", "pw")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("panicked"), "{all}");
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = mtls(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = mtls(dir, args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn verify_reports_every_problem() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    ok(d, &["ca", "init", "--subject", "/C=CN/ST=GD/O=X/CN=Root"]);
    ok(
        d,
        &[
            "ca",
            "init",
            "--dir",
            "other",
            "--subject",
            "/C=CN/ST=GD/O=X/CN=Other",
        ],
    );
    ok(
        d,
        &[
            "ca",
            "issue",
            "srv",
            "--profile",
            "server",
            "--cn",
            "srv.example",
            "--out-dir",
            "o",
        ],
    );
    ok(
        d,
        &[
            "ca",
            "issue",
            "cli",
            "--profile",
            "client",
            "--out-dir",
            "o",
        ],
    );

    let text = ok(
        d,
        &[
            "verify",
            "o/srv.crt",
            "--ca",
            "ca/ca.crt",
            "--host",
            "srv.example",
            "--purpose",
            "server",
        ],
    );
    assert_eq!(text.trim(), "OK");
    // The chain file carries the CA too: extra certificates are only untrusted helpers.
    assert_eq!(
        ok(d, &["verify", "o/srv.chain.pem", "--ca", "ca/ca.crt"]).trim(),
        "OK"
    );

    // Wrong host and wrong purpose at once: both are listed.
    let text = fails(
        d,
        &[
            "verify",
            "o/srv.crt",
            "--ca",
            "ca/ca.crt",
            "--host",
            "evil.example",
            "--purpose",
            "client",
        ],
    );
    assert!(
        text.contains("HostNameMismatch") && text.contains("InvalidPurpose"),
        "{text}"
    );

    // A foreign CA.
    let text = fails(d, &["verify", "o/srv.crt", "--ca", "other/ca.crt"]);
    assert!(text.contains("UnableToGetLocalIssuerCertificate"), "{text}");

    // Revocation: needs a CRL to know the status; revoked shows as CertificateRevoked.
    ok(d, &["ca", "crl", "--out", "crl0.pem"]);
    assert_eq!(
        ok(
            d,
            &[
                "verify",
                "o/cli.crt",
                "--ca",
                "ca/ca.crt",
                "--crl",
                "crl0.pem"
            ]
        )
        .trim(),
        "OK"
    );
    ok(
        d,
        &["ca", "revoke", "o/cli.crt", "--reason", "keyCompromise"],
    );
    ok(d, &["ca", "crl", "--out", "crl1.pem"]);
    let text = fails(
        d,
        &[
            "verify",
            "o/cli.crt",
            "--ca",
            "ca/ca.crt",
            "--crl",
            "crl1.pem",
            "--purpose",
            "client",
        ],
    );
    assert!(text.contains("CertificateRevoked"), "{text}");
    // A CRL from another CA says nothing about ours: the status is unknown.
    ok(d, &["ca", "--dir", "other", "crl", "--out", "other.crl"]);
    let text = fails(
        d,
        &[
            "verify",
            "o/srv.crt",
            "--ca",
            "ca/ca.crt",
            "--crl",
            "other.crl",
        ],
    );
    assert!(text.contains("CertificateStatusUnknown"), "{text}");

    // JSON names the kind and the certificate's fingerprint.
    let out = mtls(
        d,
        &[
            "verify",
            "o/cli.crt",
            "--ca",
            "ca/ca.crt",
            "--crl",
            "crl1.pem",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["kind"], "CertificateRevoked");
    assert_eq!(v["errors"][0]["sha256"].as_str().unwrap().len(), 64);

    // Bad input: one error line, exit 1.
    std::fs::write(d.join("junk.pem"), "not a certificate").unwrap();
    let out = mtls(d, &["verify", "junk.pem", "--ca", "ca/ca.crt"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error:") && err.contains("junk.pem") && err.lines().count() == 1,
        "{err}"
    );
}

/// `--strict` adds the RFC 5280 issuer-profile rules openssl checks with -x509_strict: a CA
/// whose basicConstraints is not critical (made with `openssl req -addext`) verifies by default
/// and is refused with --strict, by both; serial number zero too (openssl 3.0 does not check it).
#[test]
fn strict_refuses_what_x509_strict_refuses() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
        -out ca.crt -subj /CN=Old -days 30 -addext basicConstraints=CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
    );
    sh(
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
        -subj /CN=leaf -out leaf.csr 2>/dev/null",
    );
    sh("printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\n' > ext.cnf");
    for (serial, out) in [("7", "leaf.crt"), ("0", "zero.crt")] {
        sh(&format!(
            "openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -set_serial {serial} \
             -days 30 -extfile ext.cnf -out {out} 2>/dev/null"
        ));
    }
    let openssl = |strict: bool| {
        let mut c = Command::new("openssl");
        c.arg("verify").current_dir(d);
        if strict {
            c.arg("-x509_strict");
        }
        let out = c.args(["-CAfile", "ca.crt", "leaf.crt"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };

    assert_eq!(
        ok(d, &["verify", "leaf.crt", "--ca", "ca.crt"]).trim(),
        "OK"
    );
    assert!(openssl(false).contains("leaf.crt: OK"));
    let text = fails(d, &["verify", "leaf.crt", "--ca", "ca.crt", "--strict"]);
    assert!(
        text.contains("InvalidExtension [depth 1: CN=Old]")
            && text.contains("basicConstraints of a CA is not marked critical"),
        "{text}"
    );
    let theirs = openssl(true);
    assert!(theirs.contains("not marked critical"), "{theirs}");

    assert_eq!(
        ok(d, &["verify", "zero.crt", "--ca", "ca.crt"]).trim(),
        "OK"
    );
    let text = fails(d, &["verify", "zero.crt", "--ca", "ca.crt", "--strict"]);
    assert!(
        text.contains("MalformedCertificate") && text.contains("serial number zero"),
        "{text}"
    );
}
