//! What every connection of a tunnel shares with the code that started it.

use std::sync::Arc;

use mtls_socket::TlsContext;
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::event::{Event, Observer, Peer};
use crate::metrics::Metrics;

/// The running parts a tunnel is given.
#[derive(Clone)]
pub struct Shared {
    /// The TLS configuration (its certificate and CRLs may be swapped while running).
    pub tls: Arc<TlsContext>,
    /// Bumped when the CRLs change: live connections are re-checked.
    pub crl_gen: watch::Receiver<u64>,
    /// Turns true to stop.
    pub stop: watch::Receiver<bool>,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// Where events go.
    pub observe: Observer,
}

impl Shared {
    pub(crate) fn emit(&self, e: Event) {
        (self.observe)(e)
    }
}

/// The peer described by its certificate chain (leaf first).
pub(crate) fn peer_of(chain: &[CertificateDer<'_>]) -> Peer {
    let Some(leaf) = chain.first() else {
        return Peer::default();
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf);
    let sha256 = Some(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect());
    let Ok((_, cert)) = X509Certificate::from_der(leaf) else {
        return Peer {
            sha256,
            ..Peer::default()
        };
    };
    Peer {
        cn: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned),
        sha256,
        serial: Some(cert.raw_serial_as_string().replace(':', "")),
    }
}

/// Why a connected peer's chain no longer passes under the current CRLs, if it does not.
pub(crate) fn revoked_now(
    ctx: &TlsContext,
    server: bool,
    chain: &[CertificateDer<'static>],
) -> Option<String> {
    if chain.is_empty() {
        return None;
    }
    let errors = ctx.recheck_peer(server, None, chain);
    let e = errors
        .iter()
        .find(|e| e.kind == mtls_socket::ErrorKind::CertificateRevoked)?;
    Some(match e.cert_index {
        Some(0) | None => "its certificate is now revoked (CRL reloaded)".to_string(),
        Some(_) => format!(
            "its CA {} is now revoked (CRL reloaded)",
            e.certificate
                .as_ref()
                .map(|c| c.subject_or_serial())
                .unwrap_or_default()
        ),
    })
}

/// A short name for a handshake failure, for metrics: the first certificate error's kind, or
/// the kind of failure.
pub(crate) fn outcome_name(e: &mtls_socket::Error) -> String {
    if let Some(first) = e.ssl_errors().first() {
        return first.kind.to_string();
    }
    match e {
        mtls_socket::Error::PeerRejected { alert, .. } => format!("PeerRejected({alert:?})"),
        mtls_socket::Error::NotTls(_) => "NotTls".into(),
        mtls_socket::Error::Timeout(_) => "Timeout".into(),
        mtls_socket::Error::Io { .. } => "Io".into(),
        mtls_socket::Error::Tls(_) => "Tls".into(),
        _ => "Other".into(),
    }
}

/// `TLSv1.3` or `TLSv1.2`, as OpenSSL and the PROXY protocol name them.
pub(crate) fn version_name(v: Option<mtls_socket::TlsVersion>) -> String {
    match v {
        Some(mtls_socket::TlsVersion::Tls12) => "TLSv1.2".into(),
        _ => "TLSv1.3".into(),
    }
}
