//! `/roots.pem`, `/ca.crt`, `/crl`, `/crl.pem`, `/healthz`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::crl::PublishedCrl;
use crate::error::ApiError;
use crate::state::Shared;

pub(crate) async fn roots(State(s): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        s.roots_pem.clone(),
    )
        .into_response()
}

/// The issuing CA's certificate alone, DER: the form RFC 5280 4.2.2.1 requires behind a
/// caIssuers URL.
pub(crate) async fn ca_cert(State(s): State<Shared>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pkix-cert"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        s.ca_der.clone(),
    )
        .into_response()
}

pub(crate) async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /openapi.json",
    )
}

pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; see /openapi.json",
            uri.path()
        ),
    )
}

pub(crate) async fn crl_der(State(s): State<Shared>, headers: HeaderMap) -> Response {
    serve_crl(&s, &headers, false)
}

pub(crate) async fn crl_pem(State(s): State<Shared>, headers: HeaderMap) -> Response {
    serve_crl(&s, &headers, true)
}

fn serve_crl(s: &Shared, headers: &HeaderMap, as_pem: bool) -> Response {
    let Some(crl) = s.crl.get() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no_crl",
            "this CA has not published a CRL yet",
        )
        .into_response();
    };
    let mut h = HeaderMap::new();
    validators(&crl, &mut h);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == crl.etag || t.trim() == "*")
        });
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let (ctype, body) = match as_pem {
        true => ("application/x-pem-file", crl.pem.clone().into_bytes()),
        false => ("application/pkix-crl", crl.der.clone()),
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    (h, body).into_response()
}

/// `ETag`, `Last-Modified` (thisUpdate) and `Cache-Control: max-age` until nextUpdate, so that
/// caches never keep a CRL past its life.
fn validators(crl: &PublishedCrl, h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&crl.etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(crl.this_update).and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    let now = mtls_pki::time::now().unix_timestamp();
    let max_age = crl.next_update.map_or(0, |n| (n - now).max(0));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
}

/// RFC 9110 5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(unix: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&f).ok()
}
