//! The endpoints.

mod enroll;
mod public;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Shared;

/// Who is calling, as the TLS listener saw it.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The DER of the client's certificate, when it presented one that verified against this
    /// CA (the role still comes from the store record, not from the certificate).
    // Read by the admin and renewal endpoints, which come with the next part of the server.
    #[allow(dead_code)]
    pub cert: Option<Vec<u8>>,
}

/// Public, signed objects: served on both listeners.
pub(crate) fn public(state: Shared) -> Router {
    Router::new()
        .route("/roots.pem", get(public::roots))
        .route("/crl", get(public::crl_der))
        .route("/crl.pem", get(public::crl_pem))
        .route("/healthz", get(public::healthz))
        .fallback(public::not_found)
        .with_state(state)
}

/// The API: the public objects, and the actions (TLS listener only).
pub(crate) fn api(state: Shared) -> Router {
    Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .with_state(state.clone())
        .merge(public(state))
}
