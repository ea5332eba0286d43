//! Peer verification in the async `SslSocket`: every error with its certificate (an expired
//! certificate for the wrong host yields both), `ignore_ssl_errors()` and the pinned
//! `ignore_ssl_errors_expected`, QueryPeer / VerifyNone / VerifyPeer, a server's refusal seen
//! by the client (TLS 1.3: at the first read), and CRLs swapped or reloaded while the server
//! runs.

mod common;

use common::*;
use mtls_socket::{
    Error, ErrorKind, Event, IgnoreRule, PeerVerifyMode, SslConfiguration, SslSocket,
};
use tokio::io::AsyncReadExt;

fn kinds(errors: &[mtls_socket::SslError]) -> Vec<ErrorKind> {
    errors.iter().map(|e| e.kind).collect()
}

/// Asserts `errors` holds exactly `want` (any order), each on the certificate `sha`.
#[track_caller]
fn assert_on(errors: &[mtls_socket::SslError], want: &[ErrorKind], sha: [u8; 32]) {
    let mut got = kinds(errors);
    let mut want = want.to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{errors:?}");
    for e in errors {
        let c = e.certificate.as_ref().expect("certificate");
        assert_eq!(c.sha256, sha, "{e}");
    }
}

/// A server presenting `cert` (issued by `ca`) that does not ask for client certificates.
async fn plain_server(cert: &Node, ca: &Node) -> TestServer {
    let mut cfg = config(Some((cert, ca)), &[ca]);
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    TestServer::start(cfg).await
}

async fn connect(c: &mut SslSocket, port: u16) -> mtls_socket::Result<()> {
    within("connect", c.connect_to_host_encrypted("localhost", port)).await
}

#[test]
fn expired_certificate_for_the_wrong_host_has_both_errors() {
    run(async {
        let ca = root("CA");
        let old = expired("old", &["old.example"], Use::Server, &ca);
        let mut srv = plain_server(&old, &ca).await;
        let both = [ErrorKind::CertificateExpired, ErrorKind::HostNameMismatch];

        // Strict: refused with both errors, each on the server's certificate.
        let (mut c, mut ev) = client(config(None, &[&ca]));
        let err = connect(&mut c, srv.port).await.expect_err("must fail");
        assert!(matches!(err, Error::PeerVerification { .. }), "{err:?}");
        assert_on(err.ssl_errors(), &both, old.sha256());
        assert_on(c.ssl_errors(), &both, old.sha256());
        let msg = err.to_string();
        assert!(
            msg.contains("CertificateExpired") && msg.contains("HostNameMismatch"),
            "{msg}"
        );
        let events = drain(&mut ev);
        let reported = events.iter().find_map(|e| match e {
            Event::SslErrors(v) => Some(v.clone()),
            _ => None,
        });
        assert_on(&reported.expect("SslErrors event"), &both, old.sha256());
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::PeerVerifyError(_)))
                .count(),
            2
        );
        assert!(events.iter().any(|e| matches!(e, Event::Disconnected)));
        assert!(!events.iter().any(|e| matches!(e, Event::Encrypted)));
        assert_eq!(c.state(), mtls_socket::SocketState::Unconnected);
        let (r, _) = srv.next().await;
        assert!(r.is_err());

        // ignore_ssl_errors(): continues, and still reports both.
        let (mut c, mut ev) = client(config(None, &[&ca]));
        c.ignore_ssl_errors();
        connect(&mut c, srv.port).await.expect("all ignored");
        assert_on(c.ssl_errors(), &both, old.sha256());
        let events = drain(&mut ev);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::SslErrors(v) if v.len() == 2))
        );
        assert!(events.iter().any(|e| matches!(e, Event::Encrypted)));
        let (r, _) = srv.next().await;
        r.expect("server side");

        // Expected errors, pinned: both → passes; only one → refused.
        let pin = |k| IgnoreRule {
            kind: k,
            sha256: Some(old.sha256()),
        };
        let (mut c, _) = client(config(None, &[&ca]));
        c.ignore_ssl_errors_expected(vec![
            pin(ErrorKind::CertificateExpired),
            pin(ErrorKind::HostNameMismatch),
        ]);
        connect(&mut c, srv.port).await.expect("both expected");
        assert_on(c.ssl_errors(), &both, old.sha256());
        srv.next().await.0.expect("server side");

        let (mut c, _) = client(config(None, &[&ca]));
        c.ignore_ssl_errors_expected(vec![pin(ErrorKind::HostNameMismatch)]);
        let err = connect(&mut c, srv.port)
            .await
            .expect_err("expiry not excused");
        assert_on(err.ssl_errors(), &both, old.sha256());
        let _ = srv.next().await;
    });
}

#[test]
fn a_pinned_rule_excuses_only_its_certificate() {
    run(async {
        let ca = root("CA");
        let a = leaf("a", &["a.example"], Use::Server, &ca);
        let b = leaf("b", &["b.example"], Use::Server, &ca);
        let mut srv_a = plain_server(&a, &ca).await;
        let mut srv_b = plain_server(&b, &ca).await;
        let text = format!(
            "HostNameMismatch:{}",
            mtls_socket::CertInfo::unparsed(&a.der).sha256_hex()
        );
        let rule: IgnoreRule = text.parse().expect("rule");

        let (mut c, _) = client(config(None, &[&ca]));
        c.ignore_ssl_errors_expected(vec![rule.clone()]);
        connect(&mut c, srv_a.port).await.expect("pinned to a");
        assert_on(c.ssl_errors(), &[ErrorKind::HostNameMismatch], a.sha256());
        srv_a.next().await.0.expect("server a");

        let (mut c, _) = client(config(None, &[&ca]));
        c.ignore_ssl_errors_expected(vec![rule.clone()]);
        let err = connect(&mut c, srv_b.port)
            .await
            .expect_err("b is not excused");
        assert_on(err.ssl_errors(), &[ErrorKind::HostNameMismatch], b.sha256());
        let _ = srv_b.next().await;

        // Unpinned: any certificate.
        let (mut c, _) = client(config(None, &[&ca]));
        c.ignore_ssl_errors_expected(vec!["HostNameMismatch".parse().expect("rule")]);
        connect(&mut c, srv_b.port).await.expect("unpinned");
        srv_b.next().await.0.expect("server b");

        // The same pin when nothing is wrong (the right name): passes, nothing reported.
        let mut cfg = config(None, &[&ca]);
        cfg.set_peer_verify_name("a.example");
        let (mut c, _) = client(cfg);
        c.ignore_ssl_errors_expected(vec![rule]);
        connect(&mut c, srv_a.port).await.expect("no error");
        assert!(c.ssl_errors().is_empty(), "{:?}", c.ssl_errors());
        srv_a.next().await.0.expect("server a");
    });
}

#[test]
fn verify_modes() {
    run(async {
        let p = pki();
        let foreign_ca = root("Foreign CA");
        let foreign = leaf("foreign", &[], Use::Client, &foreign_ca);

        // QueryPeer: a client without a certificate is accepted.
        let mut cfg = config(Some((&p.server, &p.ca)), &[&p.ca]);
        cfg.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
        let mut srv = TestServer::start(cfg).await;
        let (mut c, _) = client(config(None, &[&p.ca]));
        connect(&mut c, srv.port).await.expect("no certificate");
        let (r, mut s) = srv.next().await;
        r.expect("QueryPeer accepts");
        assert!(s.peer_certificate_chain().is_empty());
        send(&mut c, b"q").await;
        assert_eq!(read_n(&mut s, 1).await, b"q");
        // … and one with a bad certificate too, whose errors are reported (it sends its
        // chain with the untrusted root).
        let (mut c, _) = client(config(Some((&foreign, &foreign_ca)), &[&p.ca]));
        connect(&mut c, srv.port).await.expect("bad certificate");
        let (r, s) = srv.next().await;
        r.expect("QueryPeer accepts");
        assert!(
            kinds(s.ssl_errors()).contains(&ErrorKind::SelfSignedCertificateInChain),
            "{:?}",
            s.ssl_errors()
        );

        // AutoVerifyPeer (the default) is QueryPeer on a server.
        let mut srv = TestServer::start(config(Some((&p.server, &p.ca)), &[&p.ca])).await;
        let (mut c, _) = client(config(None, &[&p.ca]));
        connect(&mut c, srv.port).await.expect("no certificate");
        srv.next().await.0.expect("AutoVerifyPeer server");

        // VerifyPeer: no certificate is NoPeerCertificate on the server, CertificateRequired
        // on the client (TLS 1.3: at the first read).
        let mut srv = TestServer::start(p.server_config()).await;
        let (mut c, _) = client(config(None, &[&p.ca]));
        let hs = connect(&mut c, srv.port).await;
        let (r, _) = srv.next().await;
        let e = r.expect_err("VerifyPeer refuses");
        assert_eq!(kinds(e.ssl_errors()), [ErrorKind::NoPeerCertificate]);
        let client_err = match hs {
            Err(e) => e,
            Ok(()) => {
                let mut b = [0u8; 1];
                let io = within("read", c.read(&mut b)).await.expect_err("refused");
                Error::from_io("reading", io)
            }
        };
        assert!(
            client_err.to_string().contains("CertificateRequired"),
            "{client_err}"
        );

        // VerifyNone client: any server certificate, no errors.
        let mut srv = plain_server(&foreign, &foreign_ca).await;
        let mut cfg = config(None, &[&p.ca]);
        cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
        let (mut c, _) = client(cfg);
        connect(&mut c, srv.port).await.expect("VerifyNone");
        assert!(c.ssl_errors().is_empty(), "{:?}", c.ssl_errors());
        srv.next().await.0.expect("server");

        // VerifyNone server: does not even ask for the client's certificate.
        let mut cfg = config(Some((&p.server, &p.ca)), &[&p.ca]);
        cfg.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
        let mut srv = TestServer::start(cfg).await;
        let (mut c, _) = client(p.client_config());
        connect(&mut c, srv.port).await.expect("handshake");
        let (r, s) = srv.next().await;
        r.expect("server");
        assert!(s.peer_certificate_chain().is_empty());
    });
}

/// Connects `cfg`'s client to `port` and returns the client's error (handshake or, in TLS 1.3,
/// first read) and the server's.
async fn refused(cfg: mtls_socket::SslConfiguration, srv: &mut TestServer) -> (Error, Error) {
    let (mut c, _) = client(cfg);
    let hs = connect(&mut c, srv.port).await;
    let (r, _) = srv.next().await;
    let server_err = r.expect_err("the server must refuse");
    let client_err = match hs {
        Err(e) => e,
        Ok(()) => {
            let mut b = [0u8; 1];
            let io = within("read", c.read(&mut b))
                .await
                .expect_err("the first read must fail");
            Error::from_io("reading", io)
        }
    };
    (client_err, server_err)
}

#[test]
fn server_refusals_are_clear_on_both_sides() {
    run(async {
        let p = pki();
        let rev = leaf("rev", &[], Use::Client, &p.ca);
        let srv_as_client = leaf("srv", &[], Use::Server, &p.ca);
        let mut cfg = p.server_config();
        cfg.set_crls(vec![crl(&p.ca, 1, &[&rev])]);
        let mut srv = TestServer::start(cfg).await;

        for v12 in [false, true] {
            let mut cc = config(Some((&rev, &p.ca)), &[&p.ca]);
            if v12 {
                tls12(&mut cc);
            }
            let (ce, se) = refused(cc, &mut srv).await;
            assert!(matches!(ce, Error::PeerRejected { .. }), "{ce:?}");
            assert!(ce.to_string().contains("CertificateRevoked"), "{ce}");
            assert_on(
                se.ssl_errors(),
                &[ErrorKind::CertificateRevoked],
                rev.sha256(),
            );
        }

        let (ce, se) = refused(config(Some((&srv_as_client, &p.ca)), &[&p.ca]), &mut srv).await;
        assert_on(
            se.ssl_errors(),
            &[ErrorKind::InvalidPurpose],
            srv_as_client.sha256(),
        );
        assert!(matches!(ce, Error::PeerRejected { .. }), "{ce:?}");

        // The good client still gets in.
        let (mut c, _) = client(p.client_config());
        connect(&mut c, srv.port).await.expect("good client");
        srv.next().await.0.expect("good client accepted");
    });
}

#[test]
fn crl_swap_and_reload_affect_the_next_handshake() {
    run(async {
        let p = pki();
        let mut cfg = p.server_config();
        cfg.set_crls(vec![crl(&p.ca, 1, &[])]);
        let mut srv = TestServer::start(cfg).await;

        let (mut c, _) = client(p.client_config());
        connect(&mut c, srv.port).await.expect("not revoked yet");
        let (r, mut s1) = srv.next().await;
        r.expect("accepted");

        // Swap: the client is now revoked; the next handshake sees it at once.
        let crls = srv.ctx.config().crls().clone();
        let g = crls.generation();
        let sum = crls.set(vec![crl(&p.ca, 2, &[&p.client])]);
        assert_eq!((sum.entries, sum.crl_number.as_deref()), (1, Some("2")));
        assert!(sum.generation > g);
        assert!(crls.is_revoked(&p.client.serial()));
        let (_, se) = refused(p.client_config(), &mut srv).await;
        assert_on(
            se.ssl_errors(),
            &[ErrorKind::CertificateRevoked],
            p.client.sha256(),
        );
        // The established connection is untouched (closing it is the application's call).
        send(&mut c, b"still here").await;
        assert_eq!(read_n(&mut s1, 10).await, b"still here");

        // Files: reload() re-reads them; a broken file keeps the previous set.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crl.pem");
        std::fs::write(&path, crl_pem(&crl(&p.ca, 3, &[&p.client]))).expect("write");
        let mut cfg = p.server_config();
        cfg.add_crl_file(&path).expect("CRL file");
        let mut srv = TestServer::start(cfg).await;
        let crls = srv.ctx.config().crls().clone();
        let (_, se) = refused(p.client_config(), &mut srv).await;
        assert_eq!(kinds(se.ssl_errors()), [ErrorKind::CertificateRevoked]);

        std::fs::write(&path, crl_pem(&crl(&p.ca, 4, &[]))).expect("write");
        let sum = crls.reload().expect("reload");
        assert_eq!((sum.entries, sum.crl_number.as_deref()), (0, Some("4")));
        let (mut c, _) = client(p.client_config());
        connect(&mut c, srv.port).await.expect("unrevoked");
        srv.next().await.0.expect("accepted after reload");

        std::fs::write(&path, "not a CRL").expect("write");
        let g = crls.generation();
        let err = crls.reload().expect_err("broken file");
        assert!(err.to_string().contains("crl.pem"), "{err}");
        assert_eq!(crls.generation(), g);
        let (mut c, _) = client(p.client_config());
        connect(&mut c, srv.port).await.expect("previous CRLs kept");
        srv.next().await.0.expect("accepted");
    });
}

/// The peer verify depth counts certificates, the peer's and the trust anchor included, as
/// QSslSocket's does: at 2 a client issued by the CA passes and one under an intermediate fails
/// with ChainTooLong; at 1 only a directly trusted certificate would pass; at 3 both pass.
#[test]
fn peer_verify_depth_counts_leaf_and_anchor() {
    run(async {
        let p = pki();
        let inter = intermediate("Depth Intermediate", &p.ca);
        let deep = leaf("deep", &[], Use::Client, &inter);
        let deep_cfg = || {
            let mut c = SslConfiguration::new();
            c.set_local_certificate(vec![deep.der.clone(), inter.der.clone()], deep.key_der())
                .expect("deep chain");
            c.set_ca_certificates(vec![p.ca.der.clone()]);
            c.set_handshake_timeout(WAIT);
            c
        };
        for (depth, direct_ok, deep_ok) in [(1, false, false), (2, true, false), (3, true, true)] {
            let mut cfg = p.server_config();
            cfg.set_peer_verify_depth(depth);
            let mut srv = TestServer::start(cfg).await;
            for (client_cfg, ok) in [(p.client_config(), direct_ok), (deep_cfg(), deep_ok)] {
                let (mut c, _) = client(client_cfg);
                let _ = connect(&mut c, srv.port).await;
                let (r, s) = srv.next().await;
                assert_eq!(r.is_ok(), ok, "depth {depth}: {r:?}");
                if !ok {
                    assert!(
                        kinds(s.ssl_errors()).contains(&ErrorKind::ChainTooLong),
                        "depth {depth}"
                    );
                }
            }
        }
    });
}

/// A background reload (issue 9): the verifier for the new CRLs is built and published by the
/// reload itself, before it returns, so the next handshake only loads it; a file that did not
/// change keeps its parsed CRL (the same `Arc`), a changed one is parsed again.
#[test]
fn background_reload_publishes_the_new_verifier_and_keeps_unchanged_files() {
    run(async {
        let p = pki();
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.pem"), dir.path().join("b.pem"));
        std::fs::write(&a, crl_pem(&crl(&p.ca, 1, &[]))).expect("write");
        std::fs::write(&b, crl_pem(&crl(&p.ca, 2, &[]))).expect("write");
        let mut cfg = p.server_config();
        cfg.add_crl_file(&a).expect("a");
        cfg.add_crl_file(&b).expect("b");
        let mut srv = TestServer::start(cfg).await;
        let crls = srv.ctx.config().crls().clone();
        let before = srv.ctx.verifier().expect("verifier");
        let (set1, _) = crls.snapshot();

        // b changes (it now lists the client); a does not.
        std::fs::write(&b, crl_pem(&crl(&p.ca, 3, &[&p.client]))).expect("write");
        let sum = crls.reload_in_background().await.expect("reload");
        assert_eq!((sum.crls, sum.entries), (2, 1));
        let (set2, _) = crls.snapshot();
        assert!(
            std::sync::Arc::ptr_eq(&set1[0], &set2[0]),
            "a.pem was parsed again"
        );
        assert!(
            !std::sync::Arc::ptr_eq(&set1[1], &set2[1]),
            "b.pem was not re-read"
        );
        let after = srv.ctx.verifier().expect("verifier");
        assert!(
            !std::sync::Arc::ptr_eq(&before, &after),
            "no new verifier was published"
        );

        let (_, se) = refused(p.client_config(), &mut srv).await;
        assert_eq!(kinds(se.ssl_errors()), [ErrorKind::CertificateRevoked]);
    });
}

/// `set_strict_verification(true)` adds the RFC 5280 issuer-profile rules: a server certificate
/// without authorityKeyIdentifier (§4.2.1.1) is accepted by default and refused when strict,
/// with the error on that certificate.
#[test]
fn strict_verification_refuses_a_certificate_without_aki() {
    run(async {
        let ca = root("CA");
        let n = leaf("localhost", &["localhost"], Use::Server, &ca);
        let mut params = n.params;
        params.use_authority_key_identifier_extension = false;
        let der = params
            .signed_by(&n.key, &ca.issuer())
            .expect("sign")
            .der()
            .clone();
        let no_aki = Node {
            params,
            key: n.key,
            der,
        };
        let mut srv = plain_server(&no_aki, &ca).await;

        let (mut c, _) = client(config(None, &[&ca]));
        connect(&mut c, srv.port)
            .await
            .expect("accepted by default");
        assert!(c.ssl_errors().is_empty(), "{:?}", c.ssl_errors());
        srv.next().await.0.expect("server side");

        let mut cfg = config(None, &[&ca]);
        cfg.set_strict_verification(true);
        let (mut c, _) = client(cfg);
        let err = connect(&mut c, srv.port).await.expect_err("strict refuses");
        assert_on(
            err.ssl_errors(),
            &[ErrorKind::InvalidExtension],
            no_aki.sha256(),
        );
        assert!(err.to_string().contains("authorityKeyIdentifier"), "{err}");
        let _ = srv.next().await;
    });
}
