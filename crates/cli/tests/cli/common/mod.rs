//! Shared helpers for the end-to-end tests: run the built `mtls` binary and the real `openssl`
//! CLI in a temporary directory, and inspect what they wrote.
//!
//! Every test gets its own [`Env`] (a temporary working directory holding a passphrase file).
//! `mtls` always runs with stdin closed (never a terminal) and with every `MTLS_*` variable of the
//! surrounding environment removed; the CA passphrase is given through `MTLS_CA_PASSPHRASE` unless
//! a test says otherwise.
//!
//! This module holds [`Env`]; running processes and their output are in `process`, file
//! snapshots and modes in `files`, parsing of printed text in `text`, refusal checks in
//! `refusal`, and ready-made CAs in `fixtures` (all re-exported here).
#![allow(dead_code)]

mod files;
mod fixtures;
mod process;
mod refusal;
mod text;

// Not every test binary uses every group of helpers.
#[allow(unused_imports)]
pub use {files::*, fixtures::*, process::*, refusal::*, text::*};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The CA passphrase (also in `Env::pass_file`).
pub const PASS: &str = "correct horse battery staple";

/// The CA subject used throughout: UTF8String values (mtls encodes all but C as UTF8String).
pub const ROOT_SUBJECT: &str = "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA";

/// A subject that satisfies policy `match` against [`ROOT_SUBJECT`].
pub fn leaf_subject(cn: &str) -> String {
    format!("/C=CN/ST=GuangDong/O=XXX, Inc./CN={cn}")
}

/// A temporary working directory for one test.
pub struct Env {
    tmp: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    /// A fresh directory with `pass.txt` (the CA passphrase) and `req.cnf` (an openssl request
    /// configuration with `string_mask = default`, so that ASCII values become PrintableString).
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("pass.txt"), format!("{PASS}\n")).unwrap();
        std::fs::write(
            tmp.path().join("req.cnf"),
            "[req]\ndistinguished_name = dn\nstring_mask = default\nprompt = no\n[dn]\nCN = unused\n",
        )
        .unwrap();
        Env { tmp }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// A path inside the directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// The passphrase file.
    pub fn pass_file(&self) -> PathBuf {
        self.path("pass.txt")
    }

    /// Writes a file (relative to the directory).
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        p
    }

    /// Reads a file as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// `mtls ARGS` in the directory, stdin null, `MTLS_CA_PASSPHRASE` set to [`PASS`].
    pub fn mtls(&self, args: &[&str]) -> Cmd {
        Cmd {
            cmd: self.mtls_command(args),
            what: format!("mtls {}", args.join(" ")),
        }
    }

    /// `mtls ARGS` as a [`Command`] in the directory: every `MTLS_*` variable of the surrounding
    /// environment removed, `MTLS_CA_PASSPHRASE` set to [`PASS`].
    pub fn mtls_command(&self, args: &[&str]) -> Command {
        let mut cmd = without_mtls_env(env!("CARGO_BIN_EXE_mtls"));
        cmd.current_dir(self.root())
            .args(args)
            .env("MTLS_CA_PASSPHRASE", PASS)
            .env("RUST_BACKTRACE", "1");
        cmd
    }

    /// `mtls ARGS`, asserting success.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Out {
        self.mtls(args).run().success()
    }

    /// `openssl ARGS` in the directory, stdin null.
    pub fn openssl(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("openssl");
        cmd.current_dir(self.root()).args(args);
        Cmd {
            cmd,
            what: format!("openssl {}", args.join(" ")),
        }
        .run()
    }

    /// `openssl ARGS`, asserting success; returns stdout.
    #[track_caller]
    pub fn ssl(&self, args: &[&str]) -> String {
        let o = self.openssl(args);
        assert_eq!(o.code, Some(0), "openssl failed: {}", o.dump());
        o.stdout
    }

    /// `mtls ca init --dir DIR --subject SUBJECT EXTRA…`.
    #[track_caller]
    pub fn init_ca(&self, dir: &str, subject: &str, extra: &[&str]) -> Out {
        let mut args = vec!["ca", "init", "--dir", dir, "--subject", subject];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// A root CA in `ca` with [`ROOT_SUBJECT`], policy `match`.
    #[track_caller]
    pub fn root_ca(&self) -> &str {
        self.init_ca("ca", ROOT_SUBJECT, &[]);
        "ca"
    }

    /// `mtls ca issue NAME --dir DIR --profile PROFILE --out-dir out EXTRA…`; returns the serial.
    #[track_caller]
    pub fn issue(&self, dir: &str, name: &str, profile: &str, extra: &[&str]) -> String {
        let cmd = format!("ca issue {name} --dir {dir} --profile {profile} --out-dir out");
        let mut args = words(&cmd);
        args.extend_from_slice(extra);
        let o = self.ok(&args);
        serial_from_output(&o.stdout)
    }

    /// An EC P-256 key and a request made by `openssl req`, values PrintableString.
    /// Writes `NAME.key` and `NAME.csr`.
    #[track_caller]
    pub fn openssl_csr(&self, name: &str, subject: &str, extra: &[&str]) -> String {
        let cmd = format!(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {name}.key \
             -config req.cnf -out {name}.csr"
        );
        let mut args = words(&cmd);
        args.extend(["-subj", subject]);
        args.extend_from_slice(extra);
        self.ssl(&args);
        format!("{name}.csr")
    }

    /// A key made by `mtls key new` and a request made by `mtls csr new`. Writes `NAME.key`,
    /// `NAME.csr`.
    #[track_caller]
    pub fn mtls_csr(&self, name: &str, subject: &str, sans: &[&str]) -> String {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        self.ok(&["key", "new", "--out", &key]);
        let mut args = vec![
            "csr",
            "new",
            "--key",
            &key,
            "--subject",
            subject,
            "--out",
            &csr,
        ];
        for s in sans {
            args.push("--san");
            args.push(s);
        }
        self.ok(&args);
        csr
    }

    /// `openssl x509 -noout -text` of a certificate.
    #[track_caller]
    pub fn cert_text(&self, cert: &str) -> String {
        self.ssl(&["x509", "-in", cert, "-noout", "-text"])
    }

    /// The serial as `openssl x509 -serial` prints it (uppercase hex).
    #[track_caller]
    pub fn openssl_serial(&self, cert: &str) -> String {
        let s = self.ssl(&["x509", "-in", cert, "-noout", "-serial"]);
        s.trim()
            .strip_prefix("serial=")
            .unwrap_or_else(|| panic!("odd -serial output {s:?}"))
            .to_string()
    }

    /// `mtls ca list --dir DIR --json EXTRA…`, parsed.
    #[track_caller]
    pub fn list(&self, dir: &str, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["ca", "list", "--dir", dir, "--json"];
        args.extend_from_slice(extra);
        let o = self.ok(&args);
        match serde_json::from_str(&o.stdout) {
            Ok(Value::Array(v)) => v,
            other => panic!("ca list --json gave {other:?}:\n{}", o.stdout),
        }
    }

    /// The serials of `mtls ca list --json EXTRA…`.
    #[track_caller]
    pub fn list_serials(&self, dir: &str, extra: &[&str]) -> Vec<String> {
        self.list(dir, extra)
            .iter()
            .map(|r| r["serial"].as_str().expect("serial").to_string())
            .collect()
    }

    /// Every file and directory under the working directory, with file contents.
    pub fn snapshot(&self) -> BTreeMap<String, Option<Vec<u8>>> {
        snapshot(self.root())
    }

    /// `openssl req -verify`: the request's self-signature verifies. (OpenSSL 3.0 exits 0 even
    /// when it does not, so the message is checked.)
    #[track_caller]
    pub fn req_verify_ok(&self, args: &[&str]) {
        let mut a = vec!["req", "-noout", "-verify"];
        a.extend_from_slice(args);
        let o = self.openssl(&a);
        assert!(
            o.code == Some(0) && o.all().contains("verify OK") && !o.all().contains("failure"),
            "openssl req -verify: {}",
            o.dump()
        );
    }

    /// `openssl crl -verify -CAfile CA`: the CRL's signature verifies.
    #[track_caller]
    pub fn crl_verify_ok(&self, crl: &str, ca: &str) {
        let o = self.openssl(&["crl", "-in", crl, "-noout", "-verify", "-CAfile", ca]);
        assert!(
            o.code == Some(0) && o.all().contains("verify OK"),
            "openssl crl -verify: {}",
            o.dump()
        );
    }

    /// Converts a PEM object to DER with `openssl KIND -outform DER` (`req` or `x509`).
    #[track_caller]
    pub fn to_der(&self, kind: &str, pem: &str, der: &str) {
        self.ssl(&[kind, "-in", pem, "-outform", "DER", "-out", der]);
    }
}
