//! Key hygiene: key files are private whatever the umask, a CA key readable by others is
//! refused with the command that fixes it, and no option takes a passphrase on the command line.
//! That a passphrase never shows in any output nor in any file mtls writes is checked in
//! passphrase_leaks.rs.
//!
//! Already covered elsewhere (not repeated here): mode 0600 under the test runner's umask for
//! `key new` (keys_csr.rs `every_key_type_plain_is_pkcs8_0600_…`,
//! `every_key_type_encrypted_is_pbes2_…`), `ca init` root and `--issuer` (ca_init.rs
//! `ca_key_is_encrypted_pbes2_mode_0600_…`, `intermediate_is_signed_and_recorded_…`,
//! `ca_of_every_key_type_…`), `ca issue` (keys_csr.rs `issued_keys_are_0600_…`,
//! profiles_policy.rs) and `ca import-openssl` (openssl_import.rs). New here: every key-writing
//! command under umask 000, and `ca export-openssl`'s `private/cakey.pem`.

use std::collections::BTreeSet;
use std::process::Stdio;

use crate::common::*;

/// `mtls ARGS` run by `sh` under `umask 000`, with the test environment of [`Env::mtls`].
fn mtls_umask_000(env: &Env, args: &[&str]) -> Out {
    let o = without_mtls_env("sh")
        .current_dir(env.root())
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mtls"))
        .args(args)
        .env("MTLS_CA_PASSPHRASE", PASS)
        .env("MTLS_ISSUER_PASSPHRASE", PASS)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    Out::from_output(format!("(umask 000) mtls {}", args.join(" ")), o).success()
}
#[test]
fn every_key_file_is_0600_even_under_umask_000() {
    let env = Env::new();
    let run = |args: &[&str]| mtls_umask_000(&env, args);
    run(&["key", "new", "--out", "plain.key"]);
    run(&[
        "key",
        "new",
        "--type",
        "ed25519",
        "--out",
        "enc.key",
        "--passphrase-file",
        "pass.txt",
    ]);
    run(&["ca", "init", "--dir", "ca", "--subject", ROOT_SUBJECT]);
    run(&[
        "ca",
        "init",
        "--dir",
        "int",
        "--issuer",
        "ca",
        "--subject",
        "/C=CN/ST=GuangDong/O=XXX, Inc./CN=XXX Issuing CA",
    ]);
    run(&[
        "ca",
        "issue",
        "srv",
        "--dir",
        "int",
        "--profile",
        "server",
        "--cn",
        "host.example",
        "--out-dir",
        "out",
    ]);
    run(&[
        "ca",
        "issue",
        "cli",
        "--dir",
        "int",
        "--profile",
        "client",
        "--out-dir",
        "out",
        "--key-passphrase-file",
        "pass.txt",
    ]);
    openssl_ca_dir(&env, PASS, "pw");
    run(&["ca", "import-openssl", "demoCA", "--dir", "imported"]);
    run(&["ca", "export-openssl", "--dir", "ca", "exported"]);

    let keys = [
        "plain.key",
        "enc.key",
        "ca/ca.key",
        "int/ca.key",
        "out/srv.key",
        "out/cli.key",
        "imported/ca.key",
        "exported/private/cakey.pem",
    ];
    for k in keys {
        assert_eq!(mode(&env.path(k)), 0o600, "{k} under umask 000");
    }
    // The CA stores too; and export-openssl's private/ directory is closed.
    for db in ["ca/ca.db", "int/ca.db", "imported/ca.db"] {
        assert_eq!(mode(&env.path(db)), 0o600, "{db} under umask 000");
    }
    assert_eq!(mode(&env.path("exported/private")), 0o700);
    // Certificates stay public and not writable by others.
    for crt in [
        "ca/ca.crt",
        "int/ca.crt",
        "out/srv.crt",
        "exported/cacert.pem",
    ] {
        assert_eq!(mode(&env.path(crt)), 0o644, "{crt} under umask 000");
    }
    // No temporary copy of a key is left behind.
    let leftovers: Vec<String> = env
        .snapshot()
        .into_keys()
        .filter(|p| p.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn export_openssl_writes_cakey_0600() {
    let env = Env::new();
    env.root_ca();
    env.ok(&["ca", "export-openssl", "--dir", "ca", "exported"]);
    assert_eq!(mode(&env.path("exported/private/cakey.pem")), 0o600);
    assert!(
        env.read("exported/private/cakey.pem")
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );
}

/// A CA with a CRL-able certificate and a request to sign; returns the env.
fn ca_with_readable_key(key_mode: u32) -> Env {
    use std::os::unix::fs::PermissionsExt;
    let env = setup();
    env.issue("ca", "srv", "server", &["--cn", "host.example"]);
    std::fs::set_permissions(
        env.path("ca/ca.key"),
        std::fs::Permissions::from_mode(key_mode),
    )
    .unwrap();
    env
}

#[test]
fn a_ca_key_readable_by_others_is_refused_with_the_fix() {
    for key_mode in [0o644, 0o640, 0o604] {
        let env = ca_with_readable_key(key_mode);
        let shown = format!("mode {key_mode:03o}");
        let fix = ["chmod 600", "ca/ca.key", shown.as_str()];
        sign_refused(&env, "good.csr", &fix);
        refused(
            &env,
            &[
                "ca",
                "issue",
                "more",
                "--dir",
                "ca",
                "--profile",
                "client",
                "--out-dir",
                "out",
            ],
            &fix,
        );
        refused(&env, &["ca", "crl", "--dir", "ca"], &fix);
        // An intermediate cannot be made with the readable parent key either.
        refused(
            &env,
            &[
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
            ],
            &fix,
        );
    }
    // After the fix the CA works again.
    let env = ca_with_readable_key(0o644);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        env.path("ca/ca.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.ok(&["ca", "crl", "--dir", "ca"]);
}

#[test]
fn export_openssl_refuses_a_ca_key_readable_by_others() {
    let env = ca_with_readable_key(0o644);
    refused(
        &env,
        &["ca", "export-openssl", "--dir", "ca", "exported"],
        &["chmod 600", "ca/ca.key"],
    );
}

/// Every subcommand path (`["ca", "init"]`, …) from the `Commands:` sections of `--help`.
fn subcommands(env: &Env, path: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let help = env.ok(&args).stdout;
    let mut out = vec![path.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    let mut in_commands = false;
    let mut children = Vec::new();
    for line in help.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                in_commands = false;
                continue;
            }
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" && !name.is_empty() {
                children.push(name.to_string());
            }
        }
    }
    for c in children {
        let mut p: Vec<&str> = path.to_vec();
        p.push(&c);
        out.extend(subcommands(env, &p));
    }
    out
}

#[test]
fn no_option_takes_a_passphrase_value() {
    let env = Env::new();
    let mut paths = subcommands(&env, &[]);
    // Hidden from `mtls --help`, still a command.
    paths.push(vec!["demo".into()]);
    assert!(
        paths.len() >= 15,
        "too few subcommands parsed from --help: {paths:?}"
    );
    let mut checked = BTreeSet::new();
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = env.ok(&args).stdout;
        for line in help.lines() {
            let t = line.trim_start();
            if !t.starts_with('-') {
                continue;
            }
            // `-h, --help`, `--dir <DIR>`, `--passphrase-file <PASSPHRASE_FILE>` …
            let spec = t.split("  ").next().unwrap_or(t);
            let Some(long) = spec
                .split([' ', ','])
                .find(|w| w.starts_with("--"))
                .map(str::to_string)
            else {
                continue;
            };
            let value = spec
                .split_whitespace()
                .find(|w| w.starts_with('<'))
                .map(|v| v.trim_matches(['<', '>', '.']).to_string());
            let lname = long.to_ascii_lowercase();
            if !(lname.contains("pass") || lname.contains("secret") || lname.contains("pin")) {
                continue;
            }
            checked.insert(format!("{} {long}", path.join(" ")));
            match &value {
                // A flag without a value (`--no-passphrase`) carries no secret.
                None => {}
                Some(v) => assert!(
                    lname.ends_with("-file") && v.ends_with("FILE"),
                    "`mtls {} {long} <{v}>` takes a value that is not a file: passphrases must \
                     come from a file, the environment or a prompt, never argv",
                    path.join(" ")
                ),
            }
        }
    }
    // The known passphrase options were all seen (so the parsing works).
    for expected in [
        "ca --passphrase-file",
        "ca init --passphrase-file",
        "ca init --issuer-passphrase-file",
        "ca init --no-passphrase",
        "ca issue --key-passphrase-file",
        "key new --passphrase-file",
        "csr new --key-passphrase-file",
        "serve --key-passphrase-file",
        "connect --key-passphrase-file",
    ] {
        assert!(
            checked.contains(expected),
            "{expected} not found in --help; checked: {checked:?}"
        );
    }
}
