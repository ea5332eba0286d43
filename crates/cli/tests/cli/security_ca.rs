//! Regression tests for the CA-side findings of the security review (issue 18), through
//! `mtls ca` with `openssl req` / `openssl ca` as the other party: request SANs validated and
//! shown (item 4), request subjects checked (item 5), `export-openssl` never copying request
//! extensions (item 6), `ca issue` honouring MTLS_KEY_PASSPHRASE (item 11), request file names
//! that would escape `--out-dir` (item 13).

use crate::common::*;

/// An EC key `k.pem`, made once.
fn key(env: &Env) {
    if !env.path("k.pem").exists() {
        env.ssl(&[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
            "k.pem",
        ]);
    }
}

/// A request `NAME.csr` for `subject` with `-addext EXT…`, for the key `k.pem`.
fn csr(env: &Env, name: &str, subject: &str, addext: &[&str]) -> String {
    key(env);
    let out = format!("{name}.csr");
    let mut args = vec![
        "req", "-new", "-key", "k.pem", "-subj", subject, "-out", &out,
    ];
    for e in addext {
        args.extend(["-addext", e]);
    }
    env.ssl(&args);
    out
}

/// Item 4: SANs in a request are checked exactly like `--san` values; each bad one is refused,
/// naming the request and the name, with nothing written or recorded.
#[test]
fn request_sans_are_validated_like_san_flags() {
    let env = setup();
    let subject = leaf_subject("victim");
    for (i, bad) in [
        "DNS:*",
        "DNS:*.com",
        "DNS:a b.example",
        "email:x",
        "URI:javascript:alert(1)",
    ]
    .iter()
    .enumerate()
    {
        let req = csr(
            &env,
            &format!("bad{i}"),
            &subject,
            &[&format!("subjectAltName={bad}")],
        );
        let cmd = format!("ca sign --dir ca {req} --profile client --out bad.crt");
        refused(&env, &words(&cmd), &[&req, bad]);
        // The same value on the command line is refused too.
        let good = csr(&env, "plain", &subject, &[]);
        refused(
            &env,
            &[
                "ca",
                "sign",
                "--dir",
                "ca",
                &good,
                "--profile",
                "client",
                "--san",
                bad,
                "--out",
                "bad.crt",
            ],
            &[bad],
        );
    }
}

/// Item 4: every sign says which SANs the certificate got, which the profile dropped, and which
/// request extensions the profile replaced; `san_allow` in ca.toml limits the names.
#[test]
fn sign_shows_kept_dropped_and_overridden_and_san_allow_limits_names() {
    let env = setup();
    let ca_toml = env.read("ca/ca.toml");
    env.write(
        "ca/ca.toml",
        format!(
            "{ca_toml}\n[profiles.internal]\ndays = 30\nkey_usage = [\"digitalSignature\"]\n\
             extended_key_usage = [\"clientAuth\"]\nsan_allow = [\"DNS:*.internal.example\", \"IP:10.0.0.0/8\"]\n"
        ),
    );
    let req = csr(
        &env,
        "mixed",
        &leaf_subject("mixed"),
        &[
            "subjectAltName=DNS:a.internal.example,DNS:evil.example,IP:10.1.2.3,IP:192.0.2.1,URI:spiffe://x/y",
            "extendedKeyUsage=codeSigning",
        ],
    );
    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &req,
        "--profile",
        "internal",
        "--out",
        "mixed.crt",
    ]);
    assert!(
        o.stdout
            .contains("(subjectAltNames: DNS:a.internal.example, IP:10.1.2.3)"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.contains(
            "dropped subjectAltName(s) profile internal does not allow: DNS:evil.example, IP:192.0.2.1, URI:spiffe://x/y"
        ),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains("the request's extendedKeyUsage replaced by profile internal's"),
        "{}",
        o.stderr
    );
    let text = env.cert_text("mixed.crt");
    assert_eq!(
        ext_value(&text, "X509v3 Subject Alternative Name"),
        "DNS:a.internal.example, IP Address:10.1.2.3"
    );
    assert_eq!(
        ext_value(&text, "X509v3 Extended Key Usage"),
        "TLS Web Client Authentication"
    );
    // The operator's own --san outside the policy is refused, not dropped.
    let plain = csr(&env, "plain", &leaf_subject("plain"), &[]);
    refused(
        &env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            &plain,
            "--profile",
            "internal",
            "--san",
            "DNS:evil.example",
            "--out",
            "x.crt",
        ],
        &[
            "DNS:evil.example",
            "not allowed by profile internal",
            "san_allow",
        ],
    );
    // A bad pattern in ca.toml is a configuration error naming the file.
    env.write(
        "ca/ca.toml",
        format!(
            "{ca_toml}\n[profiles.broken]\ndays = 30\nkey_usage = [\"digitalSignature\"]\nsan_allow = [\"IP:10.0.0.0/99\"]\n"
        ),
    );
    env.mtls(&["ca", "list", "--dir", "ca"]).run().one_error(&[
        "ca.toml",
        "san_allow",
        "IP:10.0.0.0/99",
    ]);
}

/// Item 5: control characters in a request's subject are refused (they forged `serve` log
/// lines and broke the exported index.txt), in any field.
#[test]
fn request_subjects_meet_the_subject_rules() {
    let env = setup();
    let evil = csr(
        &env,
        "evil",
        "/C=CN/ST=GuangDong/O=XXX, Inc./CN=evil\n[conn 1 admin] x\u{1b}[2K",
        &[],
    );
    sign_refused(&env, &evil, &["evil.csr", "CN", "control character"]);
    let cr = csr(&env, "cr", "/C=CN/ST=GuangDong/O=XXX\r, Inc./CN=cr", &[]);
    sign_refused(&env, &cr, &["cr.csr", "O", "control character"]);
}

/// Item 6: a directory from `export-openssl` signs with the profile's extensions only:
/// `openssl ca` does not copy the requester's EKU, SAN or a critical nameConstraints.
#[test]
fn exported_openssl_config_never_copies_request_extensions() {
    let env = setup();
    env.ok(&["ca", "export-openssl", "--dir", "ca", "osl"]);
    key(&env);
    let cnf = env.read("osl/openssl.cnf");
    assert!(cnf.contains("copy_extensions = none"), "{cnf}");
    assert!(!cnf.contains("copy_extensions = copy"), "{cnf}");
    env.write(
        "utf8req.cnf",
        "[req]\ndistinguished_name = dn\nstring_mask = utf8only\nprompt = no\n[dn]\nCN = unused\n",
    );
    env.ssl(&[
        "req",
        "-new",
        "-key",
        "k.pem",
        "-config",
        "utf8req.cnf",
        "-subj",
        &leaf_subject("grabby"),
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "subjectAltName=DNS:anything.example",
        "-addext",
        "nameConstraints=critical,permitted;DNS:.evil.example",
        "-out",
        "grabby.csr",
    ]);
    let o = std::process::Command::new("openssl")
        .current_dir(env.path("osl"))
        .args([
            "ca",
            "-config",
            "openssl.cnf",
            "-batch",
            "-notext",
            "-passin",
            &format!("pass:{PASS}"),
            "-in",
            "../grabby.csr",
            "-out",
            "../grabby.crt",
        ])
        .output()
        .expect("openssl ca");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = env.cert_text("grabby.crt");
    assert_eq!(
        ext_value(&text, "X509v3 Extended Key Usage"),
        "TLS Web Client Authentication",
        "{text}"
    );
    assert!(!text.contains("Subject Alternative Name"), "{text}");
    assert!(!text.contains("Name Constraints"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    // Each profile has its section, for `openssl ca -extensions profile_NAME`.
    for section in [
        "[ profile_server ]",
        "[ profile_server_client ]",
        "[ profile_intermediate ]",
    ] {
        assert!(cnf.contains(section), "{section} missing:\n{cnf}");
    }
}

/// Item 11: `ca issue` encrypts NAME.key with $MTLS_KEY_PASSPHRASE, as `key new` does, and
/// says whether the key is encrypted.
#[test]
fn ca_issue_honours_mtls_key_passphrase() {
    let env = Env::new();
    env.root_ca();
    let o = env
        .mtls(&[
            "ca",
            "issue",
            "enc",
            "--dir",
            "ca",
            "--profile",
            "client",
            "--out-dir",
            "out",
        ])
        .env("MTLS_KEY_PASSPHRASE", "leaf secret")
        .run()
        .success();
    assert!(
        o.stdout.contains("out/enc.key (encrypted, mode 0600)"),
        "{}",
        o.stdout
    );
    let key = env.read("out/enc.key");
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{key}"
    );
    env.ssl(&[
        "pkey",
        "-in",
        "out/enc.key",
        "-passin",
        "pass:leaf secret",
        "-noout",
    ]);
    // Without a passphrase the key is plain, and the output says so.
    let o = env.ok(&[
        "ca",
        "issue",
        "plain",
        "--dir",
        "ca",
        "--profile",
        "client",
        "--out-dir",
        "out",
    ]);
    assert!(
        o.stdout.contains("out/plain.key (unencrypted"),
        "{}",
        o.stdout
    );
    assert_eq!(mode(&env.path("out/plain.key")), 0o600);
}

/// Item 13: a request file whose name leaves no usable stem (`..csr`, `.csr`) is refused
/// before anything is signed; a dotted stem keeps its dots (`host.example.csr` ->
/// `host.example.crt`).
#[test]
fn request_names_cannot_escape_the_out_dir() {
    let env = setup();
    std::fs::create_dir_all(env.path("reqs")).unwrap();
    for bad in ["..csr", ".csr"] {
        std::fs::copy(env.path("good.csr"), env.path(&format!("reqs/{bad}"))).unwrap();
        let req = format!("reqs/{bad}");
        refused(
            &env,
            &[
                "ca",
                "sign",
                "--dir",
                "ca",
                &req,
                "--profile",
                "client",
                "--out-dir",
                "issued",
            ],
            &[&req, "rename it"],
        );
        std::fs::remove_file(env.path(&req)).unwrap();
    }
    assert!(!env.path("issued.crt").exists());
    std::fs::copy(env.path("good.csr"), env.path("reqs/host.example.csr")).unwrap();
    env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "reqs/host.example.csr",
        "--profile",
        "client",
        "--out-dir",
        "issued",
    ]);
    assert!(env.path("issued/host.example.crt").exists());
}
