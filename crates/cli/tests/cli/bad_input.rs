//! Bad input files: garbage or truncated PEM/DER, DER where PEM was expected (accepted),
//! requests with a bad signature or an unsupported extension.
//!
//! Each refusal (see `common::refused_cmd`) must be: exit code 1, nothing on stdout, exactly one
//! stderr line starting with `error: ` that names the file/field concerned, no panic, and no
//! file under the test directory created, changed or removed (the CA directory included, byte
//! for byte), with `mtls ca list --json` unchanged.

use crate::common::*;

/// The DER of a PEM request.
fn csr_der(env: &Env, csr: &str) -> Vec<u8> {
    let der = format!("{csr}.der");
    env.to_der("req", csr, &der);
    let bytes = std::fs::read(env.path(&der)).unwrap();
    std::fs::remove_file(env.path(&der)).unwrap();
    bytes
}

#[test]
fn garbage_and_empty_input_is_refused() {
    let env = setup();
    env.write("garbage.csr", "this is not a certificate request\n");
    sign_refused(&env, "garbage.csr", &["garbage.csr", "certificate request"]);
    env.write("empty.csr", "");
    sign_refused(&env, "empty.csr", &["empty.csr", "empty"]);
    env.write(
        "bad64.csr",
        "-----BEGIN CERTIFICATE REQUEST-----\n!!!! not base64 !!!!\n-----END CERTIFICATE REQUEST-----\n",
    );
    sign_refused(&env, "bad64.csr", &["bad64.csr"]);
    env.write("junk.der", [0x30, 0x82, 0xff, 0xff, 1, 2, 3]);
    sign_refused(&env, "junk.der", &["junk.der"]);
    env.write("binary.csr", [0xde, 0xad, 0xbe, 0xef, 0, 1, 2]);
    sign_refused(&env, "binary.csr", &["binary.csr"]);
    // Well-formed PEM of the wrong kind.
    std::fs::copy(env.path("ca/ca.crt"), env.path("cert.csr")).unwrap();
    sign_refused(&env, "cert.csr", &["cert.csr", "CERTIFICATE REQUEST"]);
    sign_refused(&env, "good.key", &["good.key"]);
    sign_refused(&env, "missing.csr", &["missing.csr"]);

    // Revoking by a file that is no certificate, or by text that is no serial.
    let revoke = |target: &str, needles: &[&str]| {
        refused(&env, &["ca", "revoke", "--dir", "ca", target], needles);
    };
    revoke("garbage.csr", &["garbage.csr", "certificate"]);
    revoke("good.csr", &["good.csr", "CERTIFICATE"]);
    revoke("empty.csr", &["empty.csr"]);
    revoke("not-a-serial", &["not-a-serial"]);
    revoke("missing.crt", &["missing.crt", "no such certificate file"]);
    revoke(
        "certs/missing",
        &["certs/missing", "no such certificate file"],
    );

    // Bad subjects and SANs name themselves.
    refused(
        &env,
        &[
            "ca",
            "issue",
            "x",
            "--dir",
            "ca",
            "--profile",
            "client",
            "--subject",
            "/C=China/CN=x",
        ],
        &["China", "C "],
    );
    refused(
        &env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "--profile",
            "server",
            "--san",
            "DNS:-bad",
            "--out",
            "out.crt",
        ],
        &["DNS:-bad"],
    );
    refused(
        &env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "--profile",
            "bogus",
            "--out",
            "out.crt",
        ],
        &["bogus", "server"],
    );
}

#[test]
fn truncated_input_is_refused() {
    let env = setup();
    let pem = env.read("good.csr");
    env.write("cut.csr", &pem[..pem.len() / 2]);
    sign_refused(&env, "cut.csr", &["cut.csr"]);
    // Complete armour, body cut short.
    let lines: Vec<&str> = pem.lines().collect();
    let short = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[lines.len() - 1]);
    env.write("short.csr", short);
    sign_refused(&env, "short.csr", &["short.csr"]);
    let der = csr_der(&env, "good.csr");
    env.write("cut.der", &der[..der.len() / 2]);
    sign_refused(&env, "cut.der", &["cut.der"]);
    env.write("cut1.der", &der[..der.len() - 1]);
    sign_refused(&env, "cut1.der", &["cut1.der"]);
    let mut trailing = der.clone();
    trailing.extend_from_slice(&[0, 0]);
    env.write("trailing.der", trailing);
    sign_refused(&env, "trailing.der", &["trailing.der"]);

    // A truncated certificate for revoke.
    env.issue("ca", "leaf", "client", &[]);
    let crt = env.read("out/leaf.crt");
    env.write("cut.crt", &crt[..crt.len() - 40]);
    refused(
        &env,
        &["ca", "revoke", "--dir", "ca", "cut.crt"],
        &["cut.crt"],
    );
}

#[test]
fn der_and_decorated_pem_are_accepted() {
    let env = setup();
    // A DER request.
    env.to_der("req", "good.csr", "good.der");
    let o = env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "good.der",
        "--profile",
        "server",
        "--out",
        "der.crt",
    ]);
    assert!(o.stdout.contains("der.crt"), "{}", o.stdout);
    env.ssl(&[
        "verify",
        "-CAfile",
        "ca/ca.crt",
        "-purpose",
        "sslserver",
        "der.crt",
    ]);
    // PEM preceded by openssl's text dump, and PEM with CRLF line endings.
    env.ssl(&["req", "-in", "good.csr", "-text", "-out", "text.csr"]);
    assert!(env.read("text.csr").starts_with("Certificate Request:"));
    env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "text.csr",
        "--profile",
        "server",
        "--out",
        "text.crt",
    ]);
    env.write("crlf.csr", env.read("good.csr").replace('\n', "\r\n"));
    env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "crlf.csr",
        "--profile",
        "server",
        "--out",
        "crlf.crt",
    ]);
    // A DER certificate for revoke.
    env.to_der("x509", "der.crt", "der.cer");
    let serial = env.openssl_serial("der.crt");
    let o = env.ok(&["ca", "revoke", "--dir", "ca", "der.cer"]);
    assert!(
        o.stdout.starts_with(&format!("revoked {serial} ")),
        "{}",
        o.stdout
    );
    assert_eq!(
        env.list_serials("ca", &["--status", "revoked"]),
        vec![serial]
    );
    // A DER key for `csr new`.
    env.ssl(&[
        "pkey",
        "-in",
        "good.key",
        "-outform",
        "DER",
        "-out",
        "good.key.der",
    ]);
    env.ok(&[
        "csr",
        "new",
        "--key",
        "good.key.der",
        "--subject",
        "/CN=der",
        "--out",
        "der.csr",
    ]);
    env.req_verify_ok(&["-in", "der.csr"]);
}

#[test]
fn request_with_a_bad_signature_is_refused() {
    let env = setup();
    let der = csr_der(&env, "good.csr");
    // Change the subject (good.example -> hood.example) and re-armour it.
    let mut altered = der.clone();
    let pos = altered
        .windows(12)
        .position(|w| w == b"good.example")
        .expect("CN in the DER");
    altered[pos] = b'h';
    env.write("altered.csr", pem_encode("CERTIFICATE REQUEST", &altered));
    // (openssl 3.0 `req -verify` exits 0 even on failure; its message tells.)
    let v = env.openssl(&["req", "-in", "altered.csr", "-noout", "-verify"]);
    assert!(v.all().contains("verify failure"), "{}", v.all());
    sign_refused(&env, "altered.csr", &["altered.csr", "signature"]);
    // Flip a bit in the signature value (its last byte), DER this time.
    let mut flipped = der;
    *flipped.last_mut().unwrap() ^= 0x01;
    env.write("flipped.der", &flipped);
    let v = env.openssl(&[
        "req",
        "-in",
        "flipped.der",
        "-inform",
        "DER",
        "-noout",
        "-verify",
    ]);
    assert!(v.all().contains("verify failure"), "{}", v.all());
    sign_refused(&env, "flipped.der", &["flipped.der", "signature"]);
}

#[test]
fn request_with_an_unsupported_extension_is_refused() {
    let env = setup();
    let csr = env.openssl_csr(
        "policies",
        &leaf_subject("p.example"),
        &["-addext", "certificatePolicies=1.2.3.4"],
    );
    env.req_verify_ok(&["-in", &csr]);
    sign_refused(
        &env,
        &csr,
        &["policies.csr", "certificatePolicies", "2.5.29.32"],
    );
    let csr = env.openssl_csr(
        "oid",
        &leaf_subject("o.example"),
        &["-addext", "1.2.3.4.5.6=ASN1:UTF8String:hello"],
    );
    sign_refused(&env, &csr, &["oid.csr", "1.2.3.4.5.6"]);
}
