//! The client side of a tunnel: plaintext in on loopback, mutual TLS out to a tunnel server
//! (or any TLS server that wants a client certificate), whose identity is pinned.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mtls_socket::SslSocket;
use mtls_socket::access::AccessPolicy;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::link::{Ends, admit, opened};
use crate::shared::Shared;
use crate::target::is_loopback_listen;

/// How a client tunnel runs.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Where to listen for plaintext, `HOST:PORT`.
    pub listen: String,
    /// The TLS server, `HOST:PORT`.
    pub target: String,
    /// The name to send as SNI and to check the server's certificate against (default: the
    /// target's host).
    pub server_name: Option<String>,
    /// Pins on the server's identity (any rule admits); empty: any server the CA vouches for
    /// under `server_name`.
    pub pins: AccessPolicy,
    /// Allow a listen address off loopback.
    pub unsafe_listen: bool,
    /// Most connections at once.
    pub max_conns: usize,
    /// Close a connection when no byte moved for this long.
    pub idle_timeout: Option<Duration>,
    /// Close a connection after this long whatever it does.
    pub max_lifetime: Option<Duration>,
    /// On stop, how long open connections are given to finish.
    pub drain: Duration,
}

impl ClientOptions {
    fn host_port(&self) -> Result<(String, u16)> {
        let bad = |why: &str| Error::BadTarget {
            target: self.target.clone(),
            why: why.into(),
        };
        let (h, p) = self
            .target
            .rsplit_once(':')
            .ok_or_else(|| bad("give HOST:PORT"))?;
        let port = p.parse::<u16>().ok().filter(|p| *p > 0);
        let port = port.ok_or_else(|| bad("the port must be 1-65535"))?;
        let host = h.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        Ok((host.to_string(), port))
    }
}

/// Runs a client tunnel until `shared.stop` turns true, then drains.
///
/// # Errors
///
/// A listen address off loopback without `unsafe_listen`, a bad target, or binding.
pub async fn run(
    opts: ClientOptions,
    shared: Shared,
    ready: Option<oneshot::Sender<SocketAddr>>,
) -> Result<()> {
    if !opts.unsafe_listen && !is_loopback_listen(&opts.listen) {
        return Err(Error::UnsafeListen {
            addr: opts.listen.clone(),
        });
    }
    let far = opts.host_port()?;
    let listener = TcpListener::bind(opts.listen.as_str())
        .await
        .map_err(|source| Error::Listen {
            addr: opts.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: opts.listen.clone(),
        source,
    })?;
    shared.emit(Event::Listening { addr });
    if let Some(r) = ready {
        let _ = r.send(addr);
    }
    let opts = Arc::new((opts, far));
    let slots = Arc::new(Semaphore::new(opts.0.max_conns.max(1)));
    let mut tasks = JoinSet::new();
    let mut stop = shared.stop.clone();
    let mut next_id = 1u64;
    loop {
        tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        shared.emit(Event::LimitReached { peer, limit: opts.0.max_conns });
                        continue;
                    };
                    let (id, sh, opts) = (next_id, shared.clone(), opts.clone());
                    next_id += 1;
                    tasks.spawn(async move {
                        connection(id, tcp, peer, &opts.0, &opts.1, &sh).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    shared.emit(Event::AcceptFailed(e.to_string()));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    shared.emit(Event::Stopping { open: tasks.len() });
    let drained = tokio::time::timeout(opts.0.drain, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    shared.emit(Event::Stopped);
    Ok(())
}

async fn connection(
    id: u64,
    mut plain: TcpStream,
    peer: SocketAddr,
    opts: &ClientOptions,
    (host, port): &(String, u16),
    sh: &Shared,
) {
    let _ = plain.set_nodelay(true);
    sh.emit(Event::Accepted { id, peer });
    let mut sock = SslSocket::with_context(sh.tls.clone());
    let name = opts.server_name.as_deref().unwrap_or(host);
    let handshake = async {
        sock.connect_to_host(host, *port).await?;
        sock.start_client_encryption(Some(name)).await
    };
    let mut stop = sh.stop.clone();
    let result = tokio::select! {
        r = Box::pin(handshake) => r,
        _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
    };
    let Some(link) = admit(sh, id, peer, &mut sock, result, &opts.pins).await else {
        return;
    };
    opened(sh, id, &link.who, &sock);
    let ends = Ends {
        tls_near: false,
        far_name: "server",
        idle: opts.idle_timeout,
        lifetime: opts.max_lifetime,
    };
    crate::link::run(sh, id, link, &mut plain, &mut sock, ends).await;
}
