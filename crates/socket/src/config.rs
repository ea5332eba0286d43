//! What a socket needs to know: its own certificate and key, whom to trust, which CRLs to
//! honour, how strictly to verify the peer, and protocol choices.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mtls_verify::Crl;
use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::crls::CrlHandle;
use crate::error::{Error, Result};

/// How the peer's certificate is treated (QSslSocket::PeerVerifyMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerVerifyMode {
    /// Do not ask for (server) or check (client) the peer's certificate.
    VerifyNone,
    /// Ask for and check it, report errors, but never fail the handshake because of them.
    QueryPeer,
    /// Require a valid certificate; errors fail the handshake unless ignored.
    VerifyPeer,
    /// VerifyPeer for clients, QueryPeer for servers (Qt's default).
    #[default]
    AutoVerifyPeer,
}

/// What a certificate of the peer's chain whose revocation status cannot be determined
/// means: no CRL is loaded for its issuer, or only expired ones. Only applies once CRLs are
/// configured at all; every certificate below the trust anchor is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationFailure {
    /// Refuse it (`CertificateStatusUnknown` or `CrlExpired`), as `openssl verify
    /// -crl_check_all` does. The default: a revoked intermediate whose CRL is missing must not
    /// pass.
    #[default]
    Hard,
    /// Accept it; a certificate a loaded CRL lists is still refused.
    Soft,
}

/// Where the revocation status of the peer's certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerRevocation {
    /// The configured CRLs, for every certificate below the trust anchor (today's behaviour;
    /// nothing is checked while no CRL is configured).
    #[default]
    Crl,
    /// OCSP for the peer's own certificate: the response the peer stapled, else one fetched
    /// from the responder its authorityInfoAccess names (answers are cached until half their
    /// life). CRLs are not consulted.
    Ocsp,
    /// Both: the CRLs as with [`PeerRevocation::Crl`], and OCSP for the peer's certificate.
    Both,
}

impl PeerRevocation {
    /// True when the peer's certificate is checked with OCSP.
    pub fn ocsp(self) -> bool {
        matches!(self, PeerRevocation::Ocsp | PeerRevocation::Both)
    }

    /// True when CRLs are checked.
    pub fn crl(self) -> bool {
        matches!(self, PeerRevocation::Crl | PeerRevocation::Both)
    }
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl std::str::FromStr for TlsVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .trim_start_matches("tls")
            .trim_start_matches('v')
        {
            "1.2" | "12" => Ok(TlsVersion::Tls12),
            "1.3" | "13" => Ok(TlsVersion::Tls13),
            _ => Err(Error::config(
                format!("TLS version {s:?}"),
                "use 1.2 or 1.3 (older versions are not supported)",
            )),
        }
    }
}

/// A socket's configuration (QSslConfiguration). Cheap to clone: certificates and keys are
/// shared, and the CRL set is a [`CrlHandle`] that every clone sees reloaded.
#[derive(Clone, Debug)]
pub struct SslConfiguration {
    pub(crate) certified_key: Option<Arc<CertifiedKey>>,
    pub(crate) local_chain: Vec<CertificateDer<'static>>,
    pub(crate) ca_certificates: Vec<CertificateDer<'static>>,
    pub(crate) crls: CrlHandle,
    pub(crate) revocation_failure: RevocationFailure,
    pub(crate) peer_revocation: PeerRevocation,
    /// `None`: soft, or hard for a certificate that carries must-staple.
    pub(crate) ocsp_failure: Option<RevocationFailure>,
    pub(crate) ocsp_timeout: Duration,
    pub(crate) verify_mode: PeerVerifyMode,
    pub(crate) verify_depth: usize,
    pub(crate) strict: bool,
    pub(crate) verify_name: Option<String>,
    pub(crate) min_version: TlsVersion,
    pub(crate) max_version: TlsVersion,
    pub(crate) cipher_suites: Option<Vec<SupportedCipherSuite>>,
    pub(crate) alpn: Vec<Vec<u8>>,
    pub(crate) handshake_timeout: Duration,
}

impl Default for SslConfiguration {
    fn default() -> Self {
        SslConfiguration {
            certified_key: None,
            local_chain: Vec::new(),
            ca_certificates: Vec::new(),
            crls: CrlHandle::default(),
            revocation_failure: RevocationFailure::Hard,
            peer_revocation: PeerRevocation::Crl,
            ocsp_failure: None,
            ocsp_timeout: Duration::from_secs(5),
            verify_mode: PeerVerifyMode::AutoVerifyPeer,
            verify_depth: mtls_verify::DEFAULT_MAX_DEPTH + 2,
            strict: false,
            verify_name: None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: None,
            alpn: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::File {
            path: path.display().to_string(),
            source: e,
        })
}

/// The IANA name of a cipher suite (`TLS13_AES_128_GCM_SHA256`), from rustls' own table.
pub(crate) fn suite_name(s: rustls::CipherSuite) -> String {
    s.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{s:?}"))
}

/// aws-lc-rs with the cipher suites in our order of preference (see [`prefer_cheap_suites`]).
pub(crate) fn provider() -> CryptoProvider {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    prefer_cheap_suites(&mut p.cipher_suites, has_aes_hardware());
    p
}

/// Orders suites much as Go's crypto/tls does: with AES hardware, AES-128-GCM first, then
/// AES-256-GCM, then ChaCha20-Poly1305; without it, ChaCha20-Poly1305 first. All are strong;
/// AES-128-GCM's SHA-256 runs on the CPU's SHA extensions where SHA-384 has none, which saves a
/// tenth of a full handshake's CPU. A server applies its own order (it is the one paying); unlike
/// Go's, it does not defer to a client that lists ChaCha20 first (rustls offers no such hook), so
/// such a client without AES hardware gets AES-GCM unless `set_cipher_suites` says otherwise.
pub(crate) fn prefer_cheap_suites(suites: &mut [rustls::SupportedCipherSuite], aes_hw: bool) {
    let rank = |s: &rustls::SupportedCipherSuite| {
        let name = suite_name(s.suite());
        let tls13 = if s.version().version == rustls::ProtocolVersion::TLSv1_3 {
            0
        } else {
            10
        };
        let cipher = match (name.contains("CHACHA20"), name.contains("AES_128")) {
            (true, _) if !aes_hw => 0,
            (false, true) => 1,
            (false, false) => 2,
            (true, _) => 3,
        };
        tls13 + cipher
    };
    // A stable sort keeps the provider's order (ECDSA before RSA in TLS 1.2) within a rank.
    suites.sort_by_key(rank);
}

/// Whether the CPU has AES instructions (AES-GCM is then the fastest AEAD).
fn has_aes_hardware() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

impl SslConfiguration {
    /// A configuration with Qt's defaults: AutoVerifyPeer, TLS 1.2–1.3, 10 s handshake timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets our certificate chain (leaf first) and private key from PEM or DER files. The key
    /// may be PKCS#8 (encrypted with `passphrase`), PKCS#1 or SEC1.
    pub fn set_local_certificate_files(
        &mut self,
        chain: &Path,
        key: &Path,
        passphrase: Option<&[u8]>,
    ) -> Result<&mut Self> {
        let certs = mtls_verify::load_certificates(&read(chain)?, &chain.display().to_string())
            .map_err(Error::Load)?;
        let key = load_private_key(&read(key)?, passphrase, &key.display().to_string())?;
        self.set_local_certificate(certs, key)
    }

    /// Sets our certificate chain (leaf first) and private key.
    pub fn set_local_certificate(
        &mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<&mut Self> {
        if chain.is_empty() {
            return Err(Error::config("local certificate", "the chain is empty"));
        }
        let ck = CertifiedKey::from_der(chain.clone(), key, &provider()).map_err(|e| {
            Error::config(
                "local certificate",
                format!("the private key does not fit the certificate or is unsupported: {e}"),
            )
        })?;
        self.certified_key = Some(Arc::new(ck));
        self.local_chain = chain;
        Ok(self)
    }

    /// Our certificate chain.
    pub fn local_certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.local_chain
    }

    /// Adds trusted CA certificates from a PEM or DER file.
    pub fn add_ca_certificates_file(&mut self, path: &Path) -> Result<&mut Self> {
        let certs = mtls_verify::load_certificates(&read(path)?, &path.display().to_string())
            .map_err(Error::Load)?;
        self.ca_certificates.extend(certs);
        Ok(self)
    }

    /// Replaces the trusted CA certificates.
    pub fn set_ca_certificates(&mut self, certs: Vec<CertificateDer<'static>>) -> &mut Self {
        self.ca_certificates = certs;
        self
    }

    /// Adds one trusted CA certificate.
    pub fn add_ca_certificate(&mut self, cert: CertificateDer<'static>) -> &mut Self {
        self.ca_certificates.push(cert);
        self
    }

    /// Adds the operating system's trusted roots (Debian's `/etc/ssl/certs/ca-certificates.crt`
    /// or `$SSL_CERT_FILE`).
    pub fn add_system_ca_certificates(&mut self) -> Result<&mut Self> {
        let path = std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        self.add_ca_certificates_file(&path)
    }

    /// The trusted CA certificates.
    pub fn ca_certificates(&self) -> &[CertificateDer<'static>] {
        &self.ca_certificates
    }

    /// The CRL set: add files, swap them at run time, reload them (see [`CrlHandle`]).
    pub fn crls(&self) -> &CrlHandle {
        &self.crls
    }

    /// Adds CRLs from a PEM or DER file (remembered for [`CrlHandle::reload`]).
    pub fn add_crl_file(&mut self, path: &Path) -> Result<&mut Self> {
        self.crls.add_file(path)?;
        Ok(self)
    }

    /// Replaces the CRLs.
    pub fn set_crls(&mut self, crls: Vec<Crl>) -> &mut Self {
        self.crls.set(crls);
        self
    }

    /// What an undeterminable revocation status of a certificate in the peer's chain means
    /// (default [`RevocationFailure::Hard`]).
    pub fn set_revocation_failure(&mut self, r: RevocationFailure) -> &mut Self {
        self.revocation_failure = r;
        self
    }

    /// What an undeterminable revocation status means.
    pub fn revocation_failure(&self) -> RevocationFailure {
        self.revocation_failure
    }

    /// Where the peer's revocation status comes from (default [`PeerRevocation::Crl`]).
    pub fn set_peer_revocation(&mut self, r: PeerRevocation) -> &mut Self {
        self.peer_revocation = r;
        self
    }

    /// Where the peer's revocation status comes from.
    pub fn peer_revocation(&self) -> PeerRevocation {
        self.peer_revocation
    }

    /// What it means when no usable OCSP answer can be had for the peer's certificate (none
    /// stapled, its responder unreachable, or answering with an error or a bad response):
    /// [`RevocationFailure::Soft`] accepts the peer, [`RevocationFailure::Hard`] refuses it
    /// with the OCSP error. Unset, it is soft, and hard for a certificate that carries the TLS
    /// Feature status_request ("must-staple", RFC 7633). A good or revoked answer decides
    /// either way.
    pub fn set_ocsp_failure(&mut self, r: RevocationFailure) -> &mut Self {
        self.ocsp_failure = Some(r);
        self
    }

    /// How long fetching an OCSP answer after a handshake may take (default 5 s); past it the
    /// answer counts as not found.
    pub fn set_ocsp_timeout(&mut self, t: Duration) -> &mut Self {
        self.ocsp_timeout = t;
        self
    }

    /// Sets the peer verify mode.
    pub fn set_peer_verify_mode(&mut self, mode: PeerVerifyMode) -> &mut Self {
        self.verify_mode = mode;
        self
    }

    /// The peer verify mode.
    pub fn peer_verify_mode(&self) -> PeerVerifyMode {
        self.verify_mode
    }

    /// The longest chain accepted, in certificates, the peer's own and the trust anchor
    /// included (QSslSocket's peerVerifyDepth): 2 accepts a certificate issued directly by a
    /// trusted CA, 3 one intermediate more, 1 only a peer certificate that is itself trusted.
    /// 0 means no limit beyond the verifier's own ([`mtls_verify::DEFAULT_MAX_DEPTH`]
    /// intermediates). Longer chains fail with `ChainTooLong`.
    pub fn set_peer_verify_depth(&mut self, depth: usize) -> &mut Self {
        self.verify_depth = if depth == 0 {
            mtls_verify::DEFAULT_MAX_DEPTH + 2
        } else {
            depth
        };
        self
    }

    /// The longest chain accepted (see [`set_peer_verify_depth`](Self::set_peer_verify_depth)).
    pub fn peer_verify_depth(&self) -> usize {
        self.verify_depth
    }

    /// Also enforces the RFC 5280 profile rules for certificate and CRL issuers that OpenSSL
    /// checks only with `-x509_strict` (authority/subject key identifiers present and not
    /// critical, serial numbers positive and at most 20 octets, name constraints only in CAs,
    /// a cRLNumber in every CRL, …). Off by default, as in OpenSSL and Qt: a chain from an
    /// older or sloppier CA still verifies. Certificates from `mtls ca` pass either way.
    pub fn set_strict_verification(&mut self, strict: bool) -> &mut Self {
        self.strict = strict;
        self
    }

    /// The name the peer's certificate must carry (instead of the host connected to); for a
    /// server, a name its clients' certificates must carry.
    pub fn set_peer_verify_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.verify_name = Some(name.into());
        self
    }

    /// Allowed protocol versions (TLS 1.2 at the lowest).
    pub fn set_protocol_range(&mut self, min: TlsVersion, max: TlsVersion) -> Result<&mut Self> {
        if min > max {
            return Err(Error::config(
                "protocol range",
                "the minimum is above the maximum",
            ));
        }
        self.min_version = min;
        self.max_version = max;
        Ok(self)
    }

    /// Restricts cipher suites by name, most preferred first (a server applies its own order,
    /// not the client's): rustls/IANA names (`TLS13_AES_128_GCM_SHA256`,
    /// `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`) or OpenSSL names (`ECDHE-ECDSA-AES128-GCM-SHA256`,
    /// `TLS_AES_128_GCM_SHA256`), separated by `:` or `,`.
    pub fn set_cipher_suites(&mut self, list: &str) -> Result<&mut Self> {
        let all = provider().cipher_suites;
        let mut chosen = Vec::new();
        for name in list
            .split([':', ','])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let want = normalise_suite(name);
            let suite = all
                .iter()
                .find(|s| normalise_suite(&suite_name(s.suite())) == want)
                .ok_or_else(|| {
                    Error::config(
                        format!("cipher suite {name:?}"),
                        format!(
                            "unknown; available: {}",
                            all.iter()
                                .map(|s| suite_name(s.suite()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        }
        if chosen.is_empty() {
            return Err(Error::config("cipher suites", "the list is empty"));
        }
        self.cipher_suites = Some(chosen);
        Ok(self)
    }

    /// Sets ALPN protocols, most preferred first.
    pub fn set_alpn_protocols(&mut self, protocols: Vec<Vec<u8>>) -> &mut Self {
        self.alpn = protocols;
        self
    }

    /// How long a handshake may take.
    pub fn set_handshake_timeout(&mut self, t: Duration) -> &mut Self {
        self.handshake_timeout = t;
        self
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    pub(crate) fn crypto_provider(&self) -> Arc<CryptoProvider> {
        let mut p = provider();
        if let Some(suites) = &self.cipher_suites {
            p.cipher_suites = suites.clone();
        }
        Arc::new(p)
    }

    /// The protocol versions in range that have at least one allowed cipher suite (rustls
    /// refuses a configuration with a version and no suite for it: a TLS 1.3-only suite list
    /// means TLS 1.3 only).
    pub(crate) fn versions(&self) -> Vec<&'static rustls::SupportedProtocolVersion> {
        let has = |v: rustls::ProtocolVersion| {
            self.cipher_suites
                .as_ref()
                .is_none_or(|s| s.iter().any(|c| c.version().version == v))
        };
        let mut out = Vec::new();
        if self.max_version >= TlsVersion::Tls13 && has(rustls::ProtocolVersion::TLSv1_3) {
            out.push(&rustls::version::TLS13);
        }
        if self.min_version <= TlsVersion::Tls12 && has(rustls::ProtocolVersion::TLSv1_2) {
            out.push(&rustls::version::TLS12);
        }
        out
    }
}

fn normalise_suite(name: &str) -> String {
    // OpenSSL TLS 1.3 names are IANA names; rustls prefixes TLS13_.
    let n = name.trim().to_ascii_uppercase().replace('-', "_");
    let n = n
        .strip_prefix("TLS13_")
        .map(|r| format!("TLS_{r}"))
        .unwrap_or(n);
    // OpenSSL TLS 1.2 names: ECDHE-ECDSA-AES128-GCM-SHA256 -> TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    if !n.starts_with("TLS_") {
        let n = n.replace("AES128", "AES_128").replace("AES256", "AES_256");
        let n = n.replace("CHACHA20_POLY1305", "CHACHA20_POLY1305_SHA256");
        let mut parts = n.splitn(3, '_');
        let kx = parts.next().unwrap_or_default();
        let auth = parts.next().unwrap_or_default();
        let rest = parts.next().unwrap_or_default();
        return format!("TLS_{kx}_{auth}_WITH_{rest}");
    }
    n
}

/// Decodes a private key (PEM or DER; PKCS#8 plain or encrypted with `passphrase`, PKCS#1,
/// SEC1, legacy OpenSSL-encrypted PEM) with the loader the CA uses too ([`mtls_keys`]).
///
/// # Errors
///
/// [`Error::Key`] naming `what`: a passphrase is needed or wrong, the key derivation is too
/// costly, or the data is not a private key.
pub fn load_private_key(
    data: &[u8],
    passphrase: Option<&[u8]>,
    what: &str,
) -> Result<PrivateKeyDer<'static>> {
    let mut decoded = mtls_keys::decode(data, passphrase, what)?;
    // rustls takes the key by value: move it out (no copy is left behind; the placeholder left
    // in its place is wiped).
    Ok(std::mem::replace(
        &mut *decoded.der,
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(Vec::new())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_names_in_both_spellings() {
        let mut c = SslConfiguration::new();
        c.set_cipher_suites("TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256")
            .unwrap();
        assert_eq!(c.cipher_suites.as_ref().unwrap().len(), 2);
        c.set_cipher_suites("TLS13_CHACHA20_POLY1305_SHA256,ECDHE-RSA-CHACHA20-POLY1305")
            .unwrap();
        assert_eq!(c.cipher_suites.as_ref().unwrap().len(), 2);
        assert!(c.set_cipher_suites("RC4-MD5").is_err());
        c.set_cipher_suites("TLS_AES_128_GCM_SHA256").unwrap();
        assert_eq!(c.versions(), vec![&rustls::version::TLS13]);
        assert!("1.1".parse::<TlsVersion>().is_err());
    }

    #[test]
    fn suite_preference_follows_the_hardware() {
        let names = |aes_hw| {
            let mut suites = rustls::crypto::aws_lc_rs::default_provider().cipher_suites;
            prefer_cheap_suites(&mut suites, aes_hw);
            suites
                .iter()
                .map(|s| suite_name(s.suite()))
                .collect::<Vec<_>>()
        };
        let hw = names(true);
        assert_eq!(hw[0], "TLS13_AES_128_GCM_SHA256");
        assert_eq!(hw[1], "TLS13_AES_256_GCM_SHA384");
        assert_eq!(hw[2], "TLS13_CHACHA20_POLY1305_SHA256");
        assert_eq!(hw[3], "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        let soft = names(false);
        assert_eq!(soft[0], "TLS13_CHACHA20_POLY1305_SHA256");
        assert!(soft[3].contains("CHACHA20"), "{soft:?}");
    }
}
