//! `mtls ca serve` through its real interfaces: curl and openssl as clients and judges,
//! `mtls ca token` and `mtls enroll` as a fleet would use them, and the store's audit table.

use serde_json::Value;

use crate::common::{Cmd, Env, finish, mode};
use crate::net::{Proc, WAIT, cmd_in, mtls_cmd};

/// A running `mtls ca serve` on loopback with both listeners.
struct CaServer {
    proc: Proc,
    /// `https://127.0.0.1:PORT`.
    api: String,
    /// `http://127.0.0.1:PORT`.
    http: String,
    /// The CA certificate's SHA-256 fingerprint, as printed.
    fingerprint: String,
}

impl CaServer {
    fn start(env: &Env) -> CaServer {
        let args = [
            "ca",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ];
        let proc = Proc::spawn("mtls ca serve", mtls_cmd(env, &args));
        let url = |needle: &str| {
            let line = proc.wait_for(needle);
            line.split_whitespace()
                .find(|w| w.starts_with("http"))
                .unwrap_or_else(|| panic!("no URL in {line:?}"))
                .to_string()
        };
        let api = url("API on https://");
        let http = url("CRL on http://");
        let line = proc.wait_for("fingerprint SHA256 ");
        let fingerprint = line
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        CaServer {
            proc,
            api,
            http,
            fingerprint,
        }
    }

    fn stop(mut self) {
        self.proc.signal("TERM");
        let st = self.proc.wait_exit(WAIT);
        assert!(st.success(), "{}", self.proc.dump());
        assert!(self.proc.text().contains("ca serve: stopped"));
    }
}

/// A CA whose policy takes any subject.
fn ca(env: &Env) {
    env.init_ca("ca", "/O=Fleet/CN=Fleet Root", &["--policy", "anything"]);
}

/// `curl -s` with the CA trusted; returns (status, headers, body).
fn curl(env: &Env, args: &[&str]) -> (u16, String, String) {
    let mut cmd = cmd_in(
        env,
        "curl",
        &[
            "-s",
            "--max-time",
            "20",
            "--cacert",
            "ca/ca.crt",
            "-D",
            "headers.txt",
            "-o",
            "body.txt",
            "-w",
            "%{http_code}",
        ],
    );
    cmd.args(args);
    let out = cmd.output().expect("curl");
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let body = std::fs::read(env.path("body.txt")).unwrap_or_default();
    (
        code,
        env.read("headers.txt"),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `mtls ca token NAME EXTRA…`: the token (first line of stdout).
fn token(env: &Env, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["ca", "token", name];
    args.extend_from_slice(extra);
    let out = env.ok(&args);
    let first = out.stdout.lines().next().unwrap_or_default().to_string();
    assert_eq!(first.len(), 64, "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains("mtls enroll")
    );
    first
}

/// `mtls enroll URL --ca ca/ca.crt --out-dir certs --name NAME EXTRA…`, the token in
/// `$MTLS_ENROLL_TOKEN`.
fn enroll(env: &Env, url: &str, tok: &str, name: &str, extra: &[&str]) -> Cmd {
    let mut args = vec![
        "enroll",
        url,
        "--ca",
        "ca/ca.crt",
        "--out-dir",
        "certs",
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    env.mtls(&args).env("MTLS_ENROLL_TOKEN", tok)
}

fn audit_outcomes(env: &Env) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(env.path("ca/ca.db")).unwrap();
    let mut st = db
        .prepare("SELECT action, outcome FROM audit ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn public_objects_are_served_with_cache_validators() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    let (code, _, body) = curl(&env, &[&format!("{}/roots.pem", srv.api)]);
    assert_eq!(code, 200);
    assert_eq!(body, env.read("ca/ca.crt"));
    // The server made the first CRL itself; DER on /crl, PEM on /crl.pem, both listeners.
    let (code, h, _) = curl(&env, &[&format!("{}/crl", srv.http)]);
    assert_eq!(code, 200, "{h}");
    assert_eq!(header(&h, "content-type"), Some("application/pkix-crl"));
    let etag = header(&h, "etag").expect("etag").to_string();
    assert!(
        header(&h, "last-modified").is_some_and(|v| v.ends_with("GMT")),
        "{h}"
    );
    let max_age: i64 = header(&h, "cache-control")
        .and_then(|v| v.split("max-age=").nth(1))
        .and_then(|v| v.parse().ok())
        .expect("max-age");
    assert!((6 * 86_400..=7 * 86_400).contains(&max_age), "{max_age}");
    env.ssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        "body.txt",
        "-CAfile",
        "ca/ca.crt",
        "-noout",
        "-verify",
    ]);
    let (code, _, _) = curl(
        &env,
        &[
            "-H",
            &format!("If-None-Match: {etag}"),
            &format!("{}/crl", srv.http),
        ],
    );
    assert_eq!(code, 304);
    let (code, _, body) = curl(&env, &[&format!("{}/crl.pem", srv.api)]);
    assert_eq!(code, 200);
    assert!(body.starts_with("-----BEGIN X509 CRL-----"));
    // Trust on first use, checked: the fingerprint printed, or nothing written.
    let fp = srv.fingerprint.clone();
    let bad = format!(
        "{}{}",
        if fp.starts_with('0') { "1" } else { "0" },
        &fp[1..]
    );
    let out = env
        .mtls(&[
            "ca",
            "bootstrap",
            &srv.api,
            "--fingerprint",
            &bad,
            "--out",
            "boot.crt",
        ])
        .run()
        .failure();
    assert!(out.stderr.contains("fingerprint"), "{}", out.stderr);
    assert!(!env.path("boot.crt").exists());
    let lower = fp.replace(':', "").to_ascii_lowercase();
    env.ok(&[
        "ca",
        "bootstrap",
        &srv.api,
        "--fingerprint",
        &lower,
        "--out",
        "boot.crt",
    ]);
    assert_eq!(env.read("boot.crt"), env.read("ca/ca.crt"));
    let openssl_fp = env.ssl(&[
        "x509",
        "-in",
        "ca/ca.crt",
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    assert!(openssl_fp.trim().ends_with(&fp), "{openssl_fp} vs {fp}");
    // The OpenAPI document is the one in the repository, and names every route.
    let (code, _, doc) = curl(&env, &[&format!("{}/openapi.json", srv.api)]);
    assert_eq!(code, 200);
    let repo = include_str!("../../../caserver/api/openapi.json");
    assert_eq!(doc, repo);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/roots.pem",
        "/crl",
        "/crl.pem",
        "/healthz",
        "/openapi.json",
        "/metrics",
        "/v1/enroll",
        "/v1/renew",
        "/v1/tokens",
        "/v1/revoke",
        "/v1/certs",
        "/v1/certs/{serial}",
        "/v1/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    // The plain listener serves public objects only; unknown paths answer JSON.
    let (code, _, body) = curl(&env, &["-d", "{}", &format!("{}/v1/enroll", srv.http)]);
    assert_eq!(code, 404, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "not_found");
    srv.stop();
}

#[test]
fn a_token_buys_one_certificate_and_refusals_say_why() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    let tok = token(&env, "dev1", &["--san", "DNS:*.dev.example", "--ttl", "5m"]);
    let out = (enroll(
        &env,
        &srv.api,
        &tok,
        "dev1",
        &["--san", "DNS:a.dev.example"],
    ))
    .run()
    .success();
    assert!(out.stdout.contains("enrolled: serial"), "{}", out.stdout);
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "certs/dev1.crt"]);
    assert_eq!(mode(&env.path("certs/dev1.key")), 0o600);
    let text = env.cert_text("certs/dev1.crt");
    assert!(text.contains("DNS:a.dev.example"), "{text}");
    // [online] days = 30, whatever the profile's default.
    let end = env.openssl(&[
        "x509",
        "-in",
        "certs/dev1.crt",
        "-noout",
        "-checkend",
        &(31 * 86_400).to_string(),
    ]);
    assert_ne!(end.code, Some(0), "lives at most 31 days");

    // Used: 401 with the same body as an unknown token; the audit log knows which it was.
    let csr = env.mtls_csr("again", "/CN=again", &[]);
    let body = serde_json::json!({"token": tok, "csr": env.read(&csr)}).to_string();
    let (code, _, used) = curl(&env, &["-d", &body, &format!("{}/v1/enroll", srv.api)]);
    assert_eq!(code, 401, "{used}");
    let unknown = serde_json::json!({"token": "00".repeat(32), "csr": env.read(&csr)}).to_string();
    let (code, _, unk) = curl(&env, &["-d", &unknown, &format!("{}/v1/enroll", srv.api)]);
    assert_eq!((code, &unk), (401, &used));
    let v: Value = serde_json::from_str(&used).unwrap();
    assert_eq!(v["error"], "invalid_token");

    // A name the token does not allow: 403 naming it; nothing issued, the use kept.
    let tok2 = token(&env, "dev2", &["--san", "DNS:*.dev.example"]);
    let out = (enroll(
        &env,
        &srv.api,
        &tok2,
        "dev2",
        &["--san", "DNS:evil.example"],
    ))
    .run()
    .failure();
    assert!(
        out.stderr.contains("(403)") && out.stderr.contains("DNS:evil.example"),
        "{}",
        out.stderr
    );
    (enroll(&env, &srv.api, &tok2, "dev2", &[])).run().success();

    // Bad bodies: 400 naming the field, 413 over 64 KiB.
    let (code, _, b) = curl(
        &env,
        &[
            "-d",
            "{\"token\": \"x\"}",
            &format!("{}/v1/enroll", srv.api),
        ],
    );
    assert_eq!(code, 400, "{b}");
    assert!(b.contains("csr"), "{b}");
    let (code, _, b) = curl(
        &env,
        &[
            "-d",
            "{\"token\": \"x\", \"csr\": \"junk\"}",
            &format!("{}/v1/enroll", srv.api),
        ],
    );
    assert_eq!(code, 400, "{b}");
    assert!(b.contains("csr:"), "{b}");
    env.write(
        "big.json",
        format!("{{\"token\": \"{}\"}}", "a".repeat(70_000)),
    );
    let (code, _, b) = curl(
        &env,
        &[
            "--data-binary",
            "@big.json",
            &format!("{}/v1/enroll", srv.api),
        ],
    );
    assert_eq!(code, 413, "{b}");
    srv.stop();

    let outcomes = audit_outcomes(&env);
    let enrolls: Vec<&str> = outcomes
        .iter()
        .filter(|(a, _)| a == "enroll")
        .map(|(_, o)| o.as_str())
        .collect();
    for want in [
        "ok",
        "token_used",
        "token_unknown",
        "forbidden",
        "bad_request",
    ] {
        assert!(enrolls.contains(&want), "{want} missing from {enrolls:?}");
    }
}

#[test]
fn eight_clients_racing_for_one_token_get_one_certificate() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    let tok = token(&env, "race", &[]);
    let kids: Vec<_> = (0..8)
        .map(|i| enroll(&env, &srv.api, &tok, &format!("c{i}"), &[]).spawn())
        .collect();
    let mut wins = 0;
    for k in kids {
        let o = finish(k);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
        match o.code {
            Some(0) => wins += 1,
            _ => assert!(o.stderr.contains("(401)"), "{}", o.stderr),
        }
    }
    assert_eq!(wins, 1);
    srv.stop();
    // One enrolled certificate recorded, besides the server's own.
    let rows = env.list("ca", &[]);
    let enrolled = rows
        .iter()
        .filter(|r| r["cn"].as_str().is_some_and(|c| c.starts_with('c')));
    assert_eq!(enrolled.count(), 1, "{rows:?}");
}

/// `curl` as the holder of `out/NAME.crt`.
fn curl_as(env: &Env, name: &str, args: &[&str]) -> (u16, Value) {
    let crt = format!("out/{name}.crt");
    let key = format!("out/{name}.key");
    let mut all = vec!["--cert", crt.as_str(), "--key", key.as_str()];
    all.extend_from_slice(args);
    let (code, _, body) = curl(env, &all);
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn admins_make_tokens_list_and_revoke_and_holders_renew() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    env.issue("ca", "admin1", "admin", &[]);
    env.issue("ca", "plain", "client", &[]);
    let api = |p: &str| format!("{}{p}", srv.api);

    // Tokens through the API: admins only.
    let req = r#"{"name": "dev9", "profile": "client", "ttl": "10m", "uses": 2}"#;
    let (code, v) = curl_as(&env, "plain", &["-d", req, &api("/v1/tokens")]);
    assert_eq!((code, v["error"].as_str()), (403, Some("forbidden")), "{v}");
    let (code, _, _) = curl(&env, &["-d", req, &api("/v1/tokens")]);
    assert_eq!(code, 401);
    let (code, v) = curl_as(&env, "admin1", &["-d", req, &api("/v1/tokens")]);
    assert_eq!(code, 201, "{v}");
    let tok = v["token"].as_str().unwrap().to_string();
    assert!(
        v["enroll_command"]
            .as_str()
            .unwrap()
            .contains("mtls enroll https://")
    );
    enroll(&env, &srv.api, &tok, "dev9", &[]).run().success();

    // Renewal over mutual TLS: same key, then a new key; the store links old and new.
    env.write("out/dev9.crt", env.read("certs/dev9.crt"));
    env.write("out/dev9.key", env.read("certs/dev9.key"));
    let old = env.openssl_serial("out/dev9.crt");
    let renew = |extra: &[&str]| {
        let mut args = vec![
            "renew",
            &srv.api,
            "--cert",
            "out/dev9.crt",
            "--key",
            "out/dev9.key",
            "--ca",
            "ca/ca.crt",
        ];
        args.extend_from_slice(extra);
        env.ok(&args)
    };
    let out = renew(&[]);
    assert!(
        out.stdout.contains(&format!("supersedes {old}")),
        "{}",
        out.stdout
    );
    let mid = env.openssl_serial("out/dev9.crt");
    assert_ne!(mid, old);
    let old_key = env.read("out/dev9.key");
    renew(&["--rekey"]);
    assert_ne!(env.read("out/dev9.key"), old_key);
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "out/dev9.crt"]);
    let (code, v) = curl_as(&env, "admin1", &[&api(&format!("/v1/certs/{mid}"))]);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["supersedes"], old.as_str());
    assert!(v["superseded_by"].is_string(), "{v}");

    // A holder revokes its own certificate only; an admin any; the CRL follows at once.
    let plain = env.openssl_serial("out/plain.crt");
    let body = format!(r#"{{"serial": "{plain}", "reason": "superseded"}}"#);
    let (code, v) = curl_as(&env, "dev9", &["-d", &body, &api("/v1/revoke")]);
    assert_eq!(code, 403, "{v}");
    let (code, v) = curl_as(&env, "plain", &["-d", &body, &api("/v1/revoke")]);
    assert_eq!(code, 200, "{v}");
    let (code, v) = curl_as(&env, "admin1", &["-d", &body, &api("/v1/revoke")]);
    assert_eq!(
        (code, v["error"].as_str()),
        (409, Some("already_revoked")),
        "{v}"
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, _, _) = curl(&env, &[&format!("{}/crl", srv.http)]);
        let text = env
            .openssl(&[
                "crl", "-inform", "DER", "-in", "body.txt", "-noout", "-text",
            ])
            .stdout;
        if text.contains(&format!("Serial Number: {plain}")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the CRL did not list {plain}: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // A revoked certificate cannot renew.
    env.write("out/p.crt", env.read("out/plain.crt"));
    let out = env
        .mtls(&[
            "renew",
            &srv.api,
            "--cert",
            "out/plain.crt",
            "--key",
            "out/plain.key",
            "--ca",
            "ca/ca.crt",
        ])
        .run()
        .failure();
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);

    // The CLI's remote forms, as an admin.
    let remote = [
        "--url",
        srv.api.as_str(),
        "--cert",
        "out/admin1.crt",
        "--key",
        "out/admin1.key",
        "--ca",
        "ca/ca.crt",
    ];
    let mut args = vec!["ca", "token", "dev10"];
    args.extend_from_slice(&remote);
    let out = env.ok(&args);
    let tok10 = out.stdout.lines().next().unwrap_or_default().to_string();
    assert_eq!(tok10.len(), 64, "{}", out.stdout);
    enroll(&env, &srv.api, &tok10, "dev10", &[]).run().success();
    let serial10 = env.openssl_serial("certs/dev10.crt");
    let mut args = vec![
        "ca",
        "revoke",
        serial10.as_str(),
        "--reason",
        "keyCompromise",
    ];
    args.extend_from_slice(&remote);
    let out = env.ok(&args);
    assert!(
        out.stdout.contains(&format!("revoked {serial10}")),
        "{}",
        out.stdout
    );

    // Listing and the audit log (API and CLI).
    let (code, v) = curl_as(&env, "admin1", &[&api("/v1/certs?status=revoked")]);
    assert_eq!(code, 200);
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    for bad in [
        "/v1/certs?status=bogus",
        "/v1/certs?nonsense=1",
        "/v1/audit?limit=abc",
    ] {
        let (code, v) = curl_as(&env, "admin1", &[&api(bad)]);
        assert_eq!(
            (code, v["error"].as_str()),
            (400, Some("bad_request")),
            "{bad}: {v}"
        );
    }
    // Metrics: admins only; issuance and refusals by reason, the CRL's age.
    let (code, _) = curl_as(&env, "dev9", &[&api("/metrics")]);
    assert_eq!(code, 403);
    let (code, _, text) = curl(
        &env,
        &[
            "--cert",
            "out/admin1.crt",
            "--key",
            "out/admin1.key",
            &api("/metrics"),
        ],
    );
    assert_eq!(code, 200);
    for want in [
        "mtls_ca_actions_total{action=\"enroll\",outcome=\"ok\"} 2",
        "mtls_ca_actions_total{action=\"renew\",outcome=\"ok\"} 2",
        "mtls_ca_actions_total{action=\"revoke\",outcome=\"forbidden\"} 1",
        "mtls_ca_requests_total{route=\"/v1/renew\",status=\"201\"} 2",
        "mtls_ca_crl_age_seconds ",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    let (code, v) = curl_as(&env, "admin1", &[&api("/v1/audit?limit=50")]);
    assert_eq!(code, 200);
    let actions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in ["token.create", "enroll", "renew", "revoke"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    srv.stop();
    let text = env.ok(&["ca", "audit"]).stdout;
    assert!(text.contains("renew") && text.contains("revoke"), "{text}");
    let json: Value = serde_json::from_str(&env.ok(&["ca", "audit", "--json"]).stdout).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "forbidden")
    );
}

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

    let serial = env.openssl_serial("out/client1.crt");
    let body = format!(r#"{{"serial": "{serial}", "reason": "keyCompromise"}}"#);
    let (code, v) = curl_as(
        &env,
        "admin1",
        &["-d", &body, &format!("{}/v1/revoke", srv.api)],
    );
    assert_eq!(code, 200, "{v}");
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
        env.ssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            "body.txt",
            "-CAfile",
            "ca/ca.crt",
            "-noout",
            "-verify",
        ]);
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
