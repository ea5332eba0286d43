//! `mtls serve` against real mTLS peers on loopback: `openssl s_client` and Python's `ssl`, with
//! certificates made by `mtls ca`. Lines and heartbeats, the peer log, every refused kind of
//! client certificate (server log and client message), --allow-cn/--allow-san, --json-log,
//! --max-conns, --tls-min/--ciphers/--handshake-timeout, SIGTERM with close_notify, CRL hot
//! reload (file change and SIGHUP), STARTTLS with `s_client -starttls smtp`, IPv6.
//!
//! Every process is killed by its guard; every wait has a deadline.

use std::time::Duration;

use crate::common::*;
use crate::net::*;
use serde_json::Value;

#[test]
fn openssl_client_lines_heartbeats_and_peer_log() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &["--crl", "ca/crl.pem"]);
    let serial = env.openssl_serial("out/client1.crt");
    let mut c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    c.send("hello from openssl\n");
    srv.proc.wait_for("[conn 1 client1] hello from openssl");

    // State changes and the verified peer's certificate: subject, issuer, serial, validity.
    srv.proc.wait_for("[conn 1] connection from 127.0.0.1:");
    srv.proc.wait_for("[conn 1] mode Server");
    srv.proc.wait_for("[conn 1 client1] encrypted: Tls13");
    let peer = srv.proc.wait_for("[conn 1 client1] peer certificate:");
    for want in [
        "subject /",
        "CN=client1",
        "issuer /",
        "CN=XXX Root CA",
        &format!("serial {serial}"),
        "valid 20",
    ] {
        assert!(peer.contains(want), "{want:?} missing in {peer:?}");
    }

    // Heartbeats keep coming, every 0.2 s.
    c.wait_for_count("hello I am server 1", 3);

    // EOF on its stdin: s_client sends close_notify and quits; the server logs the close.
    c.close_stdin();
    c.wait_exit(WAIT);
    srv.proc
        .wait_for("[conn 1 client1] closed: the peer closed the connection");
    srv.proc.wait_for("[conn 1] disconnected");
    assert!(!srv.proc.text().contains("panicked"), "{}", srv.proc.dump());
}

#[test]
fn python_clients_tls13_and_tls12() {
    let env = Env::new();
    pki(&env);
    // mtls ca's certificates and CRL pass the strict RFC 5280 issuer rules too.
    let srv = serve(&env, &["--crl", "ca/crl.pem", "--strict"]);
    for (conn, v) in [(1, "1.3"), (2, "1.2")] {
        let mut p = python(&env, srv.port(), Some("client2"), v, "talk");
        p.wait_for("DONE");
        let st = p.wait_exit(WAIT);
        assert!(st.success(), "{}", p.dump());
        let out = p.text();
        assert!(out.contains(&format!("VERSION TLSv{v}")), "{out}");
        assert!(
            out.contains(&format!("GOT hello I am server {conn}")),
            "{out}"
        );
        let tag = format!("[conn {conn} client2]");
        srv.proc.wait_for(&format!("{tag} hello from python {v}"));
        let enc = srv.proc.wait_for(&format!("{tag} encrypted: "));
        assert!(
            enc.contains(&format!("Tls1{}", &v[2..])),
            "{enc}\n{}",
            srv.proc.dump()
        );
        srv.proc.wait_for(&format!("{tag} closed: "));
    }
}

/// RFC 8446 §6.1: each party MUST send close_notify before closing its write side. Python's
/// `SSLSocket.unwrap()` waits for the server's answer to its own close_notify.
#[test]
fn python_unwrap_gets_close_notify_back() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &[]);
    let mut p = python(&env, srv.port(), Some("client1"), "1.3", "talk");
    p.wait_for("DONE");
    p.wait_exit(WAIT);
    assert!(p.text().contains("UNWRAP_OK"), "{}", p.dump());
}

#[test]
fn refused_client_certificates_each_with_its_kind() {
    let env = Env::new();
    pki(&env);
    revoke(&env, "rev");
    expired_cert(&env, "expired", "clientAuth", "DNS:expired.example");
    let srv = serve(&env, &["--crl", "ca/crl.pem"]);

    // A good client stays connected through every failure.
    let good = s_client(&env, &srv.addr, Some("client1"), &[]);
    good.wait_for("hello I am server 1");

    // (client certificate, kind in the server log, what s_client says)
    let cases: [(Option<&str>, &str, &str); 5] = [
        (
            Some("rev"),
            "CertificateRevoked",
            "alert certificate revoked",
        ),
        (
            Some("expired"),
            "CertificateExpired",
            "alert certificate expired",
        ),
        (
            Some("foreign"),
            "UnableToGetLocalIssuerCertificate",
            "alert unknown ca",
        ),
        // A `server` profile certificate (serverAuth only) used as a client certificate.
        (
            Some("server"),
            "InvalidPurpose",
            "alert unsupported certificate",
        ),
        (None, "NoPeerCertificate", "alert certificate required"),
    ];
    for (i, (name, kind, alert)) in cases.iter().enumerate() {
        let conn = i + 2;
        let mark = srv.proc.mark();
        let c = s_client(&env, &srv.addr, *name, &[]);
        c.wait_for(alert);
        let err = srv
            .proc
            .wait_for_after(mark, &format!("[conn {conn}] ssl error {kind}"), WAIT);
        if let Some(n) = name {
            // Logged with its certificate.
            let fp = sha256_of(&env, &format!("out/{n}.crt"));
            assert!(
                err.contains(&format!("CN={n}")) && err.contains(&format!("sha256 {fp}")),
                "{err}"
            );
        }
        let failed = srv.proc.wait_for_after(
            mark,
            &format!("[conn {conn}] handshake with 127.0.0.1:"),
            WAIT,
        );
        assert!(
            failed.contains("failed") && failed.contains(kind),
            "{failed}"
        );
        assert!(
            !srv.proc.text()[mark..].contains("encrypted"),
            "{}",
            srv.proc.dump()
        );
    }

    // TLS 1.2: the refusal comes within the handshake.
    let c = s_client(&env, &srv.addr, Some("rev"), &["-tls1_2"]);
    c.wait_for("alert certificate revoked");
    srv.proc.wait_for("[conn 7] ssl error CertificateRevoked");
    drop(c);

    // Python's message is clear too, in TLS 1.3 (at its first read) and 1.2.
    for v in ["1.3", "1.2"] {
        let mut p = python(&env, srv.port(), Some("expired"), v, "talk");
        p.wait_exit(WAIT);
        let line = p.wait_for("SSLERROR");
        assert!(
            line.contains("CERTIFICATE_EXPIRED") || line.contains("certificate expired"),
            "{line}"
        );
    }

    // The good client was never touched.
    let m = good.mark();
    good.wait_for_after(m, "hello I am server 1", WAIT);
    assert!(
        !srv.proc.text().contains("[conn 1 client1] closed"),
        "{}",
        srv.proc.dump()
    );
}

#[test]
fn allow_cn_and_allow_san() {
    let env = Env::new();
    pki(&env);
    env.issue(
        "ca",
        "sanok",
        "client",
        &[
            "--san",
            "DNS:a.good.example",
            "--san",
            "email:x@good.example",
        ],
    );

    let srv = serve(&env, &["--allow-cn", "client1*", "--allow-cn", "nobody"]);
    let ok = s_client(&env, &srv.addr, Some("client1"), &[]);
    ok.wait_for("hello I am server 1");
    let no = s_client(&env, &srv.addr, Some("client2"), &[]);
    srv.proc
        .wait_for("[conn 2 client2] closing: CN \"client2\" matches no --allow-cn");
    no.wait_for("\nclosed"); // close_notify
    assert!(!no.text().contains("hello I am server 2"), "{}", no.dump());

    let srv = serve(&env, &["--allow-san", "DNS:*.good.example"]);
    let ok = s_client(&env, &srv.addr, Some("sanok"), &[]);
    ok.wait_for("hello I am server 1");
    let _no = s_client(&env, &srv.addr, Some("client2"), &[]);
    srv.proc
        .wait_for("[conn 2 client2] closing: no SAN of [] matches --allow-san");

    // Both kinds: the CN and a SAN must each match (client1 has the CN but no SAN).
    let srv = serve(
        &env,
        &[
            "--allow-cn",
            "client1",
            "--allow-cn",
            "sanok",
            "--allow-san",
            "DNS:*.good.example",
        ],
    );
    let ok = s_client(&env, &srv.addr, Some("sanok"), &[]);
    ok.wait_for("hello I am server 1");
    let _no = s_client(&env, &srv.addr, Some("client1"), &[]);
    srv.proc.wait_for(
        "[conn 2 client1] closing: CN \"client1\" must match an --allow-cn and a SAN of [] an --allow-san",
    );
}

#[test]
fn verify_query_and_none() {
    let env = Env::new();
    pki(&env);
    // query: asked for, logged, not required; a bad one is logged with its errors.
    let srv = serve(&env, &["--verify", "query"]);
    let a = s_client(&env, &srv.addr, None, &[]);
    a.wait_for("hello I am server 1");
    srv.proc.wait_for("[conn 1] no client certificate");
    let b = s_client(&env, &srv.addr, Some("foreign"), &[]);
    b.wait_for("hello I am server 2");
    srv.proc
        .wait_for("[conn 2] ssl error UnableToGetLocalIssuerCertificate");
    srv.proc.wait_for("[conn 2 foreign] peer certificate:");

    // none: not even asked for.
    let srv = serve(&env, &["--verify", "none"]);
    let c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    srv.proc.wait_for("[conn 1] no client certificate");
}

#[test]
fn json_log_lines_parse() {
    let env = Env::new();
    pki(&env);
    let mut srv = serve(&env, &["--crl", "ca/crl.pem", "--json-log"]);
    let mut c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    c.send("hello json\n");
    srv.proc.wait_for("hello json");
    let bad = s_client(&env, &srv.addr, Some("foreign"), &[]);
    bad.wait_for("alert unknown ca");
    srv.proc.wait_for("\"handshake_failed\"");
    srv.proc.signal("TERM");
    assert_eq!(
        srv.proc.wait_exit(WAIT).code(),
        Some(0),
        "{}",
        srv.proc.dump()
    );

    let text = srv.proc.text();
    let records: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{text}"))
        })
        .collect();
    for r in &records {
        assert!(
            r["event"].is_string() && r["message"].is_string() && r["time"].is_string(),
            "{r}"
        );
    }
    let find = |event: &str, pred: &dyn Fn(&Value) -> bool| -> Value {
        records
            .iter()
            .find(|r| r["event"] == event && pred(r))
            .cloned()
            .unwrap_or_else(|| panic!("no {event} record in\n{text}"))
    };
    let l = find("listening", &|_| true);
    assert_eq!(l["addr"], srv.addr.as_str());
    let p = find("peer", &|_| true);
    assert_eq!(p["cn"], "client1");
    assert_eq!(p["serial"], env.openssl_serial("out/client1.crt").as_str());
    assert_eq!(p["sha256"], sha256_of(&env, "out/client1.crt").as_str());
    for k in ["subject", "issuer", "not_before", "not_after"] {
        assert!(p[k].as_str().is_some_and(|s| !s.is_empty()), "{k}: {p}");
    }
    let r = find("received", &|_| true);
    assert_eq!(r["message"], "hello json");
    assert_eq!(r["conn"], 1);
    let e = find("ssl_error", &|_| true);
    assert_eq!(e["kind"], "UnableToGetLocalIssuerCertificate");
    assert_eq!(
        e["certificate_sha256"],
        sha256_of(&env, "out/foreign.crt").as_str()
    );
    let f = find("handshake_failed", &|_| true);
    assert!(
        f["kinds"]
            .as_array()
            .is_some_and(|k| k.iter().any(|x| x == "UnableToGetLocalIssuerCertificate")),
        "{f}"
    );
    find("encrypted", &|r| r["conn"] == 1);
    find("stopped", &|_| true);
}

#[test]
fn max_conns_refuses_a_second_connection() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &["--max-conns", "1"]);
    let mut first = s_client(&env, &srv.addr, Some("client1"), &[]);
    first.wait_for("hello I am server 1");

    let mut second = s_client(&env, &srv.addr, Some("client2"), &[]);
    let refused = srv.proc.wait_for("refused 127.0.0.1:");
    assert!(
        refused.contains("1 connections are open (--max-conns)"),
        "{refused}"
    );
    let st = second.wait_exit(WAIT);
    assert!(!st.success(), "{}", second.dump());
    assert!(
        !second.text().contains("hello I am server"),
        "{}",
        second.dump()
    );

    // The first is unharmed; once it leaves, its slot is free again.
    let m = first.mark();
    first.wait_for_after(m, "hello I am server 1", WAIT);
    first.close_stdin();
    first.wait_exit(WAIT);
    srv.proc.wait_for("[conn 1 client1] closed");
    let third = s_client(&env, &srv.addr, Some("client2"), &[]);
    third.wait_for("hello I am server ");
}

#[test]
fn tls_min_ciphers_and_handshake_timeout() {
    let env = Env::new();
    pki(&env);
    let srv = serve(
        &env,
        &[
            "--tls-min",
            "1.3",
            "--ciphers",
            "TLS_AES_128_GCM_SHA256",
            "--handshake-timeout",
            "1",
        ],
    );
    // A silent TCP peer holds only its own handshake, and only for --handshake-timeout.
    let silent = std::net::TcpStream::connect(&srv.addr).expect("connect");
    srv.proc.wait_for("[conn 1] connection from");

    let c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 2");
    assert!(
        c.text().contains("Cipher is TLS_AES_128_GCM_SHA256"),
        "{}",
        c.dump()
    );
    srv.proc
        .wait_for("[conn 2 client1] encrypted: Tls13 TLS13_AES_128_GCM_SHA256");

    let t = srv.proc.wait_for("[conn 1] handshake with");
    assert!(t.contains("timed out"), "{t}");
    drop(silent);

    // --tls-min 1.3 refuses a TLS 1.2 client.
    let mut p = python(&env, srv.port(), Some("client1"), "1.2", "talk");
    p.wait_exit(WAIT);
    let line = p.wait_for("SSLERROR");
    assert!(
        line.to_ascii_lowercase().contains("protocol version"),
        "{line}"
    );
}

/// The server applies its own suite order: AES-128-GCM (SHA-256, which has CPU instructions)
/// before AES-256-GCM, whatever order the client sends.
#[test]
fn server_cipher_order_wins() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &[]);
    let c = s_client(
        &env,
        &srv.addr,
        Some("client1"),
        &[
            "-ciphersuites",
            "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
        ],
    );
    c.wait_for("hello I am server 1");
    assert!(
        c.text().contains("Cipher is TLS_AES_128_GCM_SHA256"),
        "{}",
        c.dump()
    );
}

#[test]
fn sigterm_sends_close_notify_and_exits_zero() {
    let env = Env::new();
    pki(&env);
    let mut srv = serve(&env, &["--crl", "ca/crl.pem"]);
    let c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    let mut p = python(&env, srv.port(), Some("client2"), "1.3", "wait_eof");
    p.wait_for("WAITING");
    srv.proc.wait_for("[conn 2 client2] encrypted");
    // A peer stalled mid-handshake does not hold the exit for the 5 s drain timeout.
    let stalled = std::net::TcpStream::connect(&srv.addr).expect("connect");
    srv.proc.wait_for("[conn 3] connection from");

    let t0 = std::time::Instant::now();
    srv.proc.signal("TERM");
    let st = srv.proc.wait_exit(WAIT);
    assert_eq!(st.code(), Some(0), "{}", srv.proc.dump());
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(3),
        "{:?}\n{}",
        t0.elapsed(),
        srv.proc.dump()
    );
    srv.proc
        .wait_for("[conn 3] handshake abandoned: the server is stopping");
    drop(stalled);
    c.wait_for("\nclosed");
    p.wait_exit(WAIT);
    let out = p.text();
    assert!(out.contains("CLEAN_EOF"), "{out}");
    assert_eq!(
        srv.proc
            .count("closed: server shutting down (close_notify sent)"),
        2,
        "{}",
        srv.proc.dump()
    );
    srv.proc.wait_for("stopped");

    // Ctrl-C too.
    let mut srv = serve(&env, &[]);
    srv.proc.signal("INT");
    assert_eq!(
        srv.proc.wait_exit(WAIT).code(),
        Some(0),
        "{}",
        srv.proc.dump()
    );
}

#[test]
fn crl_hot_reload_closes_the_revoked_connection_only() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &["--crl", "ca/crl.pem"]);
    srv.proc.wait_for("1 CRL file(s), 0 revoked entries");
    let c1 = s_client(&env, &srv.addr, Some("client1"), &[]);
    c1.wait_for("hello I am server 1");
    let c2 = s_client(&env, &srv.addr, Some("client2"), &[]);
    c2.wait_for("hello I am server 2");

    // Revoke client1 and regenerate the CRL: the file changes, no restart.
    revoke(&env, "client1");
    srv.proc
        .wait_for("CRL reloaded: 1 entries, CRL number 2 (the file changed)");
    srv.proc
        .wait_for("[conn 1 client1] closed: its certificate is now revoked");
    c1.wait_for("\nclosed");

    // Its reconnect is refused; the other client is untouched.
    let m = srv.proc.mark();
    let again = s_client(&env, &srv.addr, Some("client1"), &[]);
    again.wait_for("alert certificate revoked");
    srv.proc
        .wait_for_after(m, "[conn 3] ssl error CertificateRevoked", WAIT);

    // SIGHUP reloads too.
    srv.proc.signal("HUP");
    srv.proc
        .wait_for("CRL reloaded: 1 entries, CRL number 2 (SIGHUP)");
    let m = c2.mark();
    c2.wait_for_after(m, "hello I am server 2", WAIT);
    assert!(
        !srv.proc.text().contains("[conn 2 client2] closed"),
        "{}",
        srv.proc.dump()
    );
}

#[test]
fn starttls_with_openssl_s_client() {
    let env = Env::new();
    pki(&env);
    let srv = serve(&env, &["--starttls", "--crl", "ca/crl.pem"]);
    let mut c = s_client(&env, &srv.addr, Some("client1"), &["-starttls", "smtp"]);
    c.wait_for("hello I am server 1");
    c.send("hello over starttls\n");
    srv.proc.wait_for("[conn 1 client1] hello over starttls");
    srv.proc.wait_for("[conn 1 client1] encrypted: Tls13");

    // A plain client that never says STARTTLS gets the SMTP refusal, not TLS.
    let mut plain = std::net::TcpStream::connect(&srv.addr).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    use std::io::{BufRead, Write};
    let mut r = std::io::BufReader::new(plain.try_clone().expect("clone"));
    let mut greet = String::new();
    r.read_line(&mut greet).expect("greeting");
    assert!(greet.starts_with("220 "), "{greet:?}");
    plain.write_all(b"MAIL FROM:<a@b>\r\n").expect("write");
    let mut reply = String::new();
    r.read_line(&mut reply).expect("reply");
    assert!(reply.starts_with("530 "), "{reply:?}");
    plain.write_all(b"QUIT\r\n").expect("write");
    srv.proc.wait_for("[conn 2] client left before STARTTLS");
}

#[test]
fn ipv6_loopback() {
    if !have_ipv6() {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    }
    let env = Env::new();
    pki(&env);
    let srv = serve_on(&env, "[::1]:0", &[]);
    assert!(srv.addr.starts_with("[::1]:"), "{}", srv.addr);
    let mut c = s_client(&env, &srv.addr, Some("client1"), &[]);
    c.wait_for("hello I am server 1");
    c.send("hello over ipv6\n");
    srv.proc.wait_for("[conn 1 client1] hello over ipv6");
    srv.proc.wait_for("[conn 1] connection from [::1]:");
}
