//! The async `SslSocket` against `SslServer` on loopback: the event sequence and byte counts,
//! data queued before the handshake (checked on the wire), the delayed handshake after a
//! plaintext exchange, cipher suites by name, TLS 1.2-only configurations, ALPN, and the
//! handshake timeout freeing a silent peer's connection slot.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mtls_socket::{Error, Event, ServerNotice, SocketState, SslMode, SslServer, TlsContext};
use tokio::io::AsyncReadExt;

fn written(events: &[Event]) -> (usize, usize) {
    let plain = events
        .iter()
        .map(|e| match e {
            Event::BytesWritten(n) => *n,
            _ => 0,
        })
        .sum();
    let enc = events
        .iter()
        .map(|e| match e {
            Event::EncryptedBytesWritten(n) => *n,
            _ => 0,
        })
        .sum();
    (plain, enc)
}

#[test]
fn events_sequence_and_byte_counts() {
    run(async {
        let p = pki();
        let mut srv = TestServer::start(p.server_config()).await;
        let (mut c, mut ev) = client(p.client_config());
        within(
            "connect",
            c.connect_to_host_encrypted("localhost", srv.port),
        )
        .await
        .expect("client handshake");
        let (r, mut s) = srv.next().await;
        r.expect("server handshake");
        assert!(c.is_encrypted() && s.is_encrypted());
        assert_eq!((c.mode(), s.mode()), (SslMode::Client, SslMode::Server));
        assert_eq!(c.state(), SocketState::Connected);
        assert_eq!(c.peer_certificate_chain()[0], p.server.der);
        assert_eq!(s.peer_certificate_chain()[0], p.client.der);
        assert!(c.ssl_errors().is_empty() && s.ssl_errors().is_empty());

        let payload = b"hello over tls\n";
        send(&mut c, payload).await;
        assert_eq!(read_n(&mut s, payload.len()).await, payload);

        let events = drain(&mut ev);
        let states: Vec<SocketState> = events
            .iter()
            .filter_map(|e| match e {
                Event::StateChanged(s) => Some(*s),
                _ => None,
            })
            .collect();
        assert_eq!(
            states,
            [
                SocketState::HostLookup,
                SocketState::Connecting,
                SocketState::Connected
            ],
            "{events:?}"
        );
        let pos = |what: &str, f: &dyn Fn(&Event) -> bool| {
            events
                .iter()
                .position(f)
                .unwrap_or_else(|| panic!("no {what} in {events:?}"))
        };
        let connected = pos("Connected", &|e| matches!(e, Event::Connected));
        let mode = pos("ModeChanged", &|e| {
            matches!(e, Event::ModeChanged(SslMode::Client))
        });
        let encrypted = pos("Encrypted", &|e| matches!(e, Event::Encrypted));
        assert!(connected < mode && mode < encrypted, "{events:?}");
        // The handshake itself goes out as encrypted bytes, no application bytes.
        let (hs_plain, hs_enc) = written(&events[..encrypted]);
        assert_eq!(hs_plain, 0, "{events:?}");
        assert!(hs_enc > 0, "{events:?}");
        // After it: our bytes, and more bytes on the wire (record overhead).
        let (plain, enc) = written(&events[encrypted..]);
        assert_eq!(plain, payload.len(), "{events:?}");
        assert!(enc > plain, "{plain} plain vs {enc} encrypted: {events:?}");
        assert_eq!(c.bytes_written(), payload.len() as u64);
        assert!(c.encrypted_bytes_written() > c.bytes_written());
        assert_eq!(s.bytes_read(), payload.len() as u64);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::SslErrors(_) | Event::Error(_))),
            "{events:?}"
        );

        // Closing: Closing, Unconnected, Disconnected; the server reads a clean EOF.
        c.disconnect_from_host().await.expect("disconnect");
        let events = drain(&mut ev);
        let tail: Vec<String> = events
            .iter()
            .filter(|e| !matches!(e, Event::EncryptedBytesWritten(_)))
            .map(|e| format!("{e:?}"))
            .collect();
        assert_eq!(
            tail,
            [
                "StateChanged(Closing)",
                "StateChanged(Unconnected)",
                "Disconnected"
            ],
            "{events:?}"
        );
        let mut buf = [0u8; 8];
        let n = within("EOF", s.read(&mut buf)).await.expect("clean EOF");
        assert_eq!(n, 0);
    });
}

#[test]
fn data_enqueued_before_the_handshake_arrives_encrypted() {
    run(async {
        let p = pki();
        let mut srv = TestServer::start(p.server_config()).await;
        let rec = Recorder::start(srv.port).await;
        let (mut c, _ev) = client(p.client_config());
        let early = b"early secret line\n";
        c.enqueue(early);
        within(
            "connect",
            c.connect_to_host_encrypted("127.0.0.1", rec.port),
        )
        .await
        .expect("client handshake");
        let (r, mut s) = srv.next().await;
        r.expect("server handshake");
        assert_eq!(read_n(&mut s, early.len()).await, early);
        assert!(!rec.saw(b"early secret"), "sent in clear");
        assert!(rec.saw(&[0x16, 0x03]), "no TLS handshake record seen");
        assert_eq!(c.bytes_written(), early.len() as u64);
    });
}

#[test]
fn delayed_handshake_after_a_plaintext_exchange() {
    run(async {
        let p = pki();
        let ctx = TlsContext::new(p.server_config()).expect("context");
        let server = SslServer::bind("127.0.0.1:0", ctx, 4).await.expect("bind");
        let port = server.local_addr().expect("addr").port();
        let srv = tokio::task::spawn_local(async move {
            let inc = server.accept(&mut |_| {}).await;
            let mut s = inc.socket;
            let mut ev = s.events();
            assert_eq!(
                (s.mode(), s.state()),
                (SslMode::Unencrypted, SocketState::Connected)
            );
            assert_eq!(read_n(&mut s, 9).await, b"STARTTLS\n");
            send(&mut s, b"GO\n").await;
            assert_eq!(s.encrypted_bytes_written(), 0);
            s.start_server_encryption().await.expect("server handshake");
            let secret = read_n(&mut s, 7).await;
            send(&mut s, b"ok\n").await;
            (secret, drain(&mut ev), s)
        });

        let (mut c, mut ev) = client(p.client_config());
        within("connect", c.connect_to_host("127.0.0.1", port))
            .await
            .expect("tcp connect");
        assert_eq!(c.mode(), SslMode::Unencrypted);
        assert!(!c.is_encrypted());
        send(&mut c, b"STARTTLS\n").await;
        assert_eq!(read_n(&mut c, 3).await, b"GO\n");
        assert_eq!(c.bytes_written(), 9);
        assert_eq!(c.encrypted_bytes_written(), 0);
        c.enqueue(b"secret\n");
        within("handshake", c.start_client_encryption(Some("localhost")))
            .await
            .expect("client handshake");
        assert!(c.is_encrypted());
        assert_eq!(read_n(&mut c, 3).await, b"ok\n");
        let (secret, sev, s) = within("server", srv).await.expect("server task");
        assert_eq!(secret, b"secret\n");
        assert!(s.is_encrypted() && s.mode() == SslMode::Server);

        let events = drain(&mut ev);
        let plain = events
            .iter()
            .position(|e| matches!(e, Event::BytesWritten(9)))
            .expect("plain write");
        let mode = events
            .iter()
            .position(|e| matches!(e, Event::ModeChanged(SslMode::Client)))
            .expect("mode");
        let enc = events
            .iter()
            .position(|e| matches!(e, Event::Encrypted))
            .expect("encrypted");
        assert!(plain < mode && mode < enc, "{events:?}");
        assert!(
            !events[..mode]
                .iter()
                .any(|e| matches!(e, Event::EncryptedBytesWritten(_))),
            "{events:?}"
        );
        assert!(
            sev.iter()
                .any(|e| matches!(e, Event::ModeChanged(SslMode::Server)))
        );
        assert!(sev.iter().any(|e| matches!(e, Event::Encrypted)));

        // Encrypting twice is a state error.
        let again = c.start_client_encryption(Some("localhost")).await;
        assert!(matches!(again, Err(Error::State(_))), "{again:?}");
    });
}

#[test]
fn cipher_suites_by_name_tls12_only_and_alpn() {
    run(async {
        let p = pki();
        let mut scfg = p.server_config();
        scfg.set_alpn_protocols(vec![b"mtls/1".to_vec(), b"h2".to_vec()]);
        let mut srv = TestServer::start(scfg).await;

        // A TLS 1.3 suite by its IANA name.
        let mut cc = p.client_config();
        cc.set_cipher_suites("TLS_CHACHA20_POLY1305_SHA256")
            .expect("suite");
        cc.set_alpn_protocols(vec![b"h2".to_vec()]);
        let (mut c, _) = client(cc);
        within(
            "connect",
            c.connect_to_host_encrypted("localhost", srv.port),
        )
        .await
        .expect("handshake");
        let (r, s) = srv.next().await;
        r.expect("server handshake");
        for sock in [&c, &s] {
            assert_eq!(
                sock.cipher().as_deref(),
                Some("TLS13_CHACHA20_POLY1305_SHA256")
            );
            assert_eq!(sock.protocol(), Some(mtls_socket::TlsVersion::Tls13));
            assert_eq!(sock.alpn_protocol(), Some(&b"h2"[..]));
        }
        c.disconnect_from_host().await.ok();

        // TLS 1.2 only, a suite by its OpenSSL name.
        let mut cc = p.client_config();
        tls12(&mut cc);
        cc.set_cipher_suites("ECDHE-ECDSA-AES128-GCM-SHA256")
            .expect("suite");
        let (mut c, _) = client(cc);
        within(
            "connect",
            c.connect_to_host_encrypted("localhost", srv.port),
        )
        .await
        .expect("handshake");
        let (r, mut s) = srv.next().await;
        r.expect("server handshake");
        for sock in [&c, &s] {
            assert_eq!(sock.protocol(), Some(mtls_socket::TlsVersion::Tls12));
            assert_eq!(
                sock.cipher().as_deref(),
                Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
            );
            assert_eq!(sock.alpn_protocol(), None);
        }
        send(&mut c, b"x").await;
        assert_eq!(read_n(&mut s, 1).await, b"x");

        // A TLS 1.2-only server and a default client meet at 1.2.
        let mut scfg = p.server_config();
        tls12(&mut scfg);
        let mut srv12 = TestServer::start(scfg).await;
        let (mut c, _) = client(p.client_config());
        within(
            "connect",
            c.connect_to_host_encrypted("localhost", srv12.port),
        )
        .await
        .expect("handshake");
        let (r, s) = srv12.next().await;
        r.expect("server handshake");
        assert_eq!(c.protocol(), Some(mtls_socket::TlsVersion::Tls12));
        assert_eq!(s.protocol(), Some(mtls_socket::TlsVersion::Tls12));

        // No suite in common: refused.
        let mut scfg = p.server_config();
        scfg.set_cipher_suites("TLS_AES_128_GCM_SHA256")
            .expect("suite");
        let mut srv_aes = TestServer::start(scfg).await;
        let mut cc = p.client_config();
        cc.set_cipher_suites("TLS13_CHACHA20_POLY1305_SHA256")
            .expect("suite");
        let (mut c, _) = client(cc);
        let r = within(
            "connect",
            c.connect_to_host_encrypted("localhost", srv_aes.port),
        )
        .await;
        assert!(r.is_err(), "{r:?}");
        let (r, _) = srv_aes.next().await;
        assert!(r.is_err());
    });
}

#[test]
fn handshake_timeout_frees_a_silent_peer() {
    run(async {
        let p = pki();
        let mut cfg = p.server_config();
        cfg.set_handshake_timeout(Duration::from_millis(300));
        let ctx = TlsContext::new(cfg).expect("context");
        // One connection at a time: the silent peer holds the only slot.
        let server = Arc::new(SslServer::bind("127.0.0.1:0", ctx, 1).await.expect("bind"));
        let port = server.local_addr().expect("addr").port();
        let (ntx, mut notices) = tokio::sync::mpsc::unbounded_channel();
        let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
        let srv = server.clone();
        let task = tokio::task::spawn_local(async move {
            loop {
                let ntx = ntx.clone();
                let mut inc = srv
                    .accept(&mut move |n| {
                        let _ = ntx.send(n);
                    })
                    .await;
                let tx = tx.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let r = inc.socket.start_server_encryption().await;
                    drop(inc); // frees the slot
                    let _ = tx.send((r, t.elapsed()));
                });
            }
        });

        let silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        // While it holds the slot, a second connection is refused and reported.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
        let n = within("notice", notices.recv()).await.expect("notice");
        assert!(
            matches!(n, ServerNotice::LimitReached { limit: 1, .. }),
            "{n:?}"
        );

        let (r, took) = within("timeout", results.recv()).await.expect("result");
        assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(server.open_connections(), 0);

        // The slot is free again for a real client.
        let (mut c, _) = client(p.client_config());
        within("connect", c.connect_to_host_encrypted("localhost", port))
            .await
            .expect("handshake after the timeout");
        let (r, _) = within("second", results.recv()).await.expect("result");
        r.expect("server handshake");
        drop(silent);
        task.abort();
    });
}

/// `enqueue`'s documentation: "Queues data to send as soon as the connection is encrypted (or
/// at the next write)". On an already encrypted socket the queued bytes must go out with the
/// next write.
#[test]
fn data_enqueued_after_the_handshake_goes_out_at_the_next_write() {
    run(async {
        let p = pki();
        let mut srv = TestServer::start(p.server_config()).await;
        let (mut c, _ev) = client(p.client_config());
        within(
            "connect",
            c.connect_to_host_encrypted("localhost", srv.port),
        )
        .await
        .expect("client handshake");
        let (r, mut s) = srv.next().await;
        r.expect("server handshake");
        c.enqueue(b"queued ");
        send(&mut c, b"written\n").await;
        assert_eq!(read_n(&mut s, 15).await, b"queued written\n");
    });
}

/// A server swaps its certificate while running (a renewal): new handshakes see the new one,
/// an established connection keeps working, and a key that does not fit is refused.
#[test]
fn the_server_certificate_is_swapped_without_dropping_connections() {
    run(async {
        let p = pki();
        let mut srv = TestServer::start(p.server_config()).await;
        let (mut old, _e1) = client(p.client_config());
        within(
            "connect",
            old.connect_to_host_encrypted("localhost", srv.port),
        )
        .await
        .expect("first handshake");
        let (r, mut s_old) = srv.next().await;
        r.expect("server handshake");
        assert_eq!(old.peer_certificate_chain()[0], p.server.der);

        let renewed = leaf("server", &["localhost", "127.0.0.1"], Use::Server, &p.ca);
        let wrong = srv.ctx.set_server_certificate(
            vec![renewed.der.clone(), p.ca.der.clone()],
            p.client.key_der(),
        );
        assert!(wrong.is_err(), "a key that does not fit must be refused");
        srv.ctx
            .set_server_certificate(
                vec![renewed.der.clone(), p.ca.der.clone()],
                renewed.key_der(),
            )
            .expect("swap");

        let (mut new, _e2) = client(p.client_config());
        within(
            "connect",
            new.connect_to_host_encrypted("localhost", srv.port),
        )
        .await
        .expect("second handshake");
        let (r, _s_new) = srv.next().await;
        r.expect("server handshake");
        assert_eq!(new.peer_certificate_chain()[0], renewed.der);
        send(&mut old, b"still here\n").await;
        assert_eq!(read_n(&mut s_old, 11).await, b"still here\n");
    });
}
