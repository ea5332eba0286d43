//! The endpoints.

mod admin;
pub(crate) mod auth;
mod enroll;
mod public;
pub(crate) mod renew;

pub(crate) use public::http_date;

use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Shared;

/// Who is calling, as the TLS listener saw it.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// The DER of the certificate the client presented (and proved it holds the key of).
    /// It counts only if it is, byte for byte, a record of this CA's store; see
    /// [`auth::caller`].
    pub cert: Option<Vec<u8>>,
}

/// 429 with `Retry-After` for an address past its failed token attempts.
pub(crate) fn throttle(s: &Shared, ip: std::net::IpAddr) -> Result<(), crate::error::ApiError> {
    s.failures.check(ip).map_err(|wait| {
        let mut e = crate::error::ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!("too many failed token attempts from {ip}; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        e
    })
}

/// Public, signed objects: served on both listeners.
pub(crate) fn public(state: Shared) -> Router {
    Router::new()
        .route("/roots.pem", get(public::roots))
        .route("/ca.crt", get(public::ca_cert))
        .route("/crl", get(public::crl_der))
        .route("/crl.pem", get(public::crl_pem))
        .route("/ocsp", post(crate::ocsp::post))
        .route("/ocsp/{*request}", get(crate::ocsp::get))
        .route("/healthz", get(public::healthz))
        .route("/openapi.json", get(public::openapi))
        .fallback(public::not_found)
        .method_not_allowed_fallback(public::method_not_allowed)
        .with_state(state)
}

/// The API: the public objects, and the actions (TLS listener only).
pub(crate) fn api(state: Shared) -> Router {
    Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/renew", post(renew::renew))
        .route("/v1/tokens", post(admin::create_token))
        .route("/v1/revoke", post(admin::revoke))
        .route("/v1/certs", get(admin::list))
        .route("/v1/certs/{serial}", get(admin::get))
        .route("/v1/audit", get(admin::audit_log))
        .route("/metrics", get(admin::metrics))
        .route("/.well-known/est/cacerts", get(crate::est::cacerts))
        .route("/.well-known/est/csrattrs", get(crate::est::csrattrs))
        .route(
            "/.well-known/est/simpleenroll",
            post(crate::est::simpleenroll),
        )
        .route(
            "/.well-known/est/simplereenroll",
            post(crate::est::simplereenroll),
        )
        .route(
            "/.well-known/est/{label}/cacerts",
            get(crate::est::cacerts_label),
        )
        .route(
            "/.well-known/est/{label}/csrattrs",
            get(crate::est::csrattrs_label),
        )
        .route(
            "/.well-known/est/{label}/simpleenroll",
            post(crate::est::simpleenroll),
        )
        .route(
            "/.well-known/est/{label}/simplereenroll",
            post(crate::est::simplereenroll),
        )
        .method_not_allowed_fallback(public::method_not_allowed)
        .with_state(state.clone())
        .merge(public(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state, count))
}

/// Counts every request by its route (the pattern, not the path: bounded labels) and status.
async fn count(
    axum::extract::State(s): axum::extract::State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let resp = next.run(req).await;
    s.metrics.request(&route, resp.status().as_u16());
    resp
}
