//! The accept loops: TLS (the API) on the socket layer's [`SslServer`], plain HTTP (public
//! objects) on a TCP listener. Both serve HTTP/1.1 through hyper with a header timeout, so a
//! slow or silent client holds one connection slot for a bounded time and blocks nobody.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use mtls_socket::SslServer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::routes::Peer;

/// How long a client may take to send a request's headers (also while a kept-alive
/// connection waits for its next request).
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `server` until `stop` turns true.
pub(crate) async fn serve_tls(server: SslServer, router: Router, mut stop: watch::Receiver<bool>) {
    let mut notice = |n| eprintln!("ca serve: {n:?}");
    loop {
        let inc = tokio::select! {
            inc = server.accept(&mut notice) => inc,
            _ = stop.changed() => return,
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let addr = inc.peer;
            let mut socket = inc.socket;
            // A failed handshake concerns that client alone; the socket layer bounds its time.
            if socket.start_server_encryption().await.is_err() {
                return;
            }
            // Whatever its chain's errors: the handshake proved the client holds the key, and
            // a role is granted only when these exact bytes are a record of this CA's store.
            let cert = socket.peer_certificate_chain().first().map(|c| c.to_vec());
            serve_conn(socket, router, Peer { addr, cert }, stop).await;
            // The rest of `inc`, its connection slot, is released as this task ends.
        });
    }
}

/// Serves public objects over plain HTTP on `listener` until `stop`, at most `limit`
/// connections at once.
pub(crate) async fn serve_plain(
    listener: TcpListener,
    router: Router,
    limit: usize,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limit.max(1)));
    loop {
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(_) => {
                    // Out of descriptors, most likely: pause rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let router = router.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            serve_conn(tcp, router, Peer { addr, cert: None }, stop).await;
            drop(permit);
        });
    }
}

/// One HTTP/1.1 connection; on `stop`, the request in flight completes and the connection
/// closes.
async fn serve_conn<I>(io: I, router: Router, peer: Peer, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}
