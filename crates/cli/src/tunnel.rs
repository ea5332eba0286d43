//! `mtls tunnel server|client`: the flags of `mtls_tunnel`, the TLS set-up shared with `mtls
//! serve` (certificate reload, CRL files and URLs, OCSP), and the log lines.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use mtls_socket::access::{AccessPolicy, Combine, Globs, Rule};
use mtls_socket::crl_fetch::CrlFetcher;
use mtls_socket::{PeerVerifyMode, RevocationFailure, SslConfiguration, TlsContext};
use mtls_tunnel::client::ClientOptions;
use mtls_tunnel::server::ServerOptions;
use mtls_tunnel::{Metrics, Shared, Target};
use tokio::sync::watch;

use crate::argparse::{self, TlsArg};
use crate::log::Logger;
pub use crate::tunnel_log::Side;

/// `mtls tunnel`.
#[derive(Subcommand)]
pub enum TunnelCmd {
    /// Terminate mutual TLS and forward the plaintext to a TCP or unix-socket target.
    Server(ServerArgs),
    /// Accept plaintext on loopback and connect out with mutual TLS, pinning the server.
    Client(ClientArgs),
}

/// What both sides take.
#[derive(Args, Clone)]
pub struct Common {
    /// Address to listen on (loopback unless --unsafe-listen), e.g. 127.0.0.1:6380.
    #[arg(long)]
    pub listen: String,
    /// Our certificate chain (reloaded, with --key, when the files change or on SIGHUP).
    #[arg(long)]
    pub cert: PathBuf,
    /// Our private key.
    #[arg(long)]
    pub key: PathBuf,
    /// CA certificates the peer's certificate must chain to (reloaded when the file changes
    /// or on SIGHUP; a bundle that does not load is refused and the old one kept).
    #[arg(long)]
    pub ca: PathBuf,
    /// CRLs (repeatable); reloaded on SIGHUP and when the files change.
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// A URL to fetch a CRL from (repeatable), e.g. `mtls ca serve`'s http://HOST:PORT/crl.
    #[arg(long)]
    pub crl_url: Vec<String>,
    /// How often to poll each --crl-url, in seconds.
    #[arg(long, default_value = "30", value_parser = argparse::timeout)]
    pub crl_refresh: Duration,
    /// Accept a peer whose issuer has no current CRL among --crl/--crl-url.
    #[arg(long)]
    pub crl_soft_fail: bool,
    #[command(flatten)]
    pub revocation: crate::revocation::RevocationArgs,
    /// Listen on an address off loopback.
    #[arg(long)]
    pub unsafe_listen: bool,
    /// Lowest TLS version: 1.2 or 1.3.
    #[arg(long, value_enum, default_value = "1.2")]
    pub tls_min: TlsArg,
    /// Seconds a TLS handshake may take.
    #[arg(long, default_value = "10", value_parser = argparse::timeout)]
    pub handshake_timeout: Duration,
    /// Close a connection after this many seconds without a byte either way (0: never).
    #[arg(long, default_value = "0", value_parser = argparse::interval)]
    pub idle_timeout: Duration,
    /// Close a connection after this many seconds whatever it does (0: never).
    #[arg(long, default_value = "0", value_parser = argparse::interval)]
    pub max_conn_lifetime: Duration,
    /// Most connections at once; more are closed at once and logged.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_conns: u32,
    /// On SIGTERM or Ctrl-C, seconds open connections get to finish before they are cut.
    #[arg(long, default_value = "10", value_parser = argparse::interval)]
    pub shutdown_timeout: Duration,
    /// Passphrase file for an encrypted --key. Or set MTLS_KEY_PASSPHRASE.
    #[arg(long)]
    pub key_passphrase_file: Option<PathBuf>,
    /// Log JSON objects, one per line.
    #[arg(long)]
    pub json_log: bool,
    /// Serve /healthz (200 while our certificate is valid and the CRLs current) and /metrics
    /// (Prometheus) over plain HTTP here, e.g. 127.0.0.1:9100 (loopback unless
    /// --unsafe-listen).
    #[arg(long)]
    pub status: Option<String>,
}

/// `mtls tunnel server` options.
#[derive(Args, Clone)]
pub struct ServerArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where to forward: HOST:PORT (loopback unless --unsafe-target) or unix:/path.
    #[arg(long)]
    pub target: String,
    /// Admit clients whose CN matches this glob (`*` within a label, `**` across); repeatable.
    #[arg(long)]
    pub allow_cn: Vec<String>,
    /// Admit clients with an OU matching this glob.
    #[arg(long)]
    pub allow_ou: Vec<String>,
    /// Admit clients with a DNS SAN matching this glob.
    #[arg(long)]
    pub allow_dns: Vec<String>,
    /// Admit clients with a URI SAN matching this glob (e.g. spiffe://prod/*).
    #[arg(long)]
    pub allow_uri: Vec<String>,
    /// Admit clients whose public key (SubjectPublicKeyInfo) has this SHA-256, hex.
    #[arg(long, value_parser = spki)]
    pub allow_spki: Vec<[u8; 32]>,
    /// Admit every client with a valid certificate from --ca (no identity rule).
    #[arg(long)]
    pub allow_all: bool,
    /// Forward to a target off loopback (the plaintext then crosses a network).
    #[arg(long)]
    pub unsafe_target: bool,
    /// Send a PROXY protocol header to the target: v1 (text) or v2 (binary, with the TLS
    /// version, cipher, client CN and certificate SHA-256).
    #[arg(long, value_enum)]
    pub proxy_protocol: Option<ProxyArg>,
    /// Seconds connecting to the target may take.
    #[arg(long, default_value = "5", value_parser = argparse::timeout)]
    pub connect_timeout: Duration,
    #[command(flatten)]
    pub staple: crate::revocation::StapleArgs,
}

/// `mtls tunnel client` options.
#[derive(Args, Clone)]
pub struct ClientArgs {
    #[command(flatten)]
    pub common: Common,
    /// The tunnel server (or any mutual-TLS server), HOST:PORT.
    #[arg(long)]
    pub target: String,
    /// The name to send as SNI and to verify the server's certificate for (default: the
    /// target's host).
    #[arg(long)]
    pub servername: Option<String>,
    /// Accept only a server whose CN matches this glob; repeatable, any pin admits.
    #[arg(long)]
    pub verify_cn: Vec<String>,
    /// Accept only a server with an OU matching this glob.
    #[arg(long)]
    pub verify_ou: Vec<String>,
    /// Accept only a server with a SAN (DNS:…, IP:…, URI:…) matching this glob.
    #[arg(long)]
    pub verify_san: Vec<String>,
    /// Accept only a server whose public key has this SHA-256, hex.
    #[arg(long, value_parser = spki)]
    pub verify_spki: Vec<[u8; 32]>,
}

/// `--proxy-protocol`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ProxyArg {
    /// The text header.
    V1,
    /// The binary header with TLS TLVs.
    V2,
}

/// A SHA-256 in hex (colons allowed, as `openssl x509 -fingerprint` prints them).
fn spki(s: &str) -> Result<[u8; 32], String> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect();
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("{s:?} is not a SHA-256 in hex (64 hex digits); `mtls cert show` prints a certificate's SPKI SHA-256"))
}

/// Runs `mtls tunnel …` until Ctrl-C or SIGTERM.
pub fn run(cmd: TunnelCmd) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let stopped = {
        let _in_runtime = rt.enter();
        crate::serve_crl::termination()
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    rt.spawn(async move {
        stopped.await;
        let _ = stop_tx.send(true);
    });
    let task = rt.spawn(async move {
        match cmd {
            TunnelCmd::Server(a) => server(a, stop_rx, None).await,
            TunnelCmd::Client(a) => client(a, stop_rx, None).await,
        }
    });
    rt.block_on(task).context("the tunnel task failed")?
}

/// Runs a server tunnel until `stop`; `ready` gets the bound address.
pub async fn server(
    a: ServerArgs,
    stop: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let mut access = AccessPolicy::new(Combine::AnyRule).with_globs(Globs::Labels);
    let rules = [
        (&a.allow_cn, Rule::Cn as fn(String) -> Rule),
        (&a.allow_ou, Rule::Ou),
        (&a.allow_dns, Rule::Dns),
        (&a.allow_uri, Rule::Uri),
    ];
    for (globs, rule) in rules {
        for g in globs {
            access.allow(rule(g.clone()));
        }
    }
    for h in &a.allow_spki {
        access.allow(Rule::Spki(*h));
    }
    if a.allow_all && !access.is_empty() {
        bail!(
            "--allow-all admits every client, so it cannot go with --allow-cn/-ou/-dns/-uri/-spki; give one or the other"
        );
    }
    let target = Target::parse(&a.target).map_err(|e| anyhow::anyhow!("--target: {e}"))?;
    let c = &a.common;
    let opts = ServerOptions {
        listen: c.listen.clone(),
        target,
        access,
        allow_all: a.allow_all,
        unsafe_listen: c.unsafe_listen,
        unsafe_target: a.unsafe_target,
        max_conns: c.max_conns as usize,
        connect_timeout: a.connect_timeout,
        idle_timeout: Some(c.idle_timeout).filter(|d| !d.is_zero()),
        max_lifetime: Some(c.max_conn_lifetime).filter(|d| !d.is_zero()),
        proxy: a.proxy_protocol.map(|p| match p {
            ProxyArg::V1 => mtls_tunnel::proxy::Version::V1,
            ProxyArg::V2 => mtls_tunnel::proxy::Version::V2,
        }),
        drain: c.shutdown_timeout,
    };
    // Refused before any file is read: the flags alone are wrong.
    opts.check().map_err(flag_error)?;
    let log = Logger::new(c.json_log);
    let shared = start_tls(c, Side::Server, &log, &stop).await?;
    a.staple.start(&shared.tls, &log, stop.clone()).await?;
    mtls_tunnel::server::run(opts, shared, ready)
        .await
        .map_err(flag_error)
}

/// Runs a client tunnel until `stop`; `ready` gets the bound address.
pub async fn client(
    a: ClientArgs,
    stop: watch::Receiver<bool>,
    ready: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    let mut pins = AccessPolicy::new(Combine::AnyRule).with_globs(Globs::Labels);
    for g in &a.verify_cn {
        pins.allow(Rule::Cn(g.clone()));
    }
    for g in &a.verify_ou {
        pins.allow(Rule::Ou(g.clone()));
    }
    for g in &a.verify_san {
        pins.allow(Rule::San(g.clone()));
    }
    for h in &a.verify_spki {
        pins.allow(Rule::Spki(*h));
    }
    let c = &a.common;
    let opts = ClientOptions {
        listen: c.listen.clone(),
        target: a.target.clone(),
        server_name: a.servername.clone(),
        pins,
        unsafe_listen: c.unsafe_listen,
        max_conns: c.max_conns as usize,
        idle_timeout: Some(c.idle_timeout).filter(|d| !d.is_zero()),
        max_lifetime: Some(c.max_conn_lifetime).filter(|d| !d.is_zero()),
        drain: c.shutdown_timeout,
    };
    let log = Logger::new(c.json_log);
    let shared = start_tls(c, Side::Client, &log, &stop).await?;
    mtls_tunnel::client::run(opts, shared, ready)
        .await
        .map_err(flag_error)
}

/// A tunnel error, with the flag that changes it.
fn flag_error(e: mtls_tunnel::Error) -> anyhow::Error {
    use mtls_tunnel::Error as E;
    let hint = match &e {
        E::UnsafeListen { .. } => " (--unsafe-listen allows it)",
        E::UnsafeTarget { .. } => " (--unsafe-target allows it)",
        E::NoRules => {
            ": give --allow-cn, --allow-ou, --allow-dns, --allow-uri or --allow-spki, or --allow-all"
        }
        E::BadTarget { .. } => " (--target)",
        _ => "",
    };
    anyhow::anyhow!("{e}{hint}")
}

/// The TLS context (certificate reloaded on change), CRL files watched and URLs polled.
async fn start_tls(
    c: &Common,
    side: Side,
    log: &Logger,
    stop: &watch::Receiver<bool>,
) -> Result<Shared> {
    let pass = crate::pass::for_key_file(&c.key, c.key_passphrase_file.as_deref())?;
    let mut cfg = SslConfiguration::new();
    cfg.set_local_certificate_files(&c.cert, &c.key, pass.as_ref().map(|p| p.as_slice()))?;
    cfg.add_ca_certificates_file(&c.ca)?;
    for f in &c.crl {
        cfg.add_crl_file(f)?;
    }
    if c.crl_soft_fail {
        cfg.set_revocation_failure(RevocationFailure::Soft);
    }
    c.revocation.apply(&mut cfg);
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    cfg.set_protocol_range(c.tls_min.version(), mtls_socket::TlsVersion::Tls13)?;
    cfg.set_handshake_timeout(c.handshake_timeout);
    let tls = TlsContext::new(cfg)?;
    let files = crate::serve_cert::CertFiles {
        cert: c.cert.clone(),
        key: c.key.clone(),
        pass,
        ca: Some(c.ca.clone()),
        on_hangup: true,
    };
    tokio::spawn(crate::serve_cert::watch_cert(
        tls.clone(),
        files,
        log.clone(),
        stop.clone(),
    ));
    let crls = tls.config().crls().clone();
    let (gen_tx, gen_rx) = watch::channel(crls.generation());
    for url in &c.crl_url {
        let anchors = tls.config().ca_certificates().to_vec();
        let mut f = CrlFetcher::new(url, crls.clone(), anchors, c.crl_refresh)?;
        for e in f.fetch_once().await {
            crate::serve_crl::log_fetch(log, &gen_tx, e);
        }
        let (log, gen_tx, mut stop) = (log.clone(), gen_tx.clone(), stop.clone());
        tokio::spawn(f.run(
            move |e| crate::serve_crl::log_fetch(&log, &gen_tx, e),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        ));
    }
    tokio::spawn(crate::serve_crl::watch_crls(
        crls,
        log.clone(),
        gen_tx,
        stop.clone(),
    ));
    let observe_log = log.clone();
    let shared = Shared {
        tls,
        crl_gen: gen_rx,
        stop: stop.clone(),
        metrics: Arc::new(Metrics::default()),
        observe: Arc::new(move |e| crate::tunnel_log::log(&observe_log, side, e)),
    };
    if let Some(addr) = &c.status {
        if !c.unsafe_listen && !mtls_tunnel::is_loopback_listen(addr) {
            bail!("--status {addr} is not a loopback address (--unsafe-listen allows it)");
        }
        let bound = mtls_tunnel::status::serve(addr, shared.clone())
            .await
            .map_err(|e| anyhow::anyhow!("--status: {e}"))?;
        log.msg(
            None,
            None,
            "status",
            format!("status on http://{bound} (/healthz, /metrics)"),
        );
    }
    Ok(shared)
}
