//! A prepared configuration shared by many sockets: the verifier (rebuilt when the CRLs
//! change), one server configuration for every connection, root hints, and session caches for
//! resumption.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use mtls_verify::{
    Crl, Purpose, RevocationMode, RevocationScope, UnixTime, VerifiedPath, Verifier, VerifyInput,
};
use rustls::client::ClientSessionMemoryCache;
use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DistinguishedName, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::config::{PeerVerifyMode, RevocationFailure, SslConfiguration};
use crate::crls::CrlListener;
use crate::error::{Error, Result};
use crate::ocsp::check::OcspChecker;
use crate::verify::{IgnorePolicy, Outcome, OutcomeSlot, PeerVerifier, Scope};

mod resolvers;
use resolvers::{Swappable, subjects};

/// The verifier for the current CRL generation, and the verified paths of recent peers, for
/// re-checking resumed sessions.
///
/// A handshake only loads the current verifier (one atomic load, no lock). A new one is built
/// when the CRLs change, in the thread that changed them (see [`CrlHandle::reload`]), sharing
/// the unchanged CRLs and the CRL signature results of the old one and checking the new CRLs'
/// signatures before it is published: no handshake waits for a rebuild or pays for hashing a
/// large CRL.
#[derive(Debug)]
pub(crate) struct VerifierCache {
    settings: Settings,
    current: ArcSwap<(u64, Arc<Verifier>)>,
    paths: Mutex<HashMap<[u8; 32], VerifiedPath>>,
}

/// What every verifier of a context is built with, besides the CRLs.
#[derive(Debug)]
struct Settings {
    /// The trust anchors (swapped by [`TlsContext::set_ca_certificates`]).
    ca: ArcSwap<Vec<CertificateDer<'static>>>,
    depth: usize,
    strict: bool,
    revocation_failure: RevocationFailure,
    /// CRLs are consulted ([`crate::PeerRevocation::crl`]).
    crl: bool,
}

impl Settings {
    /// A verifier for `crls`, sharing `previous`'s CRL signature results, with the signatures
    /// of CRLs issued by the trust anchors or by one of `issuers` checked now.
    fn build(
        &self,
        crls: &Arc<Vec<Arc<Crl>>>,
        previous: Option<&Verifier>,
        issuers: &[CertificateDer<'static>],
        pause: &dyn Fn(),
    ) -> Result<Verifier> {
        // Every certificate of the path below the trust anchor is checked against the CRLs of
        // its issuer: a revoked intermediate revokes everything under it.
        let mode = if crls.is_empty() || !self.crl {
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
        let mut v = Verifier::new(self.ca.load().as_ref().clone())
            .map_err(Error::Load)?
            .shared_crls(crls.iter().cloned())
            .revocation(mode)
            // `depth` counts certificates, the end entity and the anchor included; the verifier
            // counts intermediates.
            .max_depth(self.depth.saturating_sub(2))
            .strict(self.strict);
        if let Some(p) = previous {
            v = v.share_crl_signatures(p.crl_signatures());
        }
        v.check_crl_signatures_paced(issuers, pause);
        Ok(v)
    }
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
    /// The cache for `config`, with a verifier for its CRLs now, listening for new CRLs.
    fn new(config: &SslConfiguration) -> Result<Arc<VerifierCache>> {
        let (crls, generation) = config.crls.snapshot();
        let settings = Settings {
            ca: ArcSwap::from_pointee(config.ca_certificates.clone()),
            depth: config.verify_depth,
            strict: config.strict,
            revocation_failure: config.revocation_failure,
            crl: config.peer_revocation.crl(),
        };
        let first = settings.build(&crls, None, &[], &|| {})?;
        let cache = Arc::new(VerifierCache {
            settings,
            current: ArcSwap::from_pointee((generation, Arc::new(first))),
            paths: Mutex::new(HashMap::new()),
        });
        let weak: std::sync::Weak<VerifierCache> = Arc::downgrade(&cache);
        config.crls.listen(weak);
        Ok(cache)
    }

    /// The CA certificates of the kept paths (each once), whose CRLs a new verifier checks.
    fn known_issuers(&self) -> Vec<CertificateDer<'static>> {
        let paths = self.paths.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen = std::collections::HashSet::new();
        paths
            .values()
            .flat_map(|p| p.issuers())
            .filter(|c| seen.insert(c.clone()))
            .collect()
    }

    /// `ChainTooLong` when the chosen path has more certificates than the configured depth
    /// (which the verifier's intermediate count cannot say for a depth of 1).
    pub(crate) fn depth_error(
        &self,
        path: &[mtls_verify::CertInfo],
    ) -> Option<mtls_verify::SslError> {
        let max = self.settings.depth;
        (path.len() > max).then(|| {
            let mut e = mtls_verify::SslError::new(
                mtls_verify::ErrorKind::ChainTooLong,
                format!(
                    "the chain has {} certificates, more than the peer verify depth of {max}",
                    path.len()
                ),
            );
            if let Some(top) = path.last() {
                e.cert_index = Some(path.len() - 1);
                e.certificate = Some(top.clone());
            }
            e
        })
    }

    /// The verifier for the CRLs in force now.
    pub(crate) fn get(&self) -> Result<Arc<Verifier>> {
        Ok(self.current.load().1.clone())
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
        if report.is_ok() {
            self.remember(chain, host, purpose, path);
        }
        Ok(report.errors)
    }
}

impl VerifierCache {
    /// Trusts `ca` from now on: a verifier for it and the CRLs in force is built and published,
    /// and the kept paths (verified under the old anchors) are forgotten.
    fn set_ca(&self, ca: Vec<CertificateDer<'static>>, crls: &Arc<Vec<Arc<Crl>>>) -> Result<()> {
        let old = self.settings.ca.swap(Arc::new(ca));
        let built = self
            .settings
            .build(crls, None, &self.known_issuers(), &|| {});
        let v = match built {
            Ok(v) => v,
            Err(e) => {
                self.settings.ca.store(old);
                return Err(e);
            }
        };
        let generation = self.current.load().0;
        self.current.store(Arc::new((generation, Arc::new(v))));
        self.paths.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }
}

impl CrlListener for VerifierCache {
    fn crls_changed(&self, crls: &Arc<Vec<Arc<Crl>>>, generation: u64) {
        let old = self.current.load_full();
        if old.0 >= generation {
            return;
        }
        // The anchors parsed when the context was made; this cannot fail, and if it did the
        // old verifier would simply stay in force.
        let Ok(v) = self.settings.build(
            crls,
            Some(&old.1),
            &self.known_issuers(),
            // A rebuild runs beside handshakes (see CrlHandle::reload_in_background).
            &std::thread::yield_now,
        ) else {
            return;
        };
        let new = Arc::new((generation, Arc::new(v)));
        // Two reloads racing: the newest generation wins.
        self.current.rcu(|cur| {
            if cur.0 < generation {
                new.clone()
            } else {
                cur.clone()
            }
        });
        drop(new);
        // Freed off the runtime and without holding up the reload (whose caller waits to log it
        // and to close revoked connections).
        let _ = std::thread::Builder::new()
            .name("mtls-crl-release".into())
            .spawn(move || {
                #[cfg(target_os = "linux")]
                let _ = rustix::process::setpriority_process(None, 10);
                release_when_unused(old)
            });
    }
}

/// Drops `old` in this thread once no handshake holds it any more. Freeing a million-entry CRL
/// index takes tens of milliseconds; left to the last handshake holding the old verifier, it
/// would stall that handshake. Gives up waiting after 10 s (a handshake cannot hold a verifier
/// that long: the handshake timeout ends it first; whoever else holds it frees it).
fn release_when_unused(old: Arc<(u64, Arc<Verifier>)>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut old = old;
    loop {
        match Arc::try_unwrap(old) {
            Ok((_, verifier)) => match Arc::try_unwrap(verifier) {
                Ok(v) => return drop(v),
                Err(shared) => old = Arc::new((0, shared)),
            },
            Err(shared) => old = shared,
        }
        if std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
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
    /// The CA subjects a server names when it asks for a client certificate.
    root_hints: ArcSwap<Vec<DistinguishedName>>,
    server_sessions: Arc<dyn StoresServerSessions>,
    ticketer: Arc<dyn ProducesTickets>,
    client_sessions: Arc<ClientSessionMemoryCache>,
    /// The certificate a server presents, swappable while it runs
    /// ([`TlsContext::set_server_certificate`]).
    server_cert: Arc<arc_swap::ArcSwapOption<CertifiedKey>>,
    /// OCSP checking of peers, when configured.
    ocsp: Option<Arc<OcspChecker>>,
}

impl TlsContext {
    /// Prepares `config`.
    pub fn new(config: SslConfiguration) -> Result<Arc<TlsContext>> {
        let provider = config.crypto_provider();
        let root_hints = subjects(&config.ca_certificates);
        let ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|e| Error::config("session tickets", e.to_string()))?;
        let verifiers = VerifierCache::new(&config)?;
        Ok(Arc::new(TlsContext {
            provider,
            verifiers,
            server: Mutex::new(None),
            root_hints: ArcSwap::from_pointee(root_hints),
            server_sessions: rustls::server::ServerSessionMemoryCache::new(4096),
            ticketer,
            client_sessions: Arc::new(ClientSessionMemoryCache::new(256)),
            server_cert: Arc::new(arc_swap::ArcSwapOption::new(config.certified_key.clone())),
            ocsp: config
                .peer_revocation
                .ocsp()
                .then(|| Arc::new(OcspChecker::new(&config))),
            config,
        }))
    }

    /// Trusts `ca` instead of the CA certificates configured so far, for every handshake from
    /// now on (open connections keep going); a server names the new subjects in its
    /// certificate requests. For a CA bundle reloaded while running.
    ///
    /// # Errors
    ///
    /// [`Error::Load`] when a certificate is not a usable trust anchor; the old ones stay.
    pub fn set_ca_certificates(&self, ca: Vec<CertificateDer<'static>>) -> Result<()> {
        if ca.is_empty() {
            return Err(Error::config("CA certificates", "none given"));
        }
        let hints = subjects(&ca);
        let (crls, _) = self.config.crls.snapshot();
        self.verifiers.set_ca(ca, &crls)?;
        self.root_hints.store(Arc::new(hints));
        // The next handshake builds a server configuration with the new hints.
        *self.server.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &SslConfiguration {
        &self.config
    }

    /// Replaces the certificate chain (leaf first) and key a server presents, for every
    /// handshake from now on; established connections keep theirs. For a server renewing its
    /// own certificate without a restart.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the key does not fit the certificate; the old one stays.
    pub fn set_server_certificate(
        &self,
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<()> {
        if chain.is_empty() {
            return Err(Error::config("server certificate", "the chain is empty"));
        }
        let ck = CertifiedKey::from_der(chain, key, &self.provider).map_err(|e| {
            Error::config(
                "server certificate",
                format!("the private key does not fit the certificate or is unsupported: {e}"),
            )
        })?;
        self.server_cert.store(Some(Arc::new(ck)));
        Ok(())
    }

    /// The certificate (chain, key and staple) a server presents now.
    pub fn server_certificate(&self) -> Option<Arc<CertifiedKey>> {
        self.server_cert.load_full()
    }

    /// Staples `staple` (a DER OCSPResponse; `None` removes it) to the server certificate
    /// whose leaf is `leaf`, for every handshake from now on of a client that asks
    /// (status_request). Returns false, changing nothing, when the server presents another
    /// certificate by now (it was replaced: a staple is only ever for its own certificate).
    /// [`crate::ocsp::OcspStapler`] keeps one fresh.
    pub fn set_ocsp_staple(&self, leaf: &CertificateDer<'_>, staple: Option<Vec<u8>>) -> bool {
        let mut applied = false;
        self.server_cert.rcu(|cur| match cur {
            Some(ck) if ck.cert.first().is_some_and(|l| l.as_ref() == leaf.as_ref()) => {
                applied = true;
                let mut next = CertifiedKey::clone(ck);
                next.ocsp = staple.clone();
                Some(Arc::new(next))
            }
            other => {
                applied = false;
                other.clone()
            }
        });
        applied
    }

    /// The OCSP checker, when peers are checked with OCSP.
    pub(crate) fn ocsp_checker(&self) -> Option<&Arc<OcspChecker>> {
        self.ocsp.as_ref()
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
            root_hints: self.root_hints.load_full(),
            ocsp: self.ocsp.clone(),
            offer: mode != PeerVerifyMode::VerifyNone,
            mandatory: mode == PeerVerifyMode::VerifyPeer,
        })
    }

    /// The errors, now, of the chain a peer presented (`server_side`: the peer is a client):
    /// its verified path re-checked against the current CRLs and clock, as for a resumed
    /// session. For closing established connections whose peer — or one of its CAs — was
    /// revoked after it connected. Errors of a chain that never verified are returned again.
    pub fn recheck_peer(
        &self,
        server_side: bool,
        host: Option<&str>,
        chain: &[CertificateDer<'static>],
    ) -> Vec<mtls_verify::SslError> {
        let purpose = if server_side {
            Purpose::ClientAuth
        } else {
            Purpose::ServerAuth
        };
        let host = self.config.verify_name.as_deref().or(host);
        self.verifiers
            .recheck(chain, host, purpose, UnixTime::now())
            .unwrap_or_else(|e| {
                vec![mtls_verify::SslError::new(
                    mtls_verify::ErrorKind::UnspecifiedError,
                    e.to_string(),
                )]
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
            // The current certificate: a renewed one is presented from the next connection on.
            Some(_) => {
                builder.with_client_cert_resolver(Arc::new(Swappable(self.server_cert.clone())))
            }
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
        if self.server_cert.load().is_none() {
            return Err(Error::config(
                "server",
                "no local certificate and key configured (set_local_certificate_files)",
            ));
        }
        let v = self.peer_verifier(true, None, Scope::TaskLocal);
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.config.versions())
            .map_err(|e| Error::config("protocol versions", e.to_string()))?
            .with_client_cert_verifier(v)
            .with_cert_resolver(Arc::new(Swappable(self.server_cert.clone())));
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
