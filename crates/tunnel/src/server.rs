//! The server side of a tunnel: mutual TLS in, plaintext out to the target.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mtls_socket::access::AccessPolicy;
use mtls_socket::{Incoming, ServerNotice, SslServer, SslSocket};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::event::{CloseReason, Event};
use crate::link::{Admitted, Ends, admit, closed, opened};
use crate::proxy::{self, TlsInfo};
use crate::shared::{Shared, version_name};
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
    let Some(link) = admit(&sh, id, peer_addr, &mut sock, result, &opts.access).await else {
        return;
    };
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
    let header = opts.proxy.map(|v| {
        let info = TlsInfo {
            version: version_name(sock.protocol()),
            cipher: sock.cipher().unwrap_or_default(),
            cn: link.who.cn.clone(),
            cert_sha256: link.chain.first().and_then(|c| {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c);
                <[u8; 32]>::try_from(d.as_ref()).ok()
            }),
        };
        proxy::header(v, peer_addr, local, &info)
    });
    opened(&sh, id, &link.who, &sock);
    let ends = Ends {
        tls_near: true,
        far_name: "backend",
        idle: opts.idle_timeout,
        lifetime: opts.max_lifetime,
    };
    match backend {
        Stream::Tcp(b) => forward(sock, b, header, link, id, ends, &sh).await,
        Stream::Unix(b) => forward(sock, b, header, link, id, ends, &sh).await,
    }
}

/// Sends the PROXY header, if any, then runs the link.
async fn forward<B>(
    mut sock: SslSocket,
    mut backend: B,
    header: Option<Vec<u8>>,
    link: Admitted,
    id: u64,
    ends: Ends,
    sh: &Shared,
) where
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Some(h) = header {
        if let Err(e) = backend.write_all(&h).await {
            let reason = CloseReason::Failed {
                side: "backend",
                error: format!("writing the PROXY header: {e}"),
            };
            let _ = sock.disconnect_from_host().await;
            closed(sh, id, link.who, Instant::now(), Default::default(), reason);
            return;
        }
    }
    crate::link::run(sh, id, link, &mut sock, &mut backend, ends).await;
}
