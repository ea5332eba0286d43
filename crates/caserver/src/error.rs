//! API errors: a status and a JSON body `{"error": CODE, "message": …}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mtls_pki::Error as PkiError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`invalid_token`, `bad_request` …).
    pub code: &'static str,
    /// What went wrong and how to fix it.
    pub message: String,
    /// Seconds to wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
    /// The audit log's outcome when it must say more than `code` (which token refusal it
    /// was); never sent to the client.
    pub audit: Option<String>,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            audit: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 500 `internal`: only for faults of the server itself (the store, the disk).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The audit log's outcome for it.
    pub fn outcome(&self) -> String {
        self.audit.clone().unwrap_or_else(|| self.code.to_string())
    }
}

impl From<PkiError> for ApiError {
    /// Refusals of the request are 4xx; only the CA's own faults are 500.
    fn from(e: PkiError) -> ApiError {
        let msg = e.to_string();
        match e {
            PkiError::TokenRefused { refusal } => {
                let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", msg);
                e.audit = Some(format!("token_{}", refusal.as_str()));
                e
            }
            PkiError::TokenScope { .. }
            | PkiError::RenewRefused { .. }
            | PkiError::SanRequired { .. }
            | PkiError::PolicyMismatch { .. }
            | PkiError::PolicyMissing { .. }
            | PkiError::IssuerConstraint { .. }
            | PkiError::SubjectNotUnique { .. } => ApiError::forbidden(msg),
            PkiError::UnknownSerial { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", msg)
            }
            PkiError::AlreadyRevoked { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_revoked", msg)
            }
            PkiError::CaExpired { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ca_expired", msg)
            }
            // The database is restarting or failing over: the client retries (nothing was
            // stored: every write is one transaction).
            PkiError::Backend {
                retryable: true, ..
            } => {
                let mut e =
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", msg);
                e.retry_after = Some(1);
                e
            }
            PkiError::Io { .. }
            | PkiError::Backend { .. }
            | PkiError::Store { .. }
            | PkiError::Database { .. }
            | PkiError::Config { .. }
            | PkiError::Crypto { .. } => ApiError::internal(msg),
            _ => ApiError::bad_request(msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "message": self.message});
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
