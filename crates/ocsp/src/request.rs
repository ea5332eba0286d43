//! [`Query`]: an OCSPRequest parsed and checked against the issuer.

use der::Decode;
use x509_cert::ext::Extension;
use x509_ocsp::{CertId, OcspRequest};

use crate::error::Refusal;
use crate::issuer::Issuer;

/// The largest request accepted: 64 KiB. A request for one certificate is about 100 bytes;
/// RFC 5019 2.1.1 even asks clients for one CertID per request.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// The most CertIDs answered in one response (RFC 5019 responders may answer one; openssl asks
/// for several at once with several `-cert`).
const MAX_IDS: usize = 64;

/// A parsed request: what it asks about, and its nonce (to echo).
#[derive(Debug, Clone)]
pub struct Query {
    /// The certificates asked about, in request order.
    pub ids: Vec<CertId>,
    /// The request's nonce extension (RFC 6960 4.4.1), echoed as is in the response.
    pub nonce: Option<Extension>,
}

impl Query {
    /// Parses a DER OCSPRequest (a signed one is answered as unsigned: mtls serves public
    /// status and needs no requestor identity).
    ///
    /// # Errors
    ///
    /// [`Refusal::Malformed`] for one over [`MAX_REQUEST_LEN`], one that does not parse, or one
    /// asking about nothing or about more than 64 certificates.
    pub fn parse(der: &[u8]) -> Result<Query, Refusal> {
        if der.len() > MAX_REQUEST_LEN {
            return Err(Refusal::Malformed(format!(
                "{} bytes; at most {MAX_REQUEST_LEN}",
                der.len()
            )));
        }
        let req = OcspRequest::from_der(der).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let tbs = req.tbs_request;
        if tbs.request_list.is_empty() || tbs.request_list.len() > MAX_IDS {
            return Err(Refusal::Malformed(format!(
                "{} CertIDs; ask about 1 to {MAX_IDS}",
                tbs.request_list.len()
            )));
        }
        let nonce = tbs.request_extensions.as_ref().and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id == const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE)
                .cloned()
        });
        Ok(Query {
            ids: tbs.request_list.into_iter().map(|r| r.req_cert).collect(),
            nonce,
        })
    }

    /// A query for one CertID without a nonce (RFC 5019's form): what a pre-signed answer
    /// answers.
    pub fn for_id(id: CertId) -> Query {
        Query {
            ids: vec![id],
            nonce: None,
        }
    }

    /// Checks that every CertID names `issuer`.
    ///
    /// # Errors
    ///
    /// [`Refusal::Unauthorized`] naming why one does not.
    pub fn check(&self, issuer: &Issuer) -> Result<(), Refusal> {
        self.ids.iter().try_for_each(|id| issuer.check(id))
    }

    /// For a request whose answer can be shared (RFC 5019's profile: one CertID, no nonce):
    /// the serial asked about and the CertID's DER, which tells apart the hash forms.
    pub fn shareable(&self) -> Option<(&[u8], Vec<u8>)> {
        match (&self.nonce, self.ids.as_slice()) {
            (None, [id]) => der::Encode::to_der(id)
                .ok()
                .map(|k| (id.serial_number.as_bytes(), k)),
            _ => None,
        }
    }

    /// The serial numbers asked about (DER INTEGER contents, as in the certificate).
    pub fn serials(&self) -> impl Iterator<Item = &[u8]> {
        self.ids.iter().map(|id| id.serial_number.as_bytes())
    }
}
