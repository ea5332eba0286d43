//! `POST /v1/enroll`: a token and a CSR in, a certificate out.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mtls_pki::Request;
use mtls_pki::store::AuditEntry;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Peer;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::state::{Shared, refused};

/// The body of `POST /v1/enroll`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollRequest {
    /// The token's secret, as `mtls ca token` printed it.
    token: String,
    /// A PKCS#10 request, PEM.
    csr: String,
}

pub(crate) async fn enroll(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ip = peer.addr.ip();
    super::throttle(&s, ip)?;
    let mut entry = AuditEntry::new(
        mtls_pki::time::now().unix_timestamp(),
        "anonymous",
        "enroll",
    );
    entry.peer = Some(peer.addr.to_string());
    let parsing = std::time::Instant::now();
    let parsed = Request::from_bytes(req.csr.as_bytes(), "csr");
    s.metrics.add_csr(parsing);
    let csr = match parsed {
        Ok(r) => r,
        Err(e) => {
            let e = ApiError::bad_request(format!("csr: {e}"));
            return Err(refused(&s, entry, e).await);
        }
    };
    let token = req.token;
    // The batch writes the audit entry, with its batch's, in one transaction.
    let result = crate::batch::enroll(&s.enroll, csr, token, entry, (None, None)).await;
    match result {
        Ok((_, issued)) => {
            s.metrics.action("enroll", "ok");
            let chain = format!("{}{}", issued.pem, s.roots_pem);
            let body = json!({
                "serial": issued.serial.hex(),
                "certificate": issued.pem,
                "chain": chain,
                "not_after": mtls_pki::time::rfc3339(issued.not_after),
                "notes": issued.notes,
            });
            Ok((StatusCode::CREATED, Json(body)))
        }
        Err(e) => {
            if e.code == "invalid_token" {
                s.failures.fail(ip);
            }
            s.metrics.action("enroll", &e.outcome());
            Err(e)
        }
    }
}
