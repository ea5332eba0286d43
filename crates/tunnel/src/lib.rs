//! `mtls_tunnel`: mutual TLS in front of any TCP service, on the socket layer.
//!
//! - [`server`]: terminates mutual TLS, checks the client's identity against
//!   [`mtls_socket::access`] rules, and forwards the plaintext to a TCP or unix-socket target,
//!   optionally behind a PROXY protocol header ([`proxy`]) that tells the backend who
//!   connected. A client whose certificate is revoked by a CRL reload is cut off at once.
//! - [`client`]: accepts plaintext locally and connects out with mutual TLS, pinning the
//!   server's identity with the same rules.
//! - [`copy`]: the byte pump between the two sockets: half-close carried both ways, buffers
//!   borrowed from a per-thread pool only while bytes are in flight (an idle connection holds
//!   none), an idle timeout.
//! - [`Metrics`]: counters for a status endpoint.
//!
//! What happens is reported as [`Event`]s to a callback, so the binary decides how to log.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod copy;
mod error;
mod event;
mod link;
mod metrics;
pub mod proxy;
pub mod server;
mod shared;
pub mod status;
mod target;

pub use error::{Error, Result};
pub use event::{CloseReason, Event, Observer, Peer};
pub use metrics::Metrics;
pub use shared::Shared;
pub use target::{Stream, Target, is_loopback_listen};
