//! `mtls_socket`: QSslSocket's feature set on tokio + rustls.
//!
//! - [`SslSocket`]: client or server, immediate ([`SslSocket::connect_to_host_encrypted`]) or
//!   delayed handshake ([`SslSocket::start_client_encryption`] /
//!   [`SslSocket::start_server_encryption`] on a connected plain socket, for STARTTLS); data
//!   queued before the handshake ends is sent encrypted; `AsyncRead`/`AsyncWrite`.
//! - Every certificate error of the peer's chain, each with its certificate ([`SslError`], from
//!   `mtls_verify`), ignorable all at once or only as expected and pinned to a certificate.
//! - [`Event`]s on a channel: state, mode, connected, encrypted, SSL errors, bytes written
//!   (plain and encrypted), ready-read, disconnected, errors.
//! - [`SslConfiguration`]: local chain and key (encrypted PKCS#8 too), CA certificates (and the
//!   system roots on request), CRLs with a [`CrlHandle`] that swaps them at run time, peer verify
//!   mode/depth/name, protocol range, cipher suites by name, ALPN, handshake timeout.
//! - [`SslServer`]: many connections on one runtime, a connection limit, bounded handshakes.
//! - [`ocsp`]: OCSP checking of the peer ([`PeerRevocation`]) and stapling of our own
//!   certificate ([`ocsp::OcspStapler`]).
//! - [`access`]: identity rules (CN/SAN globs) for verified peers only.
//! - [`blocking`]: the same socket with `wait_for_*` calls for programs without async.
//!
//! This crate knows nothing of the CA store.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod blocking;
mod config;
mod context;
pub mod crl_fetch;
mod crls;
mod error;
mod event;
mod io;
pub mod ocsp;
mod server;
mod sniff;
mod socket;
mod verify;

pub use config::{
    PeerRevocation, PeerVerifyMode, RevocationFailure, SslConfiguration, TlsVersion,
    load_private_key,
};
pub use context::TlsContext;
pub use crls::{CrlHandle, CrlSummary};
pub use error::{Error, Result, alert_reason};
pub use event::{Event, SocketState, SslMode};
pub use mtls_verify::{CertInfo, ErrorKind, IgnoreRule, SslError, load_certificates, load_crls};
/// The TLS alerts a peer can send (in [`Error::PeerRejected`]).
pub use rustls::AlertDescription;
pub use server::{Incoming, ServerNotice, SslServer};
pub use socket::SslSocket;
pub use verify::{IgnorePolicy, VerificationFailed};
