//! Profiles (server / client / server-client) as `openssl verify -purpose` sees them, and the
//! DN policy: `match` compares values not string types, names the field on failure, drops
//! unlisted fields and says so; server certificates get a SAN copied from a hostname CN.

use crate::common::*;

/// Extensions every leaf must carry; returns the certificate text.
#[track_caller]
fn assert_leaf(env: &Env, cert: &str, ca_ski: &str, eku: &str) -> String {
    let text = env.cert_text(cert);
    assert!(text.contains("Version: 3 (0x2)"), "{cert}: {text}");
    assert_eq!(
        ext_header(&text, "X509v3 Basic Constraints"),
        "X509v3 Basic Constraints: critical",
        "{cert}"
    );
    assert_eq!(ext_value(&text, "X509v3 Basic Constraints"), "CA:FALSE");
    assert_eq!(ext_value(&text, "X509v3 Extended Key Usage"), eku, "{cert}");
    assert_eq!(ext_value(&text, "X509v3 Key Usage"), "Digital Signature");
    let ski = ext_value(&text, "X509v3 Subject Key Identifier");
    assert_eq!(ski.len(), 59, "{cert}: SKI {ski}");
    assert_ne!(ski, ca_ski);
    assert_eq!(
        ext_value(&text, "X509v3 Authority Key Identifier"),
        ca_ski,
        "{cert}: AKI must equal the CA's SKI"
    );
    assert!(is_serial_128(&env.openssl_serial(cert)), "{cert}");
    text
}

/// `openssl verify -purpose P`: Ok(()) or Err(output).
fn verify_purpose(env: &Env, cert: &str, purpose: &str) -> Result<(), String> {
    let o = env.openssl(&["verify", "-CAfile", "ca/ca.crt", "-purpose", purpose, cert]);
    if o.code == Some(0) {
        Ok(())
    } else {
        Err(o.all())
    }
}

#[test]
fn profiles_set_eku_and_openssl_purposes_follow() {
    let env = Env::new();
    env.root_ca();
    let ca_ski = ext_value(&env.cert_text("ca/ca.crt"), "X509v3 Subject Key Identifier");
    env.issue("ca", "srv", "server", &["--san", "DNS:srv.example"]);
    env.issue("ca", "cli", "client", &[]);
    env.issue(
        "ca",
        "both",
        "server-client",
        &["--san", "DNS:both.example"],
    );

    let server = "TLS Web Server Authentication";
    let client = "TLS Web Client Authentication";
    assert_leaf(&env, "out/srv.crt", &ca_ski, server);
    let cli = assert_leaf(&env, "out/cli.crt", &ca_ski, client);
    assert_leaf(
        &env,
        "out/both.crt",
        &ca_ski,
        &format!("{server}, {client}"),
    );
    // A client certificate needs no SAN and gets none.
    assert!(!cli.contains("Subject Alternative Name"), "{cli}");

    for (cert, sslserver, sslclient) in [
        ("out/srv.crt", true, false),
        ("out/cli.crt", false, true),
        ("out/both.crt", true, true),
    ] {
        for (purpose, expect) in [("sslserver", sslserver), ("sslclient", sslclient)] {
            match verify_purpose(&env, cert, purpose) {
                Ok(()) => assert!(expect, "{cert} passed -purpose {purpose}"),
                Err(out) => {
                    assert!(!expect, "{cert} failed -purpose {purpose}: {out}");
                    assert!(out.contains("unsuitable certificate purpose"), "{out}");
                }
            }
        }
    }

    // `ca issue` files: key 0600 belonging to the certificate, chain = cert + CA.
    for name in ["srv", "cli", "both"] {
        let key = format!("out/{name}.key");
        let crt = format!("out/{name}.crt");
        assert_eq!(mode(&env.path(&key)), 0o600);
        assert_eq!(
            env.ssl(&["pkey", "-in", &key, "-pubout"]),
            env.ssl(&["x509", "-in", &crt, "-noout", "-pubkey"])
        );
        let chain = env.read(&format!("out/{name}.chain.pem"));
        assert_eq!(
            chain,
            format!("{}{}", env.read(&crt), env.read("ca/ca.crt"))
        );
    }
    // The issued subject was completed from the CA under policy match.
    let subj = env.ssl(&[
        "x509",
        "-in",
        "out/cli.crt",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert!(
        subj.contains("CN=cli,O=XXX\\, Inc.,ST=GuangDong,C=CN"),
        "{subj}"
    );
}

#[test]
fn printable_string_request_is_signed_by_utf8_string_ca_under_match() {
    let env = Env::new();
    env.root_ca();
    // openssl req with string_mask=default: every ASCII value is a PrintableString.
    let csr = env.openssl_csr(
        "host",
        "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=host.example/title=boss",
        &[],
    );
    let req_types = env.ssl(&[
        "req",
        "-in",
        &csr,
        "-noout",
        "-subject",
        "-nameopt",
        "show_type,sep_comma_plus",
    ]);
    assert!(
        req_types.contains("ST=PRINTABLESTRING:GuangDong"),
        "{req_types}"
    );
    assert!(
        req_types.contains("O=PRINTABLESTRING:XXX, Inc."),
        "{req_types}"
    );
    let asn1 = env.ssl(&["asn1parse", "-in", &csr]);
    assert!(!asn1.contains("UTF8STRING"), "{asn1}");
    assert!(asn1.contains("PRINTABLESTRING   :GuangDong"), "{asn1}");
    env.req_verify_ok(&["-in", &csr]);
    let ca_types = env.ssl(&[
        "x509",
        "-in",
        "ca/ca.crt",
        "-noout",
        "-subject",
        "-nameopt",
        "show_type,sep_comma_plus",
    ]);
    assert!(ca_types.contains("ST=UTF8STRING:GuangDong"), "{ca_types}");
    assert!(ca_types.contains("O=UTF8STRING:XXX, Inc."), "{ca_types}");

    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server",
        "--out",
        "host.crt",
    ]);
    assert!(o.stdout.starts_with("signed "), "{}", o.stdout);
    let serial = serial_from_output(&o.stdout);
    assert_eq!(serial, env.openssl_serial("host.crt"));
    // Two notes, one line each: the dropped field, and the SAN copied from the CN.
    let notes = o.stderr_lines();
    assert_eq!(notes.len(), 2, "{}", o.stderr);
    assert!(
        notes.iter().all(|l| l.starts_with("note: ")),
        "{}",
        o.stderr
    );
    assert!(
        notes
            .iter()
            .any(|l| l.contains("dropped") && l.contains("title=boss")),
        "{}",
        o.stderr
    );
    assert!(
        notes
            .iter()
            .any(|l| l.contains("subjectAltName") && l.contains("DNS:host.example")),
        "{}",
        o.stderr
    );

    let text = env.cert_text("host.crt");
    assert_eq!(
        ext_value(&text, "X509v3 Subject Alternative Name"),
        "DNS:host.example"
    );
    let subj = env.ssl(&[
        "x509", "-in", "host.crt", "-noout", "-subject", "-nameopt", "RFC2253",
    ]);
    assert_eq!(
        subj.trim(),
        "subject=CN=host.example,O=XXX\\, Inc.,L=GuangZhou,ST=GuangDong,C=CN"
    );
    verify_purpose(&env, "host.crt", "sslserver").unwrap();
    // The certificate certifies the request's key.
    assert_eq!(
        env.ssl(&["req", "-in", &csr, "-noout", "-pubkey"]),
        env.ssl(&["x509", "-in", "host.crt", "-noout", "-pubkey"])
    );
}

#[test]
fn policy_failures_name_the_field_both_values_and_the_fix() {
    let env = Env::new();
    env.root_ca();
    let list = env.list("ca", &[]);
    for (name, subject, needles) in [
        (
            "st",
            "/C=CN/ST=Beijing/O=XXX, Inc./CN=st.example",
            &[
                "st.csr",
                "\"match\"",
                "ST",
                "\"GuangDong\"",
                "\"Beijing\"",
                "ST=GuangDong",
            ][..],
        ),
        (
            "c",
            "/C=US/ST=GuangDong/O=XXX, Inc./CN=c.example",
            &["c.csr", "C", "\"CN\"", "\"US\"", "C=CN"][..],
        ),
        (
            "o",
            "/C=CN/ST=GuangDong/O=Other Corp/CN=o.example",
            &[
                "o.csr",
                "O",
                "\"XXX, Inc.\"",
                "\"Other Corp\"",
                "O=XXX, Inc.",
            ][..],
        ),
        (
            "nost",
            "/C=CN/O=XXX, Inc./CN=nost.example",
            &["nost.csr", "ST", "\"GuangDong\"", "ST=GuangDong"][..],
        ),
        (
            "nocn",
            "/C=CN/ST=GuangDong/O=XXX, Inc.",
            &["nocn.csr", "CN"][..],
        ),
    ] {
        let csr = env.openssl_csr(name, subject, &[]);
        let before = env.snapshot();
        env.mtls(&[
            "ca",
            "sign",
            "--dir",
            "ca",
            &csr,
            "--profile",
            "client",
            "--out",
            "x.crt",
        ])
        .run()
        .one_error(needles);
        assert_same(&before, &env.snapshot());
    }
    assert_eq!(list, env.list("ca", &[]));
}

#[test]
fn policy_anything_takes_a_bare_cn() {
    let env = Env::new();
    env.init_ca("ca", "/CN=Anything CA", &["--policy", "anything"]);
    let csr = env.openssl_csr("bare", "/CN=bare.example/OU=Ops/C=DE", &[]);
    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server",
        "--out",
        "bare.crt",
    ]);
    assert!(o.stderr.contains("DNS:bare.example"), "{}", o.stderr);
    let subj = env.ssl(&[
        "x509", "-in", "bare.crt", "-noout", "-subject", "-nameopt", "RFC2253",
    ]);
    assert_eq!(subj.trim(), "subject=CN=bare.example,OU=Ops,C=DE");
    verify_purpose(&env, "bare.crt", "sslserver").unwrap();
}

#[test]
fn server_profile_needs_a_san() {
    let env = Env::new();
    env.root_ca();
    // A CN that is no hostname: refused, saying how to fix it.
    let csr = env.openssl_csr("name", &leaf_subject("My Server"), &[]);
    let before = env.snapshot();
    env.mtls(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server",
        "--out",
        "x.crt",
    ])
    .run()
    .one_error(&["name.csr", "subjectAltName", "\"My Server\"", "--san DNS:"]);
    assert_same(&before, &env.snapshot());
    // Same for server-client.
    env.mtls(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server-client",
        "--out",
        "x.crt",
    ])
    .run()
    .one_error(&["name.csr", "subjectAltName"]);
    assert_same(&before, &env.snapshot());

    // With --san it is signed, and the CN is not copied.
    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server",
        "--san",
        "DNS:my.example",
        "--san",
        "IP:192.0.2.7",
        "--out",
        "name.crt",
    ]);
    assert!(o.stderr.trim().is_empty(), "{}", o.stderr);
    assert_eq!(
        ext_value(
            &env.cert_text("name.crt"),
            "X509v3 Subject Alternative Name"
        ),
        "DNS:my.example, IP Address:192.0.2.7"
    );
    // `ca issue --profile server` with a hostname name copies it as well.
    let o = env.ok(&[
        "ca",
        "issue",
        "web.example",
        "--dir",
        "ca",
        "--profile",
        "server",
        "--out-dir",
        "out",
    ]);
    assert!(o.stderr.contains("DNS:web.example"), "{}", o.stderr);
    assert_eq!(
        ext_value(
            &env.cert_text("out/web.example.crt"),
            "X509v3 Subject Alternative Name"
        ),
        "DNS:web.example"
    );
}

#[test]
fn request_sans_are_kept_and_extra_sans_added() {
    let env = Env::new();
    env.root_ca();
    let csr = env.mtls_csr(
        "multi",
        &leaf_subject("multi"),
        &[
            "DNS:multi.example",
            "IP:10.0.0.1",
            "email:ops@multi.example",
            "URI:spiffe://example.org/multi",
        ],
    );
    env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server-client",
        "--san",
        "DNS:extra.example",
        "--out",
        "multi.crt",
    ]);
    assert_eq!(
        ext_value(
            &env.cert_text("multi.crt"),
            "X509v3 Subject Alternative Name"
        ),
        "DNS:multi.example, IP Address:10.0.0.1, email:ops@multi.example, \
         URI:spiffe://example.org/multi, DNS:extra.example"
    );
    let rec = env.list("ca", &[]);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["profile"], "server-client");
    assert_eq!(rec[0]["cn"], "multi");
    assert_eq!(rec[0]["sans"].as_array().unwrap().len(), 5, "{rec:?}");
}

#[test]
fn validity_is_capped_at_the_ca_not_after_with_a_warning() {
    let env = Env::new();
    // 60 days: short enough to cap the profiles' 397, long enough not to warn "expires soon".
    env.init_ca("ca", ROOT_SUBJECT, &["--days", "60"]);
    let ca_end = env.ssl(&["x509", "-in", "ca/ca.crt", "-noout", "-enddate"]);
    // The profile's 397 days exceed the CA's 60: capped, and said.
    let o = env.ok(&[
        "ca",
        "issue",
        "long",
        "--dir",
        "ca",
        "--profile",
        "client",
        "--out-dir",
        "out",
    ]);
    let lines = o.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(
        (lines[0].starts_with("note: ") || lines[0].starts_with("warning: "))
            && lines[0].contains("capped"),
        "{}",
        o.stderr
    );
    assert_eq!(
        env.ssl(&["x509", "-in", "out/long.crt", "-noout", "-enddate"]),
        ca_end
    );
    // Same through `ca sign --days`.
    let csr = env.mtls_csr("s", &leaf_subject("s.example"), &[]);
    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server",
        "--days",
        "5000",
        "--out",
        "s.crt",
    ]);
    assert!(o.stderr.contains("capped"), "{}", o.stderr);
    assert_eq!(
        env.ssl(&["x509", "-in", "s.crt", "-noout", "-enddate"]),
        ca_end
    );
    // A shorter validity is kept, silently.
    let o = env.ok(&[
        "ca",
        "issue",
        "short",
        "--dir",
        "ca",
        "--profile",
        "client",
        "--days",
        "10",
        "--out-dir",
        "out",
    ]);
    assert!(o.stderr.trim().is_empty(), "{}", o.stderr);
    env.ssl(&[
        "x509",
        "-in",
        "out/short.crt",
        "-noout",
        "-checkend",
        "777600",
    ]);
    env.openssl(&[
        "x509",
        "-in",
        "out/short.crt",
        "-noout",
        "-checkend",
        "950400",
    ])
    .fails();
}

#[test]

fn ip_address_cn_is_copied_into_an_ip_san() {
    let env = Env::new();
    env.root_ca();
    // An IP-address CN is copied into an IP SAN, and the command says so.
    let csr = env.openssl_csr("ip", &leaf_subject("192.0.2.9"), &[]);
    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        &csr,
        "--profile",
        "server",
        "--out",
        "ip.crt",
    ]);
    assert!(
        o.stderr.starts_with("note: ") && o.stderr.contains("IP:192.0.2.9"),
        "{}",
        o.stderr
    );
    assert_eq!(
        ext_value(&env.cert_text("ip.crt"), "X509v3 Subject Alternative Name"),
        "IP Address:192.0.2.9"
    );
    env.ssl(&[
        "verify",
        "-CAfile",
        "ca/ca.crt",
        "-purpose",
        "sslserver",
        "-verify_ip",
        "192.0.2.9",
        "ip.crt",
    ]);
}
