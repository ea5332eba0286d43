//! A tunnel's status endpoint: `GET /healthz` (200 only while our certificate is within its
//! validity and every CRL in force is current, 503 naming what is wrong otherwise) and
//! `GET /metrics` (the [`Metrics`](crate::Metrics) counters plus the CRLs' number and age and
//! the certificate's remaining life, in the Prometheus text format).

use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::shared::Shared;

/// What `/healthz` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Problems; none means healthy.
    pub problems: Vec<String>,
    /// Seconds until our certificate expires (negative once expired).
    pub cert_expires_in: Option<i64>,
    /// The highest CRL number in force.
    pub crl_number: Option<String>,
    /// Seconds since the newest CRL's thisUpdate.
    pub crl_age: Option<i64>,
}

/// Checks our certificate and the CRLs in force, now.
pub fn health(sh: &Shared) -> Health {
    let now = time_now();
    let mut problems = Vec::new();
    let mut cert_expires_in = None;
    match sh.tls.server_certificate() {
        None => problems.push("no certificate".into()),
        Some(ck) => match ck
            .end_entity_cert()
            .ok()
            .and_then(|c| X509Certificate::from_der(c).ok())
        {
            None => problems.push("our certificate cannot be read".into()),
            Some((_, c)) => {
                let (nb, na) = (
                    c.validity().not_before.timestamp(),
                    c.validity().not_after.timestamp(),
                );
                cert_expires_in = Some(na - now);
                if now < nb {
                    problems.push(format!(
                        "our certificate is not valid for {} s yet",
                        nb - now
                    ));
                } else if now >= na {
                    problems.push(format!("our certificate expired {} s ago", now - na));
                }
            }
        },
    }
    let (crls, _) = sh.tls.config().crls().snapshot();
    let mut crl_age = None;
    for crl in crls.iter() {
        let age = now - crl.this_update().unix_timestamp();
        crl_age = Some(crl_age.map_or(age, |a: i64| a.min(age)));
        if let Some(next) = crl.next_update() {
            if next.unix_timestamp() <= now {
                problems.push(format!(
                    "the CRL of {} lapsed {} s ago",
                    crl.issuer(),
                    now - next.unix_timestamp()
                ));
            }
        }
    }
    let crl_number = crls
        .iter()
        .filter_map(|c| c.crl_number().map(str::to_owned))
        .max_by_key(|n| (n.len(), n.clone()));
    Health {
        problems,
        cert_expires_in,
        crl_number,
        crl_age,
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn metrics_text(sh: &Shared) -> String {
    let h = health(sh);
    let mut s = sh.metrics.render();
    let mut gauge = |name: &str, help: &str, v: Option<i64>| {
        if let Some(v) = v {
            let _ = writeln!(
                s,
                "# HELP mtls_tunnel_{name} {help}\n# TYPE mtls_tunnel_{name} gauge\nmtls_tunnel_{name} {v}"
            );
        }
    };
    gauge(
        "certificate_expiry_seconds",
        "Seconds until our certificate expires.",
        h.cert_expires_in,
    );
    gauge(
        "crl_age_seconds",
        "Seconds since the newest CRL's thisUpdate.",
        h.crl_age,
    );
    gauge(
        "crl_number",
        "The highest CRL number in force.",
        h.crl_number.and_then(|n| n.parse().ok()),
    );
    gauge(
        "healthy",
        "1 when /healthz answers 200.",
        Some(i64::from(h.problems.is_empty())),
    );
    s
}

fn answer(sh: &Shared, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/healthz") => {
            let h = health(sh);
            match h.problems.is_empty() {
                true => (StatusCode::OK, "ok\n".to_string()),
                false => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    h.problems.join("\n") + "\n",
                ),
            }
        }
        ("GET", "/metrics") => (StatusCode::OK, metrics_text(sh)),
        ("GET", _) => (
            StatusCode::NOT_FOUND,
            "not found: try /healthz or /metrics\n".into(),
        ),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Listens on `addr` and answers until `sh.stop`; returns the bound address.
///
/// # Errors
///
/// [`Error::Listen`] when the address cannot be bound.
pub async fn serve(addr: &str, sh: Shared) -> Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Listen {
        addr: addr.to_string(),
        source,
    })?;
    let mut stop = sh.stop.clone();
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            };
            let Ok((tcp, _)) = conn else { continue };
            let sh = sh.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let r = answer(&sh, &req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc);
                // A slow or silent client is dropped, not kept.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await;
            });
        }
    });
    Ok(bound)
}
