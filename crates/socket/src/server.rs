//! [`SslServer`]: accepts many connections on one tokio runtime, each in its own task, under a
//! connection limit. A slow or hostile peer holds only its own task (and its handshake is bounded
//! by the configuration's handshake timeout).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpSocket, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::context::TlsContext;
use crate::error::{Error, Result};
use crate::socket::SslSocket;

/// A connection accepted over TCP, not yet encrypted: call
/// [`SslSocket::start_server_encryption`] on `socket` (at once, or after a STARTTLS exchange).
#[derive(Debug)]
pub struct Incoming {
    /// A number unique within this server.
    pub id: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The plain socket.
    pub socket: SslSocket,
    _permit: OwnedSemaphorePermit,
}

/// What the accept loop reports besides connections.
#[derive(Debug)]
pub enum ServerNotice {
    /// A connection was refused because `max_connections` are open.
    LimitReached {
        /// The refused peer.
        peer: SocketAddr,
        /// The limit.
        limit: usize,
    },
    /// accept() failed (e.g. out of file descriptors); the loop continues after a pause.
    AcceptFailed(String),
}

/// A TLS server.
#[derive(Debug)]
pub struct SslServer {
    listener: TcpListener,
    ctx: Arc<TlsContext>,
    slots: Arc<Semaphore>,
    limit: usize,
    next_id: AtomicU64,
}

impl SslServer {
    /// Listens on `addr` with `ctx`, allowing at most `max_connections` at once.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        ctx: Arc<TlsContext>,
        max_connections: usize,
    ) -> Result<SslServer> {
        let limit = max_connections.max(1);
        let addr = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| Error::io("resolving the listen address", e))?
            .next()
            .ok_or_else(|| Error::config("listen address", "resolves to nothing"))?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| Error::io("listening", e))?;
        socket
            .set_reuseaddr(true)
            .map_err(|e| Error::io("listening", e))?;
        socket
            .bind(addr)
            .map_err(|e| Error::io(format!("listening on {addr}"), e))?;
        // The accept queue must hold a burst: tokio's default of 128 lets the kernel drop SYNs,
        // and every client (good ones too) then waits a 1 s retransmission.
        let backlog = limit.clamp(1024, 65_535) as u32;
        let listener = socket
            .listen(backlog)
            .map_err(|e| Error::io(format!("listening on {addr}"), e))?;
        Ok(SslServer {
            listener,
            ctx,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            next_id: AtomicU64::new(1),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::io("listening address", e))
    }

    /// The shared context (its CRL handle reloads for every new handshake).
    pub fn context(&self) -> &Arc<TlsContext> {
        &self.ctx
    }

    /// Open connections right now.
    pub fn open_connections(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Accepts the next connection under the limit. Connections over the limit are closed at
    /// once and reported through `notice`.
    pub async fn accept(&self, notice: &mut (dyn FnMut(ServerNotice) + Send)) -> Incoming {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => match self.slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                        return Incoming {
                            id,
                            peer,
                            socket: SslSocket::from_accepted(tcp, Some(peer), self.ctx.clone()),
                            _permit: permit,
                        };
                    }
                    Err(_) => {
                        drop(tcp);
                        notice(ServerNotice::LimitReached {
                            peer,
                            limit: self.limit,
                        });
                    }
                },
                Err(e) => {
                    notice(ServerNotice::AcceptFailed(e.to_string()));
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Accepts until `shutdown` resolves, running `handler` for each connection in its own task.
    /// Returns the handler tasks still running, for the caller to await or abort.
    pub async fn serve<H, F>(
        &self,
        handler: H,
        mut notice: impl FnMut(ServerNotice) + Send,
        shutdown: impl Future<Output = ()>,
    ) -> tokio::task::JoinSet<()>
    where
        H: Fn(Incoming) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                inc = self.accept(&mut notice) => {
                    tasks.spawn(handler(inc));
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tasks
    }
}
