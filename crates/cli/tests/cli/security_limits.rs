//! Regression tests for the rest of the security review (issue 18): atomic never-overwrite under
//! concurrency (item 8), a failed `ca init` removing only its own files (item 9), absurd
//! `--days` refused before any store change (item 10), the issuing CA's own constraints
//! (item 12), IPv4-mapped addresses under IPv4 name constraints (item 14), and a process that
//! holds keys being non-dumpable.

use std::process::Command;

use crate::common::*;

/// Item 8: eight `ca issue dup` at once: exactly one writes the files, and they belong together
/// (the serial it printed is dup.crt's, and dup.key is dup.crt's key).
#[test]
fn concurrent_issues_of_one_name_write_one_consistent_set() {
    let env = Env::new();
    env.root_ca();
    std::fs::create_dir_all(env.path("out")).unwrap();
    let runs: Vec<_> = (0..8)
        .map(|_| {
            env.mtls(&[
                "ca",
                "issue",
                "dup",
                "--dir",
                "ca",
                "--profile",
                "client",
                "--out-dir",
                "out",
            ])
            .spawn()
        })
        .collect();
    let outs: Vec<Out> = runs.into_iter().map(finish).collect();
    let winners: Vec<&Out> = outs.iter().filter(|o| o.code == Some(0)).collect();
    assert_eq!(winners.len(), 1, "{outs:#?}");
    for o in outs.iter().filter(|o| o.code != Some(0)) {
        assert!(o.stderr.contains("already exists"), "{o:#?}");
        assert!(!o.all().contains("panicked"), "{o:#?}");
    }
    let serial = serial_from_output(&winners[0].stdout);
    assert_eq!(env.openssl_serial("out/dup.crt"), serial);
    let cert_key = env.ssl(&["x509", "-in", "out/dup.crt", "-noout", "-pubkey"]);
    let key_pub = env.ssl(&["pkey", "-in", "out/dup.key", "-pubout"]);
    assert_eq!(cert_key, key_pub, "dup.key does not belong to dup.crt");
    let chain = env.read("out/dup.chain.pem");
    assert!(chain.starts_with(&env.read("out/dup.crt")), "{chain}");
    // Every attempt is in the store (a loser's certificate can be fetched with `ca get`).
    assert_eq!(env.list("ca", &[]).len(), 8);
}

/// Item 9: `ca init` into a directory that already holds `ca-chain.pem` (or `crl.pem`) refuses
/// before anything is made, and leaves the file as it was; the parent records nothing.
#[test]
fn a_failed_init_never_removes_a_file_it_did_not_create() {
    let env = Env::new();
    env.root_ca();
    for file in ["ca-chain.pem", "crl.pem"] {
        let path = format!("inter/{file}");
        env.write(&path, "precious\n");
        let before = env.snapshot();
        env.mtls(&[
            "ca",
            "init",
            "--dir",
            "inter",
            "--subject",
            &leaf_subject("Inter"),
            "--issuer",
            "ca",
            "--issuer-passphrase-file",
            "pass.txt",
        ])
        .run()
        .one_error(&[&path, "already exists"]);
        assert_same(&before, &env.snapshot());
        assert_eq!(env.read(&path), "precious\n");
        assert!(
            env.list("ca", &[]).is_empty(),
            "the parent recorded a certificate"
        );
        std::fs::remove_file(env.path(&path)).unwrap();
    }
}

/// Item 10: a validity past 9999 (`--days 4294967295` panicked in `sign`, `crl` and `init`,
/// after `crl` had used up a CRL number) is refused: on the command line at parse time (at most
/// 36,500 days), and from a ca.toml profile before the store changes: no CRL number is used up.
#[test]
fn absurd_days_are_refused_before_any_store_change() {
    let env = setup();
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let huge = "4294967295";
    for args in [
        vec![
            "ca",
            "sign",
            "--dir",
            "ca",
            "good.csr",
            "--profile",
            "client",
            "--out",
            "x.crt",
        ],
        vec![
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
        vec!["ca", "crl", "--dir", "ca"],
        vec!["ca", "init", "--dir", "new", "--subject", "/CN=New"],
    ] {
        let mut a = args.clone();
        a.extend(["--days", huge]);
        let before = env.snapshot();
        env.mtls(&a)
            .run()
            .usage_error(&["--days", "4294967295", "1..=36500"]);
        assert_same(&before, &env.snapshot());
    }
    // ca.toml is not bounded by clap: the library refuses, naming the request, before anything
    // is signed or recorded.
    let ca_toml = env.read("ca/ca.toml");
    env.write(
        "ca/ca.toml",
        format!(
            "{ca_toml}\n[profiles.forever]\ndays = 4294967295\nkey_usage = [\"digitalSignature\"]\n"
        ),
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
            "forever",
            "--out",
            "x.crt",
        ],
        &["good.csr", "4294967295 days", "9999"],
    );
    // The next CRL is number 2: the refused runs used no number.
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    let number = ext_value(&text, "X509v3 CRL Number");
    assert_eq!(number, "2", "{text}");
}

/// Item 12: an intermediate with pathLenConstraint 0 refuses to issue a CA certificate, by
/// `ca sign --profile intermediate` and by `ca init --issuer`; it still issues leaves.
#[test]
fn a_ca_refuses_what_its_path_length_forbids() {
    let env = Env::new();
    env.root_ca();
    env.ok(&[
        "ca",
        "init",
        "--dir",
        "inter",
        "--subject",
        &leaf_subject("Inter"),
        "--issuer",
        "ca",
        "--issuer-passphrase-file",
        "pass.txt",
    ]);
    env.openssl_csr("sub", &leaf_subject("Sub CA"), &[]);
    let cmd = "ca sign --dir inter sub.csr --profile intermediate --out sub.crt";
    refused_cmd(
        &env,
        env.mtls(&words(cmd)),
        &[],
        &["pathLenConstraint is 0", "Inter"],
    );
    let before = env.snapshot();
    env.mtls(&[
        "ca",
        "init",
        "--dir",
        "sub",
        "--subject",
        &leaf_subject("Sub CA"),
        "--issuer",
        "inter",
        "--issuer-passphrase-file",
        "pass.txt",
    ])
    .run()
    .one_error(&["pathLenConstraint is 0"]);
    assert_same(&before, &env.snapshot());
    env.issue("inter", "leaf", "client", &[]);
}

/// An `openssl ca` directory `demoCA` whose root carries `nc` as nameConstraints.
fn constrained_openssl_ca(env: &Env, nc: &str) {
    for d in ["demoCA/private", "demoCA/newcerts"] {
        std::fs::create_dir_all(env.path(d)).unwrap();
    }
    env.write("demoCA/index.txt", "");
    env.write("demoCA/serial", "01\n");
    env.ssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "demoCA/private/cakey.pem",
        "-days",
        "3650",
        "-subj",
        "/C=CN/O=XXX, Inc./CN=Constrained Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        nc,
        "-out",
        "demoCA/cacert.pem",
    ]);
}

/// Item 12: a CA whose certificate has name constraints refuses names outside them.
#[test]
fn a_ca_refuses_names_outside_its_name_constraints() {
    let env = Env::new();
    constrained_openssl_ca(
        &env,
        "nameConstraints=critical,permitted;DNS:.internal.example,permitted;IP:10.0.0.0/255.0.0.0",
    );
    env.ok(&["ca", "import-openssl", "demoCA", "--dir", "ca"]);
    refused(
        &env,
        &[
            "ca",
            "issue",
            "evil",
            "--dir",
            "ca",
            "--profile",
            "server",
            "--cn",
            "evil",
            "--san",
            "DNS:evil.example",
            "--out-dir",
            "out",
        ],
        &["Constrained Root", "DNS:evil.example", "nameConstraints"],
    );
    env.issue(
        "ca",
        "fine",
        "server",
        &["--san", "DNS:a.internal.example", "--san", "IP:10.1.1.1"],
    );
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "out/fine.crt"]);
}

/// Item 14: an IPv4-mapped IPv6 SAN does not escape an IPv4 excluded subtree (`mtls verify`,
/// with openssl making the chain).
#[test]
fn ipv4_mapped_addresses_do_not_escape_ipv4_name_constraints() {
    let env = Env::new();
    constrained_openssl_ca(
        &env,
        "nameConstraints=critical,excluded;IP:10.0.0.0/255.0.0.0",
    );
    env.ssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-subj",
        "/CN=mapped",
        "-out",
        "leaf.csr",
    ]);
    env.write(
        "leaf.ext",
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:::ffff:10.0.0.1\n",
    );
    env.ssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "demoCA/cacert.pem",
        "-CAkey",
        "demoCA/private/cakey.pem",
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.crt",
    ]);
    let o = env
        .mtls(&[
            "verify",
            "leaf.crt",
            "--ca",
            "demoCA/cacert.pem",
            "--host",
            "::ffff:10.0.0.1",
        ])
        .run();
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(
        o.stdout.contains("NameConstraintsViolation"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("excluded subtree IP:10.0.0.0/8"),
        "{}",
        o.stdout
    );
}

/// A process holding keys is non-dumpable: run as an unprivileged user, its
/// `/proc/PID/environ` (which still holds the passphrase variables it was started with) is
/// owned by root, so no other process of that user can read it, and no core dump is written.
#[test]
fn a_process_holding_keys_is_not_dumpable() {
    let env = Env::new();
    crate::net::pki(&env);
    let out = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(env.root())
        .output()
        .expect("chown");
    assert!(out.status.success(), "{out:?}");
    std::fs::set_permissions(
        env.root(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = without_mtls_env("setpriv");
    cmd.current_dir(env.root())
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_mtls"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cert",
            "out/server.crt",
            "--key",
            "out/server.key",
            "--ca",
            "ca/ca.crt",
        ])
        .env("MTLS_KEY_PASSPHRASE", "unused");
    let srv = crate::net::Proc::spawn("mtls serve as nobody", cmd);
    srv.wait_for("listening on ");
    let meta = std::fs::metadata(format!("/proc/{}/environ", srv.pid())).expect("environ");
    let uid = std::os::unix::fs::MetadataExt::uid(&meta);
    assert_eq!(
        uid, 0,
        "/proc/PID/environ of a dumpable process is owned by its user"
    );
}
