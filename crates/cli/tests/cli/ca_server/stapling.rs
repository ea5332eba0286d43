//! OCSP in the socket layer, judged by openssl: `openssl s_client -status` reads the staple
//! that `mtls serve --ocsp-staple auto` fetched from `mtls ca serve` (good, then revoked once
//! the staple refreshes after an API revoke); `mtls connect --revocation ocsp` judges the
//! staple of `openssl s_server -status_file`; `mtls serve --revocation ocsp` asks the
//! responder its clients' certificates name.

use super::*;
use crate::net::{s_client, s_server, serve};

/// A CA whose OCSP answers live `life`, served, with `[urls] ocsp` pointing at the server so
/// that every certificate issued from now on names its responder.
fn ocsp_ca(env: &Env, life: &str) -> CaServer {
    ca(env);
    let toml = env.read("ca/ca.toml");
    env.write(
        "ca/ca.toml",
        toml.replace(
            "ocsp_delegated = false\n",
            &format!("ocsp_delegated = false\nocsp_validity = \"{life}\"\n"),
        ),
    );
    let srv = CaServer::start(env);
    let toml = env.read("ca/ca.toml");
    env.write(
        "ca/ca.toml",
        toml.replacen(
            "\n[urls]\n",
            &format!("\n[urls]\nocsp = \"{}/ocsp\"\n", srv.http),
            1,
        ),
    );
    env.issue(
        "ca",
        "server",
        "server",
        &["--san", "DNS:localhost", "--san", "IP:127.0.0.1"],
    );
    env.issue("ca", "client1", "client", &[]);
    env.issue("ca", "client2", "client", &[]);
    env.issue("ca", "admin1", "admin", &[]);
    srv
}

/// `openssl s_client -status` against `addr` as client1, until it printed the staple.
fn status_of(env: &Env, addr: &str) -> String {
    let c = s_client(env, addr, Some("client1"), &["-status"]);
    c.wait_for("Verify return code");
    c.text()
}

/// `openssl ocsp` for `cert` at `url` (no nonce), the DER response written to `out`.
fn respout(env: &Env, url: &str, cert: &str, out: &str) {
    let got = env.openssl(&[
        "ocsp",
        "-issuer",
        "ca/ca.crt",
        "-CAfile",
        "ca/ca.crt",
        "-cert",
        cert,
        "-no_nonce",
        "-url",
        url,
        "-respout",
        out,
    ]);
    assert_eq!(got.code, Some(0), "{}", got.all());
}

/// `mtls connect TARGET` as client1 with `--revocation ocsp` and `extra`.
fn connect_ocsp(env: &Env, target: &str, extra: &[&str]) -> crate::common::Out {
    let mut args = vec![
        "connect",
        target,
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
        "--revocation",
        "ocsp",
    ];
    args.extend_from_slice(extra);
    env.mtls(&args).run()
}

#[test]
fn s_client_status_sees_the_staple_good_then_revoked() {
    let env = Env::new();
    let ca_srv = ocsp_ca(&env, "4s");
    let srv = serve(&env, &["--ocsp-staple", "auto"]);
    let log = srv.proc.wait_for("OCSP response stapled: good");
    assert!(log.contains(&format!("{}/ocsp", ca_srv.http)), "{log}");
    let text = status_of(&env, &srv.addr);
    assert!(
        text.contains("OCSP Response Status: successful") && text.contains("Cert Status: good"),
        "{text}"
    );

    // Revoked through the API: the next refresh (at half the 4 s life) staples the news.
    admin_revoke(&env, &ca_srv, "out/server.crt", "keyCompromise");
    srv.proc.wait_for("OCSP response stapled: revoked");
    let text = status_of(&env, &srv.addr);
    assert!(
        text.contains("Cert Status: revoked") && text.contains("Revocation Reason: keyCompromise"),
        "{text}"
    );

    // The responder gone, the last good staple stays while it is valid, then goes.
    ca_srv.stop();
    srv.proc
        .wait_for("OCSP staple not refreshed, the last good one stays");
    srv.proc.wait_for("no OCSP response stapled");
    let text = status_of(&env, &srv.addr);
    assert!(text.contains("OCSP response: no response sent"), "{text}");
    assert!(!srv.proc.text().contains("panicked"), "{}", srv.proc.dump());
}

#[test]
fn mtls_connect_judges_the_staple_of_openssl_s_server() {
    let env = Env::new();
    let ca_srv = ocsp_ca(&env, "1h");
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let url = format!("{}/ocsp", ca_srv.http);
    let respout = |file: &str| respout(&env, &url, "out/server.crt", file);
    respout("good.der");
    let run = |target: &str, extra: &[&str]| connect_ocsp(&env, target, extra);

    let good = s_server(&env, "server", &["-status_file", "good.der"]);
    let out = run(&good.target(), &["--ocsp-failure", "hard"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stderr.contains("handshake done"), "{}", out.stderr);
    drop(good);

    admin_revoke(&env, &ca_srv, "out/server.crt", "superseded");
    respout("revoked.der");
    let revoked = s_server(&env, "server", &["-status_file", "revoked.der"]);
    let out = run(&revoked.target(), &[]);
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stderr.contains("CertificateRevoked") && out.stderr.contains("superseded"),
        "{}",
        out.stderr
    );
    drop(revoked);

    // A staple for another certificate is no staple for this one; hard fail says so.
    respout("good_again.der");
    self::respout(&env, &url, "out/client2.crt", "other.der");
    let wrong = s_server(&env, "server", &["-status_file", "other.der"]);
    ca_srv.stop();
    let out = run(&wrong.target(), &["--ocsp-failure", "hard"]);
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stderr.contains("OcspResponseCertIdUnknown")
            || out.stderr.contains("OcspNoResponseFound"),
        "{}",
        out.stderr
    );
    // Soft fail lets it through: the status cannot be had, and nothing says revoked.
    let out = run(&wrong.target(), &["--ocsp-failure", "soft"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
}

#[test]
fn mtls_serve_asks_the_responder_about_its_clients() {
    let env = Env::new();
    let ca_srv = ocsp_ca(&env, "1h");
    let srv = serve(&env, &["--revocation", "ocsp", "--ocsp-failure", "hard"]);
    let c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    srv.proc.wait_for("[conn 1 client1] encrypted");
    drop(c);

    admin_revoke(&env, &ca_srv, "out/client2.crt", "keyCompromise");
    let c = s_client(&env, &srv.addr, Some("client2"), &[]);
    let line = srv.proc.wait_for("CertificateRevoked");
    assert!(line.contains("OCSP"), "{line}");
    drop(c);

    // The responder gone: hard fail refuses a client whose status was never seen.
    ca_srv.stop();
    env.issue("ca", "client3", "client", &[]);
    let c = s_client(&env, &srv.addr, Some("client3"), &[]);
    let line = srv.proc.wait_for("OcspNoResponseFound");
    assert!(line.contains("OCSP responder"), "{line}");
    drop(c);
    assert!(!srv.proc.text().contains("panicked"), "{}", srv.proc.dump());
}

#[test]
fn must_staple_makes_a_missing_staple_fatal() {
    let env = Env::new();
    let ca_srv = ocsp_ca(&env, "1h");
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let toml = env.read("ca/ca.toml");
    env.write(
        "ca/ca.toml",
        toml + "\n[profiles.stapled]\ndays = 30\nkey_usage = [\"digitalSignature\"]\n\
                extended_key_usage = [\"serverAuth\"]\nrequire_san = true\nmust_staple = true\n",
    );
    env.issue(
        "ca",
        "stapled",
        "stapled",
        &["--san", "DNS:localhost", "--san", "IP:127.0.0.1"],
    );
    let text = env.cert_text("out/stapled.crt");
    assert!(
        text.contains("TLS Feature") && text.contains("status_request"),
        "{text}"
    );
    let run = |target: &str| connect_ocsp(&env, target, &[]);
    // No staple: refused, though the responder would answer "good" (RFC 7633 4.2.3).
    let bare = s_server(&env, "stapled", &[]);
    let out = run(&bare.target());
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stderr.contains("OcspNoResponseFound") && out.stderr.contains("RFC 7633"),
        "{}",
        out.stderr
    );
    drop(bare);
    let url = format!("{}/ocsp", ca_srv.http);
    respout(&env, &url, "out/stapled.crt", "stapled.der");
    let stapling = s_server(&env, "stapled", &["-status_file", "stapled.der"]);
    let out = run(&stapling.target());
    assert_eq!(out.code, Some(0), "{}", out.all());
}

#[test]
fn the_tunnel_asks_the_responder_about_its_clients_and_staples_its_own_status() {
    let env = Env::new();
    let ca_srv = ocsp_ca(&env, "1h");
    let dead = crate::tunnel::free_port();
    let args = [
        "tunnel",
        "server",
        "--listen",
        "127.0.0.1:0",
        "--target",
        &format!("127.0.0.1:{dead}"),
        "--cert",
        "out/server.crt",
        "--key",
        "out/server.key",
        "--ca",
        "ca/ca.crt",
        "--allow-cn",
        "client*",
        "--revocation",
        "ocsp",
        "--ocsp-failure",
        "hard",
        "--ocsp-staple",
        "auto",
    ];
    let tun = crate::tunnel::start(&env, args.iter().map(|s| s.to_string()).collect());
    // Our own certificate's status is stapled for clients that ask.
    tun.proc.wait_for("OCSP response stapled: good");
    let text = status_of(&env, &tun.addr);
    assert!(text.contains("Cert Status: good"), "{text}");
    // client1 is admitted (its status asked of the responder): it gets as far as the target.
    tun.proc.wait_for("cannot reach the target");
    admin_revoke(&env, &ca_srv, "out/client2.crt", "keyCompromise");
    let mark = tun.proc.mark();
    let c = s_client(&env, &tun.addr, Some("client2"), &[]);
    let line = tun
        .proc
        .wait_for_after(mark, "CertificateRevoked", crate::net::WAIT);
    assert!(line.contains("OCSP"), "{line}");
    drop(c);
    assert!(!tun.proc.text().contains("panicked"), "{}", tun.proc.dump());
}
