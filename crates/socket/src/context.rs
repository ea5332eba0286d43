//! A prepared configuration shared by many sockets: the verifier (rebuilt when the CRLs
//! change), one server configuration for every connection, root hints, and session caches for
//! resumption.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mtls_verify::{
    Purpose, RevocationMode, RevocationScope, UnixTime, VerifiedPath, Verifier, VerifyInput,
};
use rustls::client::{ClientSessionMemoryCache, ResolvesClientCert};
use rustls::server::{ClientHello, ProducesTickets, ResolvesServerCert, StoresServerSessions};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::{PeerVerifyMode, RevocationFailure, SslConfiguration};
use crate::crls::CrlHandle;
use crate::error::{Error, Result};
use crate::verify::{IgnorePolicy, Outcome, OutcomeSlot, PeerVerifier, Scope};

/// The verifier for the current CRL generation, rebuilt only when the CRLs change, and the
/// verified paths of recent peers, for re-checking resumed sessions.
#[derive(Debug)]
pub(crate) struct VerifierCache {
    ca: Vec<CertificateDer<'static>>,
    crls: CrlHandle,
    depth: usize,
    strict: bool,
    revocation_failure: RevocationFailure,
    cached: Mutex<Option<(u64, Arc<Verifier>)>>,
    paths: Mutex<HashMap<[u8; 32], VerifiedPath>>,
}

/// Verified paths kept for resumption: as many as the server's session cache holds. A session
/// whose path was dropped is verified afresh when it resumes.
const MAX_KEPT_PATHS: usize = 4096;

/// The key of a kept path: the chain as presented, the host it was checked for and the purpose.
fn path_key(chain: &[CertificateDer<'_>], host: Option<&str>, purpose: Purpose) -> [u8; 32] {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for c in chain {
        h.update(&(c.len() as u64).to_be_bytes());
        h.update(c);
    }
    h.update(&[purpose as u8]);
    h.update(host.unwrap_or("").as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

impl VerifierCache {
    /// The verifier for the CRLs in force now.
    pub(crate) fn get(&self) -> Result<Arc<Verifier>> {
        let (crls, generation) = self.crls.snapshot();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, v)) = cached.as_ref()
            && *g == generation
        {
            return Ok(v.clone());
        }
        // Every certificate of the path below the trust anchor is checked against the CRLs of
        // its issuer: a revoked intermediate revokes everything under it.
        let mode = if crls.is_empty() {
            RevocationMode {
                scope: RevocationScope::Off,
                ..RevocationMode::default()
            }
        } else {
            RevocationMode {
                scope: RevocationScope::Chain,
                require_status: self.revocation_failure == RevocationFailure::Hard,
                allow_expired_crls: false,
            }
        };
        let v = Verifier::new(self.ca.clone())
            .map_err(|e| Error::config("CA certificates", e.to_string()))?
            .crls(crls.iter().cloned())
            .revocation(mode)
            .max_depth(self.depth)
            .strict(self.strict);
        let v = Arc::new(v);
        *cached = Some((generation, v.clone()));
        Ok(v)
    }

    /// Keeps the path verified for `chain`, for [`VerifierCache::recheck`].
    pub(crate) fn remember(
        &self,
        chain: &[CertificateDer<'_>],
        host: Option<&str>,
        purpose: Purpose,
        path: VerifiedPath,
    ) {
        let key = path_key(chain, host, purpose);
        let mut paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        if paths.len() >= MAX_KEPT_PATHS && !paths.contains_key(&key) {
            paths.clear();
        }
        paths.insert(key, path);
    }

    /// The errors of `chain` now: its kept path re-checked for validity and revocation (a
    /// lookup per certificate), or a new verification when no path is kept for it.
    pub(crate) fn recheck(
        &self,
        chain: &[CertificateDer<'static>],
        host: Option<&str>,
        purpose: Purpose,
        now: UnixTime,
    ) -> Result<Vec<mtls_verify::SslError>> {
        let verifier = self.get()?;
        let key = path_key(chain, host, purpose);
        let kept = self
            .paths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(path) = kept {
            return Ok(verifier.recheck(&path, now));
        }
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Ok(vec![mtls_verify::SslError::new(
                mtls_verify::ErrorKind::NoPeerCertificate,
                "the resumed session holds no certificate",
            )]);
        };
        let mut input = VerifyInput::new(leaf)
            .intermediates(intermediates)
            .time(now)
            .purpose(purpose);
        if let Some(h) = host {
            input = input.host(h);
        }
        let (report, path) = verifier.verify_keep(&input);
        self.remember(chain, host, purpose, path);
        Ok(report.errors)
    }
}

/// A configuration ready for handshakes. Build one per server (or share one among client
/// sockets) so that sessions can be resumed and the verifier is built once per CRL generation.
#[derive(Debug)]
pub struct TlsContext {
    config: SslConfiguration,
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifiers: Arc<VerifierCache>,
    /// One server configuration for every connection; each handshake's ignore policy and
    /// outcome travel through a task-local (`verify::HANDSHAKE`).
    server: Mutex<Option<Arc<ServerConfig>>>,
    root_hints: Arc<Vec<DistinguishedName>>,
    server_sessions: Arc<dyn StoresServerSessions>,
    ticketer: Arc<dyn ProducesTickets>,
    client_sessions: Arc<ClientSessionMemoryCache>,
}

impl TlsContext {
    /// Prepares `config`.
    pub fn new(config: SslConfiguration) -> Result<Arc<TlsContext>> {
        let provider = config.crypto_provider();
        let root_hints = config
            .ca_certificates
            .iter()
            .filter_map(|c| {
                X509Certificate::from_der(c)
                    .ok()
                    .map(|(_, x)| DistinguishedName::from(x.subject().as_raw().to_vec()))
            })
            .collect();
        let ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| Error::config("session tickets", e.to_string()))?;
        let verifiers = Arc::new(VerifierCache {
            ca: config.ca_certificates.clone(),
            crls: config.crls.clone(),
            depth: config.verify_depth,
            strict: config.strict,
            revocation_failure: config.revocation_failure,
            cached: Mutex::new(None),
            paths: Mutex::new(HashMap::new()),
        });
        Ok(Arc::new(TlsContext {
            config,
            provider,
            verifiers,
            server: Mutex::new(None),
            root_hints: Arc::new(root_hints),
            server_sessions: rustls::server::ServerSessionMemoryCache::new(4096),
            ticketer,
            client_sessions: Arc::new(ClientSessionMemoryCache::new(256)),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &SslConfiguration {
        &self.config
    }

    /// The verifier for the current CRL generation.
    pub fn verifier(&self) -> Result<Arc<Verifier>> {
        self.verifiers.get()
    }

    fn peer_verifier(
        &self,
        server_side: bool,
        host: Option<String>,
        scope: Scope,
    ) -> Arc<PeerVerifier> {
        let mode = match (self.config.verify_mode, server_side) {
            (PeerVerifyMode::AutoVerifyPeer, true) => PeerVerifyMode::QueryPeer,
            (PeerVerifyMode::AutoVerifyPeer, false) => PeerVerifyMode::VerifyPeer,
            (m, _) => m,
        };
        Arc::new(PeerVerifier {
            verifiers: self.verifiers.clone(),
            mode,
            purpose: if server_side {
                Purpose::ClientAuth
            } else {
                Purpose::ServerAuth
            },
            host: self.config.verify_name.clone().or(host),
            scope,
            algorithms: self.provider.signature_verification_algorithms,
            root_hints: self.root_hints.clone(),
            offer: mode != PeerVerifyMode::VerifyNone,
            mandatory: mode == PeerVerifyMode::VerifyPeer,
        })
    }

    /// The outcome of a resumed handshake, in which rustls did not ask our verifier: the
    /// peer's stored `chain` re-checked against the current CRLs and time.
    pub(crate) fn resumed_outcome(
        &self,
        server_side: bool,
        host: Option<String>,
        chain: &[CertificateDer<'static>],
        ignore: &IgnorePolicy,
    ) -> Outcome {
        let v = self.peer_verifier(server_side, host, Scope::TaskLocal);
        v.resumed(chain, ignore, UnixTime::now())
    }

    /// A client configuration for one connection to `host`.
    pub(crate) fn client_config(
        &self,
        host: Option<String>,
        ignore: IgnorePolicy,
    ) -> Result<(ClientConfig, OutcomeSlot)> {
        let slot = OutcomeSlot::default();
        let v = self.peer_verifier(false, host, Scope::Fixed(ignore, slot.clone()));
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.config.versions())
            .map_err(|e| Error::config("protocol versions", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(v);
        let mut cfg = match &self.config.certified_key {
            Some(ck) => builder.with_client_cert_resolver(Arc::new(Fixed(ck.clone()))),
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = self.config.alpn.clone();
        cfg.resumption = rustls::client::Resumption::store(self.client_sessions.clone());
        Ok((cfg, slot))
    }

    /// The server configuration shared by every connection (built on first use).
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let mut cached = self.server.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref() {
            return Ok(c.clone());
        }
        let ck = self.config.certified_key.clone().ok_or_else(|| {
            Error::config(
                "server",
                "no local certificate and key configured (set_local_certificate_files)",
            )
        })?;
        let v = self.peer_verifier(true, None, Scope::TaskLocal);
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.config.versions())
            .map_err(|e| Error::config("protocol versions", e.to_string()))?
            .with_client_cert_verifier(v)
            .with_cert_resolver(Arc::new(Fixed(ck)));
        cfg.alpn_protocols = self.config.alpn.clone();
        // Our order of cipher suites, not the client's (see `config::prefer_cheap_suites`).
        cfg.ignore_client_order = true;
        cfg.session_storage = self.server_sessions.clone();
        cfg.ticketer = self.ticketer.clone();
        let cfg = Arc::new(cfg);
        *cached = Some(cfg.clone());
        Ok(cfg)
    }
}

/// Always the same certificate (no SNI-based choice).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl ResolvesClientCert for Fixed {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0.key.choose_scheme(sigschemes).map(|_| self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
