//! Real backends behind the tunnel: Redis (with identity rules and a revocation that cuts a
//! live connection), PostgreSQL through the tunnel pair, and a 1 GiB download over HTTP.

use std::time::Instant;

use super::{client, redis, redis_cli, server};
use crate::common::Env;
use crate::net::{Proc, WAIT, cmd_in, pki, revoke};

#[test]
fn redis_through_the_tunnel_pair_with_identity_rules_and_revocation() {
    let env = Env::new();
    pki(&env);
    let (_redis, rport) = redis(&env);
    let target = format!("127.0.0.1:{rport}");
    let srv = server(
        &env,
        &target,
        &[
            "--allow-cn",
            "client1",
            "--allow-cn",
            "re?",
            "--status",
            "127.0.0.1:0",
        ],
    );
    let status_url = srv
        .proc
        .wait_for("status on http://")
        .split("status on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_owned)
        .expect("status address");
    // The client pins the server by its DNS SAN (any other server of the CA is refused).
    let pins = ["--servername", "localhost", "--verify-san", "DNS:localhost"];
    let c1 = client(&env, &srv.addr, "client1", &pins);
    assert_eq!(
        redis_cli(&env, c1.port(), &["SET", "game", "42"]).trim(),
        "OK"
    );
    assert_eq!(redis_cli(&env, c1.port(), &["GET", "game"]).trim(), "42");
    srv.proc.wait_for("closed after");
    let opened = srv.proc.wait_for("open: CN client1");
    assert!(opened.contains("TLSv1.3"), "{opened}");

    // Outside --allow-cn: refused, and the log names the rules it missed.
    let c2 = client(&env, &srv.addr, "client2", &pins);
    let out = redis_cli(&env, c2.port(), &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
    let line = srv.proc.wait_for("refused: ");
    assert!(
        line.contains("CN \"client2\"") && line.contains("--allow-cn client1, --allow-cn re?"),
        "{line}"
    );

    // A live connection of a client revoked meanwhile is closed when the CRL is reloaded.
    let rev = client(&env, &srv.addr, "rev", &pins);
    let p = rev.port().to_string();
    let mut sub = Proc::spawn(
        "redis-cli subscribe",
        cmd_in(
            &env,
            "redis-cli",
            &["-h", "127.0.0.1", "-p", &p, "subscribe", "news"],
        ),
    );
    sub.wait_for("news");
    srv.proc.wait_for("open: CN rev");
    let t0 = Instant::now();
    revoke(&env, "rev");
    let line = srv.proc.wait_for("its certificate is now revoked");
    assert!(line.contains("[conn") && line.contains("rev"), "{line}");
    let status = sub.wait_exit(WAIT);
    eprintln!(
        "revoked client cut off {:?} after the CRL was written ({status})",
        t0.elapsed()
    );
    // And a new connection is refused at the handshake.
    let mark = srv.proc.mark();
    let out = redis_cli(&env, rev.port(), &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
    let line = srv.proc.wait_for_after(mark, "handshake with", WAIT);
    assert!(line.contains("revoked"), "{line}");
    // Still fine for the others.
    assert_eq!(redis_cli(&env, c1.port(), &["GET", "game"]).trim(), "42");

    // The status endpoint: healthy (certificate valid, CRL current), and the counts.
    let (code, body) = curl(&env, &format!("{status_url}/healthz"));
    assert_eq!((code.as_str(), body.trim()), ("200", "ok"), "{status_url}");
    let (_, m) = curl(&env, &format!("{status_url}/metrics"));
    for want in [
        "mtls_tunnel_handshakes_total{outcome=\"ok\"}",
        "mtls_tunnel_handshakes_total{outcome=\"CertificateRevoked\"} 1",
        "mtls_tunnel_refused_total 1",
        "mtls_tunnel_crl_number 2",
        "mtls_tunnel_healthy 1",
    ] {
        assert!(m.contains(want), "{want} missing from\n{m}");
    }
    assert!(m.contains("mtls_tunnel_certificate_expiry_seconds "), "{m}");
}

/// `curl -s URL`: the status code and the body.
fn curl(env: &Env, url: &str) -> (String, String) {
    let o = cmd_in(env, "curl", &["-s", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

#[test]
fn psql_runs_a_query_through_the_tunnel_pair() {
    let Ok(admin) = std::env::var("MTLS_TEST_PG") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "MTLS_TEST_PG is unset: the PostgreSQL tunnel test cannot run (scripts/test sets it)"
        );
        eprintln!("\n*** SKIPPED: MTLS_TEST_PG is unset ***\n");
        return;
    };
    let env = Env::new();
    pki(&env);
    // postgres://USER@HOST:PORT/DB: the tunnel goes in front of HOST:PORT.
    let rest = admin.split_once("://").map_or(admin.as_str(), |(_, r)| r);
    let (user, hostport) = rest.split_once('@').unwrap_or(("postgres", rest));
    let hostport = hostport.split('/').next().unwrap_or(hostport);
    let srv = server(&env, hostport, &["--allow-cn", "client1"]);
    let c = client(&env, &srv.addr, "client1", &["--servername", "localhost"]);
    let url = format!(
        "postgres://{user}@127.0.0.1:{}/postgres?sslmode=disable",
        c.port()
    );
    let o = cmd_in(&env, "psql", &[&url, "-tAc", "SELECT 40 + 2"])
        .output()
        .expect("psql");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.trim(), "42", "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn curl_downloads_a_gibibyte_through_the_server_tunnel_intact() {
    let env = Env::new();
    pki(&env);
    std::fs::create_dir_all(env.path("www")).expect("www");
    let t0 = Instant::now();
    let o = cmd_in(
        &env,
        "sh",
        &["-c", "head -c 1073741824 /dev/urandom > www/big.bin"],
    )
    .output()
    .expect("head");
    assert!(o.status.success());
    let want = super::sha256(&env, "www/big.bin");
    let (_http, port) = super::http_server(&env, "www");
    let srv = server(
        &env,
        &format!("127.0.0.1:{port}"),
        &["--allow-cn", "client1"],
    );
    let url = format!("https://localhost:{}/big.bin", srv.port());
    let t1 = Instant::now();
    let o = cmd_in(
        &env,
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            "ca/ca.crt",
            "--cert",
            "out/client1.crt",
            "--key",
            "out/client1.key",
            "--connect-to",
            &format!("localhost:{}:127.0.0.1:{}", srv.port(), srv.port()),
            "-o",
            "got.bin",
            &url,
        ],
    )
    .output()
    .expect("curl");
    assert!(
        o.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let took = t1.elapsed();
    assert_eq!(super::sha256(&env, "got.bin"), want, "the download differs");
    eprintln!(
        "1 GiB through the tunnel in {took:?} ({:.0} MiB/s; the file took {:?} to make)",
        1024.0 / took.as_secs_f64().max(1e-9),
        t1 - t0
    );
    // The close line counts what went out: the file and the HTTP headers.
    let line = srv.proc.wait_for("closed after");
    let out: u64 = line
        .split(" bytes out")
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {line:?}"));
    assert!(out > 1 << 30, "{line}");
    let _ = std::fs::remove_file(env.path("www/big.bin"));
    let _ = std::fs::remove_file(env.path("got.bin"));
}
