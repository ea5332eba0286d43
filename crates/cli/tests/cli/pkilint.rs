//! Every kind of certificate mtls issues, and its CRLs, pass pkilint (`pip install pkilint`)
//! with no finding at WARNING or above, except those listed with a reason in
//! `tests/data/pkilint-exceptions.txt`.
//!
//! For each key type (ec-p256, ec-p384, ed25519, rsa2048): a root (`ca init`), an intermediate
//! (`ca init --issuer`), a second intermediate signed from a request (`ca sign --profile
//! intermediate`), server, client and server-client certificates (`ca issue`), the
//! intermediate's CRL with an entry for every revocation reason, and the root's CRL revoking the
//! second intermediate (cACompromise). For ec-p256 also a server certificate signed from a
//! request with IP, e-mail and URI subjectAltNames. Certificates go through
//! `lint_pkix_cert lint`, CRLs through `lint_crl lint -t CRL -p PKIX`.
//!
//! pkilint missing is a failure, not a skip: CI installs it (`.ci/run`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use crate::common::*;
use serde_json::Value;

const KEY_TYPES: [&str; 4] = ["ec-p256", "ec-p384", "ed25519", "rsa2048"];

const REASONS: [&str; 7] = [
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
];

/// One document to lint: its name in reports and exceptions (`ec-p256/server.crt`), the file,
/// and whether it is a CRL.
struct Doc {
    name: String,
    path: std::path::PathBuf,
    crl: bool,
}

/// A finding at WARNING or above.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    doc: String,
    code: String,
    severity: String,
    detail: String,
}

/// Fails (never skips) when pkilint is missing.
fn require_pkilint() {
    for tool in ["lint_pkix_cert", "lint_crl"] {
        let ok = Command::new(tool)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{tool} (pkilint) is not installed or not on PATH: run `pip install pkilint` \
             (`python3 -m pip install pkilint`; .ci/run does this)"
        );
    }
}

/// Builds every document; returns them in a stable order.
fn build(env: &Env) -> Vec<Doc> {
    let mut docs = Vec::new();
    let mut doc = |name: String, rel: &str, crl: bool| {
        docs.push(Doc {
            name,
            path: env.path(rel),
            crl,
        })
    };
    for kt in KEY_TYPES {
        let root = format!("{kt}/root");
        let int = format!("{kt}/int");
        let out = format!("{kt}/out");
        env.init_ca(
            &root,
            ROOT_SUBJECT,
            &["--key-type", kt, "--policy", "anything"],
        );
        env.mtls(&[
            "ca",
            "init",
            "--dir",
            &int,
            "--issuer",
            &root,
            "--key-type",
            kt,
            "--policy",
            "anything",
            "--subject",
            "/C=CN/ST=GuangDong/O=XXX, Inc./CN=XXX Issuing CA",
        ])
        .env("MTLS_ISSUER_PASSPHRASE", PASS)
        .run()
        .success();
        doc(format!("{kt}/root.crt"), &format!("{root}/ca.crt"), false);
        doc(
            format!("{kt}/intermediate.crt"),
            &format!("{int}/ca.crt"),
            false,
        );

        for profile in ["server", "client", "server-client"] {
            env.ok(&[
                "ca",
                "issue",
                profile,
                "--dir",
                &int,
                "--profile",
                profile,
                "--cn",
                "host.example",
                "--out-dir",
                &out,
            ]);
            doc(
                format!("{kt}/{profile}.crt"),
                &format!("{out}/{profile}.crt"),
                false,
            );
        }

        // An intermediate from a request (`ca sign --profile intermediate`), revoked by the root.
        let key = format!("{kt}/sub.key");
        let csr = format!("{kt}/sub.csr");
        let sub = format!("{kt}/sub.crt");
        env.ok(&["key", "new", "--type", kt, "--out", &key]);
        env.ok(&[
            "csr",
            "new",
            "--key",
            &key,
            "--subject",
            "/C=CN/O=XXX, Inc./CN=XXX Signed Sub CA",
            "--out",
            &csr,
        ]);
        env.ok(&[
            "ca",
            "sign",
            &csr,
            "--dir",
            &root,
            "--profile",
            "intermediate",
            "--out",
            &sub,
        ]);
        doc(format!("{kt}/intermediate-signed.crt"), &sub, false);
        env.ok(&[
            "ca",
            "revoke",
            &sub,
            "--dir",
            &root,
            "--reason",
            "cACompromise",
        ]);
        env.ok(&["ca", "crl", "--dir", &root]);
        doc(format!("{kt}/root.crl"), &format!("{root}/crl.pem"), true);

        // The intermediate's CRL: one entry for every reason (ec keys keep this quick).
        for reason in REASONS {
            let name = format!("rev-{reason}");
            env.ok(&[
                "ca",
                "issue",
                &name,
                "--dir",
                &int,
                "--profile",
                "client",
                "--key-type",
                "ec-p256",
                "--out-dir",
                &out,
            ]);
            env.ok(&[
                "ca",
                "revoke",
                &format!("{out}/{name}.crt"),
                "--dir",
                &int,
                "--reason",
                reason,
            ]);
        }
        env.ok(&["ca", "crl", "--dir", &int]);
        doc(
            format!("{kt}/intermediate.crl"),
            &format!("{int}/crl.pem"),
            true,
        );
    }

    // Other subjectAltName kinds, from a request.
    env.ok(&["key", "new", "--out", "sans.key"]);
    env.ok(&[
        "csr",
        "new",
        "--key",
        "sans.key",
        "--subject",
        "/CN=host.example",
        "--san",
        "DNS:host.example",
        "--out",
        "sans.csr",
    ]);
    env.ok(&[
        "ca",
        "sign",
        "sans.csr",
        "--dir",
        "ec-p256/int",
        "--profile",
        "server",
        "--san",
        "IP:192.0.2.1",
        "--san",
        "IP:2001:db8::1",
        "--san",
        "email:ops@host.example",
        "--san",
        "URI:https://host.example/",
        "--out",
        "sans.crt",
    ]);
    doc("ec-p256/server-sans.crt".into(), "sans.crt", false);
    docs
}

/// Runs pkilint on one document; returns its findings at WARNING or above.
fn lint(doc: &Doc) -> Vec<Finding> {
    let mut cmd = if doc.crl {
        let mut c = Command::new("lint_crl");
        c.args(["lint", "-t", "CRL", "-p", "PKIX"]);
        c
    } else {
        let mut c = Command::new("lint_pkix_cert");
        c.arg("lint");
        c
    };
    let out = cmd
        .args(["-s", "WARNING", "-f", "JSON"])
        .arg(&doc.path)
        .output()
        .unwrap_or_else(|e| panic!("running pkilint on {}: {e}", doc.name));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "pkilint on {} did not print JSON ({e}; exit {:?}):\n{stdout}\n{}",
            doc.name,
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut found = Vec::new();
    for r in json["results"].as_array().into_iter().flatten() {
        for f in r["finding_descriptions"].as_array().into_iter().flatten() {
            let severity = f["severity"].as_str().unwrap_or("?").to_string();
            if !matches!(severity.as_str(), "WARNING" | "ERROR" | "FATAL") {
                continue;
            }
            found.push(Finding {
                doc: doc.name.clone(),
                code: f["code"].as_str().unwrap_or("?").to_string(),
                severity,
                detail: format!(
                    "{} @ {}{}",
                    r["validator"].as_str().unwrap_or("?"),
                    r["node_path"].as_str().unwrap_or("?"),
                    f["message"]
                        .as_str()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            });
        }
    }
    found
}

/// `pkilint-exceptions.txt`: `<document glob> <finding code> <reason>` per line (`*` matches
/// anything in the glob); `#` comments and blank lines ignored.
fn exceptions() -> Vec<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pkilint-exceptions.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let (Some(doc), Some(code), Some(reason)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!(
                "pkilint-exceptions.txt line {}: expected `<document> <code> <reason>`",
                n + 1
            );
        };
        assert!(
            !reason.trim().is_empty(),
            "pkilint-exceptions.txt line {}: no reason",
            n + 1
        );
        out.push((doc.into(), code.into(), reason.trim().into()));
    }
    out
}

/// `*` matches any run of characters.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && glob(tail, &rest[i..]))
        }
    }
}

#[test]
fn glob_matches() {
    assert!(glob("*", "ec-p256/root.crt"));
    assert!(glob("*/root.crt", "ed25519/root.crt"));
    assert!(glob("rsa2048/*.crl", "rsa2048/intermediate.crl"));
    assert!(!glob("rsa2048/*.crl", "rsa2048/root.crt"));
    assert!(!glob("ec-p256/root.crt", "ec-p384/root.crt"));
}

#[test]
fn everything_mtls_issues_passes_pkilint() {
    require_pkilint();
    let started = std::time::Instant::now();
    let env = Env::new();
    let docs = build(&env);
    let built = started.elapsed();

    // Two workers (pkilint is mostly Python start-up).
    let queue = Mutex::new(docs.iter().collect::<Vec<_>>());
    let findings = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(doc) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    let f = lint(doc);
                    findings.lock().unwrap().extend(f);
                }
            });
        }
    });
    let mut findings = findings.into_inner().unwrap();
    findings.sort();

    // A canary: pkilint must report the single-label name `localhost` (else this test would
    // pass on output it cannot read).
    env.ok(&[
        "ca",
        "issue",
        "localhost",
        "--dir",
        "ec-p256/int",
        "--profile",
        "server",
        "--out-dir",
        "canary",
    ]);
    let canary = lint(&Doc {
        name: "canary/localhost.crt".into(),
        path: env.path("canary/localhost.crt"),
        crl: false,
    });
    assert!(
        canary
            .iter()
            .any(|f| f.code == "pkix.invalid_domain_name_syntax"),
        "pkilint did not report the DNS name `localhost`: {canary:?}"
    );

    let exceptions = exceptions();
    let mut used = vec![false; exceptions.len()];
    let mut unlisted = Vec::new();
    let mut by_doc: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &findings {
        *by_doc.entry(&f.doc).or_default() += 1;
        match exceptions
            .iter()
            .position(|(d, c, _)| glob(d, &f.doc) && *c == f.code)
        {
            Some(i) => {
                used[i] = true;
                eprintln!(
                    "listed   {} {} ({}): {} — {}",
                    f.doc, f.code, f.severity, f.detail, exceptions[i].2
                );
            }
            None => {
                eprintln!(
                    "FINDING  {} {} ({}): {}",
                    f.doc, f.code, f.severity, f.detail
                );
                unlisted.push(f);
            }
        }
    }
    let stale: Vec<String> = exceptions
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((d, c, _), _)| format!("{d} {c}"))
        .collect();
    eprintln!(
        "pkilint: {} documents, {} findings at WARNING or above ({} listed), built in {built:.1?}, all in {:.1?}",
        docs.len(),
        findings.len(),
        findings.len() - unlisted.len(),
        started.elapsed()
    );
    assert!(
        unlisted.is_empty(),
        "pkilint findings not in tests/data/pkilint-exceptions.txt: {unlisted:#?}"
    );
    assert!(
        stale.is_empty(),
        "pkilint-exceptions.txt entries that no longer occur (remove them): {stale:?}"
    );
}
