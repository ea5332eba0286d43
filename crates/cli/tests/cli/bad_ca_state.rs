//! Bad CA state and arguments: wrong or missing passphrases, a missing CA directory, an expired
//! CA, `init` over an existing CA, unknown or already revoked serials, a batch with one bad
//! request, outputs that exist or cannot be written, a closed stdout.
//!
//! Each refusal (see `common::refused_cmd`) must be: exit code 1, nothing on stdout, exactly one
//! stderr line starting with `error: ` (warning lines only where said) that names the
//! file/field/serial concerned, no panic, and nothing written: the whole test directory, the CA
//! directory included, is byte-for-byte unchanged and `mtls ca list --json` too.

use crate::common::*;

#[test]
fn wrong_passphrase_is_named_not_a_parse_error() {
    let env = setup();
    env.write("wrong.txt", "not the passphrase\n");
    env.write("empty.txt", "\n");
    let sign = [
        "ca",
        "sign",
        "--dir",
        "ca",
        "good.csr",
        "--profile",
        "server",
        "--out",
        "o.crt",
    ];
    for cmd in [
        env.mtls(&sign).env("MTLS_CA_PASSPHRASE", "wrong"),
        env.mtls(&[
            "ca",
            "issue",
            "x",
            "--dir",
            "ca",
            "--profile",
            "client",
            "--passphrase-file",
            "wrong.txt",
        ]),
        env.mtls(&["ca", "crl", "--dir", "ca"])
            .env("MTLS_CA_PASSPHRASE", "wrong"),
    ] {
        let o = refused_cmd(&env, cmd, &[], &["wrong passphrase for", "ca.key"]);
        assert!(!o.stderr.contains("not a valid"), "{}", o.stderr);
    }
    // No passphrase and no terminal: say where to put one.
    refused_cmd(
        &env,
        env.mtls(&sign).env_remove("MTLS_CA_PASSPHRASE"),
        &[],
        &["ca.key", "--passphrase-file", "MTLS_CA_PASSPHRASE"],
    );
    let mut with_file = sign.to_vec();
    with_file.extend(["--passphrase-file", "empty.txt"]);
    refused(&env, &with_file, &["empty.txt", "empty"]);
    with_file.pop();
    with_file.push("nope.txt");
    refused(&env, &with_file, &["nope.txt"]);
    // The parent's passphrase for an intermediate.
    refused_cmd(
        &env,
        env.mtls(&[
            "ca",
            "init",
            "--dir",
            "int",
            "--issuer",
            "ca",
            "--subject",
            "/CN=Int",
        ])
        .env("MTLS_ISSUER_PASSPHRASE", "wrong"),
        &[],
        &["wrong passphrase for", "ca.key"],
    );
}

#[test]
fn missing_ca_directory_is_named() {
    let env = setup();
    for args in [
        &[
            "ca",
            "sign",
            "--dir",
            "nowhere",
            "good.csr",
            "--profile",
            "server",
            "--out",
            "o.crt",
        ][..],
        &[
            "ca",
            "issue",
            "x",
            "--dir",
            "nowhere",
            "--profile",
            "client",
            "--out-dir",
            "out",
        ],
        &[
            "ca",
            "revoke",
            "--dir",
            "nowhere",
            "4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
        &["ca", "crl", "--dir", "nowhere"],
        &["ca", "list", "--dir", "nowhere"],
        &[
            "ca",
            "init",
            "--dir",
            "int",
            "--issuer",
            "nowhere",
            "--subject",
            "/CN=Int",
        ],
    ] {
        refused(&env, args, &["nowhere", "mtls ca init"]);
    }
    refused_cmd(
        &env,
        env.mtls(&["ca", "list"]).env("MTLS_CA_DIR", "elsewhere"),
        &[],
        &["elsewhere"],
    );
    // The default directory, ./ca, in a directory without one.
    let bare = Env::new();
    let before = bare.snapshot();
    bare.mtls(&["ca", "list"])
        .run()
        .one_error(&["ca holds no CA", "mtls ca init"]);
    assert_same(&before, &bare.snapshot());
}

#[test]
fn init_over_an_existing_ca_is_refused() {
    let env = setup();
    env.issue("ca", "leaf", "client", &[]);
    for extra in [
        &[][..],
        &["--no-passphrase"],
        &["--key-type", "ed25519", "--days", "5"],
    ] {
        let mut args = vec!["ca", "init", "--dir", "ca", "--subject", "/CN=Other CA"];
        args.extend_from_slice(extra);
        refused(&env, &args, &["ca", "already holds a CA"]);
    }
    // A directory with only a leftover key counts too.
    env.write("half/ca.key", "leftover");
    refused(
        &env,
        &["ca", "init", "--dir", "half", "--subject", "/CN=Half"],
        &["half", "already holds a CA"],
    );
}

#[test]
fn unknown_and_already_revoked_serials_are_refused() {
    let env = setup();
    let s = env.issue("ca", "leaf", "client", &[]);
    refused(
        &env,
        &[
            "ca",
            "revoke",
            "--dir",
            "ca",
            "4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
        &[
            "no certificate with serial",
            "4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
    );
    // A certificate of another CA.
    env.init_ca("other", "/CN=Other CA", &[]);
    let foreign = env.issue("other", "foreign", "client", &[]);
    refused(
        &env,
        &["ca", "revoke", "--dir", "ca", "out/foreign.crt"],
        &["no certificate with serial", &foreign],
    );
    env.ok(&[
        "ca",
        "revoke",
        "--dir",
        "ca",
        &s,
        "--reason",
        "affiliationChanged",
    ]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
    refused(
        &env,
        &["ca", "revoke", "--dir", "ca", &s],
        &["already revoked", &s, "affiliationChanged"],
    );
    refused(
        &env,
        &[
            "ca",
            "revoke",
            "--dir",
            "ca",
            "out/leaf.crt",
            "--reason",
            "keyCompromise",
        ],
        &["already revoked", &s],
    );
}

/// Replaces ca/ca.crt by a certificate for the same key and subject that expired on
/// 2021-01-01, made with `openssl ca -selfsign -startdate -enddate`.
fn expire_ca(env: &Env) {
    env.write("old/index.txt", "");
    env.write("old/serial", "01\n");
    std::fs::create_dir_all(env.path("old/newcerts")).unwrap();
    env.write(
        "old/ca.cnf",
        "[ca]\ndefault_ca = old\n[old]\ndir = old\ndatabase = $dir/index.txt\n\
         new_certs_dir = $dir/newcerts\nserial = $dir/serial\ndefault_md = sha256\n\
         policy = pol\nunique_subject = no\n[pol]\ncommonName = supplied\n\
         [v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\
         [req]\ndistinguished_name = dn\n[dn]\n",
    );
    env.ssl(&[
        "req",
        "-new",
        "-key",
        "ca/ca.key",
        "-passin",
        "file:pass.txt",
        "-utf8",
        "-subj",
        ROOT_SUBJECT,
        "-config",
        "old/ca.cnf",
        "-out",
        "old/ca.csr",
    ]);
    env.ssl(&[
        "ca",
        "-batch",
        "-config",
        "old/ca.cnf",
        "-selfsign",
        "-keyfile",
        "ca/ca.key",
        "-passin",
        "file:pass.txt",
        "-in",
        "old/ca.csr",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20210101000000Z",
        "-extensions",
        "v3",
        "-preserveDN",
        "-notext",
        "-out",
        "old/ca.crt",
    ]);
    let pubkey = env.ssl(&["x509", "-in", "ca/ca.crt", "-noout", "-pubkey"]);
    std::fs::copy(env.path("old/ca.crt"), env.path("ca/ca.crt")).unwrap();
    std::fs::remove_dir_all(env.path("old")).unwrap();
    assert_eq!(
        pubkey,
        env.ssl(&["x509", "-in", "ca/ca.crt", "-noout", "-pubkey"])
    );
    env.openssl(&["x509", "-in", "ca/ca.crt", "-noout", "-checkend", "0"])
        .fails();
}

#[test]
fn expired_ca_refuses_to_issue() {
    let env = setup();
    expire_ca(&env);
    // Every command warns that the CA expired; signing fails saying so.
    let sign = [
        "ca",
        "sign",
        "--dir",
        "ca",
        "good.csr",
        "--profile",
        "server",
        "--out",
        "o.crt",
    ];
    let issue = [
        "ca",
        "issue",
        "x",
        "--dir",
        "ca",
        "--profile",
        "client",
        "--out-dir",
        "out",
    ];
    for args in [&sign[..], &issue[..]] {
        let o = refused_cmd(
            &env,
            env.mtls(args),
            &["warning: "],
            &["CA certificate expired", "2021-01-01"],
        );
        let lines = o.stderr_lines();
        assert_eq!(lines.len(), 2, "{}", o.stderr);
        assert!(lines[0].contains("expired"), "{}", o.stderr);
    }
}

#[test]
fn batch_with_one_bad_request_signs_nothing() {
    let env = setup();
    env.openssl_csr("bad", "/C=CN/ST=Beijing/O=XXX, Inc./CN=bad.example", &[]);
    let list = env.list("ca", &[]);
    let ca_before = snapshot(&env.path("ca"));
    env.mtls(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "good.csr",
        "bad.csr",
        "--profile",
        "server",
        "--out-dir",
        "D",
    ])
    .run()
    .one_error(&["bad.csr", "ST", "Beijing"]);
    assert_same(&ca_before, &snapshot(&env.path("ca")));
    assert_eq!(list, env.list("ca", &[]));
    let crts: Vec<_> = snapshot(env.root())
        .into_keys()
        .filter(|k| k.ends_with(".crt") && !k.starts_with("ca/"))
        .collect();
    assert!(crts.is_empty(), "{crts:?}");
    // An unreadable request is caught before anything else.
    env.write("junk.csr", "junk");
    refused(
        &env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "junk.csr",
            "--profile",
            "server",
            "--out-dir",
            "E",
        ],
        &["junk.csr"],
    );
}

#[test]
fn existing_outputs_are_not_overwritten() {
    let env = setup();
    env.write("taken.crt", "mine");
    sign_refused_to(&env, "taken.crt");
    env.write("out/x.key", "mine");
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
            "--out-dir",
            "out",
        ],
        &["out/x.key", "already exists"],
    );
}

#[track_caller]
fn sign_refused_to(env: &Env, out: &str) {
    refused(
        env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "--profile",
            "server",
            "--out",
            out,
        ],
        &[out, "already exists"],
    );
}

#[test]

fn refused_batch_leaves_no_output_directory() {
    let env = setup();
    env.openssl_csr("bad", "/C=CN/ST=Beijing/O=XXX, Inc./CN=bad.example", &[]);
    refused(
        &env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "bad.csr",
            "--profile",
            "server",
            "--out-dir",
            "D",
        ],
        &["bad.csr"],
    );
}

#[test]

fn failed_output_write_records_no_certificate() {
    let env = setup();
    refused(
        &env,
        &[
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "--profile",
            "client",
            "--out",
            "missing/x.crt",
        ],
        &["missing/x.crt"],
    );
    env.write("afile", "");
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
            "--out-dir",
            "afile",
        ],
        &["afile"],
    );
}

#[test]

fn failed_crl_out_write_changes_nothing() {
    let env = setup();
    env.ok(&["ca", "crl", "--dir", "ca"]);
    refused(
        &env,
        &["ca", "crl", "--dir", "ca", "--out", "missing/crl.pem"],
        &["missing/crl.pem"],
    );
    let o = env.ok(&["ca", "crl", "--dir", "ca"]);
    assert!(o.stdout.starts_with("CRL number 2 "), "{}", o.stdout);
}

#[test]

fn list_into_a_closed_pipe_does_not_panic() {
    let env = setup();
    // Enough certificates that the listing exceeds a pipe buffer (64 KiB).
    let mut args = vec![
        "ca",
        "sign",
        "--dir",
        "ca",
        "--profile",
        "server",
        "--out-dir",
        "D",
    ];
    let names: Vec<String> = (0..250).map(|i| format!("r/{i}.csr")).collect();
    std::fs::create_dir(env.path("r")).unwrap();
    for n in &names {
        std::fs::copy(env.path("good.csr"), env.path(n)).unwrap();
    }
    args.extend(names.iter().map(String::as_str));
    env.ok(&args);
    let (what, mut child) = env.mtls(&["ca", "list", "--dir", "ca", "--json"]).spawn();
    drop(child.stdout.take()); // the reader goes away, like `| head -1`
    let o = finish((what, child));
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert_ne!(o.code, Some(101), "{}", o.stderr);
}
