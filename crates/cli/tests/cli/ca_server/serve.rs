//! `mtls serve` with a certificate renewed by `mtls renew`.

use super::*;

/// `mtls renew` replaces `mtls serve`'s certificate; the server serves it to new handshakes
/// without a restart, and an open connection stays.
#[test]
fn serve_picks_up_a_renewed_certificate_without_a_restart() {
    let env = Env::new();
    crate::net::pki(&env);
    let srv = CaServer::start(&env);
    let server = crate::net::serve(&env, &["--crl", "ca/crl.pem"]);
    let port = server.port();
    let live = crate::net::python(&env, port, Some("client1"), "1.3", "wait_eof");
    live.wait_for("WAITING");
    let old = env.openssl_serial("out/server.crt");
    let out = env.ok(&[
        "renew",
        &srv.api,
        "--cert",
        "out/server.crt",
        "--key",
        "out/server.key",
        "--ca",
        "ca/ca.crt",
    ]);
    assert!(
        out.stdout.contains(&format!("supersedes {old}")),
        "{}",
        out.stdout
    );
    let new = env.openssl_serial("out/server.crt");
    server.proc.wait_for(&format!("serial {new}"));
    let addr = format!("127.0.0.1:{port}");
    let mut c = crate::net::s_client(&env, &addr, Some("client2"), &["-showcerts"]);
    c.wait_for("Verify return code: 0");
    c.close_stdin();
    let text = c.text();
    let pem_start = text
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let pem_end = text.find("-----END CERTIFICATE-----").expect("its end") + 25;
    env.write("seen.pem", &text[pem_start..pem_end]);
    assert_eq!(env.openssl_serial("seen.pem"), new);
    assert!(
        !live.text().contains("EOF"),
        "the open connection was dropped: {}",
        live.dump()
    );
    drop(server);
    srv.stop();
}
