//! The server side of a tunnel: mutual TLS in, plaintext out to the target.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mtls_socket::access::AccessPolicy;
use mtls_socket::{Incoming, ServerNotice, SslServer, SslSocket};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use crate::copy::{Ended, pump};
use crate::error::{Error, Result};
use crate::event::{CloseReason, Event, Peer};
use crate::proxy::{self, TlsInfo};
use crate::shared::{Shared, outcome_name, peer_of, revoked_now, version_name};
use crate::target::{Stream, Target, is_loopback_listen};

/// How a server tunnel runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen, `HOST:PORT`.
    pub listen: String,
    /// Where to forward.
    pub target: Target,
    /// Who may connect; rules are OR'd (any match admits).
    pub access: AccessPolicy,
    /// Admit every client whose certificate verifies, with no identity rule.
    pub allow_all: bool,
    /// Allow a listen address off loopback.
    pub unsafe_listen: bool,
    /// Allow a target off loopback.
    pub unsafe_target: bool,
    /// Most connections at once.
    pub max_conns: usize,
    /// How long connecting to the target may take.
    pub connect_timeout: Duration,
    /// Close a connection when no byte moved for this long.
    pub idle_timeout: Option<Duration>,
    /// Close a connection after this long whatever it does.
    pub max_lifetime: Option<Duration>,
    /// Send a PROXY protocol header to the target first.
    pub proxy: Option<proxy::Version>,
    /// On stop, how long open connections are given to finish.
    pub drain: Duration,
}

impl ServerOptions {
    /// Checks the safety rules before anything listens.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafeListen`], [`Error::UnsafeTarget`] or [`Error::NoRules`].
    pub fn check(&self) -> Result<()> {
        if !self.unsafe_listen && !is_loopback_listen(&self.listen) {
            return Err(Error::UnsafeListen {
                addr: self.listen.clone(),
            });
        }
        if !self.unsafe_target && !self.target.is_local() {
            return Err(Error::UnsafeTarget {
                target: self.target.to_string(),
            });
        }
        if self.access.is_empty() && !self.allow_all {
            return Err(Error::NoRules);
        }
        Ok(())
    }
}

/// Runs a server tunnel until `shared.stop` turns true, then drains. `ready` gets the bound
/// address once it listens.
///
/// # Errors
///
/// The safety rules ([`ServerOptions::check`]) or binding the listener.
pub async fn run(
    opts: ServerOptions,
    shared: Shared,
    ready: Option<oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    opts.check()?;
    let server = SslServer::bind(opts.listen.as_str(), shared.tls.clone(), opts.max_conns).await?;
    let addr = server.local_addr()?;
    shared.emit(Event::Listening { addr });
    if let Some(r) = ready {
        let _ = r.send(addr);
    }
    let opts = Arc::new(opts);
    let (notice, mut stop) = (shared.clone(), shared.stop.clone());
    let mut tasks = server
        .serve(
            |inc| connection(inc, addr, opts.clone(), shared.clone()),
            move |n| {
                notice.emit(match n {
                    ServerNotice::LimitReached { peer, limit } => {
                        Event::LimitReached { peer, limit }
                    }
                    ServerNotice::AcceptFailed(e) => Event::AcceptFailed(e),
                })
            },
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )
        .await;
    shared.emit(Event::Stopping { open: tasks.len() });
    let drained = tokio::time::timeout(opts.drain, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    shared.emit(Event::Stopped);
    Ok(())
}

async fn connection(inc: Incoming, local: SocketAddr, opts: Arc<ServerOptions>, sh: Shared) {
    let (id, peer_addr) = (inc.id, inc.peer);
    let mut sock = inc.socket;
    sh.emit(Event::Accepted {
        id,
        peer: peer_addr,
    });
    let mut stop = sh.stop.clone();
    // Boxed: the handshake future is large and lives only during the handshake.
    let result = tokio::select! {
        r = Box::pin(sock.start_server_encryption()) => r,
        _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
    };
    if let Err(error) = result {
        sh.metrics.handshake(&outcome_name(&error));
        sh.emit(Event::HandshakeFailed {
            id,
            peer: peer_addr,
            error,
        });
        return;
    }
    sh.metrics.handshake("ok");
    let chain = sock.peer_certificate_chain().to_vec();
    let who = peer_of(&chain);
    if let Err(denied) = opts.access.check(&sock) {
        sh.metrics.refused.fetch_add(1, Relaxed);
        sh.emit(Event::Refused {
            id,
            who,
            denied,
            rules: opts.access.rules().to_vec(),
        });
        let _ = sock.disconnect_from_host().await;
        return;
    }
    let backend = match opts.target.connect(opts.connect_timeout).await {
        Ok(b) => b,
        Err(e) => {
            sh.emit(Event::ConnectFailed {
                id,
                target: opts.target.to_string(),
                error: e.to_string(),
            });
            // Closed, not left hanging: the client sees close_notify and end of stream.
            let _ = sock.disconnect_from_host().await;
            return;
        }
    };
    let tls = format!(
        "{} {}",
        version_name(sock.protocol()),
        sock.cipher().unwrap_or_default()
    );
    let header = opts.proxy.map(|v| {
        let info = TlsInfo {
            version: version_name(sock.protocol()),
            cipher: sock.cipher().unwrap_or_default(),
            cn: who.cn.clone(),
            cert_sha256: chain.first().and_then(|c| {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c);
                <[u8; 32]>::try_from(d.as_ref()).ok()
            }),
        };
        proxy::header(v, peer_addr, local, &info)
    });
    sh.emit(Event::Opened {
        id,
        who: who.clone(),
        tls,
    });
    let link = Link {
        id,
        who,
        chain,
        opened: Instant::now(),
    };
    match backend {
        Stream::Tcp(b) => forward(sock, b, header, link, &opts, &sh).await,
        Stream::Unix(b) => forward(sock, b, header, link, &opts, &sh).await,
    }
}

/// A connection being forwarded.
struct Link {
    id: u64,
    who: Peer,
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    opened: Instant,
}

async fn forward<B>(
    mut sock: SslSocket,
    mut backend: B,
    header: Option<Vec<u8>>,
    link: Link,
    opts: &ServerOptions,
    sh: &Shared,
) where
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    sh.metrics.open.fetch_add(1, Relaxed);
    sh.metrics.total.fetch_add(1, Relaxed);
    let early = match header {
        Some(h) => backend.write_all(&h).await.err(),
        None => None,
    };
    let (reason, moved) = match early {
        Some(e) => (
            CloseReason::Failed {
                side: "backend",
                error: format!("writing the PROXY header: {e}"),
            },
            Default::default(),
        ),
        None => watch_and_pump(&mut sock, &mut backend, &link, opts, sh).await,
    };
    if matches!(
        reason,
        CloseReason::Revoked(_)
            | CloseReason::Stopping
            | CloseReason::Idle(_)
            | CloseReason::Lifetime(_)
    ) {
        let _ = tokio::time::timeout(Duration::from_secs(1), sock.shutdown()).await;
    }
    sh.metrics.open.fetch_sub(1, Relaxed);
    sh.metrics.bytes_in.fetch_add(moved.a_to_b, Relaxed);
    sh.metrics.bytes_out.fetch_add(moved.b_to_a, Relaxed);
    sh.emit(Event::Closed {
        id: link.id,
        who: link.who,
        duration: link.opened.elapsed(),
        bytes_in: moved.a_to_b,
        bytes_out: moved.b_to_a,
        reason,
    });
}

/// Pumps until done, while watching the CRLs, the stop signal and the lifetime.
async fn watch_and_pump<B>(
    sock: &mut SslSocket,
    backend: &mut B,
    link: &Link,
    opts: &ServerOptions,
    sh: &Shared,
) -> (CloseReason, crate::copy::Moved)
where
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut crl_gen, mut stop) = (sh.crl_gen.clone(), sh.stop.clone());
    let tls = sh.tls.clone();
    let revoked = async {
        loop {
            if crl_gen.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            if let Some(why) = revoked_now(&tls, true, &link.chain) {
                return why;
            }
        }
    };
    let lifetime = async {
        match opts.max_lifetime {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut moved = crate::copy::Moved::default();
    let pumping = pump(sock, backend, opts.idle_timeout, &mut moved);
    let reason = tokio::select! {
        ended = pumping => match ended {
            Ended::Done => CloseReason::Finished,
            Ended::Idle => CloseReason::Idle(opts.idle_timeout.unwrap_or_default()),
            Ended::Failed { first, error } => CloseReason::Failed {
                side: if first { "client" } else { "backend" },
                error: error.to_string(),
            },
        },
        why = revoked => CloseReason::Revoked(why),
        _ = lifetime => CloseReason::Lifetime(opts.max_lifetime.unwrap_or_default()),
        _ = async { let _ = stop.wait_for(|s| *s).await; } => CloseReason::Stopping,
    };
    (reason, moved)
}
