//! rustls verifiers backed by `mtls_verify`, which finds every error of the peer's chain.
//!
//! rustls asks one yes/no question; Qt users expect the whole list. Each handshake gets its own
//! verifier instance with an [`OutcomeSlot`] where it leaves the full report; the socket reads it
//! after the handshake (success or failure) to emit `SslErrors` and to build its error. The
//! rustls error returned on failure is chosen to send the peer the most precise alert.

use std::sync::{Arc, Mutex};

use mtls_verify::{ErrorKind, IgnoreRule, Purpose, SslError, VerifyInput};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::config::PeerVerifyMode;

/// Which certificate errors a socket tolerates.
#[derive(Debug, Clone, Default)]
pub enum IgnorePolicy {
    /// None: any error fails the handshake (in VerifyPeer mode).
    #[default]
    Nothing,
    /// Every error (`ignoreSslErrors()`); they are still reported.
    All,
    /// Only errors matching one of these (kind, and certificate when the rule has a fingerprint).
    Expected(Vec<IgnoreRule>),
}

impl IgnorePolicy {
    /// True when `e` is tolerated.
    pub fn covers(&self, e: &SslError) -> bool {
        match self {
            IgnorePolicy::Nothing => false,
            IgnorePolicy::All => true,
            IgnorePolicy::Expected(rules) => rules.iter().any(|r| r.matches(e)),
        }
    }
}

/// What one handshake's verification found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every error, ignored or not.
    pub errors: Vec<SslError>,
    /// True when the handshake was allowed to continue.
    pub accepted: bool,
    /// True when the chain was checked and every error is one the ignore policy tolerates
    /// (false in VerifyNone mode, and for a chain QueryPeer let through with errors).
    pub verified: bool,
    /// An OCSP answer to fetch once the handshake is done (none was stapled or cached).
    pub(crate) ocsp: Option<Box<crate::ocsp::check::Pending>>,
}

/// Where a verifier leaves its [`Outcome`].
pub type OutcomeSlot = Arc<Mutex<Option<Outcome>>>;

/// The error carried inside rustls' `CertificateError::Other` (kept for callers that only see
/// the rustls error).
#[derive(Debug, Clone)]
pub struct VerificationFailed {
    /// Every error found.
    pub errors: Vec<SslError>,
}

impl std::fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.errors.iter().map(|e| e.to_string()).collect();
        f.write_str(&names.join("; "))
    }
}

impl std::error::Error for VerificationFailed {}

tokio::task_local! {
    /// The ignore policy and outcome slot of the handshake being polled, for verifiers shared
    /// by every connection of a server (one `ServerConfig` per context, not per connection).
    pub(crate) static HANDSHAKE: (IgnorePolicy, OutcomeSlot);
}

/// Where a verifier finds its ignore policy and leaves its outcome.
#[derive(Debug)]
pub(crate) enum Scope {
    /// This verifier serves one handshake (client sockets).
    Fixed(IgnorePolicy, OutcomeSlot),
    /// Shared: the handshake's task-local [`HANDSHAKE`] says.
    TaskLocal,
}

/// A verifier for either side.
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    pub verifiers: Arc<crate::context::VerifierCache>,
    pub mode: PeerVerifyMode,
    pub purpose: Purpose,
    /// Host to check (server certificates: the peer verify name or the host connected to).
    pub host: Option<String>,
    pub scope: Scope,
    pub algorithms: WebPkiSupportedAlgorithms,
    pub root_hints: Arc<Vec<DistinguishedName>>,
    /// OCSP checking of the peer's certificate, when configured.
    pub ocsp: Option<Arc<crate::ocsp::check::OcspChecker>>,
    /// Servers only: ask for a client certificate at all.
    pub offer: bool,
    /// Servers only: require one.
    pub mandatory: bool,
}

impl PeerVerifier {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        staple: &[u8],
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let mut kept = None;
        let mut pending = None;
        let errors = if self.mode == PeerVerifyMode::VerifyNone {
            Vec::new()
        } else {
            let verifier = self
                .verifiers
                .get()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            let mut input = VerifyInput::new(end_entity)
                .intermediates(intermediates)
                .time(now)
                .purpose(self.purpose);
            if let Some(h) = &self.host {
                input = input.host(h);
            }
            let (report, path) = verifier.verify_keep(&input);
            let mut errors = report.errors;
            errors.extend(self.verifiers.depth_error(&report.path));
            if let (Some(ocsp), Some(issuer), Some(info)) =
                (&self.ocsp, path.issuers().first(), report.path.first())
            {
                let t = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                let enforce = self.mode == PeerVerifyMode::VerifyPeer;
                match ocsp.judge(end_entity, info, issuer, staple, t, enforce) {
                    crate::ocsp::check::Verdict::Done(e) => errors.extend(e),
                    crate::ocsp::check::Verdict::Fetch(p) => pending = Some(p),
                }
            }
            kept = Some(path);
            errors
        };
        // Kept for a resumption of this session, which rustls completes without asking us —
        // only when the chain verified, so a stream of bad peers cannot fill the cache.
        let remember = |o: &Outcome| {
            if let Some(path) = kept.clone().filter(|_| o.verified) {
                let mut chain = Vec::with_capacity(1 + intermediates.len());
                chain.push(end_entity.clone().into_owned());
                chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
                self.verifiers
                    .remember(&chain, self.host.as_deref(), self.purpose, path);
            }
        };
        match &self.scope {
            Scope::Fixed(ignore, slot) => {
                self.decide(errors, pending, ignore, Some(slot), &remember)
            }
            Scope::TaskLocal => HANDSHAKE
                .try_with(|(ignore, slot)| {
                    self.decide(
                        errors.clone(),
                        pending.clone(),
                        ignore,
                        Some(slot),
                        &remember,
                    )
                })
                .unwrap_or_else(|_| {
                    self.decide(errors, None, &IgnorePolicy::Nothing, None, &remember)
                }),
        }
    }

    /// The outcome of `errors` under the verify mode and `ignore`.
    pub(crate) fn judge(&self, errors: Vec<SslError>, ignore: &IgnorePolicy) -> Outcome {
        let enforce = matches!(self.mode, PeerVerifyMode::VerifyPeer);
        let clean = errors.iter().all(|e| ignore.covers(e));
        Outcome {
            errors,
            accepted: !enforce || clean,
            verified: clean && self.mode != PeerVerifyMode::VerifyNone,
            ocsp: None,
        }
    }

    /// The outcome for a resumed session's stored peer `chain`: its verified path re-checked
    /// for time and revocation now (a fresh verification if the path is no longer cached).
    pub(crate) fn resumed(
        &self,
        chain: &[CertificateDer<'static>],
        ignore: &IgnorePolicy,
        now: UnixTime,
    ) -> Outcome {
        let errors = if self.mode == PeerVerifyMode::VerifyNone {
            Vec::new()
        } else {
            match self
                .verifiers
                .recheck(chain, self.host.as_deref(), self.purpose, now)
            {
                Ok(errors) => errors,
                Err(e) => vec![SslError::new(ErrorKind::UnspecifiedError, e.to_string())],
            }
        };
        self.judge(errors, ignore)
    }

    /// Applies the verify mode and the ignore policy; records the outcome.
    fn decide(
        &self,
        errors: Vec<SslError>,
        ocsp: Option<Box<crate::ocsp::check::Pending>>,
        ignore: &IgnorePolicy,
        slot: Option<&OutcomeSlot>,
        remember: &dyn Fn(&Outcome),
    ) -> Result<(), rustls::Error> {
        let mut outcome = self.judge(errors, ignore);
        outcome.ocsp = ocsp;
        remember(&outcome);
        let accepted = outcome.accepted;
        let first = outcome
            .errors
            .iter()
            .find(|e| !ignore.covers(e))
            .map(|e| e.kind);
        let errors = outcome.errors.clone();
        if let Some(slot) = slot {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        }
        if accepted {
            return Ok(());
        }
        Err(rustls::Error::InvalidCertificate(match first {
            Some(ErrorKind::CertificateRevoked) => CertificateError::Revoked,
            Some(ErrorKind::CertificateExpired) => CertificateError::Expired,
            Some(ErrorKind::CertificateNotYetValid) => CertificateError::NotValidYet,
            Some(ErrorKind::HostNameMismatch) => CertificateError::NotValidForName,
            Some(ErrorKind::InvalidPurpose) => CertificateError::InvalidPurpose,
            Some(ErrorKind::CertificateSignatureFailed) => CertificateError::BadSignature,
            Some(ErrorKind::CertificateStatusUnknown) | Some(ErrorKind::CrlExpired) => {
                CertificateError::UnknownRevocationStatus
            }
            Some(
                ErrorKind::UnableToGetLocalIssuerCertificate
                | ErrorKind::UnableToGetIssuerCertificate
                | ErrorKind::SelfSignedCertificate
                | ErrorKind::SelfSignedCertificateInChain
                | ErrorKind::CertificateUntrusted,
            ) => CertificateError::UnknownIssuer,
            _ => {
                CertificateError::Other(rustls::OtherError(Arc::new(VerificationFailed { errors })))
            }
        }))
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, ocsp_response, now)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        self.offer
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.root_hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates, &[], now)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
