//! SIGKILL under load, and slow or garbage clients.

use serde_json::Value;

use super::*;

/// SIGKILL during an enrollment load: every certificate answered with 201 is in the store
/// (nothing is answered before it is durable), and the store is intact.
#[test]
fn a_killed_server_never_answered_for_a_certificate_it_did_not_keep() {
    let env = Env::new();
    ca(&env);
    let mut srv = CaServer::start(&env);
    let tok = token(&env, "load", &["--uses", "10000", "--ttl", "10m"]);
    let csr = env.mtls_csr("load", "/CN=load", &[]);
    env.write(
        "enroll.json",
        serde_json::json!({"token": tok, "csr": env.read(&csr)}).to_string(),
    );
    let url = format!("{}/v1/enroll", srv.api);
    let served: Vec<String> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let (env, url) = (&env, &url);
                sc.spawn(move || {
                    let mut got = Vec::new();
                    for n in 0..400 {
                        let out = cmd_in(
                            env,
                            "curl",
                            &[
                                "-s",
                                "--max-time",
                                "5",
                                "--cacert",
                                "ca/ca.crt",
                                "-w",
                                "\n%{http_code}",
                                "--data-binary",
                                "@enroll.json",
                                url,
                            ],
                        )
                        .output()
                        .expect("curl");
                        let text = String::from_utf8_lossy(&out.stdout).into_owned();
                        let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
                        match code {
                            "201" => {
                                let v: Value = serde_json::from_str(body).expect("201 body");
                                got.push(v["serial"].as_str().unwrap().to_string());
                            }
                            "000" => break, // the server is gone
                            other => panic!("worker {i} request {n}: {other} {body}"),
                        }
                    }
                    got
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        srv.proc.signal("KILL");
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    srv.proc.wait_exit(WAIT);
    assert!(
        served.len() > 4,
        "too few enrollments before the kill: {}",
        served.len()
    );
    let db = rusqlite::Connection::open(env.path("ca/ca.db")).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    for serial in &served {
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM certs WHERE serial = ?1",
                [serial],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            n, 1,
            "serial {serial} was answered 201 but is not in the store"
        );
    }
    let left: i64 = db
        .query_row("SELECT uses_left FROM tokens", [], |r| r.get(0))
        .unwrap();
    let issued: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM certs WHERE profile = 'client'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        10_000 - left,
        issued,
        "every use consumed is a recorded certificate"
    );
    // The audit log is written in the same transaction: one `enroll ok` entry, naming the
    // serial, per recorded certificate, whenever the kill came.
    let unlogged: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM certs c WHERE profile = 'client' AND NOT EXISTS \
             (SELECT 1 FROM audit a WHERE a.action = 'enroll' AND a.outcome = 'ok' \
              AND a.target = c.serial AND a.actor LIKE 'token:%')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unlogged, 0, "certificates without their audit entry");
}

/// Slow and garbage clients never block the others: with 200 silent TCP connections on the
/// API, 50 half-sent requests on the plain listener and garbage instead of a ClientHello,
/// a client still enrolls at once, and the half-sent requests are cut off after the header
/// timeout.
#[test]
fn slow_and_garbage_clients_do_not_block_enrollment() {
    use std::io::{Read, Write};
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    let addr = |url: &str| url.split("://").nth(1).unwrap().to_string();
    let (api, http) = (addr(&srv.api), addr(&srv.http));
    let silent: Vec<_> = (0..200)
        .map(|_| std::net::TcpStream::connect(&api).unwrap())
        .collect();
    let mut garbage = std::net::TcpStream::connect(&api).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let half: Vec<_> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&http).unwrap();
            s.write_all(b"GET /crl HTTP/1.1\r\nHost: slow\r\n").unwrap();
            s
        })
        .collect();
    let t0 = std::time::Instant::now();
    let tok = token(&env, "busy", &[]);
    enroll(&env, &srv.api, &tok, "busy", &[]).run().success();
    let (code, _, _) = curl(&env, &[&format!("{}/healthz", srv.http)]);
    assert_eq!(code, 200);
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t0.elapsed()
    );
    // The garbage client is told off or dropped, never answered with data from the API.
    garbage
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = garbage.read(&mut buf).unwrap_or(0);
    assert!(!String::from_utf8_lossy(&buf[..n]).contains("HTTP/1.1 200"));
    // Each half-sent request is cut off after the 10 s header timeout.
    let mut s = half.into_iter().next().unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let start = std::time::Instant::now();
    let _ = s.read(&mut buf);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "still open"
    );
    drop(silent);
    srv.stop();
}
