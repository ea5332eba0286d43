//! `mtls ca init`: the root certificate, the CA key file, `--no-passphrase`, intermediates made
//! with `--issuer`, and CAs of every key type — all checked with `openssl`.

use crate::common::*;

#[test]
fn root_certificate_is_v3_with_critical_ca_extensions() {
    let env = Env::new();
    // The passphrase from a file this time, not the environment.
    let o = env
        .mtls(&[
            "ca",
            "init",
            "--dir",
            "ca",
            "--subject",
            ROOT_SUBJECT,
            "--passphrase-file",
            "pass.txt",
        ])
        .env_remove("MTLS_CA_PASSPHRASE")
        .run()
        .success();
    assert!(o.stdout.contains("created root CA"), "{}", o.stdout);
    assert!(
        o.stderr.trim().is_empty(),
        "unexpected stderr: {}",
        o.stderr
    );
    for f in ["ca.crt", "ca.key", "ca.toml", "ca.db"] {
        assert!(env.path("ca").join(f).is_file(), "missing ca/{f}");
    }

    let text = env.cert_text("ca/ca.crt");
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    assert_eq!(
        ext_header(&text, "X509v3 Basic Constraints"),
        "X509v3 Basic Constraints: critical"
    );
    assert_eq!(ext_value(&text, "X509v3 Basic Constraints"), "CA:TRUE");
    assert_eq!(
        ext_header(&text, "X509v3 Key Usage"),
        "X509v3 Key Usage: critical"
    );
    assert_eq!(
        ext_value(&text, "X509v3 Key Usage"),
        "Certificate Sign, CRL Sign"
    );
    let ski = ext_value(&text, "X509v3 Subject Key Identifier");
    let aki = ext_value(&text, "X509v3 Authority Key Identifier");
    assert_eq!(ski.len(), 59, "SKI should be a 20-byte hash: {ski}");
    assert_eq!(aki, ski, "a self-signed root's AKI is its own SKI");

    // Self-signed, issuer = subject, and openssl accepts it as a trust anchor.
    let subj = env.ssl(&[
        "x509",
        "-in",
        "ca/ca.crt",
        "-noout",
        "-subject",
        "-issuer",
        "-nameopt",
        "RFC2253",
    ]);
    assert!(
        subj.contains("subject=CN=XXX Root CA,O=XXX\\, Inc.,L=GuangZhou,ST=GuangDong,C=CN"),
        "{subj}"
    );
    assert!(
        subj.contains("issuer=CN=XXX Root CA,O=XXX\\, Inc.,L=GuangZhou,ST=GuangDong,C=CN"),
        "{subj}"
    );
    let v = env.openssl(&["verify", "-CAfile", "ca/ca.crt", "ca/ca.crt"]);
    assert_eq!(v.code, Some(0), "{}", v.all());
    // The CA's subject values are UTF8String (C is PrintableString by definition).
    let typed = env.ssl(&[
        "x509",
        "-in",
        "ca/ca.crt",
        "-noout",
        "-subject",
        "-nameopt",
        "show_type,sep_comma_plus",
    ]);
    assert!(typed.contains("ST=UTF8STRING:GuangDong"), "{typed}");
    assert!(typed.contains("O=UTF8STRING:XXX, Inc."), "{typed}");
    assert!(typed.contains("C=PRINTABLESTRING:CN"), "{typed}");
    // Serial: 128-bit positive.
    assert!(is_serial_128(&env.openssl_serial("ca/ca.crt")));
}

#[test]
fn ca_key_is_encrypted_pbes2_mode_0600_and_matches_the_certificate() {
    let env = Env::new();
    env.root_ca();
    let key = env.read("ca/ca.key");
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{key}"
    );
    assert_eq!(mode(&env.path("ca/ca.key")), 0o600);
    let asn1 = env.ssl(&["asn1parse", "-in", "ca/ca.key"]);
    assert!(asn1.contains(":PBES2"), "{asn1}");
    // openssl reads it with the passphrase, and refuses a wrong one.
    let pk = env.ssl(&[
        "pkey",
        "-in",
        "ca/ca.key",
        "-passin",
        "file:pass.txt",
        "-pubout",
    ]);
    let cert_pk = env.ssl(&["x509", "-in", "ca/ca.crt", "-noout", "-pubkey"]);
    assert_eq!(pk, cert_pk, "ca.key does not belong to ca.crt");
    env.openssl(&[
        "pkey",
        "-in",
        "ca/ca.key",
        "-passin",
        "pass:wrong",
        "-noout",
    ])
    .fails();
    env.openssl(&["pkey", "-in", "ca/ca.key", "-passin", "pass:", "-noout"])
        .fails();

    // ca.toml holds the policy "match" and the built-in profiles.
    let toml = env.read("ca/ca.toml");
    for l in [
        "C = \"match\"",
        "ST = \"match\"",
        "O = \"match\"",
        "CN = \"supplied\"",
        "[profiles.server]",
        "[profiles.client]",
        "[profiles.server-client]",
    ] {
        assert!(toml.contains(l), "ca.toml lacks {l}:\n{toml}");
    }
}

#[test]
fn validity_follows_days() {
    let env = Env::new();
    env.init_ca("ca", ROOT_SUBJECT, &["--days", "30"]);
    // Valid for the next 29 days, not for 31.
    env.ssl(&["x509", "-in", "ca/ca.crt", "-noout", "-checkend", "2505600"]);
    env.openssl(&["x509", "-in", "ca/ca.crt", "-noout", "-checkend", "2678400"])
        .fails();
}

#[test]
fn no_passphrase_writes_a_plain_key_and_warns() {
    let env = Env::new();
    let o = env
        .mtls(&[
            "ca",
            "init",
            "--dir",
            "ca",
            "--subject",
            ROOT_SUBJECT,
            "--no-passphrase",
        ])
        .env_remove("MTLS_CA_PASSPHRASE")
        .run()
        .success();
    let lines = o.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(
        lines[0].starts_with("warning: ") && lines[0].contains("unencrypted"),
        "{}",
        o.stderr
    );
    let key = env.read("ca/ca.key");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
    assert_eq!(mode(&env.path("ca/ca.key")), 0o600);
    env.ssl(&["pkey", "-in", "ca/ca.key", "-noout"]);
    // Issuing needs no passphrase at all.
    let serial = env.issue("ca", "plain", "client", &[]);
    assert!(is_serial_128(&serial));
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "out/plain.crt"]);
}

#[test]
fn intermediate_is_signed_and_recorded_by_its_parent() {
    let env = Env::new();
    env.root_ca();
    let o = env
        .mtls(&[
            "ca",
            "init",
            "--dir",
            "int",
            "--issuer",
            "ca",
            "--issuer-passphrase-file",
            "pass.txt",
            "--subject",
            "/C=CN/ST=GuangDong/O=XXX, Inc./CN=XXX Issuing CA",
        ])
        .run()
        .success();
    assert!(o.stdout.contains("created intermediate CA"), "{}", o.stdout);
    // The intermediate's own key is encrypted with MTLS_CA_PASSPHRASE.
    assert!(
        env.read("int/ca.key")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    assert_eq!(mode(&env.path("int/ca.key")), 0o600);

    let root = env.cert_text("ca/ca.crt");
    let int = env.cert_text("int/ca.crt");
    assert_eq!(
        ext_header(&int, "X509v3 Basic Constraints"),
        "X509v3 Basic Constraints: critical"
    );
    assert_eq!(
        ext_value(&int, "X509v3 Basic Constraints"),
        "CA:TRUE, pathlen:0"
    );
    let ku = ext_value(&int, "X509v3 Key Usage");
    assert!(
        ku.contains("Certificate Sign") && ku.contains("CRL Sign"),
        "{ku}"
    );
    assert_eq!(
        ext_value(&int, "X509v3 Authority Key Identifier"),
        ext_value(&root, "X509v3 Subject Key Identifier"),
        "the intermediate's AKI must be the root's SKI"
    );
    assert_ne!(
        ext_value(&int, "X509v3 Subject Key Identifier"),
        ext_value(&root, "X509v3 Subject Key Identifier")
    );
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "int/ca.crt"]);

    // Recorded in the parent's store, with the serial openssl sees.
    let int_serial = env.openssl_serial("int/ca.crt");
    let parent = env.list("ca", &[]);
    let rec = parent
        .iter()
        .find(|r| r["serial"] == int_serial.as_str())
        .unwrap_or_else(|| {
            panic!("intermediate {int_serial} not in the parent's list: {parent:?}")
        });
    assert_eq!(rec["profile"], "intermediate");
    assert_eq!(rec["cn"], "XXX Issuing CA");
    assert_eq!(rec["status"], "valid");
    let human = env.ok(&["ca", "list", "--dir", "ca"]);
    assert!(human.stdout.contains(&int_serial), "{}", human.stdout);
    assert!(env.list("int", &[]).is_empty());

    // A leaf from the intermediate verifies through it, and only through it.
    let leaf_serial = env.issue("int", "leaf", "server", &["--san", "DNS:leaf.example"]);
    env.ssl(&[
        "verify",
        "-CAfile",
        "ca/ca.crt",
        "-untrusted",
        "int/ca.crt",
        "-purpose",
        "sslserver",
        "out/leaf.crt",
    ]);
    env.ssl(&[
        "verify",
        "-CAfile",
        "ca/ca.crt",
        "-untrusted",
        "out/leaf.chain.pem",
        "out/leaf.crt",
    ]);
    env.openssl(&["verify", "-CAfile", "ca/ca.crt", "out/leaf.crt"])
        .fails();
    let leaf = env.cert_text("out/leaf.crt");
    assert_eq!(
        ext_value(&leaf, "X509v3 Authority Key Identifier"),
        ext_value(&int, "X509v3 Subject Key Identifier")
    );
    // The leaf is the intermediate's, not the root's.
    assert_eq!(env.list_serials("int", &[]), vec![leaf_serial.clone()]);
    assert!(!env.list_serials("ca", &[]).contains(&leaf_serial));
    // int/ca-chain.pem = intermediate + root.
    let chain = env.read("int/ca-chain.pem");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    assert!(chain.starts_with(&env.read("int/ca.crt")));
    assert!(chain.ends_with(&env.read("ca/ca.crt")));
}

#[test]

fn intermediate_validity_cap_is_announced() {
    let env = Env::new();
    env.init_ca("ca", ROOT_SUBJECT, &["--days", "100"]);
    let o = env
        .mtls(&[
            "ca",
            "init",
            "--dir",
            "int",
            "--issuer",
            "ca",
            "--days",
            "1000",
            "--subject",
            "/C=CN/ST=GuangDong/O=XXX, Inc./CN=Long Issuing CA",
        ])
        .env("MTLS_ISSUER_PASSPHRASE", PASS)
        .run()
        .success();
    let root_end = env.ssl(&["x509", "-in", "ca/ca.crt", "-noout", "-enddate"]);
    let int_end = env.ssl(&["x509", "-in", "int/ca.crt", "-noout", "-enddate"]);
    assert_eq!(root_end, int_end, "the intermediate outlives its parent");
    assert!(
        o.stderr.contains("capped"),
        "validity silently capped; stderr: {:?}",
        o.stderr
    );
}

#[test]
fn ca_of_every_key_type_issues_verifiable_leaves() {
    let env = Env::new();
    for (kt, marker) in [
        ("ec-p384", "NIST CURVE: P-384"),
        ("ed25519", "ED25519 Private-Key"),
        ("rsa2048", "Private-Key: (2048 bit"),
    ] {
        let dir = format!("ca-{kt}");
        env.init_ca(&dir, ROOT_SUBJECT, &["--key-type", kt]);
        let key = format!("{dir}/ca.key");
        assert_eq!(mode(&env.path(&key)), 0o600);
        let text = env.ssl(&[
            "pkey",
            "-in",
            &key,
            "-passin",
            "file:pass.txt",
            "-noout",
            "-text",
        ]);
        assert!(text.contains(marker), "{kt}: {text}");
        assert!(
            env.read(&format!("{dir}/ca.toml"))
                .contains(&format!("key_type = \"{kt}\""))
        );
        // `ca issue` makes leaves of the CA's key type by default.
        let name = format!("leaf-{kt}");
        env.issue(&dir, &name, "server", &["--san", "DNS:leaf.example"]);
        let leaf_key = env.ssl(&["pkey", "-in", &format!("out/{name}.key"), "-noout", "-text"]);
        assert!(leaf_key.contains(marker), "{kt} leaf: {leaf_key}");
        env.ssl(&[
            "verify",
            "-CAfile",
            &format!("{dir}/ca.crt"),
            "-purpose",
            "sslserver",
            &format!("out/{name}.crt"),
        ]);
    }
}

#[test]
fn init_refuses_rsa1024() {
    let env = Env::new();
    let before = env.snapshot();
    env.mtls(&[
        "ca",
        "init",
        "--dir",
        "ca",
        "--subject",
        ROOT_SUBJECT,
        "--key-type",
        "rsa1024",
    ])
    .run()
    .usage_error(&["rsa1024", "--key-type", "rsa2048"]);
    assert_same(&before, &env.snapshot());
}
