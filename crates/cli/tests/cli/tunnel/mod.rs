//! `mtls tunnel` against real backends (Redis, PostgreSQL, Python's `http.server`, small Python
//! peers) and real clients (`redis-cli`, `psql`, `curl`, Python sockets), on loopback.

mod abuse;
mod backends;
mod edges;
mod reload;

use std::process::Command;

use crate::common::Env;
use crate::net::{Proc, cmd_in, mtls_cmd};

/// A running tunnel and the address it listens on.
pub struct Tunnel {
    pub proc: Proc,
    pub addr: String,
}

impl Tunnel {
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("port")
    }
}

pub fn start(env: &Env, args: Vec<String>) -> Tunnel {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proc = Proc::spawn(format!("mtls {}", args.join(" ")), mtls_cmd(env, &args));
    let addr = crate::net::listening_addr(&proc);
    Tunnel { proc, addr }
}

/// `python3 -m http.server` serving `dir` on a free port of 127.0.0.1; stopped when dropped.
pub fn http_server(env: &Env, dir: &str) -> (Proc, u16) {
    let port = free_port();
    let p = port.to_string();
    let args = ["-m", "http.server", &p, "--bind", "127.0.0.1", "-d", dir];
    let proc = Proc::spawn("python3 -m http.server", cmd_in(env, "python3", &args));
    proc.wait_for("Serving HTTP");
    (proc, port)
}

/// `mtls tunnel server --listen 127.0.0.1:0 --target TARGET` with `out/server.*`, `ca/ca.crt`
/// and `ca/crl.pem`, then `extra`.
pub fn server(env: &Env, target: &str, extra: &[&str]) -> Tunnel {
    let mut a: Vec<String> = [
        "tunnel",
        "server",
        "--listen",
        "127.0.0.1:0",
        "--target",
        target,
        "--cert",
        "out/server.crt",
        "--key",
        "out/server.key",
        "--ca",
        "ca/ca.crt",
        "--crl",
        "ca/crl.pem",
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    start(env, a)
}

/// `mtls tunnel client --listen 127.0.0.1:0 --target TARGET` as `out/NAME.*`, then `extra`.
pub fn client(env: &Env, target: &str, name: &str, extra: &[&str]) -> Tunnel {
    let (cert, key) = (format!("out/{name}.crt"), format!("out/{name}.key"));
    let mut a: Vec<String> = [
        "tunnel",
        "client",
        "--listen",
        "127.0.0.1:0",
        "--target",
        target,
        "--cert",
        &cert,
        "--key",
        &key,
        "--ca",
        "ca/ca.crt",
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    start(env, a)
}

/// A free TCP port on 127.0.0.1 (bound and released; the test binds it at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A program from the machine, or a panic naming the package that has it.
pub fn need(program: &str, package: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{program} is not installed: apt-get install {package} (.ci/run does)"
    );
    program.to_string()
}

/// `redis-server` on a free port, without persistence; stopped when dropped.
pub fn redis(env: &Env) -> (Proc, u16) {
    let bin = need("redis-server", "redis-server");
    let port = free_port();
    let p = port.to_string();
    let args = [
        "--port",
        &p,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let proc = Proc::spawn("redis-server", cmd_in(env, &bin, &args));
    proc.wait_for("Ready to accept connections");
    (proc, port)
}

/// `redis-cli -p PORT ARGS…`, its output.
pub fn redis_cli(env: &Env, port: u16, args: &[&str]) -> String {
    let p = port.to_string();
    let mut a = vec!["-h", "127.0.0.1", "-p", &p];
    a.extend_from_slice(args);
    let o = cmd_in(env, &need("redis-cli", "redis-tools"), &a)
        .output()
        .expect("redis-cli");
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The SHA-256 of a file under the test directory, hex (`sha256sum`).
pub fn sha256(env: &Env, rel: &str) -> String {
    let o = cmd_in(env, "sha256sum", &[rel])
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
