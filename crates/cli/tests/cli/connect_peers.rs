//! `mtls connect` against `openssl s_server -Verify 1 -verify_return_error -crl_check` on
//! loopback, with certificates made by `mtls ca`: success shows the chain; refused client
//! certificates end in one clear error line naming the alert (TLS 1.3, where it surfaces at the
//! first read, and TLS 1.2); host name mismatches and the pinned `--ignore-error` rules; an
//! expired server certificate for the wrong host (both errors); STARTTLS against
//! `mtls serve --starttls` (OpenSSL 3.0's s_server has no `-starttls`).
//!
//! Every process is killed by its guard; every wait has a deadline.

use crate::common::*;
use crate::net::*;

/// Status lines `mtls connect` prints on stderr before an error.
const STATUS: &[&str] = &[
    "state ",
    "mode ",
    "encrypted",
    "handshake done",
    "server certificate ",
    "  sha256 ",
    "sent: ",
    "ssl error ",
    "the server closed",
];

/// `mtls connect TARGET --ca ca/ca.crt [--cert out/NAME.crt --key out/NAME.key] --count 1
/// EXTRA…`, run to completion with stdin closed.
fn connect(env: &Env, target: &str, client: Option<&str>, extra: &[&str]) -> Out {
    let cert = client.map(|n| (format!("out/{n}.crt"), format!("out/{n}.key")));
    let mut args = vec!["connect", target, "--ca", "ca/ca.crt", "--count", "1"];
    if let Some((c, k)) = &cert {
        args.extend(["--cert", c, "--key", k]);
    }
    args.extend(["--handshake-timeout", "5"]);
    args.extend_from_slice(extra);
    env.mtls(&args).run()
}

/// Asserts a refusal: exit 1, status lines then exactly one `error:` line holding `needles`.
#[track_caller]
fn refused(out: Out, needles: &[&str]) -> Out {
    out.with_error(STATUS, needles)
}

/// Asserts success and no `error:` line.
#[track_caller]
fn passed(out: Out) -> Out {
    let out = out.success();
    assert!(!out.stderr.contains("error:"), "{}", out.stderr);
    assert!(out.stderr.contains("handshake done"), "{}", out.stderr);
    out
}

#[test]
fn success_shows_the_chain_and_exchanges_data() {
    let env = Env::new();
    pki(&env);
    let srv = s_server(&env, "server", &[]);
    let serial = env.openssl_serial("out/server.crt");
    let fp = sha256_of(&env, "out/server.crt");

    let out = passed(connect(
        &env,
        &srv.target(),
        Some("client1"),
        // mtls ca's certificates pass the strict RFC 5280 issuer rules too.
        &["--send", "hello s_server", "--strict"],
    ));
    let err = &out.stderr;
    assert!(err.contains("handshake done: Tls13"), "{err}");
    let leaf = err
        .lines()
        .find(|l| l.starts_with("server certificate 0: "))
        .unwrap_or_else(|| panic!("no chain in {err}"));
    for want in [
        "CN=server",
        "issuer /",
        "CN=XXX Root CA",
        &serial,
        "valid 20",
    ] {
        assert!(leaf.contains(want), "{want:?} missing in {leaf:?}");
    }
    assert!(
        err.contains(&format!(
            "sha256 {fp}  SANs [DNS:localhost, IP:127.0.0.1, IP:::1]"
        )),
        "{err}"
    );
    srv.proc.wait_for("hello s_server");
    srv.proc.wait_for("CN = client1");

    // TLS 1.2 on request.
    let out = passed(connect(
        &env,
        &srv.target(),
        Some("client1"),
        &["--tls-max", "1.2"],
    ));
    assert!(
        out.stderr.contains("handshake done: Tls12"),
        "{}",
        out.stderr
    );

    // Both directions, interactively: stdin lines go out, what s_server types comes in.
    let mut srv = srv;
    let m = srv.proc.mark();
    let target = srv.target();
    let mut c = Proc::spawn(
        "mtls connect (interactive)",
        mtls_cmd(
            &env,
            &[
                "connect",
                &target,
                "--ca",
                "ca/ca.crt",
                "--cert",
                "out/client1.crt",
                "--key",
                "out/client1.key",
            ],
        ),
    );
    srv.proc.wait_for_after(m, "I am in!", WAIT);
    c.send("typed by the client\n");
    srv.proc.wait_for_after(m, "typed by the client", WAIT);
    srv.proc.send("typed by the server\n");
    c.wait_for("typed by the server");
}

#[test]
fn refused_client_certificates_end_in_one_clear_error() {
    let env = Env::new();
    pki(&env);
    revoke(&env, "rev");
    expired_cert(&env, "expired", "clientAuth", "DNS:expired.example");
    let srv = s_server(&env, "server", &[]);

    // The revoked certificate, in TLS 1.3 (refused after our handshake ends: at the first
    // read) and in TLS 1.2 (refused within the handshake).
    for max in ["1.3", "1.2"] {
        let out = refused(
            connect(&env, &srv.target(), Some("rev"), &["--tls-max", max]),
            &["peer rejected the connection", "CertificateRevoked"],
        );
        if max == "1.2" {
            assert!(!out.stderr.contains("handshake done"), "{}", out.stderr);
        }
    }
    srv.proc.wait_for("certificate revoked");

    // Other refusals, each named.
    refused(
        connect(&env, &srv.target(), Some("expired"), &[]),
        &["CertificateExpired"],
    );
    refused(
        connect(&env, &srv.target(), Some("foreign"), &[]),
        &["UnknownCA"],
    );
    refused(
        connect(&env, &srv.target(), None, &[]),
        &["CertificateRequired"],
    );
    refused(
        connect(&env, &srv.target(), None, &["--tls-max", "1.2"]),
        &["peer rejected the connection"],
    );
}

/// In TLS 1.2 OpenSSL refuses a missing client certificate with a handshake_failure alert;
/// we know it asked for one and that we sent none, so the message must say so.
#[test]
fn missing_client_certificate_in_tls12_is_named() {
    let env = Env::new();
    pki(&env);
    let srv = s_server(&env, "server", &[]);
    refused(
        connect(&env, &srv.target(), None, &["--tls-max", "1.2"]),
        &["peer rejected the connection", "certificate"],
    );
}

#[test]
fn host_name_mismatch_and_pinned_ignores() {
    let env = Env::new();
    pki(&env);
    let srv = s_server(&env, "server", &[]);
    let t = srv.target();
    let fp = sha256_of(&env, "out/server.crt");
    let other = sha256_of(&env, "out/client1.crt");
    let wrong = ["--servername", "wrong.example"];
    let with = |rules: &[&str]| -> Out {
        let mut a: Vec<&str> = wrong.to_vec();
        for r in rules {
            a.extend(["--ignore-error", r]);
        }
        connect(&env, &t, Some("client1"), &a)
    };

    // No rule: refused, naming the error and its certificate.
    let out = refused(with(&[]), &["HostNameMismatch", "wrong.example"]);
    assert!(
        out.stderr.contains(&format!("sha256 {fp}")) && out.stderr.contains("(not ignored)"),
        "{}",
        out.stderr
    );

    // Pinned to server.crt: passes, and the error is still shown, marked ignored.
    let rule = format!("HostNameMismatch:{fp}");
    let out = passed(with(&[&rule]));
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("ssl error HostNameMismatch"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(
        line.contains("(ignored: expected)") && line.contains(&fp),
        "{line}"
    );

    // The same pin in openssl's notation (colons, upper case).
    let colons = env.ssl(&[
        "x509",
        "-in",
        "out/server.crt",
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    let colons = colons
        .trim()
        .split_once('=')
        .expect("fingerprint")
        .1
        .to_string();
    passed(with(&[&format!("HostNameMismatch:{colons}")]));

    // Pinned to another certificate: still refused.
    let out = refused(
        with(&[&format!("HostNameMismatch:{other}")]),
        &["HostNameMismatch"],
    );
    assert!(out.stderr.contains("(not ignored)"), "{}", out.stderr);

    // Another kind pinned to the right certificate: still refused.
    refused(
        with(&[&format!("CertificateExpired:{fp}")]),
        &["HostNameMismatch"],
    );

    // No pin: any certificate.
    let out = passed(with(&["HostNameMismatch"]));
    assert!(out.stderr.contains("(ignored: expected)"), "{}", out.stderr);
}

#[test]
fn expired_server_certificate_for_the_wrong_host_has_both_errors() {
    let env = Env::new();
    pki(&env);
    expired_cert(&env, "oldsrv", "serverAuth", "DNS:old.example");
    let srv = s_server(&env, "oldsrv", &[]);
    let t = srv.target();
    let fp = sha256_of(&env, "out/oldsrv.crt");

    let out = refused(
        connect(&env, &t, Some("client1"), &[]),
        &["CertificateExpired", "HostNameMismatch"],
    );
    for kind in ["CertificateExpired", "HostNameMismatch"] {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("ssl error {kind}")))
            .unwrap_or_else(|| panic!("no {kind} in {}", out.stderr));
        assert!(line.contains(&format!("sha256 {fp}")), "{line}");
    }

    // Both pinned: passes, both still reported.
    let e = format!("CertificateExpired:{fp}");
    let h = format!("HostNameMismatch:{fp}");
    let out = passed(connect(
        &env,
        &t,
        Some("client1"),
        &["--ignore-error", &e, "--ignore-error", &h],
    ));
    assert_eq!(
        out.stderr.matches("(ignored: expected)").count(),
        2,
        "{}",
        out.stderr
    );

    // Only one of them: refused, and the other is named as not ignored.
    let out = refused(
        connect(&env, &t, Some("client1"), &["--ignore-error", &h]),
        &["CertificateExpired"],
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("ssl error CertificateExpired") && l.ends_with("(not ignored)")),
        "{}",
        out.stderr
    );
}

#[test]
fn starttls_client_against_mtls_serve() {
    // OpenSSL 3.0's s_server cannot speak STARTTLS; if it ever can, this still tests ours.
    let env = Env::new();
    pki(&env);
    revoke(&env, "rev");
    let srv = serve(&env, &["--starttls", "--crl", "ca/crl.pem"]);
    let out = passed(connect(
        &env,
        &srv.addr,
        Some("client1"),
        &["--starttls", "--send", "hello starttls"],
    ));
    assert!(
        out.stderr.contains("handshake done: Tls13"),
        "{}",
        out.stderr
    );
    srv.proc.wait_for("[conn 1 client1] hello starttls");

    // Our own server refusing our certificate in TLS 1.3: a clear message at the first read.
    refused(
        connect(&env, &srv.addr, Some("rev"), &["--starttls"]),
        &["peer rejected the connection", "CertificateRevoked"],
    );
    srv.proc.wait_for("[conn 2] ssl error CertificateRevoked");
}
