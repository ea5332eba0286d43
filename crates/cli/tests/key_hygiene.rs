//! Key hygiene: key files are private whatever the umask, a CA key readable by others is
//! refused with the command that fixes it, no option takes a passphrase on the command line, and
//! a passphrase never shows in any output (error paths and `mtls serve --json-log` included) nor
//! in any file mtls writes.
//!
//! Already covered elsewhere (not repeated here): mode 0600 under the test runner's umask for
//! `key new` (keys_csr.rs `every_key_type_plain_is_pkcs8_0600_…`,
//! `every_key_type_encrypted_is_pbes2_…`), `ca init` root and `--issuer` (ca_init.rs
//! `ca_key_is_encrypted_pbes2_mode_0600_…`, `intermediate_is_signed_and_recorded_…`,
//! `ca_of_every_key_type_…`), `ca issue` (keys_csr.rs `issued_keys_are_0600_…`,
//! profiles_policy.rs) and `ca import-openssl` (openssl_import.rs). New here: every key-writing
//! command under umask 000, and `ca export-openssl`'s `private/cakey.pem`.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A string that appears nowhere unless something leaks it.
fn unique(role: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("Zq{role}Secret{}x{nanos:09}", std::process::id())
}

/// `mtls ARGS` run by `sh` under `umask 000`, with the test environment of [`Env::mtls`].
fn mtls_umask_000(env: &Env, args: &[&str]) -> Out {
    let mut cmd = Command::new("sh");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MTLS_") {
            cmd.env_remove(k);
        }
    }
    let o = cmd
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
    Out {
        what: format!("(umask 000) mtls {}", args.join(" ")),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
    .success()
}

/// A minimal `openssl ca` directory `demoCA` whose key is encrypted with `pass` (in `pw_file`).
fn openssl_ca_dir(env: &Env, pass: &str, pw_file: &str) {
    for d in ["demoCA/private", "demoCA/newcerts"] {
        std::fs::create_dir_all(env.path(d)).unwrap();
    }
    env.write("demoCA/index.txt", "");
    env.write("demoCA/serial", "01\n");
    env.write("demoCA/crlnumber", "01\n");
    env.write(pw_file, format!("{pass}\n"));
    let pass_arg = format!("file:{pw_file}");
    env.ssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes256",
        "-pass",
        &pass_arg,
        "-out",
        "demoCA/private/cakey.pem",
    ]);
    env.ssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "demoCA/private/cakey.pem",
        "-passin",
        &pass_arg,
        "-days",
        "3650",
        "-subj",
        "/C=CN/O=XXX, Inc./CN=Imported Root",
        "-out",
        "demoCA/cacert.pem",
    ]);
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

/// Asserts no secret appears in a command's output; returns the output.
#[track_caller]
fn clean(out: Out, secrets: &[&str]) -> Out {
    for s in secrets {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "a passphrase leaked into the output of {}:\nstdout:\n{}\nstderr:\n{}",
            out.what,
            out.stdout,
            out.stderr
        );
    }
    out
}

/// A running `mtls serve`, its stdout and stderr collected line by line.
struct Server {
    child: std::process::Child,
    log: Arc<Mutex<String>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(env: &Env, args: &[&str], key_pass: &str) -> (Server, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtls"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("MTLS_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .current_dir(env.root())
            .args(args)
            .env("MTLS_KEY_PASSPHRASE", key_pass)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mtls serve");
        let log = Arc::new(Mutex::new(String::new()));
        let mut threads = Vec::new();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            threads.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            }));
        }
        let server = Server {
            child,
            log,
            threads,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = server.log.lock().unwrap().clone();
            if let Some(addr) = text
                .lines()
                .filter(|l| l.contains("\"listening\""))
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .and_then(|v| v["addr"].as_str().map(str::to_string))
            {
                return (server, addr);
            }
            assert!(
                Instant::now() < deadline,
                "mtls serve did not start listening:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the log has `needle` (or times out), then stops the server; returns the log.
    fn stop_after(mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log.lock().unwrap().contains(needle) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let log = self.log.lock().unwrap().clone();
        assert!(
            log.contains(needle),
            "no {needle:?} in the server log:\n{log}"
        );
        log
    }
}

#[test]
fn passphrases_never_appear_in_output_or_files() {
    let root_pass = unique("Root");
    let int_pass = unique("Int");
    let key_pass = unique("Key");
    let wrong = unique("Wrong");
    let secrets = [
        root_pass.as_str(),
        int_pass.as_str(),
        key_pass.as_str(),
        wrong.as_str(),
    ];
    let env = Env::new();
    let with = |args: &[&str], ca: &str| env.mtls(args).env("MTLS_CA_PASSPHRASE", ca);
    // `root` is encrypted with root_pass, `ca` (its intermediate) with int_pass.
    let ok_root = |args: &[&str]| clean(with(args, &root_pass).run().success(), &secrets);
    let ok_ca = |args: &[&str]| clean(with(args, &int_pass).run().success(), &secrets);
    let fails = |cmd: Cmd| clean(cmd.run().failure(), &secrets);

    // Passphrase files (ours; excluded from the file scan below).
    env.write("key.pass", format!("{key_pass}\n"));
    env.write("wrong.pass", format!("{wrong}\n"));

    // The happy paths.
    ok_root(&["ca", "init", "--dir", "root", "--subject", ROOT_SUBJECT]);
    clean(
        with(
            &[
                "ca",
                "init",
                "--dir",
                "ca",
                "--issuer",
                "root",
                "--subject",
                "/C=CN/ST=GuangDong/O=XXX, Inc./CN=XXX Issuing CA",
            ],
            &int_pass,
        )
        .env("MTLS_ISSUER_PASSPHRASE", &root_pass)
        .run()
        .success(),
        &secrets,
    );
    ok_ca(&[
        "ca",
        "issue",
        "srv",
        "--dir",
        "ca",
        "--profile",
        "server",
        "--cn",
        "host.example",
        "--out-dir",
        "out",
        "--key-passphrase-file",
        "key.pass",
    ]);
    ok_ca(&[
        "ca",
        "issue",
        "cli",
        "--dir",
        "ca",
        "--profile",
        "client",
        "--cn",
        "alice",
        "--out-dir",
        "out",
        "--key-passphrase-file",
        "key.pass",
    ]);
    clean(
        env.mtls(&[
            "key",
            "new",
            "--out",
            "req.key",
            "--passphrase-file",
            "key.pass",
        ])
        .run()
        .success(),
        &secrets,
    );
    clean(
        env.mtls(&[
            "csr",
            "new",
            "--key",
            "req.key",
            "--subject",
            &leaf_subject("req.example"),
            "--out",
            "req.csr",
        ])
        .env("MTLS_KEY_PASSPHRASE", &key_pass)
        .run()
        .success(),
        &secrets,
    );
    ok_ca(&[
        "ca",
        "sign",
        "req.csr",
        "--dir",
        "ca",
        "--profile",
        "server",
        "--out",
        "req.crt",
    ]);
    ok_ca(&["ca", "revoke", "req.crt", "--dir", "ca"]);
    ok_ca(&["ca", "crl", "--dir", "ca"]);
    ok_ca(&["ca", "list", "--dir", "ca"]);
    ok_ca(&["ca", "list", "--dir", "ca", "--json"]);
    ok_ca(&["ca", "export-openssl", "--dir", "ca", "exported"]);
    openssl_ca_dir(&env, &root_pass, "import.pass");
    ok_root(&["ca", "import-openssl", "demoCA", "--dir", "imported"]);
    ok_root(&["cert", "show", "out/srv.crt"]);
    ok_root(&["verify", "out/srv.chain.pem", "--ca", "root/ca.crt"]);

    // Error paths: wrong passphrases from the environment and from files.
    for args in [
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
        vec![
            "ca",
            "sign",
            "req.csr",
            "--dir",
            "ca",
            "--profile",
            "server",
            "--out",
            "x.crt",
        ],
        vec!["ca", "crl", "--dir", "ca"],
        vec!["ca", "import-openssl", "demoCA", "--dir", "imported2"],
    ] {
        let o = fails(with(&args, &wrong));
        assert!(o.stderr.contains("wrong passphrase"), "{}", o.stderr);
        let mut by_file = args.clone();
        by_file.extend(["--passphrase-file", "wrong.pass"]);
        let o = fails(with(&by_file, &int_pass));
        assert!(o.stderr.contains("wrong passphrase"), "{}", o.stderr);
    }
    fails(
        with(
            &[
                "ca",
                "init",
                "--dir",
                "int2",
                "--issuer",
                "root",
                "--subject",
                "/C=CN/ST=GuangDong/O=XXX, Inc./CN=XXX Second CA",
            ],
            &int_pass,
        )
        .env("MTLS_ISSUER_PASSPHRASE", &wrong),
    );
    fails(
        env.mtls(&[
            "csr",
            "new",
            "--key",
            "req.key",
            "--subject",
            &leaf_subject("req.example"),
            "--out",
            "req2.csr",
        ])
        .env("MTLS_KEY_PASSPHRASE", &wrong),
    );
    fails(env.mtls(&[
        "csr",
        "new",
        "--key",
        "req.key",
        "--subject",
        &leaf_subject("req.example"),
        "--out",
        "req2.csr",
        "--key-passphrase-file",
        "wrong.pass",
    ]));
    fails(
        env.mtls(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cert",
            "out/srv.chain.pem",
            "--key",
            "out/srv.key",
            "--ca",
            "root/ca.crt",
            "--json-log",
        ])
        .env("MTLS_KEY_PASSPHRASE", &wrong),
    );

    // mtls serve --json-log with an encrypted key, and a client with one.
    let (server, addr) = Server::start(
        &env,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cert",
            "out/srv.chain.pem",
            "--key",
            "out/srv.key",
            "--ca",
            "root/ca.crt",
            "--json-log",
            "--heartbeat",
            "0",
        ],
        &key_pass,
    );
    let client = clean(
        env.mtls(&[
            "connect",
            &addr,
            "--ca",
            "root/ca.crt",
            "--cert",
            "out/cli.chain.pem",
            "--key",
            "out/cli.key",
            "--servername",
            "host.example",
            "--count",
            "1",
        ])
        .env("MTLS_KEY_PASSPHRASE", &key_pass)
        .run()
        .success(),
        &secrets,
    );
    assert!(client.all().contains("sent: "), "{}", client.all());
    fails(
        env.mtls(&[
            "connect",
            &addr,
            "--ca",
            "root/ca.crt",
            "--cert",
            "out/cli.chain.pem",
            "--key",
            "out/cli.key",
            "--servername",
            "host.example",
            "--count",
            "1",
        ])
        .env("MTLS_KEY_PASSPHRASE", &wrong),
    );
    let log = server.stop_after("\"received\"");
    for s in &secrets {
        assert!(
            !log.contains(s),
            "a passphrase leaked into the serve log:\n{log}"
        );
    }

    // Nothing mtls wrote holds a passphrase (our own passphrase files aside).
    let ours = ["key.pass", "wrong.pass", "import.pass", "pass.txt"];
    for (path, data) in env.snapshot() {
        let Some(data) = data else { continue };
        if ours.contains(&path.as_str()) {
            continue;
        }
        for s in &secrets {
            assert!(
                !data.windows(s.len()).any(|w| w == s.as_bytes()),
                "{path} contains a passphrase"
            );
        }
    }
    assert!(Path::new(&env.path("exported/private/cakey.pem")).exists());
}
