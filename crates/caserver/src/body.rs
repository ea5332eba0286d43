//! Request bodies: at most [`MAX_BODY`] bytes of JSON, refused with a JSON reason that names
//! the field (axum's own rejections answer in plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The largest request body accepted: 64 KiB. A CSR is a few kilobytes.
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the request body is over {} KiB", MAX_BODY / 1024),
                )
            })?;
        let _ = state;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, naming what is wrong (`missing field "csr"`, `token: invalid type`).
pub fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, (String, serde_json::Error)> = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| (e.path().to_string(), e.into_inner()))
        // Trailing bytes after the value are an error, as serde_json::from_slice says.
        .and_then(|t| de.end().map(|()| t).map_err(|e| (".".to_string(), e)));
    parsed.map_err(|(path, inner)| {
        let what = match inner.classify() {
            serde_json::error::Category::Data => "the JSON body does not fit the request",
            _ => "the body is not valid JSON",
        };
        if path == "." {
            ApiError::bad_request(format!("{what}: {inner}"))
        } else {
            ApiError::bad_request(format!("{what}: {path}: {inner}"))
        }
    })
}

/// A query string of type `T`, refused with a JSON reason naming the parameter.
#[derive(Debug)]
pub struct QueryArgs<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or_default();
        parse_query(q).map(QueryArgs)
    }
}

fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::bad_request("the query string is not valid"))?,
    )
    .map(|axum::extract::Query(t)| t)
    .map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))
}
