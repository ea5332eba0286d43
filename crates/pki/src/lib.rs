//! `mtls_pki`: a private certificate authority — everything `openssl ca` does, done right.
//!
//! Keys ([`key`]), names ([`name`]), subjectAltNames ([`san`]), requests ([`csr`]), the DN policy
//! ([`policy`]), certificate profiles ([`profile`]), the CA itself ([`ca`]) with its transactional
//! store ([`store`]), revocation and CRLs ([`ca::CertificateAuthority::revoke`],
//! [`ca::CertificateAuthority::crl`]); [`show`] decodes any certificate, request or CRL for
//! display. This crate knows nothing of sockets.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod fsutil;
pub mod inspect;
pub mod key;
/// Legacy OpenSSL-encrypted PEM keys (in [`mtls_keys`], shared with the socket layer).
pub use mtls_keys::legacy;
pub mod name;
pub mod openssl;
pub mod pemutil;
pub mod san;
pub mod san_policy;
/// `mtls cert show`: every field of a certificate, chain, request or CRL, decoded for text or JSON.
pub mod show;

pub use error::{Error, Result};
pub use key::{KeyType, PrivateKey};
pub use name::{Attr, Name};
pub use san::San;
pub mod ca;
pub mod config;
pub mod csr;
pub mod policy;
pub mod profile;
pub mod serial;
pub mod store;
pub mod time;
pub mod token;
pub mod urls;

pub use ca::{CertificateAuthority, InitOptions, Issued, SignRequest};
pub use csr::Request;
pub use policy::{Policy, Rule};
pub use serial::Serial;
pub use store::{CertRecord, Reason, StatusFilter};
