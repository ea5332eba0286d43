//! Short lives and published URLs: a token's own validity, renewals that keep it, and the
//! cRLDistributionPoints and caIssuers that `ca serve` fills from its HTTP listener, followed
//! by openssl itself (`verify -crl_download`).

use super::*;
use crate::lifetimes::life_secs;

#[test]
fn short_lived_certificates_point_at_the_servers_crl_and_ca_certificate() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    let filled = srv.proc.wait_for("[urls] crl = ");
    assert!(filled.contains(&format!("{}/crl", srv.http)), "{filled}");

    // The token's validity beats [online] days; 60 s of backdating come on top.
    let tok = token(&env, "svc", &["--validity", "15m"]);
    enroll(&env, &srv.api, &tok, "svc", &[]).run().success();
    assert_eq!(life_secs(&env, "certs/svc.crt"), 15 * 60 + 60);
    let text = env.cert_text("certs/svc.crt");
    assert!(
        text.contains(&format!("URI:{}/crl", srv.http))
            && text.contains(&format!("CA Issuers - URI:{}/ca.crt", srv.http))
            && text.contains(&format!("OCSP - URI:{}/ocsp", srv.http)),
        "{text}"
    );

    // caIssuers serves the CA certificate alone, DER, as RFC 5280 4.2.2.1 asks.
    let (code, headers, _) = curl(&env, &[&format!("{}/ca.crt", srv.http)]);
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/pkix-cert")
    );
    let pem = env.ssl(&["x509", "-inform", "DER", "-in", "body.txt"]);
    assert_eq!(pem.trim(), env.read("ca/ca.crt").trim());

    // openssl finds the CRL through the certificate alone.
    let judge = || {
        env.openssl(&[
            "verify",
            "-crl_download",
            "-crl_check",
            "-CAfile",
            "ca/ca.crt",
            "certs/svc.crt",
        ])
    };
    let ok = judge();
    assert_eq!(ok.code, Some(0), "{}", ok.all());

    // A renewal keeps the 15-minute life (not [online] days).
    env.ok(&[
        "renew",
        &srv.api,
        "--cert",
        "certs/svc.crt",
        "--key",
        "certs/svc.key",
        "--ca",
        "ca/ca.crt",
    ]);
    assert_eq!(life_secs(&env, "certs/svc.crt"), 15 * 60 + 60);

    // The holder revokes it; openssl, downloading again, sees it revoked.
    let serial = env.openssl_serial("certs/svc.crt");
    let body = serde_json::json!({"serial": serial, "reason": "keyCompromise"}).to_string();
    let (code, _, b) = curl(
        &env,
        &[
            "--cert",
            "certs/svc.crt",
            "--key",
            "certs/svc.key",
            "-d",
            &body,
            &format!("{}/v1/revoke", srv.api),
        ],
    );
    assert_eq!(code, 200, "{b}");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let out = judge();
        if out.code != Some(0) && out.all().contains("certificate revoked") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", out.all());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Bad validities are refused before anything is stored.
    let out = env
        .mtls(&["ca", "token", "x", "--validity", "0s"])
        .run()
        .fails();
    assert!(out.stderr.contains("--validity"), "{}", out.stderr);
    env.issue("ca", "admin1", "admin", &[]);
    let api = format!("{}/v1/tokens", srv.api);
    for bad in [r#""1w""#, "0", "-5", r#""15 m""#] {
        let body = format!(r#"{{"name":"x","validity":{bad}}}"#);
        let (code, v) = curl_as(&env, "admin1", &["-d", &body, &api]);
        assert_eq!(code, 400, "{bad}: {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains("validity"),
            "{v}"
        );
    }
    let (code, v) = curl_as(
        &env,
        "admin1",
        &["-d", r#"{"name":"y","validity":"90s"}"#, &api],
    );
    assert_eq!((code, v["validity"].as_str()), (201, Some("90s")), "{v}");
    srv.stop();
}
