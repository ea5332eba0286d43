//! The admin endpoints: tokens, revocation, the records and the audit log.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mtls_pki::store::{AuditEntry, Reason, StatusFilter};
use mtls_pki::token::TokenRecord;
use mtls_pki::{Serial, pemutil};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Peer;
use super::auth::{self, Caller};
use crate::body::{JsonBody, QueryArgs};
use crate::error::ApiError;
use crate::state::{Shared, audit, with_ca};

/// A lifetime: `"15m"`-style text or seconds.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Lifetime {
    Seconds(u64),
    Text(String),
}

/// The body of `POST /v1/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRequest {
    name: String,
    #[serde(default = "default_profile")]
    profile: String,
    #[serde(default)]
    sans: Vec<String>,
    ttl: Option<Lifetime>,
    #[serde(default = "one")]
    uses: u32,
    /// The validity of the certificates it enrolls; `[online]`'s when absent.
    validity: Option<Lifetime>,
}

impl Lifetime {
    /// In seconds; `field` names it in the 400.
    fn secs(&self, field: &str) -> Result<u64, ApiError> {
        match self {
            Lifetime::Seconds(n) if (1..=mtls_pki::time::MAX_LIFETIME_SECS).contains(n) => Ok(*n),
            Lifetime::Seconds(n) => Err(ApiError::bad_request(format!(
                "{field}: {n} s is out of range; give 1 s to {} days",
                mtls_pki::time::MAX_LIFETIME_SECS / 86_400
            ))),
            Lifetime::Text(t) => mtls_pki::time::parse_lifetime(t)
                .map_err(|e| ApiError::bad_request(format!("{field}: {e}"))),
        }
    }
}

fn default_profile() -> String {
    "client".into()
}

fn one() -> u32 {
    1
}

pub(crate) async fn create_token(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let admin = auth::admin(&s, &peer, "token.create").await?;
    let ttl = match &req.ttl {
        None => 900,
        Some(l) => l.secs("ttl")?,
    };
    let validity = match &req.validity {
        None => None,
        Some(l) => Some(
            mtls_pki::time::Lifetime::from_secs(l.secs("validity")?)
                .ok_or_else(|| ApiError::bad_request("validity: must be at least 1 s"))?,
        ),
    };
    let now = mtls_pki::time::now().unix_timestamp();
    let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
    let record = TokenRecord::new(&req.name, &req.profile, req.sans, now, ttl, req.uses)?
        .with_validity(validity);
    let r = record.clone();
    let secret = with_ca(&s, move |ca| ca.create_token(&r).map_err(ApiError::from)).await?;
    let mut entry = AuditEntry::new(now, format!("cert:{}", admin.hex()), "token.create");
    entry.target = Some(record.name.clone());
    entry.peer = Some(peer.addr.to_string());
    entry.detail = Some(record.summary());
    audit(&s, entry).await;
    let body = json!({
        "token": secret.expose(),
        "name": record.name,
        "profile": record.profile,
        "expires_at": mtls_pki::time::rfc3339(record.expires_at),
        "uses": record.uses_left,
        "validity": record.validity.map(|v| v.to_string()),
        "enroll_command": format!(
            "MTLS_ENROLL_TOKEN={} mtls enroll https://{} --ca ca.crt --out-dir certs --name {}",
            secret.expose(), peer_host(&s), record.name
        ),
    });
    Ok((StatusCode::CREATED, Json(body)))
}

fn peer_host(s: &Shared) -> String {
    s.api_addr.to_string()
}

/// The body of `POST /v1/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    serial: String,
    #[serde(default = "unspecified")]
    reason: String,
}

fn unspecified() -> String {
    "unspecified".into()
}

pub(crate) async fn revoke(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    JsonBody(req): JsonBody<RevokeRequest>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth::caller(&s, &peer).await?;
    let serial: Serial = req
        .serial
        .parse()
        .map_err(|e| ApiError::bad_request(format!("serial: {e}")))?;
    let denied = match &caller {
        Caller::Admin(_) => None,
        Caller::Holder(own) if *own == serial => None,
        Caller::Holder(_) => Some(ApiError::forbidden(
            "a certificate's holder may revoke only that certificate; other revocations need an admin",
        )),
        Caller::Anonymous => Some(auth::unauthenticated()),
    };
    if let Some(e) = denied {
        auth::refused(&s, &peer, &caller, "revoke", Some(serial.hex()), &e).await;
        return Err(e);
    }
    let reason =
        Reason::parse(&req.reason).map_err(|e| ApiError::bad_request(format!("reason: {e}")))?;
    if reason == Reason::RemoveFromCrl {
        return Err(ApiError::bad_request(
            "reason: removeFromCRL releases a hold; it is not a revocation",
        ));
    }
    let target = serial.hex();
    let mut entry = AuditEntry::new(
        mtls_pki::time::now().unix_timestamp(),
        caller.actor(),
        "revoke",
    );
    entry.peer = Some(peer.addr.to_string());
    entry.detail = Some(format!("reason {}", reason.name()));
    // The audit row goes in with the revocation, in one transaction.
    let logged = entry.clone();
    let revoked = with_ca(&s, move |ca| {
        ca.revoke_audited(&serial, reason, &logged)
            .map_err(ApiError::from)
    })
    .await;
    let rec = match revoked {
        Ok(r) => r,
        Err(e) => {
            auth::refused(&s, &peer, &caller, "revoke", Some(target), &e).await;
            return Err(e);
        }
    };
    s.metrics.action("revoke", "ok");
    // Before the answer: no cached "good" outlives a revoke that has returned.
    s.ocsp.cache.invalidate(&rec.serial.hex());
    s.crl_dirty.notify_one();
    // Answered once every instance's OCSP and CRL answers carry it (or the wait ran out).
    let spread = crate::follow::propagated(&s, &rec.serial).await;
    Ok(Json(json!({
        "serial": rec.serial.hex(),
        "revoked_at": rec.revoked_at.map(mtls_pki::time::rfc3339),
        "reason": reason.name(),
        "propagated": spread.propagated,
        "lagging": spread.lagging,
    })))
}

/// The query of `GET /v1/certs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    status: Option<String>,
    profile: Option<String>,
    cn: Option<String>,
    expiring_within: Option<u32>,
}

pub(crate) async fn list(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    auth::admin(&s, &peer, "certs.list").await?;
    if q.expiring_within.is_some_and(|d| d > 36_500) {
        return Err(ApiError::bad_request(
            "expiring_within: give 0 to 36500 days",
        ));
    }
    let filter = match q.status.as_deref().unwrap_or("all") {
        "all" => StatusFilter::All,
        "valid" => StatusFilter::Valid,
        "revoked" => StatusFilter::Revoked,
        "expired" => StatusFilter::Expired,
        other => {
            return Err(ApiError::bad_request(format!(
                "status: {other:?} is not one of all, valid, revoked, expired"
            )));
        }
    };
    let rows = with_ca(&s, move |ca| {
        ca.list(filter, q.expiring_within).map_err(ApiError::from)
    })
    .await?;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| q.profile.as_ref().is_none_or(|p| &r.profile == p))
        .filter(|r| {
            q.cn.as_ref()
                .is_none_or(|c| r.cn.as_deref().is_some_and(|cn| cn.contains(c.as_str())))
        })
        .collect();
    Ok(Json(json!(rows)))
}

/// The query of `GET /v1/certs/{serial}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetQuery {
    format: Option<String>,
}

pub(crate) async fn get(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    Path(serial): Path<String>,
    QueryArgs(q): QueryArgs<GetQuery>,
) -> Result<Response, ApiError> {
    auth::admin(&s, &peer, "certs.get").await?;
    let serial: Serial = serial
        .parse()
        .map_err(|e| ApiError::bad_request(format!("serial: {e}")))?;
    let (rec, old, new) = with_ca(&s, move |ca| {
        {
            let rec = ca
                .store()
                .get(&serial)?
                .ok_or(mtls_pki::Error::UnknownSerial {
                    serial: serial.hex(),
                })?;
            let old = ca.store().superseded_by(&serial)?;
            let new = ca.store().supersedes(&serial)?;
            Ok::<_, mtls_pki::Error>((rec, old, new))
        }
        .map_err(ApiError::from)
    })
    .await?;
    let pem = (!rec.der.is_empty()).then(|| pemutil::encode("CERTIFICATE", &rec.der));
    match q.format.as_deref() {
        Some("pem") => match pem {
            Some(p) => Ok((
                [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
                p,
            )
                .into_response()),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no_certificate",
                "this record came from openssl's index.txt without its certificate file",
            )),
        },
        None | Some("json") => Ok(Json(json!({
            "record": rec,
            "certificate": pem,
            "supersedes": old.map(|s| s.hex()),
            "superseded_by": new.map(|s| s.hex()),
        }))
        .into_response()),
        Some(other) => Err(ApiError::bad_request(format!(
            "format: {other:?} is not pem or json"
        ))),
    }
}

/// The query of `GET /v1/audit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

pub(crate) async fn audit_log(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    QueryArgs(q): QueryArgs<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    auth::admin(&s, &peer, "audit.read").await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: give 1 to 1000"));
    }
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request(
            "before: give an entry id (1 or more)",
        ));
    }
    let rows = with_ca(&s, move |ca| {
        ca.store().audit(limit, q.before).map_err(ApiError::from)
    })
    .await?;
    Ok(Json(json!(rows)))
}

pub(crate) async fn metrics(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
) -> Result<Response, ApiError> {
    auth::admin(&s, &peer, "metrics.read").await?;
    let crl = s.crl.get().map(|c| {
        let n = c
            .number
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (n, c.this_update, c.next_update)
    });
    let mut text = s
        .metrics
        .render(crl, mtls_pki::time::now().unix_timestamp());
    text.push_str(&format!(
        "# HELP mtls_ca_ocsp_cached OCSP answers kept for reuse.\n\
         # TYPE mtls_ca_ocsp_cached gauge\nmtls_ca_ocsp_cached {}\n",
        s.ocsp.cache.len()
    ));
    let t = with_ca(&s, |ca| Ok(ca.timings())).await?;
    let secs = |ns: u64| ns as f64 / 1e9;
    text.push_str(&format!(
        "# HELP mtls_ca_enroll_seconds_total Wall time of online enrollment by phase: csr (parsing and checking the request's signature), tokens (lookups), sign (signing), record (the batch's statements and commit).\n\
         # TYPE mtls_ca_enroll_seconds_total counter\n\
         mtls_ca_enroll_seconds_total{{phase=\"csr\"}} {:.6}\n\
         mtls_ca_enroll_seconds_total{{phase=\"tokens\"}} {:.6}\n\
         mtls_ca_enroll_seconds_total{{phase=\"sign\"}} {:.6}\n\
         mtls_ca_enroll_seconds_total{{phase=\"record\"}} {:.6}\n\
         # HELP mtls_ca_enrolled_total Certificates recorded through online enrollment.\n\
         # TYPE mtls_ca_enrolled_total counter\nmtls_ca_enrolled_total {}\n",
        secs(s.metrics.csr_ns()),
        secs(t.tokens_ns),
        secs(t.sign_ns),
        secs(t.record_ns),
        t.enrolled
    ));
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
