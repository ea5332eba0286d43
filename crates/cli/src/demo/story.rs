//! The demo's story, step by step: a CA and its certificates, an mTLS server, clients that get
//! in, a pinned and an unpinned HostNameMismatch, a revocation hot-reloaded and refused on both
//! sides, a foreign CA refused, and the server stopped — each outcome recorded as a [`Check`].

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use mtls_pki::{CertificateAuthority, InitOptions, KeyType, Name, Policy, Reason, San, fsutil};

use super::client::{Env, refused, run_client};
use super::report::{Check, say, step};
use super::served::{Served, serve_args};

/// The demo CA's subject (the seed's).
const SUBJECT: &str = "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA";

/// Writes `NAME.crt`, `NAME.key` (unencrypted) and `NAME.chain.pem` into `dir`.
pub(super) fn write_issued(
    dir: &Path,
    name: &str,
    key: &mtls_pki::PrivateKey,
    issued: &mtls_pki::Issued,
    chain: &str,
) -> Result<()> {
    fsutil::write_atomic(
        &dir.join(format!("{name}.crt")),
        issued.pem.as_bytes(),
        fsutil::Mode::Public,
        true,
    )?;
    key.write(&dir.join(format!("{name}.key")), None, true)?;
    let full = format!("{}{chain}", issued.pem);
    fsutil::write_atomic(
        &dir.join(format!("{name}.chain.pem")),
        full.as_bytes(),
        fsutil::Mode::Public,
        true,
    )?;
    Ok(())
}

/// Plays the story in `dir` with `clients` clients, then the online act with the same CA;
/// returns what was expected and seen. One function per step.
pub(super) async fn story(dir: &Path, clients: u32) -> Result<Vec<Check>> {
    let mut pki = Pki::make(dir, clients)?;
    let srv = start_server(&pki).await?;
    let mut checks = Vec::new();
    exchange(&pki, &srv, clients, &mut checks).await?;
    pins(&pki, &srv, &mut checks).await;
    revoke_live(&mut pki, &srv, &mut checks).await?;
    reconnect_revoked(&pki, &srv, &mut checks).await;
    foreign(&pki, &srv, &mut checks).await?;
    step(9, "Stopping the server (close_notify to every peer)");
    srv.stop("server shutdown", &mut checks).await;
    checks.extend(super::online::act(dir, pki.ca, 10).await?);
    Ok(checks)
}

/// The online act alone, with a new CA in `dir/ca`.
pub(super) async fn online_only(dir: &Path) -> Result<Vec<Check>> {
    step(
        1,
        "A private CA (policy match: C, ST, O must equal the CA's)",
    );
    let (ca, _) = new_ca(&dir.join("ca"), DEMO_PASS)?;
    super::online::act(dir, ca, 2).await
}

const DEMO_PASS: &[u8] = b"demo passphrase";

/// The demo's CA (policy match: C, ST, O must equal the CA's), its key encrypted.
fn new_ca(ca_dir: &Path, pass: &'static [u8]) -> Result<(CertificateAuthority, Vec<String>)> {
    let made = CertificateAuthority::init(
        ca_dir,
        InitOptions {
            subject: Name::parse(SUBJECT)?,
            key_type: KeyType::EcP256,
            days: 3650,
            policy: Policy::matching(),
            passphrase: Some(pass),
            parent: None,
            store_url: None,
        },
    )?;
    say(&format!(
        "{} in {} (ca.key encrypted, mode 0600)",
        made.0.subject(),
        ca_dir.display()
    ));
    Ok(made)
}

/// The demo's CA and certificates (steps 1 and 2).
struct Pki {
    dir: std::path::PathBuf,
    certs: std::path::PathBuf,
    ca_dir: std::path::PathBuf,
    ca_crt: std::path::PathBuf,
    ca: CertificateAuthority,
    pass: &'static [u8],
    server_sha: String,
    client_serials: Vec<mtls_pki::Serial>,
}

impl Pki {
    /// Steps 1 and 2: the CA, a server certificate and `clients` client certificates, the
    /// first CRL.
    fn make(dir: &Path, clients: u32) -> Result<Pki> {
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).with_context(|| format!("creating {}", certs.display()))?;
        step(
            1,
            "A private CA (policy match: C, ST, O must equal the CA's)",
        );
        let ca_dir = dir.join("ca");
        let pass = DEMO_PASS;
        let (mut ca, _) = new_ca(&ca_dir, pass)?;
        let chain = ca.chain_pem().to_string();

        step(
            2,
            &format!("Certificates: a server and {clients} client(s)"),
        );
        // As in the seed, the server's certificate names another host than the one clients
        // dial, so every client meets a HostNameMismatch on it.
        let (k, server) = ca.issue(
            "server",
            Name::parse("/CN=server.example")?,
            vec![San::Dns("server.example".into())],
            "server",
            None,
            KeyType::EcP256,
        )?;
        write_issued(&certs, "server", &k, &server, &chain)?;
        let server_sha = mtls_verify::CertInfo::unparsed(&server.der).sha256_hex();
        say(&format!(
            "server: {} serial {} (SAN DNS:server.example)",
            server.subject, server.serial
        ));
        let mut client_serials = Vec::new();
        for n in 1..=clients {
            let (k, c) = ca.issue(
                &format!("client{n}"),
                Name::parse(&format!("/CN=client{n}"))?,
                vec![],
                "client",
                None,
                KeyType::EcP256,
            )?;
            write_issued(&certs, &format!("client{n}"), &k, &c, &chain)?;
            say(&format!("client{n}: {} serial {}", c.subject, c.serial));
            client_serials.push(c.serial.clone());
        }
        let crl = ca.crl(None)?;
        say(&format!(
            "CRL number {} with {} entries -> {}",
            crl.number,
            crl.entries,
            ca_dir.join("crl.pem").display()
        ));
        Ok(Pki {
            dir: dir.to_path_buf(),
            certs,
            ca_crt: ca_dir.join("ca.crt"),
            ca_dir,
            ca,
            pass,
            server_sha,
            client_serials,
        })
    }
}

/// Step 3: `mtls serve` in this process on a free port, its log recorded and narrated.
async fn start_server(pki: &Pki) -> Result<Served> {
    step(
        3,
        "mtls serve on 127.0.0.1 (free port), client certificates required, CRL watched",
    );
    let mut args = serve_args(&pki.certs, &pki.ca_crt, "server.chain.pem", "server.key");
    args.crl = vec![pki.ca_dir.join("crl.pem")];
    Served::start(args, "listening").await
}

/// Where clients find the server and their certificates.
fn env<'a>(pki: &'a Pki, srv: &'a Served) -> Env<'a> {
    srv.env(&pki.certs, &pki.ca_crt)
}

/// The pin every good client uses: the expected HostNameMismatch, on server.crt only.
fn pin(pki: &Pki) -> Vec<String> {
    vec![format!("HostNameMismatch:{}", pki.server_sha)]
}

/// Step 4: every client exchanges messages, pinning the expected HostNameMismatch.
async fn exchange(pki: &Pki, srv: &Served, clients: u32, checks: &mut Vec<Check>) -> Result<()> {
    let env = env(pki, srv);
    step(
        4,
        "Clients connect with mutual TLS, pinning the expected HostNameMismatch to server.crt",
    );
    let mut handles = Vec::new();
    for n in 1..=clients {
        let args = env.client(
            &format!("client{n}"),
            pin(pki),
            Some(3),
            Duration::from_millis(300),
            n,
        );
        handles.push((n, tokio::spawn(run_client(format!("client{n}"), args))));
    }
    for (n, h) in handles {
        let r = h.await.map_err(|e| anyhow::anyhow!("client task: {e}"))?;
        let (ok, seen_txt) = match &r {
            Ok(o) => {
                let got_hello = o.received.iter().any(|t| t.contains("hello I am server"));
                let pinned = o
                    .ssl_errors
                    .iter()
                    .any(|e| e.kind.to_string() == "HostNameMismatch");
                let logged = srv
                    .seen
                    .find(&|r| {
                        r.kind == "received"
                            && r.cn.as_deref() == Some(&format!("client{n}"))
                            && r.message == "I am in!"
                    })
                    .is_some();
                (
                    got_hello && pinned && logged,
                    format!(
                        "pinned mismatch ignored, server got \"I am in!\": {logged}, heartbeat received: {got_hello}"
                    ),
                )
            }
            Err(e) => (false, e.to_string()),
        };
        checks.push(Check {
            what: format!("client{n} mTLS exchange"),
            expected: "messages both ways".into(),
            seen: seen_txt,
            ok,
        });
    }

    Ok(())
}

/// Step 5: without the pin, or pinned to another certificate, a client is refused.
async fn pins(pki: &Pki, srv: &Served, checks: &mut Vec<Check>) {
    let env = env(pki, srv);
    step(
        5,
        "A client that does not pin the mismatch is refused; so is one pinned to another certificate",
    );
    let r = run_client(
        "unpinned".into(),
        env.client("client1", vec![], Some(1), Duration::ZERO, 1),
    )
    .await;
    let (ok, txt) = refused(&r, "HostNameMismatch");
    checks.push(Check {
        what: "unpinned client".into(),
        expected: "refused: HostNameMismatch".into(),
        seen: txt,
        ok,
    });
    let ca_sha = mtls_verify::CertInfo::unparsed(pki.ca.cert_der()).sha256_hex();
    let r = run_client(
        "pinned-elsewhere".into(),
        env.client(
            "client1",
            vec![format!("HostNameMismatch:{ca_sha}")],
            Some(1),
            Duration::ZERO,
            1,
        ),
    )
    .await;
    let (ok, txt) = refused(&r, "HostNameMismatch");
    checks.push(Check {
        what: "pin on another certificate".into(),
        expected: "refused: HostNameMismatch".into(),
        seen: txt,
        ok,
    });
}

/// Step 6: client1 is revoked while connected; the CRL is regenerated, hot-reloaded, and the
/// live connection closed.
async fn revoke_live(pki: &mut Pki, srv: &Served, checks: &mut Vec<Check>) -> Result<()> {
    let env = env(pki, srv);
    step(
        6,
        "client1 is revoked while connected; the CRL is regenerated and hot-reloaded",
    );
    let before = srv.seen.len();
    let long = tokio::spawn(run_client(
        "client1".into(),
        env.client("client1", pin(pki), None, Duration::from_millis(300), 1),
    ));
    // Revoke only once the long-lived connection is up.
    srv.seen
        .wait(before, Duration::from_secs(5), &|r| {
            r.kind == "received" && r.cn.as_deref() == Some("client1")
        })
        .await;
    pki.ca.unlock(Some(pki.pass))?;
    let rec = pki
        .ca
        .revoke(&pki.client_serials[0], Reason::KeyCompromise)?;
    say(&format!(
        "revoked {} ({}) reason keyCompromise",
        rec.serial, rec.subject
    ));
    let crl = pki.ca.crl(None)?;
    say(&format!(
        "CRL number {} with {} entry -> crl.pem (the server watches the file)",
        crl.number, crl.entries
    ));
    let reloaded = srv
        .seen
        .wait(before, Duration::from_secs(5), &|r| {
            r.kind == "crl_reloaded"
        })
        .await;
    checks.push(Check {
        what: "CRL hot reload".into(),
        expected: "CRL reloaded without restart".into(),
        seen: reloaded
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_else(|| "no reload seen".into()),
        ok: reloaded.is_some(),
    });
    let closed = srv
        .seen
        .wait(before, Duration::from_secs(5), &|r| {
            r.kind == "closed"
                && r.cn.as_deref() == Some("client1")
                && r.message.contains("revoked")
        })
        .await;
    checks.push(Check {
        what: "revoked client's live connection".into(),
        expected: "closed by the server".into(),
        seen: closed
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_else(|| "still open".into()),
        ok: closed.is_some(),
    });
    let _ = tokio::time::timeout(Duration::from_secs(5), long).await;

    Ok(())
}

/// Step 7: client1 reconnects and is refused with CertificateRevoked on both sides.
async fn reconnect_revoked(pki: &Pki, srv: &Served, checks: &mut Vec<Check>) {
    let env = env(pki, srv);
    step(
        7,
        "client1 reconnects: refused with CertificateRevoked on both sides",
    );
    let before = srv.seen.len();
    let r = run_client(
        "client1".into(),
        env.client("client1", pin(pki), Some(1), Duration::ZERO, 1),
    )
    .await;
    let (cok, ctxt) = refused(&r, "CertificateRevoked");
    let logged = srv
        .seen
        .wait(before, Duration::from_secs(3), &|r| {
            r.kind == "handshake_failed" && r.message.contains("CertificateRevoked")
        })
        .await;
    checks.push(Check {
        what: "revoked client, client side".into(),
        expected: "refused: CertificateRevoked".into(),
        seen: ctxt,
        ok: cok,
    });
    checks.push(Check {
        what: "revoked client, server side".into(),
        expected: "handshake failed: CertificateRevoked".into(),
        seen: logged
            .as_ref()
            .map(|_| "CertificateRevoked logged".to_string())
            .unwrap_or_else(|| "not logged".into()),
        ok: logged.is_some(),
    });
}

/// Step 8: a client from a foreign CA is refused.
async fn foreign(pki: &Pki, srv: &Served, checks: &mut Vec<Check>) -> Result<()> {
    let env = env(pki, srv);
    step(
        8,
        "A client with a certificate from a foreign CA is refused",
    );
    let (foreign, _) = CertificateAuthority::init(
        &pki.dir.join("foreign-ca"),
        InitOptions {
            subject: Name::parse("/C=CN/ST=GuangDong/O=Elsewhere/CN=Foreign CA")?,
            key_type: KeyType::EcP256,
            days: 365,
            policy: Policy::matching(),
            passphrase: None,
            parent: None,
            store_url: None,
        },
    )?;
    let mut foreign = foreign;
    let (k, c) = foreign.issue(
        "intruder",
        Name::parse("/CN=intruder")?,
        vec![],
        "client",
        None,
        KeyType::EcP256,
    )?;
    write_issued(&pki.certs, "intruder", &k, &c, foreign.chain_pem())?;
    let before = srv.seen.len();
    let r = run_client(
        "intruder".into(),
        env.client("intruder", pin(pki), Some(1), Duration::ZERO, 9),
    )
    .await;
    let (cok, ctxt) = refused(&r, "UnknownCA");
    let logged = srv
        .seen
        .wait(before, Duration::from_secs(3), &|r| {
            r.kind == "handshake_failed" && r.message.contains("UnableToGetLocalIssuerCertificate")
        })
        .await;
    checks.push(Check {
        what: "foreign-CA client, client side".into(),
        expected: "refused: UnknownCA".into(),
        seen: ctxt,
        ok: cok,
    });
    checks.push(Check {
        what: "foreign-CA client, server side".into(),
        expected: "UnableToGetLocalIssuerCertificate".into(),
        seen: logged
            .as_ref()
            .map(|_| "UnableToGetLocalIssuerCertificate logged".to_string())
            .unwrap_or_else(|| "not logged".into()),
        ok: logged.is_some(),
    });

    Ok(())
}
