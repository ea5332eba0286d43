//! OCSP in the socket layer: checking the peer's certificate ([`crate::PeerRevocation`]) and
//! stapling our own ([`OcspStapler`]). The ASN.1 and the response checks are `mtls_ocsp`'s.

pub(crate) mod check;
mod http;
mod staple;

/// What an OCSP response says of a certificate.
pub use mtls_ocsp::Status;
pub use staple::{OcspStapler, StapleEvent, StapleSource};
