//! What a tunnel reports: one [`Event`] per thing that happens, to an [`Observer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mtls_socket::access::{Denied, Rule};

/// Receives a tunnel's events (from many tasks at once).
pub type Observer = Arc<dyn Fn(Event) + Send + Sync>;

/// Who is on the TLS side of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// Its commonName, if it sent a certificate that has one.
    pub cn: Option<String>,
    /// The SHA-256 of its certificate (DER), hex.
    pub sha256: Option<String>,
    /// Its certificate's serial number, hex.
    pub serial: Option<String>,
}

/// Why a tunnelled connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides finished (each direction reached end of stream).
    Finished,
    /// No byte moved for the idle timeout.
    Idle(Duration),
    /// The connection reached its maximum lifetime.
    Lifetime(Duration),
    /// The TLS peer's certificate (or a CA of its chain) was revoked by a CRL reload.
    Revoked(String),
    /// The tunnel is stopping.
    Stopping,
    /// A side failed: which one and why.
    Failed {
        /// `client`, `backend` or `server`.
        side: &'static str,
        /// The error.
        error: String,
    },
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Finished => f.write_str("both sides finished"),
            CloseReason::Idle(d) => write!(f, "idle for {}s", d.as_secs_f64()),
            CloseReason::Lifetime(d) => write!(f, "open for the maximum {}s", d.as_secs_f64()),
            CloseReason::Revoked(why) => write!(f, "{why}"),
            CloseReason::Stopping => f.write_str("the tunnel is stopping"),
            CloseReason::Failed { side, error } => write!(f, "the {side} side failed: {error}"),
        }
    }
}

/// Something that happened in a tunnel.
#[derive(Debug)]
pub enum Event {
    /// Listening (the address as bound).
    Listening {
        /// The bound address.
        addr: SocketAddr,
    },
    /// A TCP connection arrived.
    Accepted {
        /// The connection's id.
        id: u64,
        /// Where from.
        peer: SocketAddr,
    },
    /// More connections than the limit: closed at once.
    LimitReached {
        /// Where from.
        peer: SocketAddr,
        /// The limit.
        limit: usize,
    },
    /// Accepting failed (out of descriptors, …); the tunnel goes on.
    AcceptFailed(String),
    /// The TLS handshake failed.
    HandshakeFailed {
        /// The connection's id.
        id: u64,
        /// Where from (server) or to (client).
        peer: SocketAddr,
        /// Why, every certificate error named.
        error: mtls_socket::Error,
    },
    /// The TLS peer's identity matched no rule: closed.
    Refused {
        /// The connection's id.
        id: u64,
        /// Who.
        who: Peer,
        /// Why.
        denied: Denied,
        /// The rules it missed.
        rules: Vec<Rule>,
    },
    /// The far end could not be reached: the near side was closed.
    ConnectFailed {
        /// The connection's id.
        id: u64,
        /// The target.
        target: String,
        /// Why.
        error: String,
    },
    /// Bytes flow.
    Opened {
        /// The connection's id.
        id: u64,
        /// The TLS peer.
        who: Peer,
        /// TLS version and cipher suite.
        tls: String,
    },
    /// A tunnelled connection ended.
    Closed {
        /// The connection's id.
        id: u64,
        /// The TLS peer.
        who: Peer,
        /// How long it was open.
        duration: Duration,
        /// Bytes from the near side (the accepted connection) to the far side.
        bytes_in: u64,
        /// Bytes from the far side to the near side.
        bytes_out: u64,
        /// Why.
        reason: CloseReason,
    },
    /// Stopping: the connections still open are given until the drain deadline.
    Stopping {
        /// Connections open.
        open: usize,
    },
    /// Stopped.
    Stopped,
}
