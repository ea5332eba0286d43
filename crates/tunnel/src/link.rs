//! One tunnelled connection's life, the same on both sides: the handshake's outcome counted
//! and the peer checked, then bytes pumped while the CRLs, the lifetime and the stop signal are
//! watched, then the close reported.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mtls_socket::SslSocket;
use mtls_socket::access::AccessPolicy;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::copy::{Ended, Moved, pump};
use crate::event::{CloseReason, Event, Peer};
use crate::shared::{Shared, outcome_name, peer_of, revoked_now, version_name};

/// A connection admitted past its handshake and identity rules.
pub(crate) struct Admitted {
    /// The peer's chain, to re-check when the CRLs change.
    pub chain: Vec<CertificateDer<'static>>,
    /// Who it is.
    pub who: Peer,
}

/// Counts the handshake's `result`, reads the peer and checks it against `rules`; `None` (the
/// event sent, the connection closed) when the handshake failed or the peer is refused.
pub(crate) async fn admit(
    sh: &Shared,
    id: u64,
    peer: SocketAddr,
    sock: &mut SslSocket,
    result: mtls_socket::Result<()>,
    rules: &AccessPolicy,
) -> Option<Admitted> {
    if let Err(error) = result {
        sh.metrics.handshake(&outcome_name(&error));
        sh.emit(Event::HandshakeFailed { id, peer, error });
        return None;
    }
    sh.metrics.handshake("ok");
    let chain = sock.peer_certificate_chain().to_vec();
    let who = peer_of(&chain);
    if let Err(denied) = rules.check(sock) {
        sh.metrics.refused.fetch_add(1, Relaxed);
        sh.emit(Event::Refused {
            id,
            who,
            denied,
            rules: rules.rules().to_vec(),
        });
        let _ = sock.disconnect_from_host().await;
        return None;
    }
    Some(Admitted { chain, who })
}

/// Which end is which, and how long a link may live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    /// The near (accepted) side is the TLS socket: the server tunnel.
    pub tls_near: bool,
    /// What the far side is called in a failure: `backend` or `server`.
    pub far_name: &'static str,
    /// Close after this long without a byte.
    pub idle: Option<Duration>,
    /// Close after this long whatever happens.
    pub lifetime: Option<Duration>,
}

/// Reports the link open and counts it.
pub(crate) fn opened(sh: &Shared, id: u64, who: &Peer, sock: &SslSocket) {
    let tls = format!(
        "{} {}",
        version_name(sock.protocol()),
        sock.cipher().unwrap_or_default()
    );
    sh.emit(Event::Opened {
        id,
        who: who.clone(),
        tls,
    });
    sh.metrics.open.fetch_add(1, Relaxed);
    sh.metrics.total.fetch_add(1, Relaxed);
}

/// Pumps between `near` (the accepted side) and `far` until both finish, one fails, the TLS
/// peer's chain is revoked by a CRL reload, a limit passes or the tunnel stops; then reports
/// the close.
pub(crate) async fn run<A, B>(
    sh: &Shared,
    id: u64,
    link: Admitted,
    near: &mut A,
    far: &mut B,
    ends: Ends,
) where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let (mut crl_gen, mut stop, tls) = (sh.crl_gen.clone(), sh.stop.clone(), sh.tls.clone());
    let revoked = async {
        loop {
            if crl_gen.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            // The server side checks a client's chain, the client side a server's.
            if let Some(why) = revoked_now(&tls, ends.tls_near, &link.chain) {
                return why;
            }
        }
    };
    let lifetime = async {
        match ends.lifetime {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut moved = Moved::default();
    let reason = tokio::select! {
        ended = pump(near, far, ends.idle, ends.tls_near, &mut moved) => match ended {
            Ended::Done => CloseReason::Finished,
            Ended::Idle => CloseReason::Idle(ends.idle.unwrap_or_default()),
            Ended::Failed { first, error } => CloseReason::Failed {
                side: if first { "client" } else { ends.far_name },
                error: error.to_string(),
            },
        },
        why = revoked => CloseReason::Revoked(why),
        _ = lifetime => CloseReason::Lifetime(ends.lifetime.unwrap_or_default()),
        _ = async { let _ = stop.wait_for(|s| *s).await; } => CloseReason::Stopping,
    };
    // Cut off by us: the TLS peer gets a close_notify (bounded: it may not be reading).
    if !matches!(reason, CloseReason::Finished | CloseReason::Failed { .. }) {
        let shut = async {
            match ends.tls_near {
                true => near.shutdown().await,
                false => far.shutdown().await,
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), shut).await;
    }
    closed(sh, id, link.who, started, moved, reason);
}

/// Reports the close and counts its bytes.
pub(crate) fn closed(
    sh: &Shared,
    id: u64,
    who: Peer,
    started: Instant,
    moved: Moved,
    reason: CloseReason,
) {
    sh.metrics.open.fetch_sub(1, Relaxed);
    sh.metrics.bytes_in.fetch_add(moved.a_to_b, Relaxed);
    sh.metrics.bytes_out.fetch_add(moved.b_to_a, Relaxed);
    sh.emit(Event::Closed {
        id,
        who,
        duration: started.elapsed(),
        bytes_in: moved.a_to_b,
        bytes_out: moved.b_to_a,
        reason,
    });
}
