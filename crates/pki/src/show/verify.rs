//! Signature checks: a request's self-signature, and a certificate's or CRL's signature with the
//! key of an issuer found in the same input.

use x509_parser::asn1_rs::FromDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::public_key::RSAPublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name};

use super::{Entry, Parsed, Shown, strip_zeros};

/// Checks a signature against every certificate in the input whose subject is `issuer`.
pub(super) fn check_signature<F>(
    s: &mut Shown,
    sig: &AlgorithmIdentifier<'_>,
    issuer: &X509Name<'_>,
    certs: &[&X509Certificate<'_>],
    all: &[Entry<'_>],
    verify: F,
    own_der: &[u8],
) where
    F: Fn(&SubjectPublicKeyInfo<'_>) -> std::result::Result<(), X509Error>,
{
    let position = |c: &X509Certificate<'_>| {
        all.iter()
            .position(|(p, ..)| matches!(p, Parsed::Cert(x) if std::ptr::eq(&**x, c)))
            .map_or(0, |i| i + 1)
    };
    for cand in certs
        .iter()
        .filter(|c| c.subject().as_raw() == issuer.as_raw())
    {
        let label = if cand.as_raw() == own_der {
            "its own key".to_string()
        } else {
            format!("certificate {}", position(cand))
        };
        match verify(cand.public_key()) {
            Ok(()) => {
                s.signature_valid = Some(true);
                s.signature_checked_with = Some(label);
                return;
            }
            Err(X509Error::SignatureVerificationError)
                if let Some(why) = verifier_limit(sig, cand.public_key()) =>
            {
                s.notes
                    .push(format!("the signature was not checked with {label}: {why}"));
            }
            Err(X509Error::SignatureVerificationError) => {
                if s.signature_valid.is_none() {
                    s.signature_valid = Some(false);
                    s.signature_checked_with = Some(label);
                }
            }
            Err(e) => s
                .notes
                .push(format!("the signature was not checked with {label}: {e}")),
        }
    }
}

/// The RSA key of an rsaEncryption or RSASSA-PSS SubjectPublicKeyInfo.
pub(super) fn rsa_key<'a>(spki: &'a SubjectPublicKeyInfo<'_>) -> Option<RSAPublicKey<'a>> {
    let oid = spki.algorithm.algorithm.to_id_string();
    if oid != "1.2.840.113549.1.1.1" && oid != "1.2.840.113549.1.1.10" {
        return None;
    }
    RSAPublicKey::from_der(&spki.subject_public_key.data)
        .ok()
        .map(|(_, k)| k)
}

/// The exact size of an RSA modulus in bits.
pub(super) fn rsa_bits(rsa: &RSAPublicKey<'_>) -> Option<usize> {
    let m = strip_zeros(rsa.modulus);
    m.first()
        .map(|b| (m.len() - 1) * 8 + (8 - b.leading_zeros() as usize))
}

/// Why a failed verification may say nothing about the signature: aws-lc-rs (behind
/// x509-parser's `verify_signature`) refuses RSA keys outside 2048–8192 bits (1024 for SHA-1) and
/// RSA-PSS salts shorter or longer than the hash.
pub(super) fn verifier_limit(
    sig: &AlgorithmIdentifier<'_>,
    spki: &SubjectPublicKeyInfo<'_>,
) -> Option<String> {
    let sig_oid = sig.algorithm.to_id_string();
    if let Some(bits) = rsa_key(spki).as_ref().and_then(rsa_bits) {
        let min = if sig_oid == "1.2.840.113549.1.1.5" {
            1024
        } else {
            2048
        };
        if !(min..=8192).contains(&bits) {
            return Some(format!(
                "the verifier accepts RSA keys of {min} to 8192 bits only, this one has {bits}"
            ));
        }
    }
    if sig_oid == "1.2.840.113549.1.1.10" {
        let params = sig
            .parameters
            .as_ref()
            .and_then(|p| RsaSsaPssParams::try_from(p).ok());
        let Some(params) = params else {
            return Some("the RSA-PSS parameters do not decode".into());
        };
        let hash_len = match params.hash_algorithm_oid().to_id_string().as_str() {
            "2.16.840.1.101.3.4.2.1" => 32,
            "2.16.840.1.101.3.4.2.2" => 48,
            "2.16.840.1.101.3.4.2.3" => 64,
            _ => 0,
        };
        if params.salt_length() != hash_len {
            return Some(format!(
                "the verifier supports RSA-PSS only with a salt as long as the hash; this one is {} bytes",
                params.salt_length()
            ));
        }
    }
    None
}
