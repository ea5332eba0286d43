//! The client side: a request for one certificate, and a response checked against it (for
//! stapling one's own status and for checking a peer's).
//!
//! Requests follow RFC 5019's profile: one CertID hashed with SHA-1 and no nonce, so that the
//! answer can be cached by the responder and by proxies; freshness comes from thisUpdate and
//! nextUpdate instead, which [`Issuer::check_response`] checks.

use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    ResponderId, SingleResponse, TbsRequest, Version,
};

use crate::error::Error;
use crate::issuer::{HashAlg, Issuer};
use crate::response::Status;

/// How far a responder's clock may be ahead of ours, or a response past its nextUpdate, before
/// it is refused: 5 minutes, openssl's default (`-validity_period 300`).
pub const CLOCK_SKEW: i64 = 300;

/// How long a response without nextUpdate is used: one day. RFC 6960 4.2.2.1 says such a
/// responder "has newer information available all the time"; a client has to pick a limit.
pub const NO_NEXT_UPDATE_LIFE: i64 = 86_400;

/// A response checked for one certificate: its status and when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Good, revoked (when and why) or unknown.
    pub status: Status,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds, when the responder gave one.
    pub next_update: Option<i64>,
}

impl Answer {
    /// Until when the answer may be used: nextUpdate, or thisUpdate plus
    /// [`NO_NEXT_UPDATE_LIFE`].
    pub fn valid_until(&self) -> i64 {
        self.next_update
            .unwrap_or(self.this_update.saturating_add(NO_NEXT_UPDATE_LIFE))
    }

    /// When to fetch a new one: halfway between thisUpdate and [`Answer::valid_until`].
    pub fn refresh_at(&self) -> i64 {
        self.this_update + (self.valid_until() - self.this_update) / 2
    }
}

/// An error status the responder answered with instead of a signed response
/// (RFC 6960 4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponderStatus {
    /// `malformedRequest`.
    MalformedRequest,
    /// `internalError`.
    InternalError,
    /// `tryLater`.
    TryLater,
    /// `sigRequired`.
    SigRequired,
    /// `unauthorized`: the responder does not speak for this issuer.
    Unauthorized,
}

impl std::fmt::Display for ResponderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResponderStatus::MalformedRequest => "malformedRequest",
            ResponderStatus::InternalError => "internalError",
            ResponderStatus::TryLater => "tryLater",
            ResponderStatus::SigRequired => "sigRequired",
            ResponderStatus::Unauthorized => "unauthorized",
        })
    }
}

/// Why a response cannot be used for the certificate asked about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// It does not parse, or is not a basic response (RFC 6960 4.2.1).
    #[error("the OCSP response does not parse: {0}")]
    Malformed(String),
    /// The responder answered with an error status.
    #[error("the OCSP responder answered {0}")]
    Refused(ResponderStatus),
    /// Its signature does not verify with the CA's key, or its signer is no responder the CA
    /// delegated (RFC 6960 4.2.2.2).
    #[error("the OCSP response cannot be trusted: {0}")]
    Untrusted(String),
    /// It holds no answer for the certificate.
    #[error("the OCSP response holds no answer for serial {serial}")]
    NoAnswer {
        /// The certificate's serial, hex.
        serial: String,
    },
    /// Its nextUpdate (or thisUpdate plus a day, without one) has passed.
    #[error("the OCSP response expired at {valid_until} (Unix time; now {now})")]
    Expired {
        /// Until when it was valid.
        valid_until: i64,
        /// The time of the check.
        now: i64,
    },
    /// Its thisUpdate is ahead of our clock by more than [`CLOCK_SKEW`].
    #[error("the OCSP response is dated {this_update}, in the future (Unix time; now {now})")]
    NotYetValid {
        /// thisUpdate.
        this_update: i64,
        /// The time of the check.
        now: i64,
    },
}

fn malformed(e: impl std::fmt::Display) -> ResponseError {
    ResponseError::Malformed(e.to_string())
}

fn unix(t: &x509_ocsp::OcspGeneralizedTime) -> i64 {
    i64::try_from(t.0.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl Issuer {
    /// A DER OCSPRequest for `cert_der`, a certificate this CA issued: one CertID hashed with
    /// SHA-1 and no nonce (RFC 5019 2.1.1).
    ///
    /// # Errors
    ///
    /// [`Error::Issuer`] when the certificate does not parse.
    pub fn request(&self, cert_der: &[u8]) -> Result<Vec<u8>, Error> {
        let cert = Certificate::from_der(cert_der).map_err(|e| Error::Issuer(e.to_string()))?;
        let id = self.cert_id(cert.tbs_certificate.serial_number.as_bytes(), HashAlg::Sha1)?;
        let req = OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: id,
                    single_request_extensions: None,
                }],
                request_extensions: None,
            },
            optional_signature: None,
        };
        Ok(req.to_der()?)
    }

    /// The CertID naming `serial` (big-endian magnitude) of this issuer, hashed with `alg`
    /// (the hash algorithm's parameters an explicit NULL, as openssl writes them).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] for a serial longer than 20 bytes.
    pub fn cert_id(&self, serial: &[u8], alg: HashAlg) -> Result<CertId, Error> {
        let (name, key) = self
            .hashes(alg)
            .ok_or_else(|| Error::Issuer(format!("no {alg:?} hashes")))?;
        Ok(CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: Some(Null.into()),
            },
            issuer_name_hash: OctetString::new(name)?,
            issuer_key_hash: OctetString::new(key)?,
            serial_number: x509_cert::serial_number::SerialNumber::new(serial)?,
        })
    }

    /// Checks `response_der` as the status of `cert_der` (a certificate this CA issued) at
    /// `now` (Unix seconds): the response is successful and basic, signed by this CA's key or
    /// by a responder certificate it issued for OCSP signing (valid now), answers for the
    /// certificate, and is current within [`CLOCK_SKEW`].
    ///
    /// # Errors
    ///
    /// [`ResponseError`] saying why the response cannot be used.
    pub fn check_response(
        &self,
        response_der: &[u8],
        cert_der: &[u8],
        now: i64,
    ) -> Result<Answer, ResponseError> {
        let cert = Certificate::from_der(cert_der).map_err(malformed)?;
        let basic = basic_response(response_der)?;
        self.check_signature(&basic, now)?;
        let serial = cert.tbs_certificate.serial_number.as_bytes();
        let single = basic
            .tbs_response_data
            .responses
            .iter()
            .find(|r| self.covers(&r.cert_id, serial))
            .ok_or_else(|| ResponseError::NoAnswer {
                serial: hex(serial),
            })?;
        answer(single, now)
    }

    /// True when `id` names this issuer and `serial`.
    fn covers(&self, id: &CertId, serial: &[u8]) -> bool {
        id.serial_number.as_bytes() == serial && self.check(id).is_ok()
    }

    /// Checks the response's signature, by this CA or by a delegated responder.
    fn check_signature(&self, basic: &BasicOcspResponse, now: i64) -> Result<(), ResponseError> {
        let signer_spki = match &basic.tbs_response_data.responder_id {
            ResponderId::ByKey(k) if k.as_bytes() == self.key_sha1.as_slice() => {
                self.spki_der.clone()
            }
            ResponderId::ByName(n) if *n == self.subject => self.spki_der.clone(),
            id => self.delegate_key(basic, id, now)?,
        };
        let tbs = basic.tbs_response_data.to_der().map_err(malformed)?;
        let alg = basic.signature_algorithm.to_der().map_err(malformed)?;
        let sig = basic.signature.as_bytes().ok_or_else(|| {
            ResponseError::Malformed("the signature is not a whole number of bytes".into())
        })?;
        mtls_verify::verify_signature(&signer_spki, &alg, &tbs, sig)
            .map_err(|e| ResponseError::Untrusted(e.to_string()))
    }

    /// The key of the responder certificate in `basic` that `id` names, once checked: issued
    /// by this CA (signature verified), for OCSP signing, valid at `now`.
    fn delegate_key(
        &self,
        basic: &BasicOcspResponse,
        id: &ResponderId,
        now: i64,
    ) -> Result<Vec<u8>, ResponseError> {
        let untrusted = |why: &str| ResponseError::Untrusted(why.to_string());
        let named = |c: &&Certificate| match id {
            ResponderId::ByName(n) => c.tbs_certificate.subject == *n,
            ResponderId::ByKey(k) => {
                let key = c
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes();
                HashAlg::Sha1.digest(key) == k.as_bytes()
            }
        };
        let cert = basic.certs.iter().flatten().find(named).ok_or_else(|| {
            untrusted("it is signed neither by the CA nor by a responder certificate it carries")
        })?;
        let tbs = &cert.tbs_certificate;
        if tbs.issuer != self.subject {
            return Err(untrusted(
                "its responder certificate is issued by another CA",
            ));
        }
        let alg = cert.signature_algorithm.to_der().map_err(malformed)?;
        let sig = cert
            .signature
            .as_bytes()
            .ok_or_else(|| untrusted("malformed responder certificate"))?;
        let tbs_der = tbs.to_der().map_err(malformed)?;
        mtls_verify::verify_signature(&self.spki_der, &alg, &tbs_der, sig)
            .map_err(|e| ResponseError::Untrusted(format!("its responder certificate: {e}")))?;
        let eku = tbs
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
            .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok());
        if !eku.is_some_and(|u| u.0.contains(&const_oid::db::rfc5280::ID_KP_OCSP_SIGNING)) {
            return Err(untrusted(
                "its responder certificate lacks extendedKeyUsage OCSPSigning",
            ));
        }
        let from =
            i64::try_from(tbs.validity.not_before.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        let to =
            i64::try_from(tbs.validity.not_after.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        if now < from.saturating_sub(CLOCK_SKEW) || now > to {
            return Err(untrusted("its responder certificate is not valid now"));
        }
        tbs.subject_public_key_info.to_der().map_err(malformed)
    }
}

/// The BasicOCSPResponse inside a successful `response_der`.
fn basic_response(response_der: &[u8]) -> Result<BasicOcspResponse, ResponseError> {
    let resp = OcspResponse::from_der(response_der).map_err(malformed)?;
    let refused = |s| Err(ResponseError::Refused(s));
    match resp.response_status {
        OcspResponseStatus::Successful => {}
        OcspResponseStatus::MalformedRequest => return refused(ResponderStatus::MalformedRequest),
        OcspResponseStatus::InternalError => return refused(ResponderStatus::InternalError),
        OcspResponseStatus::TryLater => return refused(ResponderStatus::TryLater),
        OcspResponseStatus::SigRequired => return refused(ResponderStatus::SigRequired),
        OcspResponseStatus::Unauthorized => return refused(ResponderStatus::Unauthorized),
    }
    let bytes = resp
        .response_bytes
        .ok_or_else(|| ResponseError::Malformed("a successful response without a body".into()))?;
    if bytes.response_type != const_oid::db::rfc6960::ID_PKIX_OCSP_BASIC {
        return Err(ResponseError::Malformed(format!(
            "response type {} is not id-pkix-ocsp-basic",
            bytes.response_type
        )));
    }
    BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(malformed)
}

/// The status in `single`, if current at `now`.
fn answer(single: &SingleResponse, now: i64) -> Result<Answer, ResponseError> {
    let status = match &single.cert_status {
        CertStatus::Good(_) => Status::Good,
        CertStatus::Unknown(_) => Status::Unknown,
        CertStatus::Revoked(info) => Status::Revoked {
            at: unix(&info.revocation_time),
            reason: info.revocation_reason.map(|r| r as u8),
        },
    };
    let a = Answer {
        status,
        this_update: unix(&single.this_update),
        next_update: single.next_update.as_ref().map(unix),
    };
    if a.this_update > now.saturating_add(CLOCK_SKEW) {
        return Err(ResponseError::NotYetValid {
            this_update: a.this_update,
            now,
        });
    }
    if a.valid_until().saturating_add(CLOCK_SKEW) < now {
        return Err(ResponseError::Expired {
            valid_until: a.valid_until(),
            now,
        });
    }
    Ok(a)
}
