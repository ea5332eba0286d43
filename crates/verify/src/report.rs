//! The outcome of a verification: the path that was chosen and every error found on it.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;

use crate::error::{ErrorKind, SslError, UnknownErrorKind};

/// A certificate as errors and reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The DER encoding.
    pub der: CertificateDer<'static>,
    /// The subject DN in RFC 4514-like text (empty if it could not be read).
    pub subject: String,
    /// The issuer DN (empty if it could not be read).
    pub issuer: String,
    /// The serial number in hex with colons (empty if it could not be read).
    pub serial: String,
    /// SHA-256 of the DER encoding.
    pub sha256: [u8; 32],
}

impl CertInfo {
    /// Information for an object that could not be parsed: only its DER and digest are known.
    pub fn unparsed(der: &[u8]) -> Self {
        CertInfo {
            der: CertificateDer::from(der.to_vec()),
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            sha256: sha256(der),
        }
    }

    /// The SHA-256 fingerprint as 64 lowercase hex digits.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// The subject (cut at 160 characters), or the serial / fingerprint when the subject is
    /// empty.
    pub fn subject_or_serial(&self) -> String {
        if !self.subject.is_empty() {
            match self.subject.char_indices().nth(160) {
                Some((cut, _)) => format!("{}…", &self.subject[..cut]),
                None => self.subject.clone(),
            }
        } else if !self.serial.is_empty() {
            format!("serial {}", self.serial)
        } else {
            format!("sha256 {}", self.sha256_hex())
        }
    }
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The result of [`crate::Verifier::verify`].
///
/// `Display` prints `OK`, or one line per error (see [`SslError`]'s `Display`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The path that was chosen (the one with the fewest errors): end entity first, then its
    /// issuers; it ends with the trust anchor when [`Report::trusted`] is true.
    pub path: Vec<CertInfo>,
    /// True when the path ends at a trust anchor.
    pub trusted: bool,
    /// Every error found on the path, in path order (end entity first).
    pub errors: Vec<SslError>,
}

impl Report {
    /// True when there is no error (the path then ends at a trust anchor).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report for a peer that presented no certificate.
    pub fn no_peer_certificate() -> Self {
        Report {
            path: Vec::new(),
            trusted: false,
            errors: vec![SslError::new(ErrorKind::NoPeerCertificate, "")],
        }
    }

    /// The kinds of the errors, in order (with repetitions).
    pub fn kinds(&self) -> Vec<ErrorKind> {
        self.errors.iter().map(|e| e.kind).collect()
    }

    /// True when an error of `kind` was found.
    pub fn has(&self, kind: ErrorKind) -> bool {
        self.errors.iter().any(|e| e.kind == kind)
    }

    /// Removes the errors matched by any of `rules` (as `QSslSocket::ignoreSslErrors` does) and
    /// returns them.
    pub fn ignore(&mut self, rules: &[IgnoreRule]) -> Vec<SslError> {
        let (ignored, kept) = std::mem::take(&mut self.errors)
            .into_iter()
            .partition(|e| rules.iter().any(|r| r.matches(e)));
        self.errors = kept;
        ignored
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors.is_empty() {
            return f.write_str("OK");
        }
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// An error to ignore: a kind, optionally only for the certificate with a given SHA-256.
///
/// Parses from `Kind` or `Kind:SHA256` (64 hex digits; colons and case are ignored), e.g.
/// `HostNameMismatch:3f2a…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    /// The kind to ignore.
    pub kind: ErrorKind,
    /// Only for this certificate (by SHA-256 of its DER), or for any.
    pub sha256: Option<[u8; 32]>,
}

impl IgnoreRule {
    /// True when `error` is covered by this rule.
    pub fn matches(&self, error: &SslError) -> bool {
        error.kind == self.kind
            && match (&self.sha256, &error.certificate) {
                (None, _) => true,
                (Some(want), Some(c)) => c.sha256 == *want,
                (Some(_), None) => false,
            }
    }
}

/// An `--ignore-error` value that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IgnoreRuleError {
    /// The kind is not known.
    #[error(transparent)]
    Kind(#[from] UnknownErrorKind),
    /// The fingerprint is not 64 hex digits.
    #[error("{0:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")]
    Fingerprint(String),
}

impl FromStr for IgnoreRule {
    type Err = IgnoreRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, fp) = match s.split_once(':') {
            Some((k, fp)) => (k, Some(fp)),
            None => (s, None),
        };
        let kind = kind.parse::<ErrorKind>()?;
        let sha256 = match fp {
            None => None,
            Some(fp) => Some(
                parse_fingerprint(fp)
                    .ok_or_else(|| IgnoreRuleError::Fingerprint(fp.to_string()))?,
            ),
        };
        Ok(IgnoreRule { kind, sha256 })
    }
}

fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b':')
        .map(|b| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        })
        .collect::<Option<_>>()?;
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = (pair[0] << 4) | pair[1];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_rules() {
        let info = CertInfo::unparsed(b"x");
        let hexfp = info.sha256_hex();
        let e = SslError::for_cert(ErrorKind::HostNameMismatch, 0, &info, "");
        let r: IgnoreRule = format!("HostNameMismatch:{}", hexfp.to_uppercase())
            .parse()
            .unwrap();
        assert!(r.matches(&e));
        let r: IgnoreRule = "HostNameMismatch".parse().unwrap();
        assert!(r.matches(&e));
        let r: IgnoreRule = format!("CertificateExpired:{hexfp}").parse().unwrap();
        assert!(!r.matches(&e));
        assert!("HostNameMismatch:abcd".parse::<IgnoreRule>().is_err());
        assert!("Bogus".parse::<IgnoreRule>().is_err());
        let mut report = Report {
            path: vec![],
            trusted: true,
            errors: vec![e],
        };
        assert_eq!(report.ignore(&[r]).len(), 0);
        assert_eq!(
            report.ignore(&["HostNameMismatch".parse().unwrap()]).len(),
            1
        );
        assert!(report.is_ok());
        assert_eq!(report.to_string(), "OK");
    }
}
