//! Socket states, encryption modes and the events a socket emits.
//!
//! Events are delivered on a channel (see [`crate::SslSocket::events`]) rather than callbacks:
//! a task can `select!` on them beside its reads and writes, and a slow consumer never blocks the
//! socket (the channel is unbounded, and exists only once someone asked for it).

use mtls_verify::SslError;

/// Where the connection is (QAbstractSocket::SocketState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// No connection.
    Unconnected,
    /// Resolving the host name.
    HostLookup,
    /// TCP connect in progress.
    Connecting,
    /// TCP connected (encrypted or not: see [`SslMode`]).
    Connected,
    /// Shutting down.
    Closing,
}

/// Whether and how the socket encrypts (QSslSocket::SslMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP (before a delayed handshake, or never).
    Unencrypted,
    /// TLS client.
    Client,
    /// TLS server.
    Server,
}

/// Something that happened on a socket.
#[derive(Debug, Clone)]
pub enum Event {
    /// The state changed.
    StateChanged(SocketState),
    /// The mode changed (a handshake started).
    ModeChanged(SslMode),
    /// TCP connected.
    Connected,
    /// The handshake finished; data now flows encrypted.
    Encrypted,
    /// Every certificate error found in the peer's chain (even ignored ones).
    SslErrors(Vec<SslError>),
    /// One certificate error (emitted once per error, before [`Event::SslErrors`]). Boxed so
    /// that every event stays small: a server holds an event queue per connection.
    PeerVerifyError(Box<SslError>),
    /// Application bytes accepted for sending.
    BytesWritten(usize),
    /// Bytes written to the network, including TLS overhead.
    EncryptedBytesWritten(usize),
    /// Data is available to read.
    ReadyRead,
    /// The connection closed.
    Disconnected,
    /// An error; the message is what [`crate::Error`] displays.
    Error(String),
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_stay_small() {
        // Unbounded channels allocate blocks of 32 events per connection.
        assert!(std::mem::size_of::<super::Event>() <= 32);
    }
}
