//! The OCSP responder, judged by `openssl ocsp`: good, revoked with its reason, unknown, over
//! POST and GET, SHA-1 and SHA-256 CertIDs, with and without a nonce; refusals as OCSP
//! statuses.

use super::*;

/// `openssl ocsp -issuer ca/ca.crt -CAfile ca/ca.crt EXTRA…`: all it printed.
fn ocsp(env: &Env, extra: &[&str]) -> String {
    let mut args = vec!["ocsp", "-issuer", "ca/ca.crt", "-CAfile", "ca/ca.crt"];
    args.extend_from_slice(extra);
    let out = env.openssl(&args);
    assert_eq!(out.code, Some(0), "{}", out.all());
    out.all()
}

#[test]
fn openssl_ocsp_hears_good_revoked_and_unknown() {
    let env = Env::new();
    ca(&env);
    let srv = CaServer::start(&env);
    let url = format!("{}/ocsp", srv.http);
    env.issue("ca", "good1", "client", &[]);
    env.issue("ca", "lost1", "client", &[]);
    env.issue("ca", "admin1", "admin", &[]);

    let text = ocsp(
        &env,
        &["-cert", "out/good1.crt", "-url", &url, "-resp_text"],
    );
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(text.contains("out/good1.crt: good"), "{text}");
    assert!(text.contains("OCSP Nonce"), "the nonce is echoed: {text}");
    assert!(text.contains("Next Update:"), "{text}");
    // SHA-256 CertIDs and no nonce.
    let text = ocsp(
        &env,
        &[
            "-sha256",
            "-no_nonce",
            "-cert",
            "out/good1.crt",
            "-url",
            &url,
            "-resp_text",
        ],
    );
    assert!(
        text.contains("out/good1.crt: good") && !text.contains("OCSP Nonce"),
        "{text}"
    );
    assert!(text.contains("Hash Algorithm: sha256"), "{text}");
    // A serial this CA never issued.
    let text = ocsp(&env, &["-serial", "0x0123456789", "-url", &url]);
    assert!(text.contains("0x0123456789: unknown"), "{text}");

    // Shared answers (no nonce, one certificate) come from the cache: the same bytes twice.
    let cached = |name: &str| {
        let req = format!("{name}.req");
        ocsp(
            &env,
            &[
                "-cert",
                &format!("out/{name}.crt"),
                "-no_nonce",
                "-reqout",
                &req,
            ],
        );
        let b64 = env.ssl(&["base64", "-A", "-in", &req]);
        let (code, headers, _) = curl(&env, &[&format!("{url}/{}", b64.trim())]);
        assert_eq!(code, 200);
        let text = ocsp(
            &env,
            &["-cert", &format!("out/{name}.crt"), "-respin", "body.txt"],
        );
        (
            header(&headers, "etag").unwrap_or_default().to_string(),
            text,
        )
    };
    let (etag, text) = cached("lost1");
    assert!(text.contains("out/lost1.crt: good"), "{text}");
    assert_eq!(
        cached("lost1").0,
        etag,
        "the second answer is the cached one"
    );

    // Revoked through the API: the very next answer says so, with the reason, cached or not.
    admin_revoke(&env, &srv, "out/lost1.crt", "keyCompromise");
    let text = ocsp(
        &env,
        &[
            "-cert",
            "out/lost1.crt",
            "-cert",
            "out/good1.crt",
            "-url",
            &url,
        ],
    );
    assert!(
        text.contains("out/lost1.crt: revoked")
            && text.contains("Reason: keyCompromise")
            && text.contains("out/good1.crt: good"),
        "{text}"
    );
    let (_, text) = cached("lost1");
    assert!(
        text.contains("out/lost1.crt: revoked"),
        "a cached good outlived the revoke: {text}"
    );

    // Revoked by `mtls ca revoke` beside the server: the cached good goes within seconds.
    assert!(cached("good1").1.contains("out/good1.crt: good"));
    env.ok(&["ca", "revoke", "out/good1.crt", "--reason", "superseded"]);
    let deadline = std::time::Instant::now() + WAIT;
    while !cached("good1").1.contains("out/good1.crt: revoked") {
        assert!(std::time::Instant::now() < deadline, "still good");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // GET (RFC 5019): the base64 request in the path, standard alphabet, `/` and all.
    ocsp(
        &env,
        &["-cert", "out/lost1.crt", "-no_nonce", "-reqout", "req.der"],
    );
    let b64 = env.ssl(&["base64", "-A", "-in", "req.der"]);
    let (code, headers, _) = curl(&env, &[&format!("{url}/{}", b64.trim())]);
    assert_eq!(code, 200, "{headers}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/ocsp-response")
    );
    let cache = header(&headers, "cache-control")
        .unwrap_or_default()
        .to_string();
    assert!(
        cache.contains("max-age=") && cache.contains("public"),
        "{headers}"
    );
    assert!(header(&headers, "etag").is_some() && header(&headers, "expires").is_some());
    let text = ocsp(&env, &["-cert", "out/lost1.crt", "-respin", "body.txt"]);
    assert!(text.contains("out/lost1.crt: revoked"), "{text}");
    lint(&env, "body.txt");

    // Refusals are OCSP statuses with HTTP 200, never a 500: garbage, empty, oversized,
    // another CA's CertID.
    env.write("junk.der", b"\x30\x03\x02\x01\x00junk");
    env.write("big.der", vec![0u8; 70 * 1024]);
    for (body, status) in [
        ("@junk.der", "malformedrequest"),
        ("@big.der", "malformedrequest"),
    ] {
        let (code, _, _) = curl(
            &env,
            &[
                "-H",
                "Content-Type: application/ocsp-request",
                "--data-binary",
                body,
                &url,
            ],
        );
        assert_eq!(code, 200);
        let out = env.openssl(&["ocsp", "-respin", "body.txt", "-resp_text", "-noverify"]);
        assert!(
            out.all().to_lowercase().contains(status),
            "{body}: {}",
            out.all()
        );
    }
    env.init_ca("other", "/CN=Other Root", &["--policy", "anything"]);
    env.issue("other", "stranger", "client", &[]);
    let out = env.openssl(&[
        "ocsp",
        "-issuer",
        "other/ca.crt",
        "-cert",
        "out/stranger.crt",
        "-url",
        &url,
    ]);
    assert!(out.all().contains("unauthorized"), "{}", out.all());
    let (code, _, _) = curl(&env, &[&format!("{url}/not-base64!")]);
    assert_eq!(code, 200);
    // No body at all is not an OCSP request: 400 (still with an OCSP malformedRequest body).
    let (code, _, _) = curl(&env, &["-X", "POST", &url]);
    assert_eq!(code, 400);
    let out = env.openssl(&["ocsp", "-respin", "body.txt", "-resp_text", "-noverify"]);
    assert!(
        out.all().to_lowercase().contains("malformedrequest"),
        "{}",
        out.all()
    );
    srv.stop();
}

/// pkilint's `lint_ocsp_response` must find nothing at ERROR or above (it is required, never
/// skipped: `scripts/test` installs pkilint).
fn lint(env: &Env, file: &str) {
    let out = std::process::Command::new("lint_ocsp_response")
        .current_dir(env.root())
        .args(["lint", "-s", "WARNING", file])
        .output()
        .expect("lint_ocsp_response (pkilint) is not installed: pip install pkilint");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("ERROR") && !text.contains("FATAL") && !text.contains("Failed"),
        "pkilint: {text}"
    );
}

#[test]
fn a_delegated_responder_signs_when_ca_toml_says_so() {
    let env = Env::new();
    ca(&env);
    let toml = env.read("ca/ca.toml");
    assert!(toml.contains("ocsp_delegated = false"), "{toml}");
    env.write(
        "ca/ca.toml",
        toml.replace("ocsp_delegated = false", "ocsp_delegated = true"),
    );
    let srv = CaServer::start(&env);
    let url = format!("{}/ocsp", srv.http);
    env.issue("ca", "good1", "client", &[]);
    // openssl checks the responder certificate: issued by the CA, OCSPSigning.
    let text = ocsp(
        &env,
        &[
            "-cert",
            "out/good1.crt",
            "-url",
            &url,
            "-resp_text",
            "-respout",
            "resp.der",
        ],
    );
    assert!(
        text.contains("Response verify OK") && text.contains("out/good1.crt: good"),
        "{text}"
    );
    assert!(
        text.contains("CN=Fleet Root OCSP Responder")
            && text.contains("OCSP Signing")
            && text.contains("OCSP No Check"),
        "the responder certificate goes along: {text}"
    );
    lint(&env, "resp.der");
    // It is a record of the store, under the built-in ocsp profile.
    let rows = env.list("ca", &[]);
    assert!(rows.iter().any(|r| r["profile"] == "ocsp"), "{rows:?}");
    srv.stop();
}

#[test]
fn answers_are_pre_signed_at_start_for_every_valid_certificate() {
    let env = Env::new();
    ca(&env);
    for n in ["p1", "p2", "p3", "gone"] {
        env.issue("ca", n, "client", &[]);
    }
    env.issue("ca", "admin1", "admin", &[]);
    env.ok(&["ca", "revoke", "out/gone.crt"]);
    let srv = CaServer::start(&env);
    let line = srv.proc.wait_for("OCSP answers pre-signed for ");
    let n: usize = line
        .split("pre-signed for ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"));
    // p1-p3, admin1 and the server's own API certificate; not the revoked one.
    assert_eq!(n, 5, "{line}");
    let (code, _, text) = curl(
        &env,
        &[
            "--cert",
            "out/admin1.crt",
            "--key",
            "out/admin1.key",
            &format!("{}/metrics", srv.api),
        ],
    );
    assert_eq!(code, 200);
    assert!(text.contains("mtls_ca_ocsp_cached 5"), "{text}");
    // The pre-signed answer is what a plain `openssl ocsp -no_nonce` gets, and it is current.
    let url = format!("{}/ocsp", srv.http);
    let text = ocsp(
        &env,
        &[
            "-cert",
            "out/p2.crt",
            "-no_nonce",
            "-url",
            &url,
            "-resp_text",
        ],
    );
    assert!(text.contains("out/p2.crt: good"), "{text}");
    let text = ocsp(&env, &["-cert", "out/gone.crt", "-url", &url]);
    assert!(text.contains("out/gone.crt: revoked"), "{text}");
    srv.stop();
}
