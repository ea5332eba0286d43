//! Abuse of `mtls tunnel server` while a well-behaved client is served through it (the short
//! version of `scripts/abuse-soak --tunnel`): stalled handshakes, garbage, plaintext HTTP, a
//! TLS 1.0 ClientHello, a 50-certificate and a 1 MiB client chain, a burst above --max-conns
//! and peers that vanish mid-stream. The backend is a plain-TCP heartbeat server (what `mtls
//! serve` says, without TLS), so the attacks' own good-peer steps work through the tunnel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mtls_bench::abuse::{self, Creds, GoodOptions, StallMode, Target, VanishMode};

use super::{free_port, server};
use crate::common::Env;
use crate::net::{Proc, cmd_in, pki};

/// Every connection gets `hello I am server` every 0.2 s; lines it sends are printed.
const HEARTBEAT: &str = r#"
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(256)
print("READY", flush=True)
def beat(c, done):
    while not done.is_set():
        try:
            c.sendall(b"hello I am server\n")
        except OSError:
            return
        done.wait(0.2)
def serve(c):
    done = threading.Event()
    threading.Thread(target=beat, args=(c, done), daemon=True).start()
    f = c.makefile("rb")
    try:
        for line in f:
            print("GOT", line.decode(errors="replace").strip(), flush=True)
    except OSError:
        pass
    done.set()
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn abuse_of_the_tunnel_leaves_the_good_client_served() {
    let env = Env::new();
    pki(&env);
    let bport = free_port();
    let backend = Proc::spawn(
        "heartbeat backend",
        cmd_in(&env, "python3", &["-c", HEARTBEAT, &bport.to_string()]),
    );
    backend.wait_for("READY");
    let srv = server(
        &env,
        &format!("127.0.0.1:{bport}"),
        &[
            "--allow-cn",
            "client*",
            "--handshake-timeout",
            "1",
            "--max-conns",
            "60",
        ],
    );
    let target = Target::new(srv.addr.parse::<SocketAddr>().expect("address"));
    let creds = |name: &str| Creds {
        ca: env.path("ca/ca.crt"),
        cert: env.path(&format!("out/{name}.crt")),
        key: env.path(&format!("out/{name}.key")),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let good = {
        let (t, c, s) = (target.clone(), creds("client1"), stop.clone());
        std::thread::spawn(move || {
            let opts = GoodOptions {
                secs: 60.0,
                workers: 1,
                give_up: Duration::from_secs(10),
            };
            runtime().block_on(abuse::good(&t, &c, &opts, s))
        })
    };
    backend.wait_for("GOT good client round 3");
    let rt = runtime();
    let secs = Duration::from_secs_f64;
    let v = rt
        .block_on(abuse::stall(&target, 50, StallMode::Mixed, secs(15.0)))
        .expect("stall");
    assert_eq!(v["freed"], 50, "a stalled peer was not freed: {v}");
    for v in [
        rt.block_on(abuse::garbage(&target, 512, 7, secs(10.0))),
        rt.block_on(abuse::http(&target, secs(10.0))),
        rt.block_on(abuse::tls10(&target, secs(10.0))),
    ] {
        let v = v.expect("attack");
        assert_ne!(v["ended"], "still open", "{v}");
    }
    let chain = abuse::attacker_chain(50).expect("chain");
    rt.block_on(abuse::present_chain("long-chain", &target, chain))
        .expect("long chain");
    let chain = abuse::padded_chain(1 << 20).expect("padded chain");
    rt.block_on(abuse::present_chain("huge-chain", &target, chain))
        .expect("huge chain");
    let v = rt
        .block_on(abuse::burst(&target, 200, Duration::from_millis(800)))
        .expect("burst");
    eprintln!("burst: {v}");
    for mode in [VanishMode::Rst, VanishMode::Fin] {
        let v = rt
            .block_on(abuse::vanish(&target, &creds("client2"), mode))
            .expect("vanish");
        assert_eq!(v["vanished"], true, "{v}");
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let rep = good.join().expect("thread").expect("good client");
    eprintln!("good client: {}", rep.to_json());
    assert_eq!(rep.failures, 0, "{}", rep.to_json());
    assert!(rep.served >= 5, "{}", rep.to_json());
    let text = srv.proc.text();
    assert!(!text.contains("panicked"), "{}", srv.proc.dump());
    for needle in [
        "timed out",
        "ChainTooLong",
        "refused 127.0.0.1:",
        "the client side failed",
    ] {
        assert!(
            text.contains(needle),
            "no {needle:?} line:\n{}",
            srv.proc.dump()
        );
    }
    // Still up and serving.
    let rep = runtime()
        .block_on(abuse::good(
            &target,
            &creds("client1"),
            &GoodOptions {
                secs: 1.0,
                workers: 1,
                give_up: Duration::from_secs(5),
            },
            Arc::new(AtomicBool::new(false)),
        ))
        .expect("good client after");
    assert!(rep.served >= 1 && rep.failures == 0, "{}", rep.to_json());
}
