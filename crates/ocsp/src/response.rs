//! Building and signing a BasicOCSPResponse (RFC 6960 4.2.1).

use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::CrlReason;
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspResponse, ResponderId, ResponseData,
    RevokedInfo, SingleResponse, Version,
};

use crate::error::Error;
use crate::issuer::{Delegate, Issuer};
use crate::request::Query;

/// What the CA knows of one serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked at `at` (Unix seconds), with a CRL reason code (RFC 5280 5.3.1) if one was given.
    Revoked {
        /// Unix seconds.
        at: i64,
        /// The reasonCode.
        reason: Option<u8>,
    },
    /// Not a serial this CA issued.
    Unknown,
}

/// Makes a signature over the DER bytes it is given, or says why not.
pub type SignFn<'a> = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Sync + 'a;

/// The key that signs responses, held by the caller: the DER AlgorithmIdentifier of its
/// signatures, and a function making one over the given bytes.
pub struct Signer<'a> {
    /// `AlgorithmIdentifier` DER (e.g. ecdsa-with-SHA256).
    pub algorithm_der: &'a [u8],
    /// Signs the DER ResponseData.
    pub sign: &'a SignFn<'a>,
    /// The responder certificate whose key `sign` uses, when it is not the CA's own key.
    pub delegate: Option<&'a Delegate>,
}

fn time(unix: i64) -> Result<OcspGeneralizedTime, Error> {
    let secs = u64::try_from(unix).map_err(|_| der::Error::from(der::ErrorKind::DateTime))?;
    Ok(GeneralizedTime::from_unix_duration(Duration::from_secs(secs))?.into())
}

fn reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        0 => CrlReason::Unspecified,
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        8 => CrlReason::RemoveFromCRL,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

impl Issuer {
    /// A signed response to `query` (already [checked](Query::check) against this issuer):
    /// one SingleResponse per CertID, in order, with `status` of each serial, thisUpdate
    /// `now`, nextUpdate `next`, the request's nonce echoed, producedAt `now`, the responder
    /// identified by key hash (the delegate's, whose certificate then goes along).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] for a time outside 1970–9999; [`Error::Sign`] from the signer.
    pub fn respond(
        &self,
        query: &Query,
        status: &mut dyn FnMut(&[u8]) -> Status,
        now: i64,
        next: i64,
        signer: &Signer<'_>,
    ) -> Result<Vec<u8>, Error> {
        let mut responses = Vec::with_capacity(query.ids.len());
        for id in &query.ids {
            let cert_status = match status(id.serial_number.as_bytes()) {
                Status::Good => CertStatus::good(),
                Status::Unknown => CertStatus::unknown(),
                Status::Revoked { at, reason: r } => CertStatus::revoked(RevokedInfo {
                    revocation_time: time(at)?,
                    revocation_reason: r.and_then(reason),
                }),
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update: time(now)?,
                next_update: Some(time(next)?),
                single_extensions: None,
            });
        }
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(match signer.delegate {
                Some(d) => d.key_sha1.clone(),
                None => self.key_sha1.clone(),
            })?),
            produced_at: time(now)?,
            responses,
            response_extensions: query.nonce.clone().map(|n| vec![n]),
        };
        let tbs = data.to_der()?;
        let sig = (signer.sign)(&tbs).map_err(Error::Sign)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned::from_der(signer.algorithm_der)?,
            signature: BitString::from_bytes(&sig)?,
            certs: signer.delegate.map(|d| vec![d.cert.clone()]),
        };
        Ok(OcspResponse::successful(basic)?.to_der()?)
    }
}
