//! The OCSP responder (RFC 6960, RFC 5019 profile): `POST /ocsp` and `GET /ocsp/{request}` on
//! both listeners. Answers come from the store, so a revocation is in the very next response;
//! they are signed with a copy of the CA key held here, outside the CA's lock.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::{Arc, RwLock};

use mtls_ocsp::{Delegate, Issuer, Query, Refusal, Signer, Status};
use mtls_pki::store::Reason;
use mtls_pki::{CertificateAuthority, PrivateKey, Serial};
use rcgen::SigningKey as _;

use crate::state::{Shared, with_ca};

/// The key answers are signed with: a copy of the CA key, or a delegated responder's.
pub(crate) struct ResponderKey {
    pub(crate) key: PrivateKey,
    pub(crate) algorithm_der: Vec<u8>,
    pub(crate) delegate: Option<Delegate>,
    /// When a delegated responder certificate is renewed (2/3 of its life).
    renew_at: Option<i64>,
}

/// What signs and identifies the answers.
pub(crate) struct Responder {
    pub(crate) issuer: Issuer,
    key: RwLock<Arc<ResponderKey>>,
    /// Answers kept for reuse.
    pub(crate) cache: crate::ocsp_cache::Cache,
    /// How long an answer is good for (its nextUpdate, `[online] ocsp_validity`): short,
    /// since answers come from the store and clients and caches may keep them until then.
    pub(crate) life: i64,
}

impl Responder {
    /// For `ca`, whose key must be unlocked; with `[online] ocsp_delegated`, a responder
    /// certificate is issued now.
    pub(crate) fn new(ca: &mut CertificateAuthority) -> Result<Responder, crate::Error> {
        let issuer =
            Issuer::from_cert_der(ca.cert_der()).map_err(|e| crate::Error::Ocsp(e.to_string()))?;
        let key = if ca.config().online.ocsp_delegated {
            delegated(ca)?
        } else {
            let (key, algorithm_der) = ca.signing_key()?;
            ResponderKey {
                key,
                algorithm_der,
                delegate: None,
                renew_at: None,
            }
        };
        Ok(Responder {
            issuer,
            key: RwLock::new(Arc::new(key)),
            cache: Default::default(),
            life: i64::try_from(ca.config().online.ocsp_validity_secs()).unwrap_or(3600),
        })
    }

    pub(crate) fn key(&self) -> Arc<ResponderKey> {
        self.key.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// True when the delegated responder certificate is due for renewal at `now`.
    pub(crate) fn due(&self, now: i64) -> bool {
        self.key().renew_at.is_some_and(|at| now >= at)
    }
}

/// A new delegated responder: a key of the CA's key type and a certificate under the built-in
/// `ocsp` profile (OCSPSigning, ocsp-nocheck, a day), recorded like any other.
pub(crate) fn delegated(ca: &mut CertificateAuthority) -> Result<ResponderKey, crate::Error> {
    let cn = ca.subject().common_name().unwrap_or("mtls CA").to_string();
    let subject = mtls_pki::Name::parse(&format!("/CN={} OCSP Responder", cn.replace('/', "\\/")))?;
    let kt = ca.config().ca.key_type;
    let (key, issued) = ca.issue(
        "the OCSP responder certificate",
        subject,
        Vec::new(),
        mtls_pki::profile::OCSP,
        None,
        kt,
    )?;
    let delegate =
        Delegate::from_cert_der(&issued.der).map_err(|e| crate::Error::Ocsp(e.to_string()))?;
    let now = mtls_pki::time::now().unix_timestamp();
    Ok(ResponderKey {
        algorithm_der: key.signature_algorithm_der()?,
        key,
        delegate: Some(delegate),
        renew_at: Some(now + (issued.not_after - now) * 2 / 3),
    })
}

/// `POST /ocsp` with an `application/ocsp-request` body; over 64 KiB is `malformedRequest`.
/// A POST without a body is not an OCSP request at all: HTTP 400 (with `malformedRequest`).
pub(crate) async fn post(State(s): State<Shared>, req: axum::extract::Request) -> Response {
    match axum::body::to_bytes(req.into_body(), mtls_ocsp::MAX_REQUEST_LEN).await {
        Ok(body) if body.is_empty() => {
            let refusal = Refusal::Malformed("the request has no body".into());
            let mut r = reply(refusal.response(), None);
            *r.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            r
        }
        Ok(body) => answer(&s, &body).await,
        Err(_) => reply(
            Refusal::Malformed(format!(
                "the request is over {} KiB",
                mtls_ocsp::MAX_REQUEST_LEN / 1024
            ))
            .response(),
            None,
        ),
    }
}

/// RFC 5019 2.1.1: `GET {url}/{url-encoding of base-64 encoding of the DER request}`. The
/// path may hold `/` (standard base64) and `//`, which is kept as is, and percent-escapes;
/// the URL-safe alphabet is accepted too.
pub(crate) async fn get(State(s): State<Shared>, Path(encoded): Path<String>) -> Response {
    match decode_get(&encoded) {
        Some(der) => answer(&s, &der).await,
        None => reply(
            Refusal::Malformed("the path is not a base64 OCSP request".into()).response(),
            None,
        ),
    }
}

fn decode_get(path: &str) -> Option<Vec<u8>> {
    let text = percent_decode(path)?;
    let text = text.trim();
    let std = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    std.decode(text)
        .ok()
        .or_else(|| url.decode(text.trim_end_matches('=')).ok())
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses, checks, looks up and signs; every failure is an OCSP status, never an HTTP error.
async fn answer(s: &Shared, der: &[u8]) -> Response {
    let r = &s.ocsp;
    let query = match Query::parse(der).and_then(|q| q.check(&r.issuer).map(|()| q)) {
        Ok(q) => q,
        Err(refusal) => {
            s.metrics.action("ocsp", refusal_name(&refusal));
            return reply(refusal.response(), None);
        }
    };
    let now = mtls_pki::time::now().unix_timestamp();
    // One certificate and no nonce (RFC 5019's profile): the answer can be shared.
    let shared = query
        .shareable()
        .map(|(serial, key)| (Serial::from_bytes(serial).hex(), key));
    if let Some((serial, key)) = &shared
        && let Some(hit) = r.cache.get(serial, key, now)
    {
        s.metrics.action("ocsp", "ok");
        return reply(hit.der.clone(), Some((hit.this_update, hit.next_update)));
    }
    let epoch = r.cache.epoch();
    let serials: Vec<Vec<u8>> = query.serials().map(<[u8]>::to_vec).collect();
    let looked = with_ca(s, move |ca| {
        serials
            .iter()
            .map(|b| status_of(ca, &Serial::from_bytes(b)))
            .collect::<Result<Vec<Status>, _>>()
            .map_err(crate::error::ApiError::from)
    })
    .await;
    let statuses = match looked {
        Ok(v) => v,
        Err(e) => {
            s.metrics.action("ocsp", "internal_error");
            return reply(Refusal::Internal(e.message).response(), None);
        }
    };
    let next = now + r.life;
    let key = r.key();
    let sign = |m: &[u8]| key.key.key_pair().sign(m).map_err(|e| e.to_string());
    let signer = Signer {
        algorithm_der: &key.algorithm_der,
        sign: &sign,
        delegate: key.delegate.as_ref(),
    };
    let mut each = statuses.into_iter();
    let mut status = |_: &[u8]| each.next().unwrap_or(Status::Unknown);
    match r.issuer.respond(&query, &mut status, now, next, &signer) {
        Ok(body) => {
            s.metrics.action("ocsp", "ok");
            if let Some((serial, key)) = shared {
                let kept = crate::ocsp_cache::Cached {
                    der: body.clone(),
                    this_update: now,
                    next_update: next,
                };
                r.cache.put(epoch, serial, key, kept);
            }
            reply(body, Some((now, next)))
        }
        Err(e) => {
            s.metrics.action("ocsp", "internal_error");
            reply(Refusal::Internal(e.to_string()).response(), None)
        }
    }
}

fn refusal_name(r: &Refusal) -> &'static str {
    match r {
        Refusal::Malformed(_) => "malformed_request",
        Refusal::Unauthorized(_) => "unauthorized",
        Refusal::Internal(_) => "internal_error",
    }
}

/// What the store says of `serial`. removeFromCRL counts as not revoked (RFC 5280 6.3.3).
fn status_of(ca: &mut CertificateAuthority, serial: &Serial) -> mtls_pki::Result<Status> {
    Ok(match ca.store().get(serial)? {
        None => Status::Unknown,
        Some(rec) => match (rec.revoked_at, rec.reason) {
            (Some(_), Some(Reason::RemoveFromCrl)) | (None, _) => Status::Good,
            (Some(at), reason) => Status::Revoked {
                at,
                reason: reason.map(Reason::code),
            },
        },
    })
}

/// An `application/ocsp-response`; a signed one carries RFC 5019 6.2's caching headers.
fn reply(body: Vec<u8>, times: Option<(i64, i64)>) -> Response {
    let mut resp = (
        [(header::CONTENT_TYPE, "application/ocsp-response")],
        body.clone(),
    )
        .into_response();
    if let Some((now, next)) = times {
        let h = resp.headers_mut();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
        let etag: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let date = |t| crate::routes::http_date(t).unwrap_or_default();
        for (name, value) in [
            (header::ETAG, format!("\"{etag}\"")),
            (header::LAST_MODIFIED, date(now)),
            (header::EXPIRES, date(next)),
            (
                header::CACHE_CONTROL,
                format!(
                    "max-age={}, public, no-transform, must-revalidate",
                    next - now
                ),
            ),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }
    resp
}

/// Empties the cache when another process commits to the store (a `mtls ca revoke` beside the
/// server): checked every second until `stop`.
pub(crate) async fn watch_store(
    state: Shared,
    feed: Option<mtls_pki::Result<Box<dyn mtls_pki::store::backend::ChangeFeed>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // A shared store (PostgreSQL) says which certificates changed: see `crate::follow`.
    let shared = feed.is_some();
    match feed {
        Some(Ok(feed)) => crate::follow::follow(state.clone(), feed, stop.clone()),
        Some(Err(e)) => eprintln!("warning: ca serve cannot follow the store's changes: {e}"),
        None => {}
    }
    let mut last = None;
    loop {
        if !shared {
            let v = with_ca(&state, |ca| {
                ca.store()
                    .data_version()
                    .map_err(crate::error::ApiError::from)
            })
            .await
            .ok();
            if v.is_none() || (last.is_some() && v != last) {
                state.ocsp.cache.clear();
            }
            last = v;
        }
        if state.ocsp.due(mtls_pki::time::now().unix_timestamp()) {
            match with_ca(&state, |ca| {
                delegated(ca).map_err(|e| crate::error::ApiError::internal(e.to_string()))
            })
            .await
            {
                Ok(k) => {
                    *state.ocsp.key.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(k);
                    // Our own commit: not another process's.
                    last = None;
                }
                Err(e) => eprintln!(
                    "warning: ca serve could not renew its OCSP responder certificate: {}",
                    e.message
                ),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}
