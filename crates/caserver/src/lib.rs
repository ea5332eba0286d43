//! `mtls_caserver`: the online CA behind `mtls ca serve`.
//!
//! - An HTTPS API (axum on the socket layer's TLS, TLS ≥ 1.2) whose server certificate the CA
//!   issues to itself at start. Client certificates are requested, not required: enrollment
//!   with a token needs none.
//! - A plain HTTP listener for public, signed objects only: the roots and the CRL.
//! - One-time enrollment tokens ([`mtls_pki::token`]), consumed in the transaction that
//!   records the certificate; refusals are 4xx with a JSON reason, and every action is written
//!   to the store's audit log.
//! - A CRL that never lapses: regenerated after a revocation and once 2/3 of its life passed.
//!
//! Signing runs on tokio's blocking pool; nothing is answered before it is in the store.
//! This crate knows no command-line flags: `mtls ca serve` maps them to [`Options`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
pub mod body;
pub mod client;
pub mod crl;
pub mod error;
mod est;
mod follow;
mod keeper;
pub mod limiter;
mod listen;
pub mod metrics;
mod ocsp;
mod ocsp_cache;
mod ocsp_presign;
mod routes;
mod selfcert;
mod server;
mod state;

pub use error::ApiError;

/// The OpenAPI 3.1 description of the API, as served at `/openapi.json` (also
/// `crates/caserver/api/openapi.json` in the repository).
pub const OPENAPI: &str = include_str!("../api/openapi.json");
pub use server::{Options, Running, start};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CA refused (its key, its store, its own server certificate).
    #[error(transparent)]
    Pki(#[from] mtls_pki::Error),
    /// The TLS configuration or a listener.
    #[error(transparent)]
    Socket(#[from] mtls_socket::Error),
    /// The OCSP responder could not read the CA certificate.
    #[error("the OCSP responder: {0}")]
    Ocsp(String),
    /// A listener could not be opened.
    #[error("{what}: {source}")]
    Io {
        /// Which listener.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
