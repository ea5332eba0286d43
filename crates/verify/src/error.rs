//! Error kinds of a verification, and the errors of loading certificates and CRLs.
//!
//! [`ErrorKind`] names follow `QSslError::SslError` where Qt has a matching error, so the CLI,
//! the socket layer and users ignoring errors all speak the same names. Kinds that Qt folds into
//! `UnspecifiedError` (critical extensions, name constraints, chain depth, CRL expiry) get their
//! own names here, in the same style.

use std::fmt;
use std::str::FromStr;

use crate::report::CertInfo;

/// What is wrong with a certificate chain. `Display` prints the name (e.g. `CertificateExpired`);
/// [`ErrorKind::message`] gives a readable sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An intermediate's issuer is neither trusted nor among the supplied certificates.
    UnableToGetIssuerCertificate,
    /// The issuer's public key cannot be used (malformed, or an unsupported or too weak type);
    /// reported on the certificate whose signature could therefore not be checked.
    UnableToDecodeIssuerPublicKey,
    /// The certificate's signature does not verify with its issuer's key, or uses an algorithm
    /// that is not accepted (SHA-1, MD5, mismatched key type …).
    CertificateSignatureFailed,
    /// The verification time is before notBefore.
    CertificateNotYetValid,
    /// The verification time is after notAfter.
    CertificateExpired,
    /// The end-entity certificate is self-signed and not trusted.
    SelfSignedCertificate,
    /// The chain ends in a self-signed certificate that is not trusted.
    SelfSignedCertificateInChain,
    /// The end-entity certificate's issuer is neither trusted nor among the supplied certificates.
    UnableToGetLocalIssuerCertificate,
    /// A CRL of the certificate's issuer lists the certificate.
    CertificateRevoked,
    /// A certificate used as an issuer is not a valid CA certificate (no basicConstraints
    /// `cA=TRUE`, keyUsage without keyCertSign, a v1/v2 intermediate, an empty subject).
    InvalidCaCertificate,
    /// A CA's basicConstraints pathLenConstraint is exceeded by the certificates below it.
    PathLengthExceeded,
    /// The extendedKeyUsage of a certificate in the chain does not allow the requested purpose,
    /// or the end-entity keyUsage lacks digitalSignature.
    InvalidPurpose,
    /// Reserved for the socket layer (e.g. a pinned certificate that does not match); never
    /// produced by [`crate::Verifier`].
    CertificateUntrusted,
    /// The peer presented no certificate (see [`crate::Report::no_peer_certificate`]).
    NoPeerCertificate,
    /// The end-entity certificate is not valid for the requested host name or IP address.
    HostNameMismatch,
    /// Revocation status is required but no usable CRL covers the certificate.
    CertificateStatusUnknown,
    /// Anything else (e.g. the path search stopped at its limit).
    UnspecifiedError,
    /// Revocation status is required and the only CRLs covering the certificate are past their
    /// nextUpdate (the certificate is not listed in them).
    CrlExpired,
    /// More intermediate certificates than the configured maximum depth.
    ChainTooLong,
    /// A name (subject or subjectAltName) is outside the namespace an issuer's
    /// nameConstraints permits, or inside one it excludes.
    NameConstraintsViolation,
    /// The certificate has a critical extension this verifier does not process.
    UnhandledCriticalExtension,
    /// An extension is malformed, duplicated, inconsistent with another, or marked critical
    /// (or not) against RFC 5280.
    InvalidExtension,
    /// The certificate cannot be parsed, or breaks RFC 5280's structure rules.
    MalformedCertificate,
    /// The verification stopped at one of its work limits (signature checks, CRL bytes hashed,
    /// path-building steps, candidate paths, name-constraint comparisons, time): the chain is
    /// refused without being fully checked. Legitimate chains come nowhere near the limits.
    VerificationBudgetExceeded,
    /// OCSP checking is on and no answer could be had: the peer stapled none and its
    /// certificate's OCSP responder (authorityInfoAccess) gave none or names none.
    OcspNoResponseFound,
    /// An OCSP response (stapled or fetched) does not parse, or is not a basic response.
    OcspMalformedResponse,
    /// The OCSP responder answered `malformedRequest`.
    OcspMalformedRequest,
    /// The OCSP responder answered `internalError`.
    OcspInternalError,
    /// The OCSP responder answered `tryLater`.
    OcspTryLater,
    /// The OCSP responder answered `sigRequired`.
    OcspSigRequired,
    /// The OCSP responder answered `unauthorized`: it does not speak for the certificate's issuer.
    OcspUnauthorized,
    /// The response's signature does not verify with the issuer's key, or it is signed by a
    /// responder certificate the issuer did not delegate (RFC 6960 4.2.2.2).
    OcspResponseCannotBeTrusted,
    /// The response holds no answer for the certificate asked about.
    OcspResponseCertIdUnknown,
    /// The response's nextUpdate has passed, or its thisUpdate is in the future.
    OcspResponseExpired,
    /// The responder answered `unknown`: the serial is not one its CA issued.
    OcspStatusUnknown,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 35] = [
        ErrorKind::UnableToGetIssuerCertificate,
        ErrorKind::UnableToDecodeIssuerPublicKey,
        ErrorKind::CertificateSignatureFailed,
        ErrorKind::CertificateNotYetValid,
        ErrorKind::CertificateExpired,
        ErrorKind::SelfSignedCertificate,
        ErrorKind::SelfSignedCertificateInChain,
        ErrorKind::UnableToGetLocalIssuerCertificate,
        ErrorKind::CertificateRevoked,
        ErrorKind::InvalidCaCertificate,
        ErrorKind::PathLengthExceeded,
        ErrorKind::InvalidPurpose,
        ErrorKind::CertificateUntrusted,
        ErrorKind::NoPeerCertificate,
        ErrorKind::HostNameMismatch,
        ErrorKind::CertificateStatusUnknown,
        ErrorKind::UnspecifiedError,
        ErrorKind::CrlExpired,
        ErrorKind::ChainTooLong,
        ErrorKind::NameConstraintsViolation,
        ErrorKind::UnhandledCriticalExtension,
        ErrorKind::InvalidExtension,
        ErrorKind::MalformedCertificate,
        ErrorKind::VerificationBudgetExceeded,
        ErrorKind::OcspNoResponseFound,
        ErrorKind::OcspMalformedResponse,
        ErrorKind::OcspMalformedRequest,
        ErrorKind::OcspInternalError,
        ErrorKind::OcspTryLater,
        ErrorKind::OcspSigRequired,
        ErrorKind::OcspUnauthorized,
        ErrorKind::OcspResponseCannotBeTrusted,
        ErrorKind::OcspResponseCertIdUnknown,
        ErrorKind::OcspResponseExpired,
        ErrorKind::OcspStatusUnknown,
    ];

    /// The kind's name, as `QSslError::SslError` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::UnableToGetIssuerCertificate => "UnableToGetIssuerCertificate",
            ErrorKind::UnableToDecodeIssuerPublicKey => "UnableToDecodeIssuerPublicKey",
            ErrorKind::CertificateSignatureFailed => "CertificateSignatureFailed",
            ErrorKind::CertificateNotYetValid => "CertificateNotYetValid",
            ErrorKind::CertificateExpired => "CertificateExpired",
            ErrorKind::SelfSignedCertificate => "SelfSignedCertificate",
            ErrorKind::SelfSignedCertificateInChain => "SelfSignedCertificateInChain",
            ErrorKind::UnableToGetLocalIssuerCertificate => "UnableToGetLocalIssuerCertificate",
            ErrorKind::CertificateRevoked => "CertificateRevoked",
            ErrorKind::InvalidCaCertificate => "InvalidCaCertificate",
            ErrorKind::PathLengthExceeded => "PathLengthExceeded",
            ErrorKind::InvalidPurpose => "InvalidPurpose",
            ErrorKind::CertificateUntrusted => "CertificateUntrusted",
            ErrorKind::NoPeerCertificate => "NoPeerCertificate",
            ErrorKind::HostNameMismatch => "HostNameMismatch",
            ErrorKind::CertificateStatusUnknown => "CertificateStatusUnknown",
            ErrorKind::UnspecifiedError => "UnspecifiedError",
            ErrorKind::CrlExpired => "CrlExpired",
            ErrorKind::ChainTooLong => "ChainTooLong",
            ErrorKind::NameConstraintsViolation => "NameConstraintsViolation",
            ErrorKind::UnhandledCriticalExtension => "UnhandledCriticalExtension",
            ErrorKind::InvalidExtension => "InvalidExtension",
            ErrorKind::MalformedCertificate => "MalformedCertificate",
            ErrorKind::VerificationBudgetExceeded => "VerificationBudgetExceeded",
            ErrorKind::OcspNoResponseFound => "OcspNoResponseFound",
            ErrorKind::OcspMalformedResponse => "OcspMalformedResponse",
            ErrorKind::OcspMalformedRequest => "OcspMalformedRequest",
            ErrorKind::OcspInternalError => "OcspInternalError",
            ErrorKind::OcspTryLater => "OcspTryLater",
            ErrorKind::OcspSigRequired => "OcspSigRequired",
            ErrorKind::OcspUnauthorized => "OcspUnauthorized",
            ErrorKind::OcspResponseCannotBeTrusted => "OcspResponseCannotBeTrusted",
            ErrorKind::OcspResponseCertIdUnknown => "OcspResponseCertIdUnknown",
            ErrorKind::OcspResponseExpired => "OcspResponseExpired",
            ErrorKind::OcspStatusUnknown => "OcspStatusUnknown",
        }
    }

    /// A readable sentence (Qt's wording where Qt has the error).
    pub fn message(&self) -> &'static str {
        match self {
            ErrorKind::UnableToGetIssuerCertificate => "The issuer certificate could not be found",
            ErrorKind::UnableToDecodeIssuerPublicKey => {
                "The public key of the issuer certificate could not be read or is not supported"
            }
            ErrorKind::CertificateSignatureFailed => "The signature of the certificate is invalid",
            ErrorKind::CertificateNotYetValid => "The certificate is not yet valid",
            ErrorKind::CertificateExpired => "The certificate has expired",
            ErrorKind::SelfSignedCertificate => "The certificate is self-signed, and untrusted",
            ErrorKind::SelfSignedCertificateInChain => {
                "The root certificate of the certificate chain is self-signed, and untrusted"
            }
            ErrorKind::UnableToGetLocalIssuerCertificate => {
                "The issuer certificate of a locally looked up certificate could not be found"
            }
            ErrorKind::CertificateRevoked => "The certificate has been revoked",
            ErrorKind::InvalidCaCertificate => "One of the CA certificates is invalid",
            ErrorKind::PathLengthExceeded => {
                "The basicConstraints path length parameter has been exceeded"
            }
            ErrorKind::InvalidPurpose => "The supplied certificate is unsuitable for this purpose",
            ErrorKind::CertificateUntrusted => {
                "The root CA certificate is not trusted for this purpose"
            }
            ErrorKind::NoPeerCertificate => "The peer did not present any certificate",
            ErrorKind::HostNameMismatch => {
                "The host name did not match any of the valid hosts for this certificate"
            }
            ErrorKind::CertificateStatusUnknown => {
                "The revocation status of the certificate could not be determined"
            }
            ErrorKind::UnspecifiedError => "An unspecified error occurred",
            ErrorKind::CrlExpired => "The certificate revocation list has expired",
            ErrorKind::ChainTooLong => {
                "The certificate chain is longer than the maximum depth allowed"
            }
            ErrorKind::NameConstraintsViolation => {
                "A name in the certificate is not permitted by an issuer's name constraints"
            }
            ErrorKind::UnhandledCriticalExtension => {
                "The certificate has a critical extension that is not understood"
            }
            ErrorKind::InvalidExtension => {
                "A certificate extension is malformed, duplicated or not allowed"
            }
            ErrorKind::MalformedCertificate => "The certificate is malformed",
            ErrorKind::VerificationBudgetExceeded => {
                "Verifying the certificate chain took more work than allowed"
            }
            ErrorKind::OcspNoResponseFound => "No OCSP status response was found",
            ErrorKind::OcspMalformedResponse => {
                "The response from the OCSP server could not be parsed"
            }
            ErrorKind::OcspMalformedRequest => "The OCSP server reported the request as malformed",
            ErrorKind::OcspInternalError => "The OCSP server reported an internal error",
            ErrorKind::OcspTryLater => "The OCSP server asked to try again later",
            ErrorKind::OcspSigRequired => "The OCSP server requires a signed request",
            ErrorKind::OcspUnauthorized => {
                "The OCSP server is not authorized to answer for this certificate"
            }
            ErrorKind::OcspResponseCannotBeTrusted => {
                "The OCSP response signature could not be verified"
            }
            ErrorKind::OcspResponseCertIdUnknown => {
                "The OCSP response does not cover the certificate"
            }
            ErrorKind::OcspResponseExpired => "The OCSP response is outside its validity period",
            ErrorKind::OcspStatusUnknown => "The OCSP server does not know the certificate",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SSL error name {0:?}; expected one of: {names}", names = ErrorKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownErrorKind(pub String);

impl FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    /// Parses a kind name, case-insensitively (`HostNameMismatch`, `hostnamemismatch`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        ErrorKind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownErrorKind(s.to_string()))
    }
}

/// One problem found in a chain: what, which certificate (if any), and the specifics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Position of the certificate in [`crate::Report::path`] (0 = end entity), when it
    /// concerns one.
    pub cert_index: Option<usize>,
    /// The certificate concerned, when there is one.
    pub certificate: Option<CertInfo>,
    /// The specifics: which field, which name, which CRL, which dates (may be empty).
    pub detail: String,
}

impl SslError {
    /// An error not tied to a certificate.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        SslError {
            kind,
            cert_index: None,
            certificate: None,
            detail: detail.into(),
        }
    }

    /// An error about the certificate at `index` of the path.
    pub fn for_cert(
        kind: ErrorKind,
        index: usize,
        cert: &CertInfo,
        detail: impl Into<String>,
    ) -> Self {
        SslError {
            kind,
            cert_index: Some(index),
            certificate: Some(cert.clone()),
            detail: detail.into(),
        }
    }

    /// The readable sentence for [`SslError::kind`].
    pub fn message(&self) -> &'static str {
        self.kind.message()
    }
}

impl fmt::Display for SslError {
    /// `Kind [depth N: subject]: message: detail` on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        match (&self.cert_index, &self.certificate) {
            (Some(i), Some(c)) => write!(f, " [depth {i}: {}]", c.subject_or_serial())?,
            (None, Some(c)) => write!(f, " [{}]", c.subject_or_serial())?,
            _ => {}
        }
        write!(f, ": {}", self.kind.message())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for SslError {}

/// Loading certificates or CRLs failed. Every variant names the input (`what`, usually a file
/// name) so the CLI can print `Display` as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The input is neither valid PEM nor DER.
    #[error("{what}: not a valid {expected} file ({detail})")]
    Decode {
        /// The input concerned.
        what: String,
        /// What was expected ("certificate" or "CRL").
        expected: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The input holds no object of the expected kind.
    #[error("{what}: contains no {expected}{found}", found = if found.is_empty() { String::new() } else { format!(" (found PEM blocks: {found})") })]
    Empty {
        /// The input concerned.
        what: String,
        /// What was expected ("certificate" or "CRL").
        expected: &'static str,
        /// The PEM labels that were present, comma-separated (may be empty).
        found: String,
    },
    /// One object of the input cannot be parsed.
    #[error("{what}: {expected} #{index} cannot be parsed: {detail}")]
    Invalid {
        /// The input concerned.
        what: String,
        /// What was expected ("certificate" or "CRL").
        expected: &'static str,
        /// Its position in the input, from 1.
        index: usize,
        /// What is wrong.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(k.to_string().parse::<ErrorKind>(), Ok(k));
            assert!(!k.message().is_empty());
        }
        assert_eq!(
            "hostnamemismatch".parse::<ErrorKind>(),
            Ok(ErrorKind::HostNameMismatch)
        );
        let e = "Nope".parse::<ErrorKind>().unwrap_err().to_string();
        assert!(e.contains("CertificateExpired"), "{e}");
    }
}
