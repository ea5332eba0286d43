//! OCSP checking of the peer's certificate ([`crate::PeerRevocation::Ocsp`]).
//!
//! Inside the handshake (rustls' verifier callback, which cannot wait on the network) the
//! answer comes from the response the peer stapled, or from the cache of earlier answers. When
//! neither has one, the verifier leaves a [`Pending`] fetch in the handshake's outcome; the
//! socket runs it once the handshake is done, before the connection counts as encrypted, and
//! closes the connection if the answer refuses the peer (a server cannot learn a client's
//! status any other way: TLS clients do not staple).
//!
//! Only the peer's own certificate is asked about; its CAs are covered by CRLs
//! ([`crate::PeerRevocation::Both`]). A resumed session is not asked about again (its chain
//! is re-checked against the CRLs, as always).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mtls_ocsp::{Answer, Issuer, ResponderStatus, ResponseError, Status};
use mtls_verify::{CertInfo, ErrorKind, SslError};
use rustls_pki_types::CertificateDer;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::http::Responder;
use crate::config::{RevocationFailure, SslConfiguration};

/// Answers kept, as many as the server's session cache holds; the cache starts afresh when
/// full.
const MAX_CACHED: usize = 4096;

/// id-pe-tlsfeature (RFC 7633).
const OID_TLS_FEATURE: &str = "1.3.6.1.5.5.7.1.24";

/// The OCSP side of a context: the failure policy and the answers seen.
#[derive(Debug)]
pub(crate) struct OcspChecker {
    failure: Option<RevocationFailure>,
    timeout: Duration,
    cache: Mutex<HashMap<[u8; 32], Answer>>,
}

/// A fetch the handshake could not make: what to ask, of whom, and how to judge failure.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    leaf: CertificateDer<'static>,
    info: CertInfo,
    issuer: Issuer,
    url: Option<String>,
    hard: bool,
    /// Why the stapled response (if any) could not be used.
    staple_error: Option<SslError>,
    /// The verify mode refuses a peer with errors (VerifyPeer).
    pub(crate) enforce: bool,
}

/// What the handshake found.
pub(crate) enum Verdict {
    /// The errors (none: good, or a tolerated failure).
    Done(Vec<SslError>),
    /// Ask the responder after the handshake.
    Fetch(Box<Pending>),
}

/// The leaf's OCSP responder URLs and whether it carries must-staple.
pub(crate) fn leaf_facts(leaf: &[u8]) -> (Option<String>, bool) {
    let Ok((_, x)) = X509Certificate::from_der(leaf) else {
        return (None, false);
    };
    let mut url = None;
    let mut must_staple = false;
    for ext in x.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            url = aia
                .accessdescs
                .iter()
                .filter(|d| {
                    d.access_method == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP
                })
                .find_map(|d| match &d.access_location {
                    GeneralName::URI(u) if u.starts_with("http://") => Some(u.to_string()),
                    _ => None,
                });
        }
        if ext.oid.to_id_string() == OID_TLS_FEATURE {
            must_staple = has_status_request(ext.value);
        }
    }
    (url, must_staple)
}

/// True when a TLS Feature value (SEQUENCE OF INTEGER) lists status_request (5).
fn has_status_request(value: &[u8]) -> bool {
    let Some((&0x30, rest)) = value.split_first() else {
        return false;
    };
    let Some((&len, mut items)) = rest.split_first() else {
        return false;
    };
    if usize::from(len) != items.len() || len >= 0x80 {
        return false;
    }
    while let [0x02, n, tail @ ..] = items {
        let n = usize::from(*n);
        if n == 0 || n > tail.len() {
            return false;
        }
        let (int, next) = tail.split_at(n);
        if int == [5] {
            return true;
        }
        items = next;
    }
    false
}

fn cache_key(leaf: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf);
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{t} (Unix time)"))
}

fn reason_name(code: u8) -> &'static str {
    match code {
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unspecified",
    }
}

/// The errors of a checked answer.
fn judge_answer(a: &Answer, info: &CertInfo, source: &str) -> Vec<SslError> {
    match a.status {
        Status::Good => Vec::new(),
        Status::Revoked { at, reason } => vec![SslError::for_cert(
            ErrorKind::CertificateRevoked,
            0,
            info,
            format!(
                "revoked at {} ({}), says the OCSP response {source}",
                fmt_time(at),
                reason_name(reason.unwrap_or(0))
            ),
        )],
        Status::Unknown => vec![SslError::for_cert(
            ErrorKind::OcspStatusUnknown,
            0,
            info,
            format!(
                "the OCSP response {source} says \"unknown\": its CA did not issue this serial"
            ),
        )],
    }
}

/// The error for a response that cannot be used.
fn response_error(e: &ResponseError, info: &CertInfo, source: &str) -> SslError {
    let kind = match e {
        ResponseError::Malformed(_) => ErrorKind::OcspMalformedResponse,
        ResponseError::Refused(ResponderStatus::MalformedRequest) => {
            ErrorKind::OcspMalformedRequest
        }
        ResponseError::Refused(ResponderStatus::InternalError) => ErrorKind::OcspInternalError,
        ResponseError::Refused(ResponderStatus::TryLater) => ErrorKind::OcspTryLater,
        ResponseError::Refused(ResponderStatus::SigRequired) => ErrorKind::OcspSigRequired,
        ResponseError::Refused(ResponderStatus::Unauthorized) => ErrorKind::OcspUnauthorized,
        ResponseError::Untrusted(_) => ErrorKind::OcspResponseCannotBeTrusted,
        ResponseError::NoAnswer { .. } => ErrorKind::OcspResponseCertIdUnknown,
        ResponseError::Expired { .. } | ResponseError::NotYetValid { .. } => {
            ErrorKind::OcspResponseExpired
        }
        _ => ErrorKind::OcspMalformedResponse,
    };
    SslError::for_cert(kind, 0, info, format!("{source}: {e}"))
}

impl OcspChecker {
    pub(crate) fn new(config: &SslConfiguration) -> OcspChecker {
        OcspChecker {
            failure: config.ocsp_failure,
            timeout: config.ocsp_timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &[u8; 32], now: i64) -> Option<Answer> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(key).copied().filter(|a| now < a.refresh_at())
    }

    fn keep(&self, key: [u8; 32], a: Answer) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, a);
    }

    /// The verdict inside the handshake on `leaf` (described by `info`, issued by `issuer`),
    /// from `staple` (empty: none) or the cache; otherwise a fetch to make.
    pub(crate) fn judge(
        &self,
        leaf: &CertificateDer<'_>,
        info: &CertInfo,
        issuer: &CertificateDer<'_>,
        staple: &[u8],
        now: i64,
        enforce: bool,
    ) -> Verdict {
        let (url, must_staple) = leaf_facts(leaf);
        let hard = self.failure.unwrap_or(match must_staple {
            true => RevocationFailure::Hard,
            false => RevocationFailure::Soft,
        }) == RevocationFailure::Hard;
        let issuer = match Issuer::from_cert_der(issuer) {
            Ok(i) => i,
            Err(e) => {
                let err =
                    SslError::for_cert(ErrorKind::OcspMalformedResponse, 0, info, e.to_string());
                return Verdict::Done(if hard { vec![err] } else { Vec::new() });
            }
        };
        let key = cache_key(leaf);
        let mut staple_error = None;
        if !staple.is_empty() {
            match issuer.check_response(staple, leaf, now) {
                Ok(a) => {
                    self.keep(key, a);
                    return Verdict::Done(judge_answer(&a, info, "the peer stapled"));
                }
                Err(e) => {
                    staple_error = Some(response_error(&e, info, "the stapled OCSP response"))
                }
            }
        }
        if must_staple && hard {
            let e = staple_error.unwrap_or_else(|| {
                SslError::for_cert(
                    ErrorKind::OcspNoResponseFound,
                    0,
                    info,
                    "the certificate requires a stapled OCSP response (TLS Feature status_request, RFC 7633) and the peer stapled none",
                )
            });
            return Verdict::Done(vec![e]);
        }
        if let Some(a) = self.cached(&key, now) {
            return Verdict::Done(judge_answer(&a, info, "cached"));
        }
        Verdict::Fetch(Box::new(Pending {
            leaf: leaf.clone().into_owned(),
            info: info.clone(),
            issuer,
            url,
            hard,
            staple_error,
            enforce,
        }))
    }

    /// Asks the responder of `p`, and says what its answer (or its absence) means.
    pub(crate) async fn fetch(&self, p: &Pending) -> Vec<SslError> {
        let fail = |e: SslError| if p.hard { vec![e] } else { Vec::new() };
        let Some(url) = &p.url else {
            return fail(p.staple_error.clone().unwrap_or_else(|| {
                SslError::for_cert(
                    ErrorKind::OcspNoResponseFound,
                    0,
                    &p.info,
                    "no OCSP response was stapled and the certificate names no http:// OCSP responder (authorityInfoAccess)",
                )
            }));
        };
        let not_found =
            |why: String| SslError::for_cert(ErrorKind::OcspNoResponseFound, 0, &p.info, why);
        let request = match p.issuer.request(&p.leaf) {
            Ok(r) => r,
            Err(e) => return fail(not_found(e.to_string())),
        };
        let body = match Responder::parse(url) {
            Ok(r) => r.post(request, self.timeout).await,
            Err(e) => Err(e),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => return fail(not_found(e)),
        };
        let now = i64::try_from(rustls_pki_types::UnixTime::now().as_secs()).unwrap_or(i64::MAX);
        let source = format!("from {url}");
        match p.issuer.check_response(&body, &p.leaf, now) {
            Ok(a) => {
                self.keep(cache_key(&p.leaf), a);
                judge_answer(&a, &p.info, &source)
            }
            Err(e) => fail(response_error(&e, &p.info, &source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_status_request;

    #[test]
    fn must_staple_is_found_only_as_status_request() {
        assert!(has_status_request(&[0x30, 0x03, 0x02, 0x01, 0x05]));
        assert!(has_status_request(&[
            0x30, 0x06, 0x02, 0x01, 0x11, 0x02, 0x01, 0x05
        ]));
        assert!(!has_status_request(&[0x30, 0x03, 0x02, 0x01, 0x11]));
        assert!(!has_status_request(&[0x30, 0x04, 0x02, 0x01, 0x05]));
        assert!(!has_status_request(&[]));
        assert!(!has_status_request(&[0x30, 0x03, 0x02, 0x09, 0x05]));
    }
}
