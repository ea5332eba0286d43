//! `mtls serve`: the seed's Qt server, done with `mtls_socket`. One task per connection; a
//! heartbeat to each encrypted peer; received lines printed with the connection id and CN;
//! CRLs reloaded on SIGHUP and when the files change; close_notify to every peer on Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use mtls_socket::access::{AccessPolicy, Combine, Denied, Rule};
use mtls_socket::crl_fetch::CrlFetcher;
use mtls_socket::{
    Event, Incoming, RevocationFailure, ServerNotice, SslConfiguration, SslServer, TlsContext,
};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use crate::argparse::{self, TlsArg, VerifyArg};
use crate::log::{Logger, Record};
use crate::peer::{PeerCert, describe_error};

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8443 or [::1]:8443 (port 0 picks a free port).
    #[arg(long)]
    pub listen: String,
    /// Our certificate chain (PEM or DER).
    #[arg(long)]
    pub cert: PathBuf,
    /// Our private key (PKCS#8, plain or encrypted; PKCS#1; SEC1).
    #[arg(long)]
    pub key: PathBuf,
    /// CA certificates that client certificates must chain to.
    #[arg(long)]
    pub ca: PathBuf,
    /// CRLs (repeatable); reloaded on SIGHUP and when the files change.
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// A URL to fetch a CRL from (repeatable), e.g. `mtls ca serve`'s http://HOST:PORT/crl.
    /// Each CRL must be signed by a --ca certificate; the last good one stays in force while
    /// the URL is unreachable.
    #[arg(long)]
    pub crl_url: Vec<String>,
    /// How often to poll each --crl-url, in seconds (a conditional request: cheap when the
    /// CRL did not change).
    #[arg(long, default_value = "30", value_parser = crate::argparse::timeout)]
    pub crl_refresh: Duration,
    /// peer: a valid client certificate is required; query: asked for and logged, not
    /// required; none: not asked for.
    #[arg(long, value_enum, default_value_t = VerifyArg::Peer)]
    pub verify: VerifyArg,
    /// Serve only clients with a verified certificate whose CN matches one of these globs
    /// (`*`, `?`). With --allow-san too, both must match.
    #[arg(long)]
    pub allow_cn: Vec<String>,
    /// Serve only clients with a verified certificate with a SAN (DNS:…, IP:…, email:…, URI:…)
    /// matching one of these globs.
    #[arg(long)]
    pub allow_san: Vec<String>,
    /// Accept a client certificate whose issuer has no (current) CRL among --crl. By default
    /// every certificate below the trust anchor needs one, as with openssl's -crl_check_all.
    #[arg(long)]
    pub crl_soft_fail: bool,
    #[command(flatten)]
    pub revocation: crate::revocation::RevocationArgs,
    #[command(flatten)]
    pub staple: crate::revocation::StapleArgs,
    /// Lowest TLS version: 1.2 or 1.3.
    #[arg(long, value_enum, default_value = "1.2")]
    pub tls_min: TlsArg,
    /// Cipher suites, e.g. TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256.
    #[arg(long)]
    pub ciphers: Option<String>,
    /// Seconds between `hello I am server <conn-id>` messages (0: none).
    #[arg(long, default_value = "1", value_parser = argparse::interval)]
    pub heartbeat: Duration,
    /// Speak plain SMTP first and upgrade on STARTTLS (RFC 3207).
    #[arg(long)]
    pub starttls: bool,
    /// Seconds a handshake (with STARTTLS: the whole plain prelude too) may take.
    #[arg(long, default_value = "10", value_parser = argparse::timeout)]
    pub handshake_timeout: Duration,
    /// Most connections at once; more are closed at once and logged.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_conns: u32,
    /// Passphrase file for an encrypted --key. Or set MTLS_KEY_PASSPHRASE.
    #[arg(long)]
    pub key_passphrase_file: Option<PathBuf>,
    /// Log JSON objects, one per line.
    #[arg(long)]
    pub json_log: bool,
    /// Verify client certificates with the RFC 5280 issuer rules of openssl's -x509_strict too.
    #[arg(long)]
    pub strict: bool,
}

/// What every connection task shares.
struct Shared {
    log: Logger,
    args: ServeArgs,
    heartbeat: Option<Duration>,
    crl_gen: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
    ctx: Arc<TlsContext>,
}

/// Builds the TLS configuration from the arguments, with the key's passphrase `pass`.
fn configure_with(a: &ServeArgs, pass: Option<&[u8]>) -> Result<SslConfiguration> {
    let mut cfg = SslConfiguration::new();
    cfg.set_local_certificate_files(&a.cert, &a.key, pass)?;
    cfg.add_ca_certificates_file(&a.ca)?;
    for c in &a.crl {
        cfg.add_crl_file(c)?;
    }
    if a.crl_soft_fail {
        cfg.set_revocation_failure(RevocationFailure::Soft);
    }
    a.revocation.apply(&mut cfg);
    cfg.set_peer_verify_mode(a.verify.mode());
    cfg.set_protocol_range(a.tls_min.version(), mtls_socket::TlsVersion::Tls13)?;
    if let Some(c) = &a.ciphers {
        cfg.set_cipher_suites(c)?;
    }
    cfg.set_handshake_timeout(a.handshake_timeout);
    cfg.set_strict_verification(a.strict);
    Ok(cfg)
}

/// Runs the server until `stop` turns true. `ready` receives the bound address.
pub async fn serve(
    args: ServeArgs,
    log: Logger,
    mut stop: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let pass = crate::pass::for_key_file(&args.key, args.key_passphrase_file.as_deref())?;
    let cfg = configure_with(&args, pass.as_ref().map(|p| p.as_slice()))?;
    let ctx = TlsContext::new(cfg)?;
    // A renewed certificate (`mtls renew --daemon`) is served without a restart.
    let files = crate::serve_cert::CertFiles {
        cert: args.cert.clone(),
        key: args.key.clone(),
        pass,
        ca: None,
        on_hangup: false,
    };
    tokio::spawn(crate::serve_cert::watch_cert(
        ctx.clone(),
        files,
        log.clone(),
        stop.clone(),
    ));
    // The socket layer's error already names the address.
    let server =
        SslServer::bind(args.listen.as_str(), ctx.clone(), args.max_conns as usize).await?;
    let addr = server.local_addr()?;
    args.staple.start(&ctx, &log, stop.clone()).await?;
    let crls = ctx.config().crls().clone();
    // The first fetch of each --crl-url before the first client: with hard revocation
    // checking, clients are refused until a CRL for their issuer is in force.
    let mut fetchers = Vec::new();
    for url in &args.crl_url {
        let anchors = ctx.config().ca_certificates().to_vec();
        let mut f = CrlFetcher::new(url, crls.clone(), anchors, args.crl_refresh)?;
        let (tx, _) = watch::channel(0);
        for e in f.fetch_once().await {
            crate::serve_crl::log_fetch(&log, &tx, e);
        }
        fetchers.push(f);
    }
    // Counted and let go at once: holding the snapshot would keep the first CRLs in memory
    // after every reload.
    let revoked: usize = crls.snapshot().0.iter().map(|c| c.len()).sum();
    log.log(Record {
        conn: None,
        cn: None,
        kind: "listening",
        message: format!(
            "listening on {addr} (verify {}, {} CRL file(s), {} revoked entries)",
            args.verify,
            args.crl.len(),
            revoked
        ),
        fields: json!({"addr": addr.to_string()})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    });
    if let Some(r) = ready {
        let _ = r.send(addr);
    }
    let (gen_tx, gen_rx) = watch::channel(crls.generation());
    for f in fetchers {
        let (log, gen_tx, mut stop) = (log.clone(), gen_tx.clone(), stop.clone());
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::spawn(f.run(
            move |e| crate::serve_crl::log_fetch(&log, &gen_tx, e),
            stopped,
        ));
    }
    let reloader = tokio::spawn(crate::serve_crl::watch_crls(
        crls,
        log.clone(),
        gen_tx,
        stop.clone(),
    ));
    let heartbeat = Some(args.heartbeat).filter(|d| !d.is_zero());
    let shared = Arc::new(Shared {
        log: log.clone(),
        args,
        heartbeat,
        crl_gen: gen_rx,
        shutdown: stop.clone(),
        ctx,
    });
    let notice_log = log.clone();
    let mut tasks = server
        .serve(
            |inc| connection(inc, shared.clone()),
            move |n| match n {
                ServerNotice::LimitReached { peer, limit } => notice_log.msg(
                    None,
                    None,
                    "refused",
                    format!("refused {peer}: {limit} connections are open (--max-conns)"),
                ),
                ServerNotice::AcceptFailed(e) => {
                    notice_log.msg(None, None, "accept_failed", format!("accept failed: {e}"))
                }
            },
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )
        .await;
    log.msg(
        None,
        None,
        "stopping",
        format!("stopping: closing {} connection(s)", tasks.len()),
    );
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    reloader.abort();
    log.msg(None, None, "stopped", "stopped".into());
    Ok(())
}

async fn connection(inc: Incoming, sh: Arc<Shared>) {
    let id = inc.id;
    let log = sh.log.clone();
    let mut sock = inc.socket;
    // Events are recorded during the handshake and logged after it; then the channel is freed.
    let mut events = sock.events();
    log.msg(
        Some(id),
        None,
        "connected",
        format!("connection from {}", inc.peer),
    );
    let drain = |events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>| {
        while let Ok(e) = events.try_recv() {
            match e {
                Event::StateChanged(s) => log.msg(Some(id), None, "state", format!("state {s:?}")),
                Event::ModeChanged(m) => log.msg(Some(id), None, "mode", format!("mode {m:?}")),
                Event::Disconnected => {
                    log.msg(Some(id), None, "disconnected", "disconnected".into())
                }
                _ => {}
            }
        }
    };
    if sh.args.starttls {
        let limit = sh.ctx.config().handshake_timeout();
        match tokio::time::timeout(limit, Box::pin(crate::smtp::server_prelude(&mut sock))).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                log.msg(
                    Some(id),
                    None,
                    "closed",
                    "client left before STARTTLS".into(),
                );
                return;
            }
            Ok(Err(e)) => {
                log.msg(
                    Some(id),
                    None,
                    "starttls_failed",
                    format!("STARTTLS exchange failed: {e}"),
                );
                return;
            }
            Err(_) => {
                log.msg(
                    Some(id),
                    None,
                    "starttls_failed",
                    format!("STARTTLS exchange timed out after {limit:?}"),
                );
                return;
            }
        }
    }
    // Boxed: the handshake future is large and only lives during the handshake; inline, it would
    // grow every idle connection's task.
    // A stopping server does not wait for handshakes: only established connections are owed a
    // close_notify, and a stalled peer would otherwise hold the exit for the whole drain timeout.
    let mut stop = sh.shutdown.clone();
    let result = tokio::select! {
        r = Box::pin(sock.start_server_encryption()) => r,
        _ = stop.wait_for(|s| *s) => {
            log.msg(Some(id), None, "closed", "handshake abandoned: the server is stopping".into());
            return;
        }
    };
    drain(&mut events);
    sock.stop_events();
    drop(events);
    for e in sock.ssl_errors() {
        log.log(Record {
            conn: Some(id),
            cn: None,
            kind: "ssl_error",
            message: format!("ssl error {}", describe_error(e)),
            fields: json!({"kind": e.kind.to_string(),
                "certificate_sha256": e.certificate.as_ref().map(|c| c.sha256_hex())})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        });
    }
    if let Err(e) = result {
        let kinds: Vec<String> = e.ssl_errors().iter().map(|x| x.kind.to_string()).collect();
        log.log(Record {
            conn: Some(id),
            cn: None,
            kind: "handshake_failed",
            message: format!("handshake with {} failed: {e}", inc.peer),
            fields: json!({"kinds": kinds})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        });
        drop(sock);
        return;
    }
    let peer = sock
        .peer_certificate_chain()
        .first()
        .map(|c| PeerCert::from_der(c));
    let cn = peer.as_ref().and_then(|p| p.cn.clone());
    let cnr = cn.as_deref();
    log.msg(
        Some(id),
        cnr,
        "encrypted",
        format!(
            "encrypted: {:?} {}",
            sock.protocol().unwrap_or(mtls_socket::TlsVersion::Tls13),
            sock.cipher().unwrap_or_default()
        ),
    );
    match &peer {
        Some(p) => log.log(Record {
            conn: Some(id),
            cn: cn.clone(),
            kind: "peer",
            message: format!("peer certificate: {}", p.describe()),
            fields: json!({"subject": p.subject, "issuer": p.issuer, "serial": p.serial_hex,
                "not_before": p.not_before, "not_after": p.not_after, "sha256": p.sha256})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        }),
        None => log.msg(Some(id), None, "peer", "no client certificate".into()),
    }
    if let Some(reason) = not_allowed(&sh.args, &sock) {
        log.msg(Some(id), cnr, "not_allowed", format!("closing: {reason}"));
        let _ = sock.disconnect_from_host().await;
        drop(sock);
        return;
    }
    // Kept to re-check the peer's path when the CRLs change: its own certificate and its CAs.
    let chain = sock.peer_certificate_chain().to_vec();
    let (r, mut w) = tokio::io::split(sock);
    // A small read buffer: lines are short, and thousands of idle connections each hold one.
    let mut reader = BufReader::with_capacity(1024, r);
    let mut tick = sh
        .heartbeat
        .map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
    let mut crl_gen = sh.crl_gen.clone();
    let mut shutdown = sh.shutdown.clone();
    let mut line = Vec::new();
    let reason = loop {
        tokio::select! {
            _ = async { match tick.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending::<()>().await } } => {
                let msg = format!("hello I am server {id}\n");
                if let Err(e) = w.write_all(msg.as_bytes()).await {
                    break format!("write failed: {}", mtls_socket::Error::from_io("writing", e));
                }
            }
            r = read_line(&mut reader, &mut line) => match r {
                Ok(0) => {
                    // Answer the peer's close_notify with ours (RFC 8446 6.1).
                    let _ = w.shutdown().await;
                    break "the peer closed the connection".to_string();
                }
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    log.log(Record { conn: Some(id), cn: cn.clone(), kind: "received",
                        message: text.trim_end_matches(['\r', '\n']).to_string(),
                        fields: Default::default() });
                    line.clear();
                }
                Err(e) => break format!("read failed: {}", mtls_socket::Error::from_io("reading", e)),
            },
            changed = crl_gen.changed() => {
                if changed.is_err() { continue; }
                if let Some(why) = revoked_now(&sh.ctx, &chain) {
                    let _ = w.shutdown().await;
                    break format!("{why} (CRL reloaded)");
                }
            }
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                let _ = w.shutdown().await;
                break "server shutting down (close_notify sent)".to_string();
            }
        }
    };
    log.msg(Some(id), cnr, "closed", format!("closed: {reason}"));
    // The event channel was freed after the handshake; the last state changes are logged here.
    log.msg(Some(id), None, "state", "state Unconnected".into());
    log.msg(Some(id), None, "disconnected", "disconnected".into());
}

/// Whether a connected client's path is revoked under the current CRLs: its certificate or one
/// of its CAs, each against its own issuer's CRL.
fn revoked_now(ctx: &TlsContext, chain: &[mtls_verify::CertificateDer<'static>]) -> Option<String> {
    if chain.is_empty() {
        return None;
    }
    let errors = ctx.recheck_peer(true, None, chain);
    let e = errors
        .iter()
        .find(|e| e.kind == mtls_socket::ErrorKind::CertificateRevoked)?;
    Some(match e.cert_index {
        Some(0) | None => "its certificate is now revoked".to_string(),
        Some(_) => format!(
            "its CA {} is now revoked",
            e.certificate
                .as_ref()
                .map(|c| c.subject_or_serial())
                .unwrap_or_default()
        ),
    })
}

/// Reads one line of at most 64 KiB (longer lines are cut there).
async fn read_line<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    const MAX: usize = 64 * 1024;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(line.len());
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = MAX.saturating_sub(line.len());
        line.extend_from_slice(&buf[..take.min(room)]);
        r.consume(take);
        if done || line.len() >= MAX {
            return Ok(line.len());
        }
    }
}

/// The --allow-cn/--allow-san rules.
fn access_policy(a: &ServeArgs) -> AccessPolicy {
    // Both kinds given: the CN must match an --allow-cn and a SAN an --allow-san.
    let mut p = AccessPolicy::new(Combine::EveryKind);
    for g in &a.allow_cn {
        p.allow(Rule::Cn(g.clone()));
    }
    for g in &a.allow_san {
        p.allow(Rule::San(g.clone()));
    }
    p
}

/// Why the peer of `sock` may not be served, naming the rule it missed.
fn not_allowed(a: &ServeArgs, sock: &mtls_socket::SslSocket) -> Option<String> {
    let flags = match (a.allow_cn.is_empty(), a.allow_san.is_empty()) {
        (true, true) => return None,
        (false, true) => "--allow-cn",
        (true, false) => "--allow-san",
        (false, false) => "--allow-cn/--allow-san",
    };
    match access_policy(a).check(sock) {
        Ok(()) => None,
        Err(Denied::NoCertificate) => Some(format!("no client certificate, and {flags} is set")),
        Err(e @ Denied::NotVerified { .. }) => Some(format!(
            "{flags} applies to verified certificates only: {e}"
        )),
        Err(Denied::NoMatch { cn, sans, .. }) => {
            let cn = cn.unwrap_or_default();
            let sans = sans.join(", ");
            Some(match flags {
                "--allow-cn" => format!("CN {cn:?} matches no --allow-cn"),
                "--allow-san" => format!("no SAN of [{sans}] matches --allow-san"),
                _ => format!(
                    "CN {cn:?} must match an --allow-cn and a SAN of [{sans}] an --allow-san"
                ),
            })
        }
    }
}

/// `mtls serve` from the command line: runs until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // The server runs as a task, not in `block_on`: `block_on` polls on the main thread, so
    // every accepted connection would be handed across threads to a worker (a wake-up and a
    // context switch per connection, 5% of a handshake's CPU on one core).
    let stopped = {
        let _in_runtime = rt.enter();
        crate::serve_crl::termination()
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    rt.spawn(async move {
        stopped.await;
        let _ = stop_tx.send(true);
    });
    let server = rt
        .spawn(async move { serve(args.clone(), Logger::new(args.json_log), stop_rx, None).await });
    rt.block_on(server).context("the server task failed")?
}
