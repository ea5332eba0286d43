//! `mtls demo`: the whole story in one command — CA, certificates, an mTLS server and clients
//! exchanging the seed's messages, a pinned HostNameMismatch let through and an unpinned one
//! refused, a revocation hot-reloaded and refused on both sides, a foreign CA refused — then a
//! table of what was expected and what was seen. Exit 0 only if everything was seen.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use mtls_pki::{CertificateAuthority, InitOptions, KeyType, Name, Policy, Reason, San, fsutil};
use tokio::sync::{mpsc, oneshot, watch};

use crate::connect::{self, ConnectArgs};
use crate::log::{Logger, Record};
use crate::serve::{self, ServeArgs};

#[derive(Args)]
pub struct DemoArgs {
    /// Work in DIR (kept) instead of a temporary directory (removed).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// How many mutual-TLS clients (at least 1).
    #[arg(long, default_value_t = 2)]
    clients: u32,
}

const SUBJECT: &str = "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA";

struct Check {
    what: String,
    expected: String,
    seen: String,
    ok: bool,
}

/// The server's log, collected for checks.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Record>>>);

impl Seen {
    fn find(&self, f: &dyn Fn(&Record) -> bool) -> Option<Record> {
        self.find_from(0, f)
    }

    fn find_from(&self, start: usize, f: &dyn Fn(&Record) -> bool) -> Option<Record> {
        self.0
            .lock()
            .ok()?
            .iter()
            .skip(start)
            .find(|r| f(r))
            .cloned()
    }

    /// Waits for a record matching `f` among those logged from index `start` on.
    async fn wait(
        &self,
        start: usize,
        timeout: Duration,
        f: &dyn Fn(&Record) -> bool,
    ) -> Option<Record> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(r) = self.find_from(start, f) {
                return Some(r);
            }
            if Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn len(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
}

fn step(n: u32, text: &str) {
    crate::out::say!("\n== {n}. {text}");
}

fn say(text: &str) {
    crate::out::say!("   {text}");
}

fn write_issued(
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

/// Where clients connect and what they trust.
struct Env<'a> {
    certs: &'a Path,
    addr: &'a str,
    ca: &'a Path,
}

impl Env<'_> {
    /// Arguments for a client using `certs/NAME.{crt,key}` that sends `count` messages.
    fn client(
        &self,
        name: &str,
        ignore: Vec<String>,
        count: Option<u64>,
        interval: f64,
        n: u32,
    ) -> ConnectArgs {
        ConnectArgs {
            target: self.addr.to_string(),
            ca: self.ca.to_path_buf(),
            cert: Some(self.certs.join(format!("{name}.crt"))),
            key: Some(self.certs.join(format!("{name}.key"))),
            servername: None,
            ignore_error: ignore,
            starttls: false,
            send: "I am in!".into(),
            then: Some(format!("hello I am client {n}")),
            interval,
            count,
            tls_min: "1.2".into(),
            tls_max: "1.3".into(),
            key_passphrase_file: None,
            handshake_timeout: 5.0,
        }
    }
}

/// Runs a client; its status lines are printed indented, its result returned.
async fn run_client(label: String, args: ConnectArgs) -> Result<connect::Outcome> {
    let l1 = label.clone();
    let l2 = label.clone();
    connect::session(
        &args,
        &mut move |s: String| {
            if s.starts_with("ssl error")
                || s.starts_with("handshake done")
                || s.starts_with("sent")
            {
                say(&format!("{l1} | {s}"));
            }
        },
        &mut move |d: &str| {
            for line in d.lines() {
                say(&format!("{l2} | received: {line}"));
            }
        },
        false,
    )
    .await
}

pub fn run(a: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let clients = a.clients.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let checks = rt.block_on(story(&dir, clients))?;

    crate::out::say!(
        "\n== Summary ({:.1} s, files in {})",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    let w = checks
        .iter()
        .map(|c| c.what.len())
        .max()
        .unwrap_or(10)
        .max(10);
    crate::out::say!(
        "   {:<w$}  {:<34}  {:<6}  SEEN",
        "STEP",
        "EXPECTED",
        "RESULT"
    );
    for c in &checks {
        crate::out::say!(
            "   {:<w$}  {:<34}  {:<6}  {}",
            c.what,
            c.expected,
            if c.ok { "ok" } else { "FAILED" },
            c.seen
        );
    }
    if a.dir.is_none() {
        crate::out::say!("   (temporary directory removed; use --dir DIR to keep the files)");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} expected outcomes were not observed",
            checks.len()
        );
    }
    crate::out::say!("   all {} expected outcomes observed", checks.len());
    Ok(())
}

struct TempDir(PathBuf);
impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir> {
    let mut b = [0u8; 8];
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&(n as u64 ^ std::process::id() as u64).to_le_bytes());
        let p = base.join(format!("mtls-demo-{:016x}", u64::from_le_bytes(b)));
        if std::fs::create_dir(&p).is_ok() {
            return Ok(TempDir(p));
        }
    }
    anyhow::bail!(
        "could not create a temporary directory in {}",
        base.display()
    )
}

async fn story(dir: &Path, clients: u32) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).with_context(|| format!("creating {}", certs.display()))?;

    step(
        1,
        "A private CA (policy match: C, ST, O must equal the CA's)",
    );
    let ca_dir = dir.join("ca");
    let pass = b"demo passphrase";
    let (mut ca, _) = CertificateAuthority::init(
        &ca_dir,
        InitOptions {
            subject: Name::parse(SUBJECT)?,
            key_type: KeyType::EcP256,
            days: 3650,
            policy: Policy::matching(),
            passphrase: Some(pass),
            parent: None,
        },
    )?;
    say(&format!(
        "{} in {} (ca.key encrypted, mode 0600)",
        ca.subject(),
        ca_dir.display()
    ));
    let chain = ca.chain_pem().to_string();

    step(
        2,
        &format!("Certificates: a server and {clients} client(s)"),
    );
    // As in the seed, the server's certificate names another host than the one clients dial,
    // so every client meets a HostNameMismatch on it.
    let server_name = Name::parse("/CN=server.example")?;
    let (k, server) = ca.issue(
        "server",
        server_name,
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

    step(
        3,
        "mtls serve on 127.0.0.1 (free port), client certificates required, CRL watched",
    );
    let seen = Seen::default();
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    let store = seen.clone();
    let printer = tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            let interesting = matches!(
                r.kind,
                "listening"
                    | "handshake_failed"
                    | "received"
                    | "crl_reloaded"
                    | "closed"
                    | "encrypted"
            );
            if interesting {
                let who = match (r.conn, &r.cn) {
                    (Some(c), Some(cn)) => format!("conn {c} {cn}: "),
                    (Some(c), None) => format!("conn {c}: "),
                    _ => String::new(),
                };
                say(&format!("server  | {who}{}", r.message));
            }
            if let Ok(mut v) = store.0.lock() {
                v.push(r);
            }
        }
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel();
    let sargs = ServeArgs {
        listen: "127.0.0.1:0".into(),
        cert: certs.join("server.chain.pem"),
        key: certs.join("server.key"),
        ca: ca_dir.join("ca.crt"),
        crl: vec![ca_dir.join("crl.pem")],
        verify: "peer".into(),
        allow_cn: vec![],
        allow_san: vec![],
        tls_min: "1.2".into(),
        ciphers: None,
        heartbeat: 0.25,
        starttls: false,
        handshake_timeout: 5.0,
        max_conns: 100,
        key_passphrase_file: None,
        json_log: false,
    };
    let server_task = tokio::spawn(serve::serve(
        sargs,
        Logger::observed(tx, true),
        stop_rx,
        Some(ready_tx),
    ));
    let addr = ready_rx
        .await
        .context("the server did not start")?
        .to_string();
    seen.wait(0, Duration::from_secs(2), &|r| r.kind == "listening")
        .await;
    let ca_crt = ca_dir.join("ca.crt");
    let pin = vec![format!("HostNameMismatch:{server_sha}")];
    let env = Env {
        certs: &certs,
        addr: &addr,
        ca: &ca_crt,
    };

    step(
        4,
        "Clients connect with mutual TLS, pinning the expected HostNameMismatch to server.crt",
    );
    let mut handles = Vec::new();
    for n in 1..=clients {
        let args = env.client(&format!("client{n}"), pin.clone(), Some(3), 0.3, n);
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
                let logged = seen
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

    step(
        5,
        "A client that does not pin the mismatch is refused; so is one pinned to another certificate",
    );
    let r = run_client(
        "unpinned".into(),
        env.client("client1", vec![], Some(1), 0.0, 1),
    )
    .await;
    let (ok, txt) = refused(&r, "HostNameMismatch");
    checks.push(Check {
        what: "unpinned client".into(),
        expected: "refused: HostNameMismatch".into(),
        seen: txt,
        ok,
    });
    let ca_sha = mtls_verify::CertInfo::unparsed(ca.cert_der()).sha256_hex();
    let r = run_client(
        "pinned-elsewhere".into(),
        env.client(
            "client1",
            vec![format!("HostNameMismatch:{ca_sha}")],
            Some(1),
            0.0,
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

    step(
        6,
        "client1 is revoked while connected; the CRL is regenerated and hot-reloaded",
    );
    let before = seen.len();
    let long = tokio::spawn(run_client(
        "client1".into(),
        env.client("client1", pin.clone(), None, 0.3, 1),
    ));
    // Revoke only once the long-lived connection is up.
    seen.wait(before, Duration::from_secs(5), &|r| {
        r.kind == "received" && r.cn.as_deref() == Some("client1")
    })
    .await;
    ca.unlock(Some(pass))?;
    let rec = ca.revoke(&client_serials[0], Reason::KeyCompromise)?;
    say(&format!(
        "revoked {} ({}) reason keyCompromise",
        rec.serial, rec.subject
    ));
    let crl = ca.crl(None)?;
    say(&format!(
        "CRL number {} with {} entry -> crl.pem (the server watches the file)",
        crl.number, crl.entries
    ));
    let reloaded = seen
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
    let closed = seen
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

    step(
        7,
        "client1 reconnects: refused with CertificateRevoked on both sides",
    );
    let before = seen.len();
    let r = run_client(
        "client1".into(),
        env.client("client1", pin.clone(), Some(1), 0.0, 1),
    )
    .await;
    let (cok, ctxt) = refused(&r, "CertificateRevoked");
    let srv = seen
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
        seen: srv
            .as_ref()
            .map(|_| "CertificateRevoked logged".to_string())
            .unwrap_or_else(|| "not logged".into()),
        ok: srv.is_some(),
    });

    step(
        8,
        "A client with a certificate from a foreign CA is refused",
    );
    let (foreign, _) = CertificateAuthority::init(
        &dir.join("foreign-ca"),
        InitOptions {
            subject: Name::parse("/C=CN/ST=GuangDong/O=Elsewhere/CN=Foreign CA")?,
            key_type: KeyType::EcP256,
            days: 365,
            policy: Policy::matching(),
            passphrase: None,
            parent: None,
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
    write_issued(&certs, "intruder", &k, &c, foreign.chain_pem())?;
    let before = seen.len();
    let r = run_client(
        "intruder".into(),
        env.client("intruder", pin.clone(), Some(1), 0.0, 9),
    )
    .await;
    let (cok, ctxt) = refused(&r, "UnknownCA");
    let srv = seen
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
        seen: srv
            .as_ref()
            .map(|_| "UnableToGetLocalIssuerCertificate logged".to_string())
            .unwrap_or_else(|| "not logged".into()),
        ok: srv.is_some(),
    });

    step(9, "Stopping the server (close_notify to every peer)");
    let _ = stop_tx.send(true);
    let stopped = tokio::time::timeout(Duration::from_secs(6), server_task).await;
    let ok = matches!(stopped, Ok(Ok(Ok(()))));
    checks.push(Check {
        what: "server shutdown".into(),
        expected: "clean stop".into(),
        seen: if ok {
            "stopped".into()
        } else {
            format!("{stopped:?}")
        },
        ok,
    });
    printer.abort();
    Ok(checks)
}

fn refused(r: &Result<connect::Outcome>, want: &str) -> (bool, String) {
    match r {
        Ok(_) => (false, "connected (should have been refused)".into()),
        Err(e) => {
            let t = format!("{e:#}");
            let short: String = t.chars().take(110).collect();
            (t.contains(want), short)
        }
    }
}
