//! What can go wrong: a request refused (answered with an OCSP error status), or a response
//! that could not be built.

use x509_ocsp::{OcspResponse, OcspResponseStatus};

/// Why a request gets no signed answer; each is an OCSP response status (RFC 6960 4.2.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request does not parse, is empty or too large: `malformedRequest`.
    #[error("malformed OCSP request: {0}")]
    Malformed(String),
    /// A CertID names another issuer, or a hash this responder does not know: `unauthorized`
    /// (RFC 5019 2.2.3).
    #[error("not authoritative: {0}")]
    Unauthorized(String),
    /// The responder could not answer (its store failed): `internalError`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Refusal {
    /// The OCSP response status.
    pub fn status(&self) -> OcspResponseStatus {
        match self {
            Refusal::Malformed(_) => OcspResponseStatus::MalformedRequest,
            Refusal::Unauthorized(_) => OcspResponseStatus::Unauthorized,
            Refusal::Internal(_) => OcspResponseStatus::InternalError,
        }
    }

    /// The DER `OCSPResponse` carrying only the status (unsigned, as RFC 6960 4.2.1 says).
    pub fn response(&self) -> Vec<u8> {
        let r = match self {
            Refusal::Malformed(_) => OcspResponse::malformed_request(),
            Refusal::Unauthorized(_) => OcspResponse::unauthorized(),
            Refusal::Internal(_) => OcspResponse::internal_error(),
        };
        // Three fixed bytes; encoding an enumerated status cannot fail.
        der::Encode::to_der(&r).unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, 0x02])
    }
}

/// A response or issuer that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The issuing CA's certificate does not parse.
    #[error("the issuer certificate: {0}")]
    Issuer(String),
    /// Encoding the response failed (a time past 9999, an oversized field).
    #[error("encoding the OCSP response: {0}")]
    Encode(#[from] der::Error),
    /// The signer refused.
    #[error("signing the OCSP response: {0}")]
    Sign(String),
}
