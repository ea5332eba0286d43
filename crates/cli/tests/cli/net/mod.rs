//! Helpers for the network end-to-end tests: long-running processes (`mtls serve`,
//! `openssl s_client`/`s_server`, Python `ssl` clients) under guards that kill them when dropped,
//! waits for output with deadlines, and the test PKI made by `mtls ca` (plus `openssl ca` for the
//! backdated certificates that `mtls ca` cannot make).
//!
//! Loopback only. Every wait has a deadline; every process is killed and reaped on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Env, PASS, leaf_subject};

/// The default deadline for anything we wait for.
pub const WAIT: Duration = Duration::from_secs(6);

/// A running process whose stdout and stderr are collected (interleaved) in the background.
/// Dropping it kills and reaps the process.
pub struct Proc {
    /// For messages.
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
}

fn pump(mut r: impl Read + Send + 'static, out: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    });
}

impl Proc {
    /// Starts `cmd` with all three standard streams piped.
    pub fn spawn(name: impl Into<String>, mut cmd: Command) -> Proc {
        let name = name.into();
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        pump(child.stdout.take().expect("stdout"), out.clone());
        pump(child.stderr.take().expect("stderr"), out.clone());
        Proc {
            name,
            stdin: child.stdin.take(),
            child,
            out,
            status: None,
        }
    }

    /// Everything printed so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// A position in the output, for [`Proc::wait_for_after`].
    pub fn mark(&self) -> usize {
        self.text().len()
    }

    /// The output for a failure message.
    pub fn dump(&self) -> String {
        format!(
            "----- {} -----\n{}\n----- end -----",
            self.name,
            self.text()
        )
    }

    /// Waits until the output contains `needle`; returns the line holding it.
    #[track_caller]
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_after(0, needle, WAIT)
    }

    /// Waits until the output after `mark` contains `needle` (at most `timeout`); returns the
    /// line holding it.
    #[track_caller]
    pub fn wait_for_after(&self, mark: usize, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text();
            let tail = text.get(mark..).unwrap_or("");
            if let Some(i) = tail.find(needle) {
                let start = tail[..i].rfind('\n').map_or(0, |p| p + 1);
                let end = tail[i..].find('\n').map_or(tail.len(), |p| i + p);
                return tail[start..end].to_string();
            }
            if Instant::now() >= deadline {
                panic!(
                    "{}: no {needle:?} within {timeout:?}\n{}",
                    self.name,
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `needle` occurs at least `n` times in the output.
    #[track_caller]
    pub fn wait_for_count(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.count(needle) < n {
            if Instant::now() >= deadline {
                panic!(
                    "{}: {needle:?} seen {} time(s), wanted {n}\n{}",
                    self.name,
                    self.count(needle),
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How often `needle` occurs in the output.
    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    /// The output lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Writes to the process's stdin.
    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to {}: {e}\n{}", self.name, self.dump()));
    }

    /// Writes to the process's stdin if it is still reading (a peer the server just refused
    /// may be gone already); returns whether the write went through.
    pub fn try_send(&mut self, text: &str) -> bool {
        let Some(stdin) = self.stdin.as_mut() else {
            return false;
        };
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .is_ok()
    }

    /// Closes the process's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `HUP`, `INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(st.success(), "kill -{sig} {} failed", self.pid());
    }

    /// The exit status if the process has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits (at most `timeout`) for the process to end; panics if it does not.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                // Let the pumps drain what is left in the pipes.
                std::thread::sleep(Duration::from_millis(50));
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.name,
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `mtls ARGS` as a [`Command`] in the test directory (the environment cleaned as
/// [`Env::mtls`] does).
pub fn mtls_cmd(env: &Env, args: &[&str]) -> Command {
    env.mtls_command(args)
}

/// A command in the test directory.
pub fn cmd_in(env: &Env, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(env.root()).args(args);
    cmd
}

// ---- mtls serve --------------------------------------------------------------------------

/// A running `mtls serve`.
pub struct Server {
    /// The process.
    pub proc: Proc,
    /// The address it listens on (`127.0.0.1:PORT`, `[::1]:PORT`).
    pub addr: String,
}

impl Server {
    /// The port.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("port")
    }
}

/// `mtls serve --listen LISTEN --cert out/server.crt --key out/server.key --ca ca/ca.crt
/// --heartbeat 0.2 EXTRA…`, waiting for its `listening on ADDR` line.
#[track_caller]
pub fn serve_on(env: &Env, listen: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "serve",
        "--listen",
        listen,
        "--cert",
        "out/server.crt",
        "--key",
        "out/server.key",
        "--ca",
        "ca/ca.crt",
        "--heartbeat",
        "0.2",
    ];
    args.extend_from_slice(extra);
    let proc = Proc::spawn(format!("mtls {}", args.join(" ")), mtls_cmd(env, &args));
    let addr = listening_addr(&proc);
    Server { proc, addr }
}

/// The address in a server's `listening on ADDR` line (`mtls serve`, `mtls tunnel`), waited for.
#[track_caller]
pub fn listening_addr(proc: &Proc) -> String {
    let line = proc.wait_for("listening on ");
    line.split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(|a| a.trim_matches(|c| c == '"' || c == ','))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

/// [`serve_on`] 127.0.0.1:0.
#[track_caller]
pub fn serve(env: &Env, extra: &[&str]) -> Server {
    serve_on(env, "127.0.0.1:0", extra)
}

// ---- openssl and python clients ------------------------------------------------------------

/// `openssl s_client -connect ADDR -CAfile ca/ca.crt [-cert out/NAME.crt -key out/NAME.key]
/// EXTRA…` with stdin kept open.
pub fn s_client(env: &Env, addr: &str, name: Option<&str>, extra: &[&str]) -> Proc {
    let cert = name.map(|n| (format!("out/{n}.crt"), format!("out/{n}.key")));
    let mut args = vec!["s_client", "-connect", addr, "-CAfile", "ca/ca.crt"];
    if let Some((c, k)) = &cert {
        args.extend(["-cert", c, "-key", k]);
    }
    args.extend_from_slice(extra);
    Proc::spawn(
        format!("openssl {} ({})", args.join(" "), name.unwrap_or("no cert")),
        cmd_in(env, "openssl", &args),
    )
}

/// A Python `ssl` client. Arguments: HOST PORT CA CERT|- KEY|- VERSION(1.2|1.3) MODE.
/// MODE `talk`: sends `hello from python`, waits for a heartbeat, prints `GOT <line>`, closes
/// with close_notify (`UNWRAP_OK` when the server answered with its own, else
/// `UNWRAP_FAILED <why>`), prints `DONE`. MODE `wait_eof`: reads until the server closes and prints
/// `CLEAN_EOF` (close_notify) or `UNCLEAN_EOF`. Failures print `SSLERROR <text>`.
const PY_CLIENT: &str = r#"
import socket, ssl, sys
host, port, ca, cert, key, ver, mode = sys.argv[1:8]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
if cert != '-':
    ctx.load_cert_chain(cert, key)
v = ssl.TLSVersion.TLSv1_3 if ver == '1.3' else ssl.TLSVersion.TLSv1_2
ctx.minimum_version = v
ctx.maximum_version = v
try:
    raw = socket.create_connection((host, int(port)), timeout=8)
    s = ctx.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=False)
    print('VERSION', s.version(), flush=True)
    if mode == 'talk':
        s.sendall(('hello from python ' + ver + '\n').encode())
        buf = b''
        while b'hello I am server' not in buf:
            d = s.recv(4096)
            if not d:
                print('EOF before heartbeat', flush=True)
                sys.exit(2)
            buf += d
        line = [l for l in buf.decode().splitlines() if 'hello I am server' in l][0]
        print('GOT', line, flush=True)
        try:
            s.unwrap()  # sends close_notify, then waits for the server's
            print('UNWRAP_OK', flush=True)
        except OSError as e:
            print('UNWRAP_FAILED', e, flush=True)
        s.close()
        print('DONE', flush=True)
    else:
        print('WAITING', flush=True)
        while True:
            try:
                d = s.recv(4096)
            except ssl.SSLZeroReturnError:
                print('CLEAN_EOF', flush=True)
                break
            except ssl.SSLEOFError as e:
                print('UNCLEAN_EOF', e, flush=True)
                break
            if not d:
                print('CLEAN_EOF', flush=True)
                break
except ssl.SSLError as e:
    print('SSLERROR', e, flush=True)
    sys.exit(3)
"#;

/// Starts [`PY_CLIENT`] against `port` on 127.0.0.1 as `name` (`None`: no certificate).
pub fn python(env: &Env, port: u16, name: Option<&str>, version: &str, mode: &str) -> Proc {
    let (cert, key) = match name {
        Some(n) => (format!("out/{n}.crt"), format!("out/{n}.key")),
        None => ("-".to_string(), "-".to_string()),
    };
    let port = port.to_string();
    let args = [
        "-c",
        PY_CLIENT,
        "127.0.0.1",
        &port,
        "ca/ca.crt",
        &cert,
        &key,
        version,
        mode,
    ];
    Proc::spawn(
        format!(
            "python3 ssl client {} TLS {version} {mode}",
            name.unwrap_or("no cert")
        ),
        cmd_in(env, "python3", &args),
    )
}

/// A running `openssl s_server`.
pub struct SServer {
    /// The process.
    pub proc: Proc,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl SServer {
    /// `127.0.0.1:PORT`.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// `openssl s_server -accept 127.0.0.1:0 -cert out/NAME.crt -key out/NAME.key -CAfile
/// ca/ca.crt -Verify 1 -verify_return_error -crl_check -CRL ca/crl.pem EXTRA…` (stdin kept
/// open: s_server stops at EOF), waiting for its `ACCEPT` line. Without `-verify_return_error`
/// s_server only logs a bad client certificate and goes on.
#[track_caller]
pub fn s_server(env: &Env, name: &str, extra: &[&str]) -> SServer {
    let cert = format!("out/{name}.crt");
    let key = format!("out/{name}.key");
    let mut args = vec![
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        &cert,
        "-key",
        &key,
        "-CAfile",
        "ca/ca.crt",
        "-Verify",
        "1",
        "-verify_return_error",
        "-crl_check",
        "-CRL",
        "ca/crl.pem",
    ];
    args.extend_from_slice(extra);
    let proc = Proc::spawn(
        format!("openssl {}", args.join(" ")),
        cmd_in(env, "openssl", &args),
    );
    let line = proc.wait_for("ACCEPT 127.0.0.1:");
    let port = line
        .trim()
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    SServer { proc, port }
}

// ---- PKI -----------------------------------------------------------------------------------

/// The test PKI, all made by `mtls ca` in `env`:
/// - `ca/` (root, [`crate::common::ROOT_SUBJECT`]) with `ca/crl.pem` (CRL number 1, empty);
/// - `out/server.{crt,key}`: profile server, SANs localhost, 127.0.0.1, ::1;
/// - `out/client1`, `out/client2`, `out/rev`: profile client (nothing revoked yet);
/// - `ca2/` (a foreign root) and `out/foreign`: a client certificate it issued.
#[track_caller]
pub fn pki(env: &Env) {
    env.root_ca();
    env.issue(
        "ca",
        "server",
        "server",
        &[
            "--san",
            "DNS:localhost",
            "--san",
            "IP:127.0.0.1",
            "--san",
            "IP:::1",
        ],
    );
    for c in ["client1", "client2", "rev"] {
        env.issue("ca", c, "client", &[]);
    }
    env.init_ca(
        "ca2",
        "/C=CN/ST=GuangDong/O=XXX, Inc./CN=Foreign Root CA",
        &[],
    );
    env.issue("ca2", "foreign", "client", &[]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
}

/// Revokes `out/NAME.crt` and issues a new CRL (ca/crl.pem).
#[track_caller]
pub fn revoke(env: &Env, name: &str) {
    env.ok(&["ca", "revoke", "--dir", "ca", &format!("out/{name}.crt")]);
    env.ok(&["ca", "crl", "--dir", "ca"]);
}

/// A certificate valid only in 2020 for `out/NAME.{crt,key}`, signed by `ca/` through
/// `mtls ca export-openssl` and `openssl ca -startdate/-enddate` (mtls cannot backdate).
/// `eku` is e.g. `clientAuth` or `serverAuth`; `san` e.g. `DNS:expired.example`.
#[track_caller]
pub fn expired_cert(env: &Env, name: &str, eku: &str, san: &str) {
    dated_cert(env, name, eku, san, "20200101000000Z", "20210101000000Z");
}

/// A certificate for `out/NAME.{crt,key}` that expires `secs` seconds from now (as
/// [`expired_cert`], with openssl's `-enddate`).
#[track_caller]
pub fn short_lived_cert(env: &Env, name: &str, eku: &str, san: &str, secs: i64) {
    let end = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let end = end.format(&fmt).expect("date");
    dated_cert(env, name, eku, san, "20200101000000Z", &end);
}

/// [`expired_cert`] with the validity `start`..`end` (openssl's `YYYYMMDDHHMMSSZ`).
#[track_caller]
pub fn dated_cert(env: &Env, name: &str, eku: &str, san: &str, start: &str, end: &str) {
    let osl = format!("osl-{name}");
    env.ok(&["ca", "export-openssl", "--dir", "ca", &osl]);
    // utf8only, as mtls encodes the CA's subject: openssl ca's policy "match" compares types.
    env.write(
        "utf8req.cnf",
        "[req]\ndistinguished_name = dn\nstring_mask = utf8only\nprompt = no\n[dn]\nCN = unused\n",
    );
    env.write(
        &format!("{name}.ext"),
        format!(
            "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
             extendedKeyUsage = {eku}\nsubjectAltName = {san}\n"
        ),
    );
    let key = format!("out/{name}.key");
    let csr = format!("{name}.csr");
    env.ssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-config",
        "utf8req.cnf",
        "-subj",
        &leaf_subject(name),
        "-out",
        &csr,
    ]);
    let o = Command::new("openssl")
        .current_dir(env.path(&osl))
        .args([
            "ca",
            "-config",
            "openssl.cnf",
            "-batch",
            "-notext",
            "-passin",
            &format!("pass:{PASS}"),
            "-startdate",
            start,
            "-enddate",
            end,
            "-extfile",
            &format!("../{name}.ext"),
            "-in",
            &format!("../{csr}"),
            "-out",
            &format!("../out/{name}.crt"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("openssl ca");
    assert!(
        o.status.success(),
        "openssl ca: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The SHA-256 fingerprint of a PEM certificate, as `openssl x509 -fingerprint` sees it
/// (64 lowercase hex digits).
#[track_caller]
pub fn sha256_of(env: &Env, cert: &str) -> String {
    let out = env.ssl(&["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"]);
    let fp = out
        .trim()
        .split_once('=')
        .map(|(_, f)| f.replace(':', "").to_ascii_lowercase())
        .unwrap_or_else(|| panic!("odd fingerprint output {out:?}"));
    assert_eq!(fp.len(), 64, "{out}");
    fp
}

/// True when `::1` can be bound here.
pub fn have_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}
