//! The classic proxy bugs and the safe defaults: half-close carried both ways, a backend that
//! is down, refused flags, and the PROXY v2 header checked by a backend that parses it.

use super::{client, server};
use crate::common::Env;
use crate::net::{Proc, WAIT, cmd_in, pki};

/// A backend that reads until end of stream, answers `got N bytes` and closes; with `proxy`,
/// it first parses a PROXY v2 header and answers its fields instead.
const BACKEND: &str = r#"
import socket, struct, sys
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
print("READY", flush=True)
def exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            raise SystemExit("short header")
        b += d
    return b
while True:
    c, _ = s.accept()
    if mode == "proxy":
        head = exact(c, 16)
        assert head[:12] == b"\r\n\r\n\x00\r\nQUIT\n", head
        fam, length = head[13], struct.unpack("!H", head[14:16])[0]
        body = exact(c, length)
        src = socket.inet_ntoa(body[0:4]); sport = struct.unpack("!H", body[8:10])[0]
        out, i = [f"ver_cmd={head[12]:#x} fam={fam:#x} src={src}:{sport}"], 12
        while i < len(body):
            t, l = body[i], struct.unpack("!H", body[i+1:i+3])[0]
            v = body[i+3:i+3+l]; i += 3 + l
            if t == 0x20:
                out.append(f"ssl client={v[0]:#x} verify={struct.unpack('!I', v[1:5])[0]}")
                j = 5
                while j < len(v):
                    st, sl = v[j], struct.unpack("!H", v[j+1:j+3])[0]
                    out.append(f"sub {st:#x}={v[j+3:j+3+sl].decode()}"); j += 3 + sl
            elif t == 0xE0:
                out.append(f"sha256={v.hex()}")
        c.sendall(("\n".join(out) + "\n").encode())
        c.close()
        continue
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        n += len(d)
    c.sendall(f"got {n} bytes\n".encode())
    c.shutdown(socket.SHUT_WR)
    c.close()
"#;

/// Sends `n` bytes to 127.0.0.1:`port`, shuts its write side, reads to end of stream.
const HALF_CLOSE_CLIENT: &str = r#"
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = socket.create_connection(("127.0.0.1", port), timeout=8)
c.sendall(b"x" * n)
c.shutdown(socket.SHUT_WR)
buf = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    buf += d
print("ANSWER", buf.decode().strip(), flush=True)
"#;

fn backend(env: &Env, mode: &str) -> (Proc, u16) {
    let port = super::free_port();
    let p = port.to_string();
    let proc = Proc::spawn(
        "python backend",
        cmd_in(env, "python3", &["-c", BACKEND, &p, mode]),
    );
    proc.wait_for("READY");
    (proc, port)
}

#[test]
fn half_close_is_carried_both_ways_through_the_pair() {
    let env = Env::new();
    pki(&env);
    let (_b, bport) = backend(&env, "count");
    let srv = server(
        &env,
        &format!("127.0.0.1:{bport}"),
        &["--allow-cn", "client1"],
    );
    let c = client(&env, &srv.addr, "client1", &["--servername", "localhost"]);
    for n in ["0", "1", "300000"] {
        let o = cmd_in(
            &env,
            "python3",
            &["-c", HALF_CLOSE_CLIENT, &c.port().to_string(), n],
        )
        .output()
        .expect("python");
        let out = String::from_utf8_lossy(&o.stdout);
        // The client's FIN reached the backend (it counted to the end), and the backend's
        // answer and FIN came back after it.
        assert!(
            out.contains(&format!("ANSWER got {n} bytes")),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let line = srv.proc.wait_for("both sides finished");
    assert!(line.contains("closed after"), "{line}");
}

#[test]
fn a_backend_that_is_down_closes_the_client_with_a_clear_line() {
    let env = Env::new();
    pki(&env);
    let dead = super::free_port();
    let srv = server(
        &env,
        &format!("127.0.0.1:{dead}"),
        &["--allow-cn", "client1"],
    );
    let c = client(&env, &srv.addr, "client1", &["--servername", "localhost"]);
    let t0 = std::time::Instant::now();
    let o = cmd_in(
        &env,
        "python3",
        &["-c", HALF_CLOSE_CLIENT, &c.port().to_string(), "5"],
    )
    .output()
    .expect("python");
    assert!(t0.elapsed() < WAIT, "the client hung");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ANSWER") && !out.contains("got"), "{out}");
    let line = srv.proc.wait_for("cannot reach the target");
    assert!(line.contains(&format!("127.0.0.1:{dead}")), "{line}");
}

#[test]
fn proxy_protocol_v2_tells_the_backend_who_connected() {
    let env = Env::new();
    pki(&env);
    let (_b, bport) = backend(&env, "proxy");
    let srv = server(
        &env,
        &format!("127.0.0.1:{bport}"),
        &["--allow-cn", "client1", "--proxy-protocol", "v2"],
    );
    let c = client(&env, &srv.addr, "client1", &["--servername", "localhost"]);
    let o = cmd_in(
        &env,
        "python3",
        &["-c", HALF_CLOSE_CLIENT, &c.port().to_string(), "0"],
    )
    .output()
    .expect("python");
    let out = String::from_utf8_lossy(&o.stdout);
    let fp = crate::net::sha256_of(&env, "out/client1.crt");
    for want in [
        "ver_cmd=0x21 fam=0x11 src=127.0.0.1",
        "ssl client=0x7 verify=0",
        "sub 0x21=TLSv1.3",
        "sub 0x22=client1",
        "sub 0x23=TLS13_",
        &format!("sha256={fp}"),
    ] {
        assert!(out.contains(want), "{want} missing from {out}");
    }
}

#[test]
fn unsafe_addresses_and_missing_rules_are_refused_with_the_flag_to_change() {
    let env = Env::new();
    pki(&env);
    let base = [
        "tunnel",
        "server",
        "--cert",
        "out/server.crt",
        "--key",
        "out/server.key",
        "--ca",
        "ca/ca.crt",
    ];
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--listen",
                "0.0.0.0:0",
                "--target",
                "127.0.0.1:1",
                "--allow-all",
            ],
            "--unsafe-listen",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--target",
                "10.9.8.7:80",
                "--allow-all",
            ],
            "--unsafe-target",
        ),
        (
            &["--listen", "127.0.0.1:0", "--target", "127.0.0.1:1"],
            "--allow-all",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--target",
                "nowhere",
                "--allow-all",
            ],
            "HOST:PORT",
        ),
        (
            &[
                "--listen",
                "127.0.0.1:0",
                "--target",
                "127.0.0.1:1",
                "--allow-all",
                "--allow-cn",
                "x",
            ],
            "cannot go with",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let o = env.mtls(&args).run().failure();
        assert!(o.stderr.contains(needle), "{args:?}: {}", o.stderr);
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
    let o = env
        .mtls(&[
            "tunnel",
            "client",
            "--listen",
            "0.0.0.0:0",
            "--target",
            "127.0.0.1:1",
            "--cert",
            "out/client1.crt",
            "--key",
            "out/client1.key",
            "--ca",
            "ca/ca.crt",
        ])
        .run()
        .failure();
    assert!(o.stderr.contains("--unsafe-listen"), "{}", o.stderr);
}

/// A backend that answers each line `slow…` after 2 s and any other at once, one thread per
/// connection.
const SLOW_BACKEND: &str = r#"
import socket, sys, threading, time
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
print("READY", flush=True)
def serve(c):
    data = b""
    while not data.endswith(b"\n"):
        d = c.recv(4096)
        if not d:
            break
        data += d
    if data.startswith(b"slow"):
        time.sleep(2)
    c.sendall(b"answer " + data)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// Sends one line to 127.0.0.1:`port` and prints the answer and the seconds it took.
const LINE_CLIENT: &str = r#"
import socket, sys, time
port, line = int(sys.argv[1]), sys.argv[2]
t = time.monotonic()
c = socket.create_connection(("127.0.0.1", port), timeout=8)
c.sendall(line.encode() + b"\n")
buf = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    buf += d
print("ANSWER", buf.decode().strip(), "IN", round(time.monotonic() - t, 3), flush=True)
"#;

#[test]
fn a_slow_backend_answer_holds_up_no_other_connection() {
    let env = Env::new();
    pki(&env);
    let port = super::free_port();
    let p = port.to_string();
    let slow_backend = Proc::spawn(
        "slow backend",
        cmd_in(&env, "python3", &["-c", SLOW_BACKEND, &p]),
    );
    slow_backend.wait_for("READY");
    let srv = server(
        &env,
        &format!("127.0.0.1:{port}"),
        &["--allow-cn", "client1"],
    );
    let c = client(&env, &srv.addr, "client1", &["--servername", "localhost"]);
    let cport = c.port().to_string();
    let slow = Proc::spawn(
        "slow client",
        cmd_in(&env, "python3", &["-c", LINE_CLIENT, &cport, "slow please"]),
    );
    srv.proc.wait_for("open: CN client1");
    for i in 0..5 {
        let o = cmd_in(
            &env,
            "python3",
            &["-c", LINE_CLIENT, &cport, &format!("fast {i}")],
        )
        .output()
        .expect("python");
        let out = String::from_utf8_lossy(&o.stdout);
        let secs: f64 = out
            .rsplit("IN ")
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(99.0);
        assert!(
            out.contains(&format!("ANSWER answer fast {i}")) && secs < 1.0,
            "{out}"
        );
    }
    let line = slow.wait_for("ANSWER");
    assert!(line.contains("answer slow please"), "{line}");
}
