//! Shared helpers for the end-to-end tests: run the built `mtls` binary and the real `openssl`
//! CLI in a temporary directory, and inspect what they wrote.
//!
//! Every test gets its own [`Env`] (a temporary working directory holding a passphrase file).
//! `mtls` always runs with stdin closed (never a terminal) and with every `MTLS_*` variable of the
//! surrounding environment removed; the CA passphrase is given through `MTLS_CA_PASSPHRASE` unless
//! a test says otherwise.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The CA passphrase (also in `Env::pass_file`).
pub const PASS: &str = "correct horse battery staple";

/// The CA subject used throughout: UTF8String values (mtls encodes all but C as UTF8String).
pub const ROOT_SUBJECT: &str = "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA";

/// A subject that satisfies policy `match` against [`ROOT_SUBJECT`].
pub fn leaf_subject(cn: &str) -> String {
    format!("/C=CN/ST=GuangDong/O=XXX, Inc./CN={cn}")
}

/// The output of one finished process.
#[derive(Debug, Clone)]
pub struct Out {
    /// What the command line was, for failure messages.
    pub what: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    fn dump(&self) -> String {
        format!(
            "{}\n  exit: {:?}\n  stdout:\n{}\n  stderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }

    fn assert_no_panic(&self) {
        assert!(
            !self.stdout.contains("panicked") && !self.stderr.contains("panicked"),
            "the process panicked: {}",
            self.dump()
        );
    }

    /// Asserts exit code 0 (and no panic).
    #[track_caller]
    pub fn success(self) -> Self {
        self.assert_no_panic();
        assert_eq!(self.code, Some(0), "expected success: {}", self.dump());
        self
    }

    /// Asserts exit code 1 (and no panic).
    #[track_caller]
    pub fn failure(self) -> Self {
        self.assert_no_panic();
        assert_eq!(self.code, Some(1), "expected exit code 1: {}", self.dump());
        self
    }

    /// Asserts a non-zero exit (for openssl, whose failure codes vary).
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a failure: {}",
            self.dump()
        );
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Asserts the failure contract of the CLI: exit code 1, nothing on stdout, and stderr
    /// exactly one line, starting with `error:`, containing every string in `needles`.
    #[track_caller]
    pub fn one_error(self, needles: &[&str]) -> Self {
        self.with_error(&[], needles)
    }

    /// Like [`Out::one_error`] but stderr may also hold lines starting with one of `allowed`
    /// (e.g. `warning:`) before the error; exactly one `error:` line, and it is the last.
    #[track_caller]
    pub fn with_error(self, allowed: &[&str], needles: &[&str]) -> Self {
        let out = self.failure();
        assert!(
            out.stdout.trim().is_empty(),
            "a failing command printed on stdout: {}",
            out.dump()
        );
        let lines = out.stderr_lines();
        let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "expected one error line: {}", out.dump());
        assert_eq!(
            lines.last(),
            errors.first().copied(),
            "the error must be the last line: {}",
            out.dump()
        );
        for l in &lines {
            assert!(
                l.starts_with("error: ") || allowed.iter().any(|a| l.starts_with(a)),
                "unexpected stderr line {l:?}: {}",
                out.dump()
            );
        }
        let err = errors[0];
        for n in needles {
            assert!(
                err.contains(n),
                "the error line lacks {n:?}: {err:?}\n{}",
                out.dump()
            );
        }
        out
    }

    /// The single `error:` line.
    pub fn error_line(&self) -> String {
        self.stderr_lines()
            .into_iter()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default()
            .to_string()
    }
}

/// A command about to run.
pub struct Cmd {
    cmd: Command,
    what: String,
}

impl Cmd {
    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, k: &str) -> Self {
        self.cmd.env_remove(k);
        self
    }

    /// Runs to completion.
    pub fn run(mut self) -> Out {
        let o = self
            .cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.what));
        Out {
            what: self.what,
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Starts the process with stdout and stderr piped; see [`finish`].
    pub fn spawn(mut self) -> (String, Child) {
        let child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.what));
        (self.what, child)
    }
}

/// Waits for a spawned process.
pub fn finish((what, child): (String, Child)) -> Out {
    let o = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    Out {
        what,
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtls"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("MTLS_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(self.root())
            .args(args)
            .env("MTLS_CA_PASSPHRASE", PASS)
            .env("RUST_BACKTRACE", "1");
        Cmd {
            cmd,
            what: format!("mtls {}", args.join(" ")),
        }
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

/// Every file and directory under `root` (relative paths), with file contents (`None` for
/// directories).
pub fn snapshot(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Asserts two snapshots are equal, naming the first difference.
#[track_caller]
pub fn assert_same(
    before: &BTreeMap<String, Option<Vec<u8>>>,
    after: &BTreeMap<String, Option<Vec<u8>>>,
) {
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "the command changed files: added {added:?}, removed {removed:?}, changed {changed:?}"
    );
}

/// The whitespace-separated words of `s` (for command lines without spaces in arguments).
pub fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// The serial from `issued … serial X …` / `signed … serial X …` output.
pub fn serial_from_output(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "serial")
        .nth(1)
        .unwrap_or_else(|| panic!("no serial in {stdout:?}"))
        .to_string()
}

/// The value printed on the line after `header` in `openssl … -text` output (trimmed, with a
/// `keyid:` prefix removed).
#[track_caller]
pub fn ext_value(text: &str, header: &str) -> String {
    let mut lines = text.lines();
    lines
        .find(|l| l.trim_start().starts_with(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{text}"));
    let v = lines.next().unwrap_or_default().trim();
    v.strip_prefix("keyid:").unwrap_or(v).trim().to_string()
}

/// The header line itself (e.g. to see `critical`).
#[track_caller]
pub fn ext_header(text: &str, header: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{text}"))
        .trim()
        .to_string()
}

/// True for 32 uppercase hex digits whose first digit is below 8 (a positive 128-bit integer
/// encoded in 16 bytes).
pub fn is_serial_128(s: &str) -> bool {
    s.len() == 32
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        && s.chars()
            .next()
            .and_then(|c| c.to_digit(16))
            .is_some_and(|d| d < 8)
}

/// PEM-encodes `der` under `label` (64-column base64).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                b64.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// File mode bits (permissions) of `p`.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---- Refusals -------------------------------------------------------------------------

/// Runs `cmd`, which must be refused: exit code 1, nothing on stdout, exactly one stderr line
/// starting with `error: ` containing every string in `needles` (lines starting with one of
/// `allowed` may precede it), no panic, no file under the test directory created, changed or
/// removed (the CA directory included, byte for byte), and `mtls ca list --json` unchanged.
#[track_caller]
pub fn refused_cmd(env: &Env, cmd: Cmd, allowed: &[&str], needles: &[&str]) -> Out {
    let list = env.list("ca", &[]);
    let before = env.snapshot();
    let out = cmd.run().with_error(allowed, needles);
    assert_same(&before, &env.snapshot());
    assert_eq!(list, env.list("ca", &[]), "ca list changed");
    out
}

#[track_caller]
pub fn refused(env: &Env, args: &[&str], needles: &[&str]) -> Out {
    refused_cmd(env, env.mtls(args), &[], needles)
}

/// `mtls ca sign --dir ca CSR --profile server --out out.crt`, refused.
#[track_caller]
pub fn sign_refused(env: &Env, csr: &str, needles: &[&str]) -> Out {
    let cmd = format!("ca sign --dir ca {csr} --profile server --out out.crt");
    refused(env, &words(&cmd), needles)
}

/// A root CA in `ca` and a good request `good.csr` (+ `good.key`).
pub fn setup() -> Env {
    let env = Env::new();
    env.root_ca();
    env.openssl_csr("good", &leaf_subject("good.example"), &[]);
    env
}
