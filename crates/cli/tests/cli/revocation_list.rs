//! `mtls ca revoke` (by serial, PEM or DER certificate file), `mtls ca crl` checked with
//! `openssl crl` and `openssl verify -crl_check`, and `mtls ca list` with its filters.

use crate::common::*;

/// `openssl verify -crl_check` of `cert` against ca/ca.crt and ca/crl.pem.
fn crl_check(env: &Env, cert: &str) -> Out {
    env.openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        "ca/crl.pem",
        "-CAfile",
        "ca/ca.crt",
        cert,
    ])
}

#[test]
fn revoke_then_crl_as_openssl_checks_it() {
    let env = Env::new();
    env.root_ca();
    let a = env.issue("ca", "a", "server", &["--san", "DNS:a.example"]);
    let b = env.issue("ca", "b", "client", &[]);
    let c = env.issue("ca", "c", "server-client", &["--san", "DNS:c.example"]);
    let d = env.issue("ca", "d", "client", &[]);

    // By serial, with a reason.
    let o = env.ok(&[
        "ca",
        "revoke",
        "--dir",
        "ca",
        &a,
        "--reason",
        "keyCompromise",
    ]);
    assert!(
        o.stdout.starts_with(&format!("revoked {a} ")) && o.stdout.contains("keyCompromise"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("mtls ca crl"), "{}", o.stdout);
    // By PEM certificate file, default reason; now a warning says no CRL lists the revocations.
    let o = env.ok(&["ca", "revoke", "--dir", "ca", "out/b.crt"]);
    assert!(
        o.stdout.starts_with(&format!("revoked {b} ")),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("unspecified"), "{}", o.stdout);
    let w = o.stderr_lines();
    assert!(
        w.len() == 1 && w[0].starts_with("warning: ") && w[0].contains("mtls ca crl"),
        "{}",
        o.stderr
    );
    // By DER certificate file.
    env.to_der("x509", "out/c.crt", "c.der");
    let o = env.ok(&[
        "ca",
        "revoke",
        "--dir",
        "ca",
        "c.der",
        "--reason",
        "superseded",
    ]);
    assert!(
        o.stdout.starts_with(&format!("revoked {c} ")),
        "{}",
        o.stdout
    );

    let o = env.ok(&["ca", "crl", "--dir", "ca"]);
    assert!(
        o.stdout
            .starts_with("CRL number 1 with 3 revoked certificate(s)"),
        "{}",
        o.stdout
    );
    // (`ca crl` itself repeats the "revoked but no CRL" warning it computed on opening the CA.)
    assert!(
        o.stderr_lines().iter().all(|l| l.starts_with("warning: ")),
        "{}",
        o.stderr
    );
    env.crl_verify_ok("ca/crl.pem", "ca/ca.crt");

    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert!(text.contains("Version 2 (0x1)"), "{text}");
    assert_eq!(ext_value(&text, "X509v3 CRL Number"), "1");
    let ca_ski = ext_value(&env.cert_text("ca/ca.crt"), "X509v3 Subject Key Identifier");
    assert_eq!(ext_value(&text, "X509v3 Authority Key Identifier"), ca_ski);
    let issuer = env.ssl(&[
        "crl",
        "-in",
        "ca/crl.pem",
        "-noout",
        "-issuer",
        "-nameopt",
        "RFC2253",
    ]);
    let subject = env.ssl(&[
        "x509",
        "-in",
        "ca/ca.crt",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert_eq!(
        issuer.trim().strip_prefix("issuer="),
        subject.trim().strip_prefix("subject=")
    );
    for s in [&a, &b, &c] {
        assert!(text.contains(&format!("Serial Number: {s}")), "{s}: {text}");
    }
    assert!(!text.contains(&d), "{text}");
    // Reasons: keyCompromise and superseded are listed; unspecified is omitted (RFC 5280).
    let entry = |s: &str| {
        let start = text.find(&format!("Serial Number: {s}")).unwrap();
        let rest = &text[start + 10..];
        let end = rest.find("Serial Number:").unwrap_or(rest.len());
        text[start..start + 10 + end].to_string()
    };
    assert!(entry(&a).contains("Key Compromise"), "{}", entry(&a));
    assert!(entry(&c).contains("Superseded"), "{}", entry(&c));
    assert!(!entry(&b).contains("Reason"), "{}", entry(&b));

    // The revoked fail with "certificate revoked", the others pass.
    for f in ["out/a.crt", "out/b.crt", "out/c.crt"] {
        let o = crl_check(&env, f);
        assert_ne!(o.code, Some(0), "{f} passed the CRL check: {}", o.all());
        assert!(o.all().contains("certificate revoked"), "{f}: {}", o.all());
    }
    let o = crl_check(&env, "out/d.crt");
    assert_eq!(o.code, Some(0), "{}", o.all());

    // A second CRL: number 2, also written to --out, identical to DIR/crl.pem.
    std::fs::create_dir(env.path("pub")).unwrap();
    let o = env.ok(&[
        "ca",
        "crl",
        "--dir",
        "ca",
        "--out",
        "pub/crl.pem",
        "--days",
        "2",
    ]);
    assert!(o.stdout.starts_with("CRL number 2 "), "{}", o.stdout);
    assert_eq!(env.read("pub/crl.pem"), env.read("ca/crl.pem"));
    let text = env.ssl(&["crl", "-in", "pub/crl.pem", "-noout", "-text"]);
    assert_eq!(ext_value(&text, "X509v3 CRL Number"), "2");
    let num = env.ssl(&["crl", "-in", "pub/crl.pem", "-noout", "-crlnumber"]);
    assert_eq!(num.trim(), "crlNumber=0x02");
    env.crl_verify_ok("pub/crl.pem", "ca/ca.crt");

    // The list agrees.
    let revoked = env.list("ca", &["--status", "revoked"]);
    let mut rs: Vec<(String, String)> = revoked
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "revoked");
            assert!(r["revoked_at"].is_string(), "{r}");
            (
                r["serial"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rs.sort();
    let mut expect = vec![
        (a.clone(), "keyCompromise".to_string()),
        (b.clone(), "unspecified".to_string()),
        (c.clone(), "superseded".to_string()),
    ];
    expect.sort();
    assert_eq!(rs, expect);
    assert_eq!(
        env.list_serials("ca", &["--status", "valid"]),
        vec![d.clone()]
    );
    let valid = env.list("ca", &["--status", "valid"]);
    assert!(valid[0]["revoked_at"].is_null() && valid[0]["reason"].is_null());

    // Revoking again, or an unknown serial: one error line, exit 1, nothing changes.
    let before = env.snapshot();
    env.mtls(&["ca", "revoke", "--dir", "ca", &a])
        .run()
        .one_error(&["already revoked", &a, "keyCompromise"]);
    env.mtls(&["ca", "revoke", "--dir", "ca", "out/b.crt"])
        .run()
        .one_error(&["already revoked", &b]);
    let unknown = "4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    env.mtls(&["ca", "revoke", "--dir", "ca", unknown])
        .run()
        .one_error(&["no certificate with serial", unknown]);
    env.mtls(&["ca", "revoke", "--dir", "ca", &d, "--reason", "because"])
        .run()
        .usage_error(&["because", "--reason", "keyCompromise"]);
    assert_same(&before, &env.snapshot());
}

#[test]
fn revoke_accepts_serials_as_openssl_prints_them() {
    let env = Env::new();
    env.root_ca();
    let a = env.issue("ca", "a", "client", &[]);
    let b = env.issue("ca", "b", "client", &[]);
    // Lowercase with colons, as `openssl x509 -text` shows it.
    let colon: String = a
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let o = env.ok(&["ca", "revoke", "--dir", "ca", &colon]);
    assert!(
        o.stdout.starts_with(&format!("revoked {a} ")),
        "{}",
        o.stdout
    );
    // 0x-prefixed.
    let o = env.ok(&[
        "ca",
        "revoke",
        "--dir",
        "ca",
        &format!("0x{b}"),
        "--reason",
        "cessationOfOperation",
    ]);
    assert!(
        o.stdout.starts_with(&format!("revoked {b} ")),
        "{}",
        o.stdout
    );
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert!(text.contains("Cessation Of Operation"), "{text}");
}

#[test]
fn empty_crl_verifies_and_passes_every_certificate() {
    let env = Env::new();
    env.root_ca();
    env.issue("ca", "a", "client", &[]);
    let o = env.ok(&["ca", "crl", "--dir", "ca"]);
    assert!(
        o.stdout
            .starts_with("CRL number 1 with 0 revoked certificate(s)"),
        "{}",
        o.stdout
    );
    env.crl_verify_ok("ca/crl.pem", "ca/ca.crt");
    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert!(text.contains("No Revoked Certificates."), "{text}");
    assert!(text.contains("Next Update: "), "{text}");
    let o = crl_check(&env, "out/a.crt");
    assert_eq!(o.code, Some(0), "{}", o.all());
}

#[test]
fn list_filters_by_status_and_expiry() {
    let env = Env::new();
    env.root_ca();
    let x = env.issue("ca", "x", "client", &["--days", "10"]);
    let y = env.issue("ca", "y", "client", &["--days", "100"]);
    let z = env.issue("ca", "z", "server", &["--san", "DNS:z.example"]);

    let all = env.list("ca", &[]);
    assert_eq!(all.len(), 3);
    assert_eq!(env.list("ca", &["--status", "all"]), all);
    // Ordered by notAfter.
    assert_eq!(
        env.list_serials("ca", &[]),
        vec![x.clone(), y.clone(), z.clone()]
    );
    let zr = &all[2];
    assert_eq!(zr["cn"], "z");
    assert_eq!(zr["profile"], "server");
    assert_eq!(zr["sans"], serde_json::json!(["DNS:z.example"]));
    assert_eq!(zr["status"], "valid");
    assert_eq!(zr["subject"], "/C=CN/ST=GuangDong/O=XXX, Inc./CN=z");
    // notAfter as openssl sees it (RFC 3339 vs openssl's text; compare the date parts).
    let end = env.ssl(&[
        "x509",
        "-in",
        "out/x.crt",
        "-noout",
        "-enddate",
        "-dateopt",
        "iso_8601",
    ]);
    let na = all[0]["not_after"].as_str().unwrap();
    assert_eq!(
        end.trim()
            .strip_prefix("notAfter=")
            .unwrap()
            .replace(' ', "T"),
        na,
        "{end} vs {na}"
    );

    assert_eq!(
        env.list_serials("ca", &["--expiring-within", "30"]),
        vec![x.clone()]
    );
    assert_eq!(
        env.list_serials("ca", &["--expiring-within", "200"]),
        vec![x.clone(), y.clone()]
    );
    assert!(env.list("ca", &["--status", "expired"]).is_empty());

    env.ok(&["ca", "revoke", "--dir", "ca", &y]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
    assert_eq!(
        env.list_serials("ca", &["--status", "valid"]),
        vec![x.clone(), z.clone()]
    );
    assert_eq!(
        env.list_serials("ca", &["--status", "revoked"]),
        vec![y.clone()]
    );
    assert_eq!(
        env.list_serials("ca", &["--status", "valid", "--expiring-within", "30"]),
        vec![x.clone()]
    );
    assert!(
        env.list("ca", &["--status", "revoked", "--expiring-within", "30"])
            .is_empty()
    );

    // The table: a header, one row per certificate, the count on stderr.
    let o = env.ok(&["ca", "list", "--dir", "ca"]);
    let rows: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{}", o.stdout);
    assert!(rows[0].starts_with("SERIAL"), "{}", o.stdout);
    for (serial, status) in [(&x, "valid"), (&y, "revoked"), (&z, "valid")] {
        let row = rows
            .iter()
            .find(|r| r.starts_with(serial.as_str()))
            .unwrap_or_else(|| panic!("{serial} not in {}", o.stdout));
        assert_eq!(row.split_whitespace().nth(1), Some(status), "{row}");
    }
    assert_eq!(o.stderr.trim(), "3 certificate(s)");

    // Bad filter: one error line.
    let before = env.snapshot();
    env.mtls(&["ca", "list", "--dir", "ca", "--status", "gone"])
        .run()
        .usage_error(&["gone", "--status", "valid, revoked, expired, all"]);
    assert_same(&before, &env.snapshot());
}

#[test]
fn list_shows_expired_certificates() {
    // No mtls command can issue an already expired certificate, so one is recorded in the store
    // through the library, as an import of an old certificate would.
    let env = Env::new();
    env.root_ca();
    let live = env.issue("ca", "live", "client", &[]);
    let old = "5EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE";
    {
        let mut ca = mtls_pki::CertificateAuthority::open(&env.path("ca")).unwrap();
        ca.record(&[mtls_pki::CertRecord {
            serial: old.parse().unwrap(),
            subject: "/C=CN/ST=GuangDong/O=XXX, Inc./CN=old".into(),
            cn: Some("old".into()),
            sans: vec![],
            profile: "client".into(),
            not_before: Some(1_577_836_800), // 2020-01-01
            not_after: 1_609_459_200,        // 2021-01-01
            revoked_at: None,
            invalidity_date: None,
            hold_instruction: None,
            reason: None,
            der: vec![],
        }])
        .unwrap();
    }
    let expired = env.list("ca", &["--status", "expired"]);
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["serial"], old);
    assert_eq!(expired[0]["status"], "expired");
    assert_eq!(expired[0]["not_after"], "2021-01-01T00:00:00Z");
    assert_eq!(
        env.list_serials("ca", &["--status", "valid"]),
        vec![live.clone()]
    );
    assert_eq!(env.list("ca", &[]).len(), 2);
    // An expired certificate can still be revoked (it then shows as revoked).
    env.ok(&["ca", "revoke", "--dir", "ca", old]);
    assert_eq!(
        env.list_serials("ca", &["--status", "revoked"]),
        vec![old.to_string()]
    );
    assert!(env.list("ca", &["--status", "expired"]).is_empty());
}
