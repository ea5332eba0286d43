//! `mtls key new` and `mtls csr new`: every key type readable by `openssl pkey`, encrypted keys
//! as PBES2 `ENCRYPTED PRIVATE KEY`, mode 0600, weak RSA refused; requests in both subject
//! forms checked with `openssl req`.

use crate::common::*;

/// (type, a line `openssl pkey -text` prints for it)
const TYPES: [(&str, &str); 4] = [
    ("ec-p256", "NIST CURVE: P-256"),
    ("ec-p384", "NIST CURVE: P-384"),
    ("ed25519", "ED25519 Private-Key"),
    ("rsa2048", "Private-Key: (2048 bit, 2 primes)"),
];

#[test]
fn every_key_type_plain_is_pkcs8_0600_and_readable_by_openssl() {
    let env = Env::new();
    for (kt, marker) in TYPES {
        let f = format!("{kt}.key");
        let o = env.ok(&["key", "new", "--type", kt, "--out", &f]);
        assert!(
            o.stdout.contains("unencrypted") && o.stdout.contains("0600"),
            "{}",
            o.stdout
        );
        assert_eq!(mode(&env.path(&f)), 0o600, "{f}");
        let pem = env.read(&f);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let text = env.ssl(&["pkey", "-in", &f, "-noout", "-text"]);
        assert!(text.contains(marker), "{kt}: {text}");
        env.ssl(&["pkey", "-in", &f, "-check", "-noout"]);
    }
}

#[test]
fn every_key_type_encrypted_is_pbes2_and_needs_the_passphrase() {
    let env = Env::new();
    for (kt, marker) in TYPES {
        let f = format!("{kt}.enc.key");
        let o = env.ok(&[
            "key",
            "new",
            "--type",
            kt,
            "--out",
            &f,
            "--passphrase-file",
            "pass.txt",
        ]);
        assert!(o.stdout.contains("encrypted"), "{}", o.stdout);
        assert_eq!(mode(&env.path(&f)), 0o600, "{f}");
        let pem = env.read(&f);
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{pem}"
        );
        let asn1 = env.ssl(&["asn1parse", "-in", &f]);
        assert!(asn1.contains(":PBES2"), "{kt}: {asn1}");
        let text = env.ssl(&[
            "pkey",
            "-in",
            &f,
            "-passin",
            "file:pass.txt",
            "-noout",
            "-text",
        ]);
        assert!(text.contains(marker), "{kt}: {text}");
        env.openssl(&["pkey", "-in", &f, "-passin", "pass:wrong", "-noout"])
            .fails();
    }
    // MTLS_KEY_PASSPHRASE encrypts too.
    env.mtls(&["key", "new", "--out", "env.key"])
        .env("MTLS_KEY_PASSPHRASE", "from-env")
        .run()
        .success();
    assert!(
        env.read("env.key")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    env.ssl(&[
        "pkey",
        "-in",
        "env.key",
        "-passin",
        "pass:from-env",
        "-noout",
    ]);
}

#[test]
fn rsa1024_key_is_refused_with_advice() {
    let env = Env::new();
    let before = env.snapshot();
    env.mtls(&["key", "new", "--type", "rsa1024", "--out", "weak.key"])
        .run()
        .usage_error(&["rsa1024", "rsa2048"]);
    assert_same(&before, &env.snapshot());
}

/// `openssl genpkey` RSA-1024 key in `weak.key`, and the `mtls csr new` arguments using it.
fn openssl_weak_key(env: &Env) -> [&'static str; 8] {
    env.ssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
        "-out",
        "weak.key",
    ]);
    [
        "csr",
        "new",
        "--key",
        "weak.key",
        "--subject",
        "/CN=weak.example",
        "--out",
        "weak.csr",
    ]
}

#[test]
fn openssl_rsa1024_key_is_refused_for_a_request() {
    let env = Env::new();
    let args = openssl_weak_key(&env);
    let before = env.snapshot();
    env.mtls(&args).run().one_error(&["weak.key"]);
    assert_same(&before, &env.snapshot());
}

#[test]

fn openssl_rsa1024_key_refusal_says_use_rsa2048() {
    let env = Env::new();
    let args = openssl_weak_key(&env);
    env.mtls(&args)
        .run()
        .one_error(&["weak.key", "1024", "rsa2048"]);
}

#[test]
fn key_new_never_overwrites() {
    let env = Env::new();
    env.ok(&["key", "new", "--out", "k.key"]);
    let before = env.snapshot();
    env.mtls(&["key", "new", "--out", "k.key"])
        .run()
        .one_error(&["k.key", "already exists"]);
    assert_same(&before, &env.snapshot());
}

#[test]
fn csr_subject_forms_and_sans_as_openssl_sees_them() {
    let env = Env::new();
    env.ok(&["key", "new", "--out", "k.key"]);

    // OpenSSL form, with every SAN kind.
    let o = env.ok(&[
        "csr",
        "new",
        "--key",
        "k.key",
        "--subject",
        "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=host",
        "--san",
        "DNS:host.example",
        "--san",
        "IP:10.0.0.1",
        "--san",
        "IP:::1",
        "--san",
        "email:admin@host.example",
        "--san",
        "URI:spiffe://example.org/host",
        "--out",
        "a.csr",
    ]);
    assert!(o.stdout.contains("a.csr"), "{}", o.stdout);
    let v = env.openssl(&[
        "req", "-in", "a.csr", "-noout", "-verify", "-subject", "-nameopt", "RFC2253",
    ]);
    assert_eq!(v.code, Some(0), "{}", v.all());
    assert!(
        v.all().contains("verify OK") && !v.all().contains("failure"),
        "{}",
        v.all()
    );
    assert!(
        v.stdout
            .contains("subject=CN=host,O=XXX\\, Inc.,L=GuangZhou,ST=GuangDong,C=CN"),
        "{}",
        v.stdout
    );
    let text = env.ssl(&["req", "-in", "a.csr", "-noout", "-text"]);
    assert_eq!(
        ext_value(&text, "X509v3 Subject Alternative Name"),
        "DNS:host.example, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1, \
         email:admin@host.example, URI:spiffe://example.org/host"
    );
    // The request's public key is the key's.
    assert_eq!(
        env.ssl(&["req", "-in", "a.csr", "-noout", "-pubkey"]),
        env.ssl(&["pkey", "-in", "k.key", "-pubout"])
    );

    // RFC 4514 form with an escaped comma; no SAN: a note says what `ca sign` will do.
    let o = env.ok(&[
        "csr",
        "new",
        "--key",
        "k.key",
        "--subject",
        "CN=host,O=XXX\\, Inc.,C=CN",
        "--out",
        "b.csr",
    ]);
    let notes = o.stderr_lines();
    assert_eq!(notes.len(), 1, "{}", o.stderr);
    assert!(
        notes[0].starts_with("note: ") && notes[0].contains("SAN"),
        "{}",
        o.stderr
    );
    let v = env.openssl(&[
        "req", "-in", "b.csr", "-noout", "-verify", "-subject", "-nameopt", "RFC2253",
    ]);
    assert_eq!(v.code, Some(0), "{}", v.all());
    assert!(
        v.all().contains("verify OK") && !v.all().contains("failure"),
        "{}",
        v.all()
    );
    assert!(
        v.stdout.contains("subject=CN=host,O=XXX\\, Inc.,C=CN"),
        "{}",
        v.stdout
    );
    // Both forms encode the same fields in the same (C first) order.
    let asn1 = env.ssl(&["asn1parse", "-in", "b.csr"]);
    let c = asn1.find(":countryName").unwrap();
    let o_ = asn1.find(":organizationName").unwrap();
    let cn = asn1.find(":commonName").unwrap();
    assert!(c < o_ && o_ < cn, "{asn1}");
}

#[test]
fn csr_from_encrypted_keys_of_every_type() {
    let env = Env::new();
    for (kt, _) in TYPES {
        let key = format!("{kt}.key");
        let csr = format!("{kt}.csr");
        env.ok(&[
            "key",
            "new",
            "--type",
            kt,
            "--out",
            &key,
            "--passphrase-file",
            "pass.txt",
        ]);
        env.ok(&[
            "csr",
            "new",
            "--key",
            &key,
            "--key-passphrase-file",
            "pass.txt",
            "--subject",
            "/CN=host.example",
            "--san",
            "DNS:host.example",
            "--out",
            &csr,
        ]);
        env.req_verify_ok(&["-in", &csr]);
    }
}

#[test]
fn csr_with_wrong_or_missing_key_passphrase_is_refused() {
    let env = Env::new();
    env.ok(&[
        "key",
        "new",
        "--out",
        "enc.key",
        "--passphrase-file",
        "pass.txt",
    ]);
    env.write("wrong.txt", "not it\n");
    let before = env.snapshot();
    let args = [
        "csr",
        "new",
        "--key",
        "enc.key",
        "--subject",
        "/CN=host",
        "--out",
        "x.csr",
    ];
    let mut wrong = args.to_vec();
    wrong.extend(["--key-passphrase-file", "wrong.txt"]);
    env.mtls(&wrong)
        .run()
        .one_error(&["wrong passphrase for", "enc.key"]);
    env.mtls(&args)
        .env("MTLS_KEY_PASSPHRASE", "also wrong")
        .run()
        .one_error(&["wrong passphrase for", "enc.key"]);
    env.mtls(&args)
        .run()
        .one_error(&["enc.key", "MTLS_KEY_PASSPHRASE"]);
    // Garbage instead of a key.
    env.write(
        "junk.key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let before_junk = env.snapshot();
    env.mtls(&[
        "csr",
        "new",
        "--key",
        "junk.key",
        "--subject",
        "/CN=host",
        "--out",
        "x.csr",
    ])
    .run()
    .one_error(&["junk.key"]);
    assert_same(&before_junk, &env.snapshot());
    std::fs::remove_file(env.path("junk.key")).unwrap();
    assert_same(&before, &env.snapshot());
}

/// A root CA in `ca` and an RSA-1024 request `weak.csr` (+ `weak.key`) made by `openssl req`.
fn openssl_weak_request() -> Env {
    let env = Env::new();
    env.root_ca();
    env.ssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        "weak.key",
        "-subj",
        &leaf_subject("weak.example"),
        "-out",
        "weak.csr",
    ]);
    env
}

#[test]
fn openssl_rsa1024_request_is_refused_by_ca_sign() {
    let env = openssl_weak_request();
    let list = env.list("ca", &[]);
    let before = env.snapshot();
    env.mtls(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "weak.csr",
        "--profile",
        "server",
        "--out",
        "weak.crt",
    ])
    .run()
    .one_error(&["weak.csr"]);
    assert_same(&before, &env.snapshot());
    assert_eq!(list, env.list("ca", &[]));
}

#[test]

fn openssl_rsa1024_request_refusal_says_use_rsa2048() {
    let env = openssl_weak_request();
    // The request itself is sound: openssl verifies its signature.
    env.req_verify_ok(&["-in", "weak.csr"]);
    env.mtls(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "weak.csr",
        "--profile",
        "server",
        "--out",
        "weak.crt",
    ])
    .run()
    .one_error(&["weak.csr", "1024", "rsa2048"]);
}

#[test]
fn issued_keys_are_0600_and_encrypted_on_request() {
    let env = Env::new();
    env.root_ca();
    env.issue("ca", "plain", "client", &[]);
    env.issue(
        "ca",
        "enc",
        "client",
        &["--key-passphrase-file", "pass.txt", "--key-type", "ed25519"],
    );
    assert_eq!(mode(&env.path("out/plain.key")), 0o600);
    assert_eq!(mode(&env.path("out/enc.key")), 0o600);
    assert!(
        env.read("out/plain.key")
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        env.read("out/enc.key")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
    assert!(
        env.ssl(&["asn1parse", "-in", "out/enc.key"])
            .contains(":PBES2")
    );
    let pubkey = env.ssl(&[
        "pkey",
        "-in",
        "out/enc.key",
        "-passin",
        "file:pass.txt",
        "-pubout",
    ]);
    assert_eq!(
        pubkey,
        env.ssl(&["x509", "-in", "out/enc.crt", "-noout", "-pubkey"])
    );
    // The CA's store is private too.
    assert_eq!(mode(&env.path("ca/ca.db")), 0o600);
    assert_eq!(mode(&env.path("ca/ca.key")), 0o600);
}
