//! Regression tests for the TLS-side findings of the security review (issue 18), each through
//! `mtls serve` / `mtls connect` with `openssl s_client` / `s_server` as the peer:
//! revocation of intermediates (item 1), resumed sessions re-checked (item 2), identity rules
//! for verified chains only (item 3), control characters escaped in logs (item 5).
//!
//! Every process is killed by its guard; every wait has a deadline.

use std::time::Duration;

use crate::common::*;
use crate::net::*;

/// An intermediate CA `inter/` under `ca/` (the test PKI's root), with a client certificate
/// `out/ic` and a server certificate `out/isrv` it issued, and both CRLs made (nothing revoked).
fn intermediate(env: &Env) {
    env.ok(&[
        "ca",
        "init",
        "--dir",
        "inter",
        "--subject",
        &leaf_subject("XXX Intermediate CA"),
        "--issuer",
        "ca",
        "--issuer-passphrase-file",
        "pass.txt",
    ]);
    env.issue("inter", "ic", "client", &[]);
    env.issue("inter", "isrv", "server", &["--san", "IP:127.0.0.1"]);
    env.ok(&["ca", "crl", "--dir", "inter"]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
}

/// Item 1: a client certificate under a revoked intermediate is refused by `mtls serve`, as
/// `mtls verify --crl-check-all` says; an intermediate without a CRL of its issuer is refused
/// unless --crl-soft-fail.
#[test]
fn serve_refuses_a_client_under_a_revoked_intermediate() {
    let env = Env::new();
    pki(&env);
    intermediate(&env);
    let crls = ["--crl", "ca/crl.pem", "--crl", "inter/crl.pem"];
    let chain = ["-cert_chain", "out/ic.chain.pem"];

    // Before the revocation, the client is served; when the intermediate is revoked and the
    // CRL reloaded, its live connection is closed naming the CA.
    let srv = serve(&env, &crls);
    let c = s_client(&env, &srv.addr, Some("ic"), &chain);
    c.wait_for("hello I am server 1");
    env.ok(&["ca", "revoke", "--dir", "ca", "inter/ca.crt"]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
    srv.proc.wait_for("CRL reloaded");
    let closed = srv.proc.wait_for("[conn 1 ic] closed: its CA");
    assert!(closed.contains("XXX Intermediate CA"), "{closed}");
    drop(c);
    let v = env
        .mtls(&[
            "verify",
            "out/ic.crt",
            "--ca",
            "ca/ca.crt",
            "--untrusted",
            "inter/ca.crt",
            "--crl",
            "ca/crl.pem",
            "--crl",
            "inter/crl.pem",
            "--crl-check-all",
        ])
        .run();
    assert!(
        v.stdout.contains("CertificateRevoked [depth 1"),
        "{}",
        v.all()
    );

    let srv = serve(&env, &crls);
    let c = s_client(&env, &srv.addr, Some("ic"), &chain);
    c.wait_for("alert certificate revoked");
    let line = srv.proc.wait_for("[conn 1] ssl error CertificateRevoked");
    assert!(line.contains("CN=XXX Intermediate CA"), "{line}");
    assert_eq!(srv.proc.count("[conn 1 ic]"), 0, "{}", srv.proc.dump());

    // Only the intermediate's CRL: the intermediate's own status is unknown.
    let srv = serve(&env, &["--crl", "inter/crl.pem"]);
    let c = s_client(&env, &srv.addr, Some("ic"), &chain);
    c.wait_for("alert");
    srv.proc
        .wait_for("[conn 1] ssl error CertificateStatusUnknown");
    let srv = serve(&env, &["--crl", "inter/crl.pem", "--crl-soft-fail"]);
    let c = s_client(&env, &srv.addr, Some("ic"), &chain);
    c.wait_for("hello I am server 1");
}

/// Item 1, client side: `mtls connect --crl` refuses a server under a revoked intermediate.
#[test]
fn connect_refuses_a_server_under_a_revoked_intermediate() {
    let env = Env::new();
    pki(&env);
    intermediate(&env);
    env.ok(&["ca", "revoke", "--dir", "ca", "inter/ca.crt"]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let srv = s_server(&env, "isrv", &["-cert_chain", "out/isrv.chain.pem"]);
    let base = [
        "connect",
        &srv.target(),
        "--ca",
        "ca/ca.crt",
        "--cert",
        "out/client1.crt",
        "--key",
        "out/client1.key",
        "--count",
        "1",
        "--handshake-timeout",
        "5",
    ];
    let mut args = base.to_vec();
    args.extend(["--crl", "ca/crl.pem", "--crl", "inter/crl.pem"]);
    let out = env.mtls(&args).run().failure();
    assert!(out.stderr.contains("CertificateRevoked"), "{}", out.stderr);
    assert!(out.stderr.contains("XXX Intermediate CA"), "{}", out.stderr);
}

/// `openssl s_client … -sess_out FILE` as `name`: waits for a heartbeat (the session tickets
/// arrive after the handshake), then closes, which writes the session.
fn save_session(env: &Env, srv: &Server, name: &str, file: &str, version: &str) {
    let mut c = s_client(env, &srv.addr, Some(name), &["-sess_out", file, version]);
    c.wait_for("hello I am server");
    c.close_stdin();
    c.wait_exit(WAIT);
    assert!(env.path(file).exists(), "{}", c.dump());
}

/// Resumes `file` as `name` with `openssl s_client -sess_in`; asserts that openssl resumed and
/// that the server refused the connection with `kind` before serving it.
fn resume_refused(env: &Env, srv: &Server, name: &str, file: &str, version: &str, kind: &str) {
    let mark = srv.proc.mark();
    let mut c = s_client(env, &srv.addr, Some(name), &["-sess_in", file, version]);
    c.wait_for("Reused, TLSv1.");
    c.try_send("a line from a refused peer\n");
    let _ = c.wait_exit(WAIT);
    srv.proc
        .wait_for_after(mark, &format!("ssl error {kind}"), WAIT);
    srv.proc.wait_for_after(mark, "handshake with", WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let after = &srv.proc.text()[mark..];
    assert!(!after.contains("a line from a refused peer"), "{after}");
    assert!(!after.contains("encrypted: "), "{after}");
}

/// Item 2: a session saved before the client was revoked does not resume once the CRL is
/// reloaded (TLS 1.3 tickets and TLS 1.2 sessions); a good client's session still resumes.
#[test]
fn resumption_rechecks_revocation() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &["--crl", "ca/crl.pem"]);
    let cases = [("rev", "-tls1_3"), ("client1", "-tls1_2")];
    for (name, version) in cases {
        let file = format!("{name}.sess");
        save_session(&env, &srv, name, &file, version);
    }
    // A good client's session resumes and is served.
    save_session(&env, &srv, "client2", "good.sess", "-tls1_3");
    let mut c = s_client(&env, &srv.addr, Some("client2"), &["-sess_in", "good.sess"]);
    c.wait_for("Reused, TLSv1.3");
    c.wait_for("hello I am server");
    c.close_stdin();
    c.wait_exit(WAIT);

    let mark = srv.proc.mark();
    env.ok(&["ca", "revoke", "--dir", "ca", "out/rev.crt"]);
    revoke(&env, "client1");
    srv.proc
        .wait_for_after(mark, "CRL reloaded: 2 entries", WAIT);
    for (name, version) in cases {
        let file = format!("{name}.sess");
        resume_refused(&env, &srv, name, &file, version, "CertificateRevoked");
    }
}

/// Item 2: a client whose certificate expired after the session was made does not resume.
#[test]
fn resumption_rechecks_expiry() {
    let env = Env::new();
    pki(&env);
    short_lived_cert(&env, "brief", "clientAuth", "DNS:brief.example", 4);
    let srv = serve(&env, &[]);
    save_session(&env, &srv, "brief", "brief.sess", "-tls1_3");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let expiry = env.ssl(&["x509", "-in", "out/brief.crt", "-noout", "-checkend", "0"]);
    assert!(expiry.contains("will not expire"), "{expiry}");
    while env
        .openssl(&["x509", "-in", "out/brief.crt", "-noout", "-checkend", "0"])
        .code
        == Some(0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "out/brief.crt never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1100));
    resume_refused(
        &env,
        &srv,
        "brief",
        "brief.sess",
        "-tls1_3",
        "CertificateExpired",
    );
}

/// Item 3: with `--verify query`, --allow-cn admits only verified certificates: a foreign CA's
/// certificate with an allowed CN is refused, naming why; a verified one is served.
#[test]
fn query_mode_allow_rules_need_a_verified_chain() {
    let env = Env::new();
    pki(&env);
    let srv = serve(
        &env,
        &[
            "--verify",
            "query",
            "--allow-cn",
            "foreign",
            "--allow-cn",
            "client1",
        ],
    );
    let mut c = s_client(&env, &srv.addr, Some("foreign"), &[]);
    let line = srv
        .proc
        .wait_for("[conn 1 foreign] closing: --allow-cn applies to verified certificates only");
    assert!(line.contains("UnableToGetLocalIssuerCertificate"), "{line}");
    c.try_send("sneaking in\n");
    let _ = c.wait_exit(WAIT);
    assert!(
        !srv.proc.text().contains("sneaking in"),
        "{}",
        srv.proc.dump()
    );

    let mut good = s_client(&env, &srv.addr, Some("client1"), &[]);
    good.wait_for("hello I am server 2");
    good.send("verified line\n");
    srv.proc.wait_for("[conn 2 client1] verified line");
    good.close_stdin();
}

/// Item 5: control characters a peer sends are escaped in `mtls serve`'s text log, so a peer
/// cannot forge log lines or overprint them.
#[test]
fn received_control_characters_are_escaped_in_the_log() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &[]);
    let mut c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    c.send("ok\rfake\u{1b}[2K done\n");
    let line = srv.proc.wait_for("[conn 1 client1] ok");
    assert!(line.contains(r"ok\rfake\x1b[2K done"), "{line:?}");
    assert!(!srv.proc.text().contains('\u{1b}'), "{}", srv.proc.dump());
    c.close_stdin();
}
