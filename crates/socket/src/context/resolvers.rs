//! The certificate a context presents, swappable while it runs (a renewed certificate is
//! served from the next handshake on, as a server and as a client), and the CA subjects it
//! names.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DistinguishedName, SignatureScheme};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The subjects of `certs`, as a server names them in its certificate request.
pub(super) fn subjects(certs: &[CertificateDer<'_>]) -> Vec<DistinguishedName> {
    certs
        .iter()
        .filter_map(|c| {
            X509Certificate::from_der(c)
                .ok()
                .map(|(_, x)| DistinguishedName::from(x.subject().as_raw().to_vec()))
        })
        .collect()
}

/// The server's current certificate (no SNI-based choice).
#[derive(Debug)]
pub(super) struct Swappable(pub(super) Arc<arc_swap::ArcSwapOption<CertifiedKey>>);

impl ResolvesServerCert for Swappable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.load_full()
    }
}

impl ResolvesClientCert for Swappable {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let ck = self.0.load_full()?;
        ck.key.choose_scheme(sigschemes).map(|_| ck)
    }

    fn has_certs(&self) -> bool {
        self.0.load().is_some()
    }
}
