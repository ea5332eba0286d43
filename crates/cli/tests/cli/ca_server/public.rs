//! The public objects: roots, CRL with cache validators, bootstrap, OpenAPI.

use serde_json::Value;

use super::*;

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
    verify_der_crl(&env);
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
    let repo = include_str!("../../../../caserver/api/openapi.json");
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
