//! `mtls_verify`: X.509 certification path validation (RFC 5280 §6) that reports **every**
//! error of a chain, each with the certificate it concerns, under the names `QSslError` uses.
//!
//! rustls-webpki stops at the first problem; QSslSocket users expect the whole list (an expired
//! certificate for the wrong host yields both `CertificateExpired` and `HostNameMismatch`).
//! This crate builds the best path it can — by issuer/subject name, preferring matching key
//! identifiers and verifying signatures, trying alternatives when one fails — and evaluates all
//! checks on it. It knows nothing of sockets or of the CA store; the CLI (`mtls verify`), the
//! socket layer's rustls verifiers and the x509-limbo harness share it.
//!
//! ```no_run
//! use mtls_verify::{load_certificates, Purpose, Verifier, VerifyInput};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let roots = load_certificates(&std::fs::read("ca.pem")?, "ca.pem")?;
//! let chain = load_certificates(&std::fs::read("server.pem")?, "server.pem")?;
//! let verifier = Verifier::new(roots)?;
//! let input = VerifyInput::new(&chain[0])
//!     .intermediates(&chain[1..])
//!     .purpose(Purpose::ServerAuth)
//!     .host("www.example.com");
//! let report = verifier.verify(&input);
//! println!("{report}"); // "OK", or one line per error
//! # Ok(()) }
//! ```
//!
//! Modules: [`error`] (kinds, errors), [`report`] (the result), [`verifier`] (API and options),
//! and internally `path` (building), `checks` (evaluation), `crl`, `nc` (name constraints),
//! `name` (host names), `sig` (signatures), `cert` (the parsed model), `dn`, `der`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod budget;
mod cert;
mod cert_ext;
mod checks;
pub mod crl;
mod der;
mod dn;
pub mod error;
mod load;
mod name;
mod nc;
mod path;
pub mod report;
mod sig;
mod signature;
mod structure;
pub mod verifier;

pub use crl::Crl;
pub use error::{ErrorKind, LoadError, SslError, UnknownErrorKind};
pub use load::{load_certificates, load_crls, load_crls_paced};
pub use nc::name_constraint_violations;
pub use path::VerifiedPath;
pub use report::{CertInfo, IgnoreRule, IgnoreRuleError, Report};
pub use rustls_pki_types::{CertificateDer, UnixTime};
pub use signature::{SignatureError, verify_signature};
pub use verifier::{
    CrlSignatures, DEFAULT_MAX_DEPTH, Purpose, RevocationMode, RevocationScope, UnknownPurpose,
    Verifier, VerifyInput, unix_time,
};
