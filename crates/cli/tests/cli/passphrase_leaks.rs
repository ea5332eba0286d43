//! Passphrase leaks: a passphrase never shows in any output (error paths and
//! `mtls serve --json-log` included) nor in any file mtls writes. (That no option takes a
//! passphrase on the command line is checked in key_hygiene.rs.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// A string that appears nowhere unless something leaks it.
fn unique(role: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("Zq{role}Secret{}x{nanos:09}", std::process::id())
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
        let mut child = without_mtls_env(env!("CARGO_BIN_EXE_mtls"))
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
