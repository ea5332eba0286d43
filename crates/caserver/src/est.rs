//! EST (RFC 7030) under `/.well-known/est/`, on the TLS listener: `cacerts`, `simpleenroll`
//! (an enrollment token as the HTTP Basic password, the user its name), `simplereenroll` (the
//! current certificate over mutual TLS; the request's subject and subjectAltNames must be the
//! certificate's) and `csrattrs`. An optional label segment (`/.well-known/est/LABEL/…`) names
//! the profile, which must be the token's (or the renewed certificate's). Requests and answers
//! are base64 DER as RFC 7030 4 has them; refusals are plain text saying what to fix.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use der::{Decode, Encode};
use mtls_pki::store::AuditEntry;
use mtls_pki::{Request, pemutil};

use crate::error::ApiError;
use crate::routes::Peer;
use crate::state::{Shared, audit, with_ca};

/// The largest request body: 64 KiB, as for the JSON API.
const MAX_BODY: usize = 64 * 1024;

/// A plain-text refusal with its status (RFC 7030 4.2.3: the body is human-readable).
fn refuse(status: StatusCode, text: impl Into<String>) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", text.into()),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"mtls EST\""),
        );
    }
    r
}

fn from_api(e: ApiError) -> Response {
    let mut r = refuse(e.status, e.message);
    if let Some(wait) = e.retry_after
        && let Ok(v) = header::HeaderValue::from_str(&wait.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Certificates (PEM chain text) as a base64 certs-only PKCS#7 (RFC 7030 4.1.3, 4.2.3); our
/// own certificates always encode, so a failure is the server's (500).
fn certs_only(pem_chain: &str) -> Response {
    encode_certs(pem_chain).unwrap_or_else(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e))
}

fn encode_certs(pem_chain: &str) -> Result<Response, String> {
    let blocks = pemutil::blocks(pem_chain.as_bytes(), "the chain", "certificate")
        .map_err(|e| e.to_string())?;
    let mut certs = Vec::with_capacity(blocks.len());
    for b in blocks {
        certs.push(x509_cert::Certificate::from_der(&b.der).map_err(|e| e.to_string())?);
    }
    let ci = cms::content_info::ContentInfo::try_from(certs).map_err(|e| e.to_string())?;
    let der = ci.to_der().map_err(|e| e.to_string())?;
    // RFC 2045 base64 (what Content-Transfer-Encoding: base64 means): lines of at most 76.
    let flat = base64::engine::general_purpose::STANDARD.encode(der);
    let mut b64 = String::with_capacity(flat.len() + flat.len() / 64 + 1);
    for line in flat.as_bytes().chunks(64) {
        b64.push_str(&String::from_utf8_lossy(line));
        b64.push('\n');
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/pkcs7-mime; smime-type=certs-only",
            ),
            (
                header::HeaderName::from_static("content-transfer-encoding"),
                "base64",
            ),
        ],
        b64,
    )
        .into_response())
}

/// `GET /.well-known/est/cacerts`: the CA and its issuers.
pub(crate) async fn cacerts(State(s): State<Shared>) -> Response {
    certs_only(&s.roots_pem)
}

/// A label that names no profile of this CA: 404, naming it (cut to 64 characters).
fn unknown_label(s: &Shared, label: &str) -> Option<Response> {
    let profiles = s.profiles.read().unwrap_or_else(|p| p.into_inner()).clone();
    if profiles.iter().any(|p| p == label) {
        return None;
    }
    let shown: String = label.chars().take(64).collect();
    Some(refuse(
        StatusCode::NOT_FOUND,
        format!(
            "no profile {shown:?} at this CA: the label names a profile ({})",
            profiles.join(", ")
        ),
    ))
}

/// `GET /.well-known/est/LABEL/cacerts`: the same CA for every profile.
pub(crate) async fn cacerts_label(State(s): State<Shared>, Path(label): Path<String>) -> Response {
    unknown_label(&s, &label).unwrap_or_else(|| certs_only(&s.roots_pem))
}

/// `GET …/csrattrs`: mtls asks for nothing beyond a subject (RFC 7030 4.5.2: 204).
pub(crate) async fn csrattrs() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /.well-known/est/LABEL/csrattrs`.
pub(crate) async fn csrattrs_label(State(s): State<Shared>, Path(label): Path<String>) -> Response {
    unknown_label(&s, &label).unwrap_or_else(|| StatusCode::NO_CONTENT.into_response())
}

/// A base64 (or PEM, or DER) PKCS#10 body.
async fn csr_of(req: axum::extract::Request) -> Result<Request, (StatusCode, String)> {
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request is over 64 KiB".to_string(),
            )
        })?;
    let text: String = String::from_utf8_lossy(&body)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = if body.starts_with(b"-----BEGIN") {
        body.to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    "the body must be a base64 DER PKCS#10 request (RFC 7030 4.2.1)".to_string(),
                )
            })?
    };
    Request::from_bytes(&der, "the EST request")
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

/// The user and password of HTTP Basic authorization.
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// `POST …/simpleenroll` with a token as the Basic password.
pub(crate) async fn simpleenroll(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    label: Option<Path<String>>,
    req: axum::extract::Request,
) -> Response {
    let label = label.map(|Path(l)| l);
    let Some((user, token)) = basic(req.headers()) else {
        if peer.cert.is_some() {
            return registration_authority(&s, &peer, label, req).await;
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "give the token from `mtls ca token NAME` as the HTTP Basic password (user: NAME), \
             or an admin certificate of this CA as the TLS client certificate",
        );
    };
    let ip = peer.addr.ip();
    if let Err(e) = crate::routes::throttle(&s, ip) {
        return from_api(e);
    }
    let csr = match csr_of(req).await {
        Ok(c) => c,
        Err((status, why)) => return refuse(status, why),
    };
    let mut entry = AuditEntry::new(
        mtls_pki::time::now().unix_timestamp(),
        "anonymous",
        "est.enroll",
    );
    entry.peer = Some(peer.addr.to_string());
    // The user must name the token, and the label (if any) its profile: checked by the batch,
    // with the token, so that EST costs no more than /v1/enroll.
    match crate::batch::enroll(&s.enroll, csr, token, entry, (Some(user), label)).await {
        Ok((_, issued)) => {
            s.metrics.action("est.enroll", "ok");
            certs_only(&issued.pem)
        }
        Err(e) => {
            if e.code == "invalid_token" {
                s.failures.fail(ip);
            }
            s.metrics.action("est.enroll", &e.outcome());
            from_api(e)
        }
    }
}

/// `simpleenroll` by a registration authority (RFC 7030 3.2.3): a client certificate of this
/// CA's `admin` profile, which vouches for the request; the label names the profile
/// (`client` without one), the validity is `[online]`'s.
async fn registration_authority(
    s: &Shared,
    peer: &Peer,
    label: Option<String>,
    req: axum::extract::Request,
) -> Response {
    let ra = match crate::routes::auth::admin(s, peer, "est.enroll").await {
        Ok(serial) => serial,
        Err(e) => return from_api(e),
    };
    let csr = match csr_of(req).await {
        Ok(c) => c,
        Err((status, why)) => return refuse(status, why),
    };
    let profile = label.unwrap_or_else(|| "client".into());
    let mut entry = AuditEntry::new(
        mtls_pki::time::now().unix_timestamp(),
        format!("cert:{}", ra.hex()),
        "est.enroll",
    );
    entry.peer = Some(peer.addr.to_string());
    entry.detail = Some(format!("profile {profile}, as a registration authority"));
    let signed = with_ca(s, move |ca| {
        let life = ca.config().online.lifetime();
        let r = mtls_pki::SignRequest::from_request(csr, &profile, Some(life), &[]);
        ca.sign(vec![r], &|_| {})
            .map_err(ApiError::from)?
            .pop()
            .ok_or_else(|| ApiError::internal("nothing was issued"))
    })
    .await;
    match signed {
        Ok(issued) => {
            entry.target = Some(issued.serial.hex());
            audit(s, entry).await;
            certs_only(&issued.pem)
        }
        Err(e) => from_api(crate::state::refused(s, entry, e).await),
    }
}

/// `POST …/simplereenroll` over mutual TLS with the current certificate.
pub(crate) async fn simplereenroll(
    State(s): State<Shared>,
    Extension(peer): Extension<Peer>,
    req: axum::extract::Request,
) -> Response {
    let Some(der) = peer.cert.clone() else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "re-enrollment needs the current certificate as the TLS client certificate",
        );
    };
    let csr = match csr_of(req).await {
        Ok(c) => c,
        Err((status, why)) => return refuse(status, why),
    };
    if let Err(why) = same_names(&der, &csr) {
        return refuse(StatusCode::BAD_REQUEST, why);
    }
    let entry = crate::routes::renew::renewal_entry(&peer, &der, "est.reenroll");
    match crate::routes::renew::renew_audited(&s, entry, der, Some(csr)).await {
        Ok((_, issued)) => certs_only(&issued.pem),
        Err(e) => from_api(e),
    }
}

/// RFC 7030 4.2.2: the subject and subjectAltNames must be the current certificate's; the
/// error names the field that differs.
fn same_names(cert_der: &[u8], csr: &Request) -> Result<(), String> {
    let cert = mtls_pki::inspect::cert_summary(cert_der)
        .ok_or_else(|| "the client certificate does not parse".to_string())?;
    let subject = csr.subject.to_string();
    let want = mtls_pki::Name::parse(&cert.subject)
        .map(|n| n.to_string())
        .unwrap_or(cert.subject);
    if subject != want {
        return Err(format!(
            "subject: the request has {subject}, the certificate {want}; re-enrollment keeps the subject"
        ));
    }
    let mut asked: Vec<String> = csr.sans.iter().map(ToString::to_string).collect();
    let mut have = cert.sans;
    asked.sort();
    have.sort();
    if asked != have {
        return Err(format!(
            "subjectAltName: the request has [{}], the certificate [{}]; re-enrollment keeps the names",
            asked.join(", "),
            have.join(", ")
        ));
    }
    Ok(())
}
