//! Enrollment with one-time tokens: once, scoped, raced.

use serde_json::Value;

use super::*;
use crate::common::{finish, mode};

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
