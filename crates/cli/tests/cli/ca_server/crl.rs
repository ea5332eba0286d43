//! The CRL the server keeps: followed by `mtls serve --crl-url`, never lapsed.

use super::*;

/// `mtls serve --crl-url` follows the online CA: a client revoked through the API loses its
/// live connection and its next handshake within seconds, without a file or a signal.
#[test]
fn serve_follows_the_online_crl() {
    let env = Env::new();
    crate::net::pki(&env);
    let srv = CaServer::start(&env);
    env.issue("ca", "admin1", "admin", &[]);
    let crl_url = format!("{}/crl", srv.http);
    let server = crate::net::serve(&env, &["--crl-url", &crl_url, "--crl-refresh", "0.3"]);
    server.proc.wait_for("CRL fetched from");
    let port = server.port();
    let live = crate::net::python(&env, port, Some("client1"), "1.3", "wait_eof");
    live.wait_for("WAITING");
    let ok = crate::net::python(&env, port, Some("client2"), "1.3", "talk");
    ok.wait_for("DONE");

    admin_revoke(&env, &srv, "out/client1.crt", "keyCompromise");
    let t0 = std::time::Instant::now();
    live.wait_for_after(0, "EOF", std::time::Duration::from_secs(10));
    let refused = crate::net::python(&env, port, Some("client1"), "1.3", "talk");
    let line = refused.wait_for_after(0, "SSLERROR", std::time::Duration::from_secs(10));
    assert!(line.to_ascii_lowercase().contains("revoked"), "{line}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        server.proc.text().contains("CRL number 2"),
        "{}",
        server.proc.dump()
    );
    drop(server);
    srv.stop();

    // A CRL not signed by a --ca certificate is never installed.
    std::fs::create_dir_all(env.path("www")).unwrap();
    env.ok(&["ca", "crl", "--dir", "ca2", "--out", "www/foreign.crl"]);
    let www = Proc::spawn(
        "python3 -m http.server",
        cmd_in(
            &env,
            "python3",
            &[
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
                "www",
            ],
        ),
    );
    let line = www.wait_for("port ");
    let port: String = line
        .split("port ")
        .nth(1)
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let url = format!("http://127.0.0.1:{port}/foreign.crl");
    let server = crate::net::serve(&env, &["--crl-url", &url, "--crl-refresh", "0.3"]);
    let line = server.proc.wait_for("fetching the CRL from");
    assert!(
        line.contains("not signed by a trusted CA certificate"),
        "{line}"
    );
    drop(server);
}

/// With a CRL life of 6 s, the server renews it at 2/3 of its life: over 10 s every CRL served
/// is current, and its number keeps going up.
#[test]
fn the_served_crl_never_lapses() {
    let env = Env::new();
    ca(&env);
    let toml = env.read("ca/ca.toml");
    assert!(toml.contains("\n[online]\n"), "{toml}");
    let toml = toml.replace("\n[online]\n", "\n[online]\ncrl_lifetime = \"6s\"\n");
    env.write("ca/ca.toml", toml);
    let srv = CaServer::start(&env);
    let start = std::time::Instant::now();
    let mut numbers = Vec::new();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        let (code, h, _) = curl(&env, &[&format!("{}/crl", srv.http)]);
        assert_eq!(code, 200, "{h}");
        verify_der_crl(&env);
        let next = env.ssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            "body.txt",
            "-noout",
            "-nextupdate",
        ]);
        let next = next.trim().trim_start_matches("nextUpdate=");
        let fmt = time::macros::format_description!(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
        );
        let at = time::PrimitiveDateTime::parse(next, &fmt)
            .unwrap_or_else(|e| panic!("{next:?}: {e}"))
            .assume_utc();
        assert!(
            at > time::OffsetDateTime::now_utc(),
            "a lapsed CRL was served: nextUpdate {next}"
        );
        let etag = header(&h, "etag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        let n: u64 = etag
            .split('-')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("etag number");
        if numbers.last() != Some(&n) {
            numbers.push(n);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        numbers.len() >= 3,
        "the CRL was not renewed in time: {numbers:?}"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    srv.stop();
}
