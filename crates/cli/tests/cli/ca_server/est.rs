//! EST (RFC 7030) as its own examples use it: `curl` and `openssl` only.

use super::*;

/// `curl` with a base64 body (`--data-binary @FILE`) to an EST path; (status, body).
fn est(env: &Env, srv: &CaServer, path: &str, extra: &[&str]) -> (u16, String) {
    let url = format!("{}/.well-known/est/{path}", srv.api);
    let mut args: Vec<&str> = extra.to_vec();
    args.push(&url);
    let (code, _, body) = curl(env, &args);
    (code, body)
}

/// An `openssl req` request for `subj` (EC P-256, `NAME.key`), base64 DER in `NAME.b64`.
fn b64_request(env: &Env, name: &str, subj: &str) -> String {
    let csr = env.openssl_csr(name, subj, &[]);
    let der = format!("{name}.der");
    env.ssl(&["req", "-in", &csr, "-outform", "DER", "-out", &der]);
    env.ssl(&["base64", "-in", &der, "-out", &format!("{name}.b64")]);
    format!("@{name}.b64")
}

/// The certificates of a base64 certs-only PKCS#7, as `openssl pkcs7 -print_certs` prints
/// them (written to `NAME.pem`).
fn pkcs7_certs(env: &Env, body: &str, name: &str) -> String {
    env.write(&format!("{name}.p7.b64"), body);
    env.ssl(&[
        "base64",
        "-d",
        "-in",
        &format!("{name}.p7.b64"),
        "-out",
        &format!("{name}.p7"),
    ]);
    env.ssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        &format!("{name}.p7"),
        "-print_certs",
        "-out",
        &format!("{name}.pem"),
    ]);
    env.read(&format!("{name}.pem"))
}

#[test]
fn est_enrolls_and_reenrolls_with_curl_and_openssl() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);

    let (code, body) = est(&env, &srv, "cacerts", &[]);
    assert_eq!(code, 200, "{body}");
    let roots = pkcs7_certs(&env, &body, "cacerts");
    assert!(roots.contains("Fleet Root"), "{roots}");
    let (code, _) = est(&env, &srv, "csrattrs", &[]);
    assert_eq!(code, 204);
    // A label is a profile: the same CA for each, 404 for a label that names none.
    let (code, body) = est(&env, &srv, "client/cacerts", &[]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(est(&env, &srv, "client/csrattrs", &[]).0, 204);
    let (code, body) = est(&env, &srv, "nosuch/cacerts", &[]);
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("nosuch") && body.contains("client"), "{body}");

    // simpleenroll: the token as the Basic password, the user its name.
    let tok = token(&env, "router1", &[]);
    let req = b64_request(&env, "router1", "/CN=router1");
    let user = format!("router1:{tok}");
    let h = "Content-Type: application/pkcs10";
    let (code, body) = est(
        &env,
        &srv,
        "wrong/simpleenroll",
        &["--user", &user, "-H", h, "--data-binary", &req],
    );
    assert_eq!(code, 403, "a label that is not the token's profile: {body}");
    assert!(body.contains("wrong"), "{body}");
    let bad_user = format!("someone:{tok}");
    let (code, body) = est(
        &env,
        &srv,
        "simpleenroll",
        &["--user", &bad_user, "-H", h, "--data-binary", &req],
    );
    assert_eq!(code, 401, "{body}");
    let (code, body) = est(
        &env,
        &srv,
        "client/simpleenroll",
        &["--user", &user, "-H", h, "--data-binary", &req],
    );
    assert_eq!(code, 200, "{body}");
    pkcs7_certs(&env, &body, "router1");
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "router1.pem"]);
    // The token is spent.
    let (code, body) = est(
        &env,
        &srv,
        "simpleenroll",
        &["--user", &user, "-H", h, "--data-binary", &req],
    );
    assert_eq!(code, 401, "{body}");
    let (code, body) = est(
        &env,
        &srv,
        "simpleenroll",
        &["-H", h, "--data-binary", &req],
    );
    assert_eq!(code, 401, "no credentials: {body}");

    // simplereenroll: mutual TLS with the current certificate, same subject.
    let tls = ["--cert", "router1.pem", "--key", "router1.key"];
    let again = b64_request(&env, "router1b", "/CN=router1");
    let mut args = tls.to_vec();
    args.extend(["-H", h, "--data-binary", again.as_str()]);
    let (code, body) = est(&env, &srv, "simplereenroll", &args);
    assert_eq!(code, 200, "{body}");
    let renewed = pkcs7_certs(&env, &body, "router1b");
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "router1b.pem"]);
    assert_ne!(renewed, env.read("router1.pem"));
    // Another subject is refused, naming the field.
    let other = b64_request(&env, "router2", "/CN=router2");
    let tls2 = ["--cert", "router1b.pem", "--key", "router1b.key"];
    let mut args = tls2.to_vec();
    args.extend(["-H", h, "--data-binary", other.as_str()]);
    let (code, body) = est(&env, &srv, "simplereenroll", &args);
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("subject:"), "{body}");
    // Without a client certificate: 401. Garbage: 400.
    let (code, _) = est(
        &env,
        &srv,
        "simplereenroll",
        &["-H", h, "--data-binary", &again],
    );
    assert_eq!(code, 401);
    let mut args = tls2.to_vec();
    args.extend(["-H", h, "--data-binary", "not base64!"]);
    let (code, body) = est(&env, &srv, "simplereenroll", &args);
    assert_eq!(code, 400, "{body}");

    // A registration authority: an admin certificate of this CA vouches for the request;
    // a plain client certificate does not.
    env.issue("ca", "admin1", "admin", &[]);
    let ra_req = b64_request(&env, "device7", "/CN=device7");
    let ra = ["--cert", "out/admin1.crt", "--key", "out/admin1.key"];
    let mut args = ra.to_vec();
    args.extend(["-H", h, "--data-binary", ra_req.as_str()]);
    let (code, body) = est(&env, &srv, "client/simpleenroll", &args);
    assert_eq!(code, 200, "{body}");
    assert!(pkcs7_certs(&env, &body, "device7").contains("device7"));
    let mut args = tls2.to_vec();
    args.extend(["-H", h, "--data-binary", ra_req.as_str()]);
    let (code, body) = est(&env, &srv, "simpleenroll", &args);
    assert_eq!(code, 403, "{body}");

    // A revoked certificate cannot re-enroll.
    admin_revoke(&env, &srv, "router1b.pem", "keyCompromise");
    let same = b64_request(&env, "router1c", "/CN=router1");
    let mut args = tls2.to_vec();
    args.extend(["-H", h, "--data-binary", same.as_str()]);
    let (code, body) = est(&env, &srv, "simplereenroll", &args);
    assert!(code == 403 || code == 409 || code == 401, "{code} {body}");
    assert!(body.contains("revoked"), "{body}");
    srv.stop();
}
