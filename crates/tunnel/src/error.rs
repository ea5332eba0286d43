//! The tunnel's errors: each names the address, target or rule at fault.

/// What can stop a tunnel from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not on loopback and that was not allowed.
    #[error(
        "the listen address {addr} is not a loopback address; a tunnel listens on 127.0.0.1 or ::1 unless told otherwise"
    )]
    UnsafeListen {
        /// The address given.
        addr: String,
    },
    /// The target is not on loopback (nor a unix socket) and that was not allowed.
    #[error(
        "the target {target} is not on loopback or a unix socket; a tunnel forwards plaintext only to this machine unless told otherwise"
    )]
    UnsafeTarget {
        /// The target given.
        target: String,
    },
    /// The target cannot be parsed.
    #[error("the target {target:?}: {why}")]
    BadTarget {
        /// The target given.
        target: String,
        /// What is wrong with it.
        why: String,
    },
    /// A server tunnel without identity rules, and allowing everyone was not asked for.
    #[error("no identity rule: name who may connect, or allow every client of the CA explicitly")]
    NoRules,
    /// Binding the listener failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The socket layer refused the configuration or the listener.
    #[error(transparent)]
    Socket(#[from] mtls_socket::Error),
}

/// A tunnel result.
pub type Result<T> = std::result::Result<T, Error>;
