//! The public entry point: [`Verifier`] (trust anchors, CRLs, options) and [`VerifyInput`]
//! (one chain to check).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rustls_pki_types::{CertificateDer, UnixTime};

use crate::cert::Cert;
use crate::crl::Crl;
use crate::dn::Dn;
use crate::error::LoadError;
use crate::error::SslError;
use crate::path::VerifiedPath;
use crate::report::Report;

/// What the end-entity certificate is to be used for (checked against extendedKeyUsage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Purpose {
    /// TLS server authentication (id-kp-serverAuth).
    ServerAuth,
    /// TLS client authentication (id-kp-clientAuth).
    ClientAuth,
    /// No particular purpose: extendedKeyUsage and keyUsage are not checked.
    #[default]
    Any,
}

impl std::fmt::Display for Purpose {
    /// `server`, `client` or `any`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Purpose::ServerAuth => "server",
            Purpose::ClientAuth => "client",
            Purpose::Any => "any",
        })
    }
}

/// A purpose name that is not `server`, `client` or `any`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown purpose {0:?}; expected server, client or any")]
pub struct UnknownPurpose(pub String);

impl std::str::FromStr for Purpose {
    type Err = UnknownPurpose;

    /// Parses `server` / `serverAuth`, `client` / `clientAuth`, `any` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "server" | "serverauth" => Ok(Purpose::ServerAuth),
            "client" | "clientauth" => Ok(Purpose::ClientAuth),
            "any" => Ok(Purpose::Any),
            _ => Err(UnknownPurpose(s.to_string())),
        }
    }
}

/// Which certificates of the path get their revocation status checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationScope {
    /// No revocation checking, even when CRLs are configured.
    Off,
    /// Only the end-entity certificate.
    EndEntity,
    /// Every certificate of the path except the trust anchor.
    Chain,
}

/// How revocation is checked with the configured CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RevocationMode {
    /// Which certificates are checked.
    pub scope: RevocationScope,
    /// When true, a checked certificate without a usable CRL is an error
    /// (`CertificateStatusUnknown`, or `CrlExpired` when only expired CRLs cover it). When false,
    /// an unknown status is accepted; a listed certificate is still `CertificateRevoked`.
    pub require_status: bool,
    /// When true, CRLs past their nextUpdate are used as if current.
    pub allow_expired_crls: bool,
}

impl Default for RevocationMode {
    /// The whole chain, status required, expired CRLs not accepted (rustls-webpki's defaults,
    /// except that webpki accepts expired CRLs unless told otherwise).
    fn default() -> Self {
        RevocationMode {
            scope: RevocationScope::Chain,
            require_status: true,
            allow_expired_crls: false,
        }
    }
}

/// One chain to verify.
#[derive(Debug, Clone)]
pub struct VerifyInput<'a> {
    /// The end-entity (peer) certificate.
    pub end_entity: &'a CertificateDer<'a>,
    /// Untrusted certificates that may help build a path (in any order; extra ones are fine).
    pub intermediates: &'a [CertificateDer<'a>],
    /// The verification time.
    pub time: UnixTime,
    /// What the end entity is to be used for.
    pub purpose: Purpose,
    /// The expected DNS name or IP literal (`example.com`, `192.0.2.1`, `::1`, `[::1]`); no
    /// host check when `None`.
    pub host: Option<&'a str>,
}

impl<'a> VerifyInput<'a> {
    /// Verifies `end_entity` now, for any purpose, without host check and intermediates.
    pub fn new(end_entity: &'a CertificateDer<'a>) -> Self {
        VerifyInput {
            end_entity,
            intermediates: &[],
            time: UnixTime::now(),
            purpose: Purpose::Any,
            host: None,
        }
    }

    /// Sets the untrusted intermediates.
    pub fn intermediates(mut self, intermediates: &'a [CertificateDer<'a>]) -> Self {
        self.intermediates = intermediates;
        self
    }

    /// Sets the verification time.
    pub fn time(mut self, time: UnixTime) -> Self {
        self.time = time;
        self
    }

    /// Sets the purpose.
    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Sets the expected host name or IP address.
    pub fn host(mut self, host: &'a str) -> Self {
        self.host = Some(host);
        self
    }
}

/// Converts a `time` date-time to the [`UnixTime`] of [`VerifyInput::time`] (times before
/// 1970 become the epoch).
pub fn unix_time(t: time::OffsetDateTime) -> UnixTime {
    let secs = u64::try_from(t.unix_timestamp()).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}

/// An X.509 path validator with its trust anchors, CRLs and options. Cheap to share
/// (`Send + Sync`); [`Verifier::verify`] takes `&self`.
#[derive(Debug)]
pub struct Verifier {
    pub(crate) anchors: Vec<Cert>,
    pub(crate) anchors_by_subject: HashMap<Dn, Vec<usize>>,
    pub(crate) anchor_hashes: HashSet<[u8; 32]>,
    pub(crate) crls: Vec<Arc<Crl>>,
    pub(crate) crls_by_issuer: HashMap<Dn, Vec<usize>>,
    pub(crate) revocation: Option<RevocationMode>,
    pub(crate) max_depth: usize,
    pub(crate) strict: bool,
    pub(crate) leaf_key_usage: bool,
    /// CRL signature results, shareable with the verifier of the next CRL generation.
    pub(crate) crl_signatures: Arc<CrlSignatures>,
}

/// Results of CRL signature checks, by (SHA-256 of the CRL, SHA-256 of the issuer's key).
///
/// Checking a CRL's signature hashes the whole CRL (40 ms for a million entries), so the
/// result is kept, and can be handed from one [`Verifier`] to the next
/// ([`Verifier::share_crl_signatures`]) when the CRLs are reloaded: a CRL that did not change
/// is not checked again, and [`Verifier::check_crl_signatures`] checks the new ones before the
/// verifier is used. Only keys of CAs on verified paths and trust anchors are ever tried, so it
/// holds few entries; it is emptied past 4,096 as a bound.
#[derive(Debug, Default)]
pub struct CrlSignatures {
    results: Mutex<HashMap<SignatureKey, Result<(), String>>>,
}

/// (SHA-256 of the CRL, SHA-256 of the issuer's key).
type SignatureKey = ([u8; 32], [u8; 32]);

/// The default [`Verifier::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 8;

impl Verifier {
    /// A verifier trusting `roots` (DER certificates). Any certificate can be a trust anchor,
    /// not only a self-signed one (as OpenSSL's `-partial_chain`): a path ends at the first
    /// trusted certificate.
    ///
    /// Fails when a root cannot be parsed (the error names its position).
    pub fn new<I, C>(roots: I) -> Result<Verifier, LoadError>
    where
        I: IntoIterator<Item = C>,
        C: AsRef<[u8]>,
    {
        let mut anchors: Vec<Cert> = Vec::new();
        let mut anchor_hashes = HashSet::new();
        for (i, der) in roots.into_iter().enumerate() {
            let cert = Cert::parse(der.as_ref()).map_err(|detail| LoadError::Invalid {
                what: "trust anchors".into(),
                expected: "certificate",
                index: i + 1,
                detail,
            })?;
            if anchor_hashes.insert(cert.info.sha256) {
                anchors.push(cert);
            }
        }
        let mut anchors_by_subject: HashMap<Dn, Vec<usize>> = HashMap::new();
        for (i, a) in anchors.iter().enumerate() {
            anchors_by_subject
                .entry(a.subject.clone())
                .or_default()
                .push(i);
        }
        Ok(Verifier {
            anchors,
            anchors_by_subject,
            anchor_hashes,
            crls: Vec::new(),
            crls_by_issuer: HashMap::new(),
            revocation: None,
            max_depth: DEFAULT_MAX_DEPTH,
            strict: false,
            leaf_key_usage: true,
            crl_signatures: Arc::new(CrlSignatures::default()),
        })
    }

    /// Adds CRLs. With CRLs and no explicit [`Verifier::revocation`], the default
    /// [`RevocationMode`] applies.
    pub fn crls(self, crls: impl IntoIterator<Item = Crl>) -> Self {
        self.shared_crls(crls.into_iter().map(Arc::new))
    }

    /// Adds CRLs that other verifiers share (a reloaded set keeps the unchanged CRLs without
    /// copying them).
    pub fn shared_crls(mut self, crls: impl IntoIterator<Item = Arc<Crl>>) -> Self {
        for crl in crls {
            if self.crls.iter().any(|c| c.sha256() == crl.sha256()) {
                continue;
            }
            self.crls_by_issuer
                .entry(crl.issuer.clone())
                .or_default()
                .push(self.crls.len());
            self.crls.push(crl);
        }
        self
    }

    /// Sets how revocation is checked. Without CRLs, a mode that requires status makes every
    /// checked certificate `CertificateStatusUnknown`.
    pub fn revocation(mut self, mode: RevocationMode) -> Self {
        self.revocation = Some(mode);
        self
    }

    /// The maximum number of intermediate certificates between the end entity and the trust
    /// anchor, not counting self-issued ones (as pathLenConstraint counts). Default
    /// [`DEFAULT_MAX_DEPTH`].
    pub fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Also enforce RFC 5280's certificate and CRL profile rules that OpenSSL checks only with
    /// `-x509_strict` (AKI/SKI presence, criticality of basicConstraints, nameConstraints,
    /// AKI/SKI/AIA, serial number rules, malformed SAN names, cRLNumber presence …).
    /// Default off, as in the socket layer and `mtls verify`; x509-limbo's RFC 5280 profile
    /// cases expect it on (`LIMBO_STRICT=1` in `tests/limbo.rs`).
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    /// For [`Purpose::ServerAuth`] and [`Purpose::ClientAuth`], require digitalSignature in the
    /// end entity's keyUsage when it has one (RFC 8446 §4.4.2.2: TLS signs with the key).
    /// Default on. Pure RFC 5280 path validation (x509-limbo) leaves keyUsage to the
    /// application: turn it off there.
    pub fn leaf_key_usage(mut self, on: bool) -> Self {
        self.leaf_key_usage = on;
        self
    }

    /// The number of trust anchors.
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// The revocation mode in effect, if any.
    pub fn effective_revocation(&self) -> Option<RevocationMode> {
        match self.revocation {
            Some(m) if m.scope == RevocationScope::Off => None,
            Some(m) => Some(m),
            None if self.crls.is_empty() => None,
            None => Some(RevocationMode::default()),
        }
    }

    /// Verifies one chain and reports every error found on the best path.
    pub fn verify(&self, input: &VerifyInput<'_>) -> Report {
        crate::path::verify(self, input).0
    }

    /// Like [`Verifier::verify`], and also returns the path it chose, parsed, for
    /// [`Verifier::recheck`] when the chain is presented again without a new verification (a
    /// resumed TLS session).
    pub fn verify_keep(&self, input: &VerifyInput<'_>) -> (Report, VerifiedPath) {
        crate::path::verify(self, input)
    }

    /// Re-checks a path that [`Verifier::verify_keep`] returned, for the rules that change with
    /// time: every certificate's validity at `time`, and revocation against the CRLs this
    /// verifier holds (which may be newer than those of the first verification). Signatures,
    /// constraints and names are not checked again: they cannot have changed. This is a lookup
    /// per certificate, not a new path search. A path that did not end at a trust anchor gets
    /// its original errors back, as it never verified.
    pub fn recheck(&self, path: &VerifiedPath, time: UnixTime) -> Vec<SslError> {
        crate::path::recheck(self, path, time)
    }

    /// Uses `cache` for CRL signature results (that of the verifier this one replaces).
    pub fn share_crl_signatures(mut self, cache: Arc<CrlSignatures>) -> Self {
        self.crl_signatures = cache;
        self
    }

    /// The CRL signature results, for [`Verifier::share_crl_signatures`].
    pub fn crl_signatures(&self) -> Arc<CrlSignatures> {
        self.crl_signatures.clone()
    }

    /// Checks, now, the signature of every CRL issued by one of `issuers` (DER CA
    /// certificates) or by a trust anchor, and keeps the results, so that no handshake pays for
    /// hashing a large CRL. `issuers` are typically the intermediates of recently verified
    /// chains. Returns how many CRLs were found signed by one of them.
    pub fn check_crl_signatures(&self, issuers: &[CertificateDer<'_>]) -> usize {
        self.check_crl_signatures_paced(issuers, &|| {})
    }

    /// [`Verifier::check_crl_signatures`], calling `pause` every 256 KiB hashed (see
    /// [`crate::load_crls_paced`]).
    pub fn check_crl_signatures_paced(
        &self,
        issuers: &[CertificateDer<'_>],
        pause: &dyn Fn(),
    ) -> usize {
        let parsed: Vec<Cert> = issuers.iter().filter_map(|d| Cert::parse(d).ok()).collect();
        let mut found = 0;
        for (i, crl) in self.crls.iter().enumerate() {
            let candidates = self
                .anchors
                .iter()
                .chain(parsed.iter())
                .filter(|c| c.subject == crl.issuer);
            for issuer in candidates {
                let key = crate::report::sha256(&issuer.spki.key);
                let ok = match self.cached_crl_signature(i, key) {
                    Some(r) => r.is_ok(),
                    None => {
                        let r = crate::sig::verify_paced(
                            &issuer.spki,
                            &crl.sig_alg,
                            crl.tbs(),
                            &crl.signature,
                            pause,
                        )
                        .map_err(|_| {
                            "its signature does not verify with the issuer's key".to_string()
                        });
                        let ok = r.is_ok();
                        self.cache_crl_signature(i, key, r);
                        ok
                    }
                };
                if ok {
                    found += 1;
                    break;
                }
            }
        }
        found
    }

    /// The cached result of checking CRL `index`'s signature with the key hashed to `key`.
    pub(crate) fn cached_crl_signature(
        &self,
        index: usize,
        key: [u8; 32],
    ) -> Option<Result<(), String>> {
        let crl = self.crls.get(index)?.sha256();
        let cache = self
            .crl_signatures
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.get(&(crl, key)).cloned()
    }

    /// Remembers the result of a CRL signature check.
    pub(crate) fn cache_crl_signature(&self, index: usize, key: [u8; 32], r: Result<(), String>) {
        let Some(crl) = self.crls.get(index).map(|c| c.sha256()) else {
            return;
        };
        let mut cache = self
            .crl_signatures
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert((crl, key), r);
    }
}
