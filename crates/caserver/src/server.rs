//! Starting and stopping the server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mtls_pki::ca::files;
use mtls_pki::{CertificateAuthority, San};
use mtls_socket::{SslServer, TlsContext};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;
use crate::crl::CrlCache;
use crate::selfcert;
use crate::state::AppState;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The HTTPS API's address.
    pub listen: SocketAddr,
    /// The plain HTTP address for the roots and the CRL, if any.
    pub http_listen: Option<SocketAddr>,
    /// subjectAltNames of the API's certificate besides the listen address.
    pub sans: Vec<San>,
    /// Connections served at once on each listener.
    pub max_connections: usize,
    /// How long after its expiry a certificate may still be renewed, in seconds.
    pub renew_grace_secs: i64,
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// Where the plain HTTP listener listens.
    pub http_addr: Option<SocketAddr>,
    /// The SHA-256 of the CA certificate, colon-hex: what `mtls ca bootstrap --fingerprint`
    /// checks.
    pub fingerprint: String,
    /// The serial of the certificate the API presents.
    pub server_serial: String,
    /// The `[urls]` filled in from the plain HTTP listener (`crl = http://…/crl`), for the
    /// log.
    pub urls_filled: Vec<String>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to 5 s), and returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

/// Starts the server with `ca`, whose key must be unlocked: issues the API's certificate,
/// binds the listeners and returns once they accept.
///
/// # Errors
///
/// The CA refusing the server certificate (a profile without room for the address), or a
/// listener that cannot be bound.
pub async fn start(mut ca: CertificateAuthority, opts: Options) -> Result<Running, Error> {
    let fingerprint = mtls_pki::show::sha256_fingerprint(ca.cert_der());
    let plain = match opts.http_listen {
        Some(a) => Some(TcpListener::bind(a).await.map_err(|source| Error::Io {
            what: format!("listening on {a} (plain HTTP)"),
            source,
        })?),
        None => None,
    };
    let http_addr = plain.as_ref().and_then(|l| l.local_addr().ok());
    let urls_filled = match http_addr.and_then(|a| published_base(a, &opts.sans)) {
        Some(base) => ca.fill_urls(mtls_pki::urls::Urls {
            crl: vec![format!("{base}/crl")],
            ocsp: vec![format!("{base}/ocsp")],
            ca_issuers: vec![format!("{base}/ca.crt")],
        }),
        None => Vec::new(),
    };
    let first = tokio::task::block_in_place(|| selfcert::issue(&mut ca, &opts))?;
    let server_serial = first.serial.clone();
    let ctx = TlsContext::new(selfcert::tls_config(&first)?)?;
    let api = SslServer::bind(opts.listen, ctx.clone(), opts.max_connections).await?;
    let api_addr = api.local_addr()?;
    let roots_pem = ca.chain_pem().to_string();
    let ca_der = ca.cert_der().to_vec();
    let profiles = ca.config().profiles.keys().cloned().collect();
    let ocsp = tokio::task::block_in_place(|| crate::ocsp::Responder::new(&mut ca))?;
    let crl = CrlCache::new(ca.dir().join(files::CRL));
    // Followed from before the first answer is signed (pre-signed or asked for): a
    // revocation by another instance is either seen by those lookups or announced by the feed.
    let feed = tokio::task::block_in_place(|| ca.change_feed());
    let ca_shared = Arc::new(Mutex::new(ca));
    let state = Arc::new(AppState {
        roots_pem,
        ca_der,
        ocsp,
        crl,
        enroll: crate::batch::start(ca_shared.clone()),
        ca: ca_shared,
        failures: Default::default(),
        crl_dirty: Default::default(),
        instance: instance_id(api_addr),
        api_addr,
        renew_grace_secs: opts.renew_grace_secs,
        metrics: Default::default(),
        profiles: std::sync::RwLock::new(profiles),
    });
    let (stop, rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(crate::keeper::keep_crl(state.clone(), rx.clone())),
        tokio::spawn(crate::ocsp::watch_store(state.clone(), feed, rx.clone())),
        tokio::spawn(crate::ocsp_presign::presign(state.clone(), rx.clone())),
        tokio::spawn(selfcert::keep(
            state.clone(),
            ctx,
            opts.clone(),
            first.validity,
            rx.clone(),
        )),
        tokio::spawn(crate::listen::serve_tls(
            api,
            crate::routes::api(state.clone()),
            rx.clone(),
        )),
    ];
    if let Some(l) = plain {
        tasks.push(tokio::spawn(crate::listen::serve_plain(
            l,
            crate::routes::public(state.clone()),
            opts.max_connections,
            rx.clone(),
        )));
    }
    Ok(Running {
        api_addr,
        http_addr,
        fingerprint,
        server_serial,
        urls_filled,
        stop,
        tasks,
    })
}

/// `ADDR pid N tag` : unique even when two machines use the same address and process id.
fn instance_id(api_addr: SocketAddr) -> String {
    let mut tag = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut tag);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("{api_addr} pid {} {tag}", std::process::id())
}

/// `http://HOST:PORT` of the plain listener as clients should reach it: the first DNS name of
/// `--san` (the name the operator publishes), else the bound address unless it is a wildcard.
fn published_base(addr: SocketAddr, sans: &[San]) -> Option<String> {
    let dns = sans.iter().find_map(|s| match s {
        San::Dns(d) if !d.starts_with('*') => Some(d.clone()),
        _ => None,
    });
    match dns {
        Some(host) => Some(format!("http://{host}:{}", addr.port())),
        None if addr.ip().is_unspecified() => None,
        None => Some(format!("http://{addr}")),
    }
}
