//! `POST /v1/renew`: a certificate's holder, over mutual TLS, gets its successor.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mtls_pki::Issued;
use mtls_pki::Request;
use mtls_pki::store::{AuditEntry, CertRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Peer;
use super::auth::unauthenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::state::{Shared, refused, with_ca};

/// The body of `POST /v1/renew`: empty for the same key, or a CSR for a new one.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenewRequest {
    csr: Option<String>,
}

pub(crate) async fn renew(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    JsonBody(req): JsonBody<RenewRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Some(der) = peer.cert.clone() else {
        return Err(unauthenticated());
    };
    let entry = renewal_entry(&peer, &der, "renew");
    let csr = match req
        .csr
        .as_deref()
        .map(|c| Request::from_bytes(c.as_bytes(), "csr"))
    {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            let e = ApiError::bad_request(format!("csr: {e}"));
            return Err(refused(&s, entry, e).await);
        }
    };
    let (old, issued) = renew_audited(&s, entry, der, csr).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "serial": issued.serial.hex(),
            "supersedes": old.serial.hex(),
            "certificate": issued.pem,
            "chain": format!("{}{}", issued.pem, s.roots_pem),
            "not_after": mtls_pki::time::rfc3339(issued.not_after),
        })),
    ))
}

/// The audit entry of a renewal by the holder of `der` (its serial as actor and target).
pub(crate) fn renewal_entry(peer: &Peer, der: &[u8], action: &str) -> AuditEntry {
    let mut entry = AuditEntry::new(mtls_pki::time::now().unix_timestamp(), "anonymous", action);
    entry.peer = Some(peer.addr.to_string());
    if let Ok(serial) = mtls_pki::inspect::cert_serial(der, "the client certificate") {
        entry.actor = format!("cert:{}", serial.hex());
        entry.target = Some(serial.hex());
    }
    entry
}

/// Renews `der` (for `csr`'s key when given) and writes `entry`, success or refusal.
pub(crate) async fn renew_audited(
    s: &Shared,
    entry: AuditEntry,
    der: Vec<u8>,
    csr: Option<Request>,
) -> Result<(CertRecord, Issued), ApiError> {
    let grace = s.renew_grace_secs;
    // Written with the new certificate, in its transaction (its target: the new serial).
    let mut logged = entry.clone();
    logged.detail = entry.target.as_ref().map(|old| format!("renewal of {old}"));
    match with_ca(s, move |ca| {
        ca.renew(&der, csr, grace, Some(&logged))
            .map_err(ApiError::from)
    })
    .await
    {
        Ok((old, issued)) => {
            s.metrics.action(&entry.action, "ok");
            Ok((old, issued))
        }
        Err(e) => Err(refused(s, entry, e).await),
    }
}
