//! The `blocking` facade: `wait_for_*` calls with timeouts, against an async `SslServer`
//! running in another thread, and blocking on both sides of a delayed (STARTTLS-style)
//! handshake. Every call has a timeout; none may hang.
//!
//! BUG found here: every blocking call builds `tokio::time::timeout(..)` before handing it to
//! its runtime's `block_on`, which panics ("there is no reactor running") in a program without
//! async — the very use of the facade. The plain tests are ignored until that is fixed; their
//! `_in_a_runtime_context` twins run the same checks with some other runtime entered (a
//! workaround a real program should not need) so the rest of the facade stays covered.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use mtls_socket::{Error, Event, SocketState, SslMode, SslServer, TlsContext, blocking};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(5);

/// Runs `f`, inside another runtime's context when `workaround` (see the module doc).
fn ctx<R>(workaround: bool, f: impl FnOnce() -> R) -> R {
    if !workaround {
        return f();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = rt.enter();
    f()
}

/// Reads exactly `n` bytes through `wait_for_ready_read` and `read`.
fn read_exactly(s: &mut blocking::SslSocket, n: usize) -> Vec<u8> {
    let deadline = Instant::now() + T;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {out:?} within {T:?}");
        assert!(
            s.wait_for_ready_read(T).expect("ready read"),
            "closed early"
        );
        let mut buf = vec![0u8; n - out.len()];
        let k = s.read(&mut buf);
        out.extend_from_slice(&buf[..k]);
    }
    out
}

/// An async echo server (upper case) on its own thread; `close` makes it disconnect.
fn async_echo_server(cfg: mtls_socket::SslConfiguration) -> (u16, std::thread::JoinHandle<()>) {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        run(async move {
            let ctx = TlsContext::new(cfg).expect("context");
            let server = SslServer::bind("127.0.0.1:0", ctx, 4).await.expect("bind");
            port_tx
                .send(server.local_addr().expect("addr").port())
                .expect("port");
            // One connection, then the thread ends.
            let inc = server.accept(&mut |_| {}).await;
            let mut s = inc.socket;
            s.start_server_encryption().await.expect("server handshake");
            let mut buf = [0u8; 1024];
            loop {
                let n = within("server read", s.read(&mut buf)).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                if buf[..n].starts_with(b"close") {
                    s.disconnect_from_host().await.expect("close");
                    break;
                }
                let up = buf[..n].to_ascii_uppercase();
                s.write_all(&up).await.expect("echo");
                s.flush().await.expect("flush");
            }
        });
    });
    let port = port_rx.recv_timeout(T).expect("server port");
    (port, handle)
}

#[test]
fn blocking_client_against_an_async_server() {
    client_against_an_async_server(false);
}

#[test]
fn blocking_client_against_an_async_server_in_a_runtime_context() {
    client_against_an_async_server(true);
}

fn client_against_an_async_server(workaround: bool) {
    ctx(workaround, client_against_an_async_server_body);
}

fn client_against_an_async_server_body() {
    let p = pki();
    let (port, server) = async_echo_server(p.server_config());
    let mut c = blocking::SslSocket::new(p.client_config()).expect("socket");
    c.connect_to_host_encrypted("localhost", port, T)
        .expect("handshake");
    assert!(c.is_encrypted());
    assert_eq!(
        (c.mode(), c.state()),
        (SslMode::Client, SocketState::Connected)
    );
    assert_eq!(c.inner().peer_certificate_chain()[0], p.server.der);
    assert_eq!(c.inner().protocol(), Some(mtls_socket::TlsVersion::Tls13));

    assert_eq!(c.write(b"ping\n"), 5);
    assert!(c.wait_for_bytes_written(T).expect("written"));
    assert!(!c.wait_for_bytes_written(T).expect("nothing pending"));
    assert_eq!(read_exactly(&mut c, 5), b"PING\n");

    // Nothing more comes: a short wait times out, promptly, and the socket still works.
    let t0 = Instant::now();
    let r = c.wait_for_ready_read(Duration::from_millis(200));
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    c.write(b"again\n");
    c.wait_for_bytes_written(T).expect("written");
    let mut first = [0u8; 2];
    assert!(c.wait_for_ready_read(T).expect("data"));
    assert_eq!(c.read(&mut first), 2);
    let rest = {
        let mut v = first.to_vec();
        v.extend(c.read_all());
        if v.len() < 6 {
            v.extend(read_exactly(&mut c, 6 - v.len()));
        }
        v
    };
    assert_eq!(rest, b"AGAIN\n");

    let events = c.take_events();
    assert!(
        events.iter().any(|e| matches!(e, Event::Encrypted)),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::BytesWritten(5))),
        "{events:?}"
    );
    assert!(c.inner().encrypted_bytes_written() > c.inner().bytes_written());

    // The server closes: wait_for_disconnected returns.
    c.write(b"close\n");
    c.wait_for_bytes_written(T).expect("written");
    c.wait_for_disconnected(T).expect("disconnected");
    assert_eq!(c.state(), SocketState::Unconnected);
    server.join().expect("server thread");
}

#[test]
fn blocking_on_both_sides_of_a_delayed_handshake() {
    delayed_handshake(false);
}

#[test]
fn blocking_on_both_sides_of_a_delayed_handshake_in_a_runtime_context() {
    delayed_handshake(true);
}

fn delayed_handshake(workaround: bool) {
    ctx(workaround, || delayed_handshake_body(workaround));
}

fn delayed_handshake_body(workaround: bool) {
    let p = pki();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let scfg = p.server_config();
    let server = std::thread::spawn(move || {
        ctx(workaround, || {
            listener.set_nonblocking(true).expect("nonblocking");
            let deadline = Instant::now() + T;
            let tcp = loop {
                match listener.accept() {
                    Ok((tcp, _)) => break tcp,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("no client: {e}"),
                }
            };
            let mut s = blocking::SslSocket::from_std(tcp, scfg).expect("server socket");
            assert_eq!(read_exactly(&mut s, 9), b"STARTTLS\n");
            s.write(b"GO\n");
            s.wait_for_bytes_written(T).expect("written");
            s.start_server_encryption(T).expect("server handshake");
            assert_eq!(s.mode(), SslMode::Server);
            let hello = read_exactly(&mut s, 6);
            s.write(b"bye\n");
            s.wait_for_bytes_written(T).expect("written");
            s.disconnect_from_host(T).expect("close");
            (hello, s.inner().peer_certificate_chain().to_vec())
        })
    });

    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut c = blocking::SslSocket::from_std(tcp, p.client_config()).expect("socket");
    assert_eq!(c.mode(), SslMode::Unencrypted);
    c.write(b"STARTTLS\n");
    c.wait_for_bytes_written(T).expect("written");
    assert_eq!(read_exactly(&mut c, 3), b"GO\n");
    assert_eq!(c.inner().encrypted_bytes_written(), 0);
    c.start_client_encryption(Some("localhost"), T)
        .expect("client handshake");
    assert!(c.is_encrypted());
    c.write(b"hello\n");
    c.wait_for_bytes_written(T).expect("written");
    assert_eq!(read_exactly(&mut c, 4), b"bye\n");
    c.wait_for_disconnected(T).expect("disconnected");
    let (hello, chain) = server.join().expect("server thread");
    assert_eq!(hello, b"hello\n");
    assert_eq!(chain[0], p.client.der);
}

#[test]
fn blocking_calls_time_out() {
    ctx(false, calls_time_out);
}

#[test]
fn blocking_calls_time_out_in_a_runtime_context() {
    ctx(true, calls_time_out);
}

fn calls_time_out() {
    let p = pki();
    // Accepted by the kernel, never answered: the handshake can only time out.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let mut c = blocking::SslSocket::new(p.client_config()).expect("socket");
    let t0 = Instant::now();
    let r = c.connect_to_host_encrypted("127.0.0.1", port, Duration::from_millis(300));
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());

    // A closed port fails at once, not after the timeout.
    drop(silent);
    let mut c = blocking::SslSocket::new(p.client_config()).expect("socket");
    let t0 = Instant::now();
    let r = c.connect_to_host_encrypted("127.0.0.1", port, T);
    assert!(r.is_err(), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(c.state(), SocketState::Unconnected);
}
