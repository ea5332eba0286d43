//! Signatures over other signed objects than certificates and CRLs (OCSP responses), with the
//! same accepted algorithms and key sizes as the path checks (see the `sig` module).

use x509_parser::prelude::FromDer;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::sig::{self, AlgId, SigError, Spki};

/// Why [`verify_signature`] refused a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The key or the AlgorithmIdentifier does not parse.
    #[error("malformed {what}")]
    Malformed {
        /// `SubjectPublicKeyInfo` or `AlgorithmIdentifier`.
        what: &'static str,
    },
    /// The algorithm is not accepted (SHA-1, MD5, DSA …) or does not fit the key.
    #[error("{0}")]
    Algorithm(String),
    /// The key cannot be used (too small, unknown curve …).
    #[error("{0}")]
    Key(String),
    /// The signature does not verify.
    #[error("the signature does not verify with the signer's key")]
    Invalid,
}

/// Checks `signature` over `message`, made by the key of `spki_der` (a DER
/// SubjectPublicKeyInfo) with the algorithm of `algorithm_der` (a DER AlgorithmIdentifier).
///
/// # Errors
///
/// [`SignatureError`] saying why it is not accepted.
pub fn verify_signature(
    spki_der: &[u8],
    algorithm_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let (_, spki) =
        SubjectPublicKeyInfo::from_der(spki_der).map_err(|_| SignatureError::Malformed {
            what: "SubjectPublicKeyInfo",
        })?;
    let (_, alg) =
        AlgorithmIdentifier::from_der(algorithm_der).map_err(|_| SignatureError::Malformed {
            what: "AlgorithmIdentifier",
        })?;
    let signer = Spki {
        alg: AlgId::from_x509(&spki.algorithm),
        key: spki.subject_public_key.data.to_vec(),
    };
    sig::verify(&signer, &AlgId::from_x509(&alg), message, signature).map_err(|e| match e {
        SigError::Algorithm(d) => SignatureError::Algorithm(d),
        SigError::Key(d) => SignatureError::Key(d),
        SigError::Invalid => SignatureError::Invalid,
    })
}
