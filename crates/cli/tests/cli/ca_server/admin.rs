//! Admins (tokens, listing, revocation, audit, metrics) and holders (renewal).

use serde_json::Value;

use super::*;

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
