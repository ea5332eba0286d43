//! OCSP for mtls (RFC 6960, and the lightweight profile of RFC 5019): requests parsed and their
//! CertIDs matched against the issuing CA, responses built and signed.
//!
//! The ASN.1 is RustCrypto's (`x509-ocsp` on `der`/`x509-cert`); this crate adds what a
//! responder needs around it: [`Issuer`] (the CA's name and key hashes in every supported hash,
//! so a CertID is matched without hashing per request), [`Query`] (a parsed request, its nonce
//! kept to be echoed), and [`Issuer::respond`], which signs with whatever key the caller holds
//! through a [`Signer`]. It knows nothing of stores or HTTP: the caller says what each serial's
//! [`Status`] is.
//!
//! The client side ([`Issuer::request`], [`Issuer::check_response`]) makes RFC 5019 requests
//! and checks a response's signer, signature, CertID and dates, for stapling and for checking
//! a peer's status.
//!
//! Refusals are OCSP statuses, never panics: [`Refusal`] maps to `malformedRequest`,
//! `unauthorized` and the others, and [`Refusal::response`] encodes the unsigned answer.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod error;
mod issuer;
mod request;
mod response;

pub use client::{Answer, CLOCK_SKEW, NO_NEXT_UPDATE_LIFE, ResponderStatus, ResponseError};
pub use error::{Error, Refusal};
pub use issuer::{Delegate, HashAlg, Issuer};
pub use request::{MAX_REQUEST_LEN, Query};
pub use response::{SignFn, Signer, Status};
