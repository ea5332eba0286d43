//! Signature verification with aws-lc-rs, restricted to the algorithms a modern PKI uses.
//!
//! Accepted: ECDSA (P-256, P-384, P-521 keys; SHA-256/384/512), Ed25519, RSA PKCS#1 v1.5 and
//! RSASSA-PSS (SHA-256/384/512, MGF1 with the same hash, salt length = hash length) with
//! 2048–8192-bit `rsaEncryption` keys. Refused: SHA-1, MD5, DSA, explicit EC curves, RSA below
//! 2048 bits — like rustls-webpki.

use std::borrow::Cow;

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_NIST_HASH_SHA256, OID_NIST_HASH_SHA384, OID_NIST_HASH_SHA512, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
    OID_SIG_ED25519,
};
use x509_parser::x509::AlgorithmIdentifier;

use crate::der::{DerError, Reader, tag};

/// id-mgf1 (1.2.840.113549.1.1.8).
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];

/// Parameters of an AlgorithmIdentifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Params {
    /// No parameters.
    Absent,
    /// An explicit NULL.
    Null,
    /// Anything else: tag number and content.
    Other(u32, Vec<u8>),
}

/// An AlgorithmIdentifier: OID content bytes and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlgId {
    pub oid: Vec<u8>,
    pub params: Params,
}

impl AlgId {
    /// From x509-parser's form.
    pub fn from_x509(a: &AlgorithmIdentifier<'_>) -> AlgId {
        let params = match &a.parameters {
            None => Params::Absent,
            Some(p) if p.tag().0 == 5 && p.data.is_empty() => Params::Null,
            Some(p) => Params::Other(p.tag().0, p.data.to_vec()),
        };
        AlgId {
            oid: a.algorithm.as_bytes().to_vec(),
            params,
        }
    }

    /// From the content of an AlgorithmIdentifier SEQUENCE.
    pub fn from_der(content: &[u8]) -> Result<AlgId, DerError> {
        let mut r = Reader::new(content);
        let oid = r.read(tag::OID, "algorithm OID expected")?.to_vec();
        let params = if r.at_end() {
            Params::Absent
        } else {
            match r.read_any()? {
                (tag::NULL, [], _) => Params::Null,
                (t, c, _) => Params::Other(u32::from(t & 0x1f), c.to_vec()),
            }
        };
        r.finish("trailing data in AlgorithmIdentifier")?;
        Ok(AlgId { oid, params })
    }

    /// A readable name (registry short name or dotted OID).
    pub fn name(&self) -> String {
        oid_name(&self.oid)
    }
}

/// A readable name for an OID given as content bytes.
pub(crate) fn oid_name(oid: &[u8]) -> String {
    let oid = x509_parser::der_parser::oid::Oid::new(Cow::Borrowed(oid));
    match x509_parser::objects::oid2sn(&oid, x509_parser::objects::oid_registry()) {
        Ok(sn) => sn.to_string(),
        Err(_) => oid.to_id_string(),
    }
}

/// A subject public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spki {
    pub alg: AlgId,
    /// The subjectPublicKey BIT STRING's bytes.
    pub key: Vec<u8>,
}

/// Why a signature could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SigError {
    /// The signature algorithm is not accepted, or does not fit the key.
    Algorithm(String),
    /// The signer's key cannot be used.
    Key(String),
    /// The signature is wrong.
    Invalid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

enum Key {
    Rsa,
    Ec(Curve),
    Ed25519,
}

/// What verifying a signature with `spki` costs, in P-256 verifications (about 50 µs each
/// here: `openssl speed` gives P-384 and P-521 verifications 6–8 times slower, RSA-4096 twice,
/// RSA-8192 about 8 times). Keys that cannot be used cost 1 (they are refused at once).
pub(crate) fn verify_cost(spki: &Spki) -> usize {
    match key_type(spki) {
        Ok(Key::Ec(Curve::P256)) | Ok(Key::Ed25519) | Err(_) => 1,
        Ok(Key::Ec(Curve::P384 | Curve::P521)) => 8,
        Ok(Key::Rsa) => match rsa_bits(&spki.key).unwrap_or(0) {
            0..=2048 => 1,
            2049..=4096 => 2,
            _ => 8,
        },
    }
}

/// Classifies a signer's key, refusing keys we do not verify with.
fn key_type(spki: &Spki) -> Result<Key, SigError> {
    let oid = spki.alg.oid.as_slice();
    if oid == OID_PKCS1_RSAENCRYPTION.as_bytes() {
        let bits = rsa_bits(&spki.key).ok_or_else(|| SigError::Key("malformed RSA key".into()))?;
        if !(2048..=8192).contains(&bits) {
            return Err(SigError::Key(format!(
                "RSA-{bits} key (only 2048 to 8192 bits are accepted)"
            )));
        }
        Ok(Key::Rsa)
    } else if oid == OID_KEY_TYPE_EC_PUBLIC_KEY.as_bytes() {
        match &spki.alg.params {
            Params::Other(6, c) if c == OID_EC_P256.as_bytes() => Ok(Key::Ec(Curve::P256)),
            Params::Other(6, c) if c == OID_NIST_EC_P384.as_bytes() => Ok(Key::Ec(Curve::P384)),
            Params::Other(6, c) if c == OID_NIST_EC_P521.as_bytes() => Ok(Key::Ec(Curve::P521)),
            Params::Other(6, c) => Err(SigError::Key(format!(
                "EC key on the unsupported curve {}",
                oid_name(c)
            ))),
            _ => Err(SigError::Key(
                "EC key with explicit or missing curve parameters (only named curves are accepted)"
                    .into(),
            )),
        }
    } else if oid == OID_SIG_ED25519.as_bytes() && spki.alg.params == Params::Absent {
        Ok(Key::Ed25519)
    } else {
        Err(SigError::Key(format!(
            "unsupported key type {}",
            spki.alg.name()
        )))
    }
}

/// The modulus size of an RSAPublicKey, in bits.
pub(crate) fn rsa_bits(key: &[u8]) -> Option<usize> {
    let mut r = Reader::new(key);
    let seq = r.read(tag::SEQUENCE, "").ok()?;
    let mut r = Reader::new(seq);
    let n = crate::der::trim_integer(r.read(tag::INTEGER, "").ok()?);
    let first = *n.first()?;
    Some((n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// Hash of a PSS or ECDSA signature.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

fn hash_from_oid(oid: &[u8]) -> Option<Hash> {
    if oid == OID_NIST_HASH_SHA256.as_bytes() {
        Some(Hash::Sha256)
    } else if oid == OID_NIST_HASH_SHA384.as_bytes() {
        Some(Hash::Sha384)
    } else if oid == OID_NIST_HASH_SHA512.as_bytes() {
        Some(Hash::Sha512)
    } else {
        None
    }
}

/// The fields of RSASSA-PSS-params: hash, mask generation, salt length, trailer (absent =
/// default).
type PssFields = (
    Option<AlgId>,
    Option<AlgId>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

fn parse_pss(content: &[u8]) -> Result<PssFields, DerError> {
    let mut r = Reader::new(content);
    let hash = r.read_optional(0xa0)?;
    let mgf = r.read_optional(0xa1)?;
    let salt = r.read_optional(0xa2)?;
    let trailer = r.read_optional(0xa3)?;
    r.finish("trailing data in RSASSA-PSS parameters")?;
    let alg = |c: &[u8]| -> Result<AlgId, DerError> {
        AlgId::from_der(Reader::new(c).read(tag::SEQUENCE, "AlgorithmIdentifier expected")?)
    };
    let int = |c: &[u8]| -> Result<Vec<u8>, DerError> {
        Ok(Reader::new(c)
            .read(tag::INTEGER, "INTEGER expected")?
            .to_vec())
    };
    Ok((
        hash.map(alg).transpose()?,
        mgf.map(alg).transpose()?,
        salt.map(int).transpose()?,
        trailer.map(int).transpose()?,
    ))
}

/// Parses RSASSA-PSS-params, accepting only hash = MGF1 hash, salt = hash length, trailer 1.
fn pss_hash(params: &Params) -> Result<Hash, SigError> {
    let bad = |why: &str| SigError::Algorithm(format!("RSASSA-PSS with {why}"));
    let Params::Other(16, content) = params else {
        return Err(bad("missing parameters"));
    };
    let (hash, mgf, salt, trailer) = parse_pss(content).map_err(|e| bad(e.0))?;
    let hash = hash.ok_or_else(|| bad("SHA-1 (the default hash)"))?;
    if !matches!(hash.params, Params::Absent | Params::Null) {
        return Err(bad("hash parameters"));
    }
    let h = hash_from_oid(&hash.oid).ok_or_else(|| bad(&format!("hash {}", hash.name())))?;
    let mgf = mgf.ok_or_else(|| bad("MGF1-SHA-1 (the default mask)"))?;
    if mgf.oid != OID_MGF1 {
        return Err(bad(&format!("mask generation {}", mgf.name())));
    }
    let Params::Other(16, inner) = &mgf.params else {
        return Err(bad("malformed MGF1 parameters"));
    };
    let mgf_hash = AlgId::from_der(inner).map_err(|e| bad(e.0))?;
    if hash_from_oid(&mgf_hash.oid) != Some(h) {
        return Err(bad("an MGF1 hash different from the message hash"));
    }
    let want_salt: u8 = match h {
        Hash::Sha256 => 32,
        Hash::Sha384 => 48,
        Hash::Sha512 => 64,
    };
    if salt.as_deref() != Some(&[want_salt][..]) {
        return Err(bad("a salt length other than the hash length"));
    }
    if trailer.is_some_and(|t| t != [1]) {
        return Err(bad("a trailer field other than 1"));
    }
    Ok(h)
}

/// Verifies `signature` over `message` with `signer`'s key using algorithm `alg`.
pub(crate) fn verify(
    signer: &Spki,
    alg: &AlgId,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SigError> {
    let (algorithm, _) = resolve(signer, alg)?;
    signature::UnparsedPublicKey::new(algorithm, &signer.key)
        .verify(message, signature)
        .map_err(|_| SigError::Invalid)
}

/// [`verify`] for a large `message` (a CRL): hashed in pieces of 256 KiB with `pause` called
/// between them, then the signature checked over the digest. Ed25519, which cannot be
/// prehashed, is verified in one piece.
pub(crate) fn verify_paced(
    signer: &Spki,
    alg: &AlgId,
    message: &[u8],
    signature: &[u8],
    pause: &dyn Fn(),
) -> Result<(), SigError> {
    let (algorithm, hash) = resolve(signer, alg)?;
    let key = signature::UnparsedPublicKey::new(algorithm, &signer.key);
    let Some(hash) = hash else {
        return key
            .verify(message, signature)
            .map_err(|_| SigError::Invalid);
    };
    let mut ctx = aws_lc_rs::digest::Context::new(hash);
    for piece in message.chunks(crate::load::PACE_BYTES) {
        ctx.update(piece);
        pause();
    }
    key.verify_digest(&ctx.finish(), signature)
        .map_err(|_| SigError::Invalid)
}

/// The verification algorithm for `alg` with `signer`'s key, and the digest it signs over
/// (none for Ed25519).
fn resolve(
    signer: &Spki,
    alg: &AlgId,
) -> Result<
    (
        &'static dyn VerificationAlgorithm,
        Option<&'static aws_lc_rs::digest::Algorithm>,
    ),
    SigError,
> {
    let sig = alg.oid.as_slice();
    let unsupported = || {
        SigError::Algorithm(format!(
            "the signature algorithm {} is not accepted",
            alg.name()
        ))
    };
    let key = key_type(signer)?;
    let mismatch = |k: &str| {
        SigError::Algorithm(format!(
            "signature algorithm {} does not match the issuer's {k} key",
            alg.name()
        ))
    };
    let algorithm: &'static dyn VerificationAlgorithm = if sig
        == OID_SIG_ECDSA_WITH_SHA256.as_bytes()
        || sig == OID_SIG_ECDSA_WITH_SHA384.as_bytes()
        || sig == OID_SIG_ECDSA_WITH_SHA512.as_bytes()
    {
        if alg.params != Params::Absent {
            return Err(SigError::Algorithm(
                "ECDSA signature algorithm with parameters".into(),
            ));
        }
        let Key::Ec(curve) = key else {
            return Err(mismatch("non-EC"));
        };
        let h = if sig == OID_SIG_ECDSA_WITH_SHA256.as_bytes() {
            Hash::Sha256
        } else if sig == OID_SIG_ECDSA_WITH_SHA384.as_bytes() {
            Hash::Sha384
        } else {
            Hash::Sha512
        };
        match (curve, h) {
            (Curve::P256, Hash::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (Curve::P256, Hash::Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
            (Curve::P256, Hash::Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
            (Curve::P384, Hash::Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
            (Curve::P384, Hash::Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (Curve::P384, Hash::Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
            (Curve::P521, Hash::Sha256) => &signature::ECDSA_P521_SHA256_ASN1,
            (Curve::P521, Hash::Sha384) => &signature::ECDSA_P521_SHA384_ASN1,
            (Curve::P521, Hash::Sha512) => &signature::ECDSA_P521_SHA512_ASN1,
        }
    } else if sig == OID_SIG_ED25519.as_bytes() {
        if alg.params != Params::Absent {
            return Err(SigError::Algorithm(
                "Ed25519 signature algorithm with parameters".into(),
            ));
        }
        let Key::Ed25519 = key else {
            return Err(mismatch("non-Ed25519"));
        };
        &signature::ED25519
    } else if sig == OID_PKCS1_SHA256WITHRSA.as_bytes()
        || sig == OID_PKCS1_SHA384WITHRSA.as_bytes()
        || sig == OID_PKCS1_SHA512WITHRSA.as_bytes()
    {
        if !matches!(alg.params, Params::Absent | Params::Null) {
            return Err(SigError::Algorithm(
                "RSA PKCS#1 signature algorithm with parameters".into(),
            ));
        }
        let Key::Rsa = key else {
            return Err(mismatch("non-RSA"));
        };
        if sig == OID_PKCS1_SHA256WITHRSA.as_bytes() {
            &signature::RSA_PKCS1_2048_8192_SHA256
        } else if sig == OID_PKCS1_SHA384WITHRSA.as_bytes() {
            &signature::RSA_PKCS1_2048_8192_SHA384
        } else {
            &signature::RSA_PKCS1_2048_8192_SHA512
        }
    } else if sig == OID_PKCS1_RSASSAPSS.as_bytes() {
        let h = pss_hash(&alg.params)?;
        let Key::Rsa = key else {
            return Err(mismatch("non-RSA"));
        };
        match h {
            Hash::Sha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Hash::Sha384 => &signature::RSA_PSS_2048_8192_SHA384,
            Hash::Sha512 => &signature::RSA_PSS_2048_8192_SHA512,
        }
    } else {
        return Err(unsupported());
    };
    Ok((algorithm, digest_of(sig, &alg.params)))
}

/// The message digest of signature algorithm `sig` (an OID), none for Ed25519.
fn digest_of(sig: &[u8], params: &Params) -> Option<&'static aws_lc_rs::digest::Algorithm> {
    use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
    let h = if sig == OID_SIG_ECDSA_WITH_SHA256.as_bytes()
        || sig == OID_PKCS1_SHA256WITHRSA.as_bytes()
    {
        Hash::Sha256
    } else if sig == OID_SIG_ECDSA_WITH_SHA384.as_bytes()
        || sig == OID_PKCS1_SHA384WITHRSA.as_bytes()
    {
        Hash::Sha384
    } else if sig == OID_SIG_ECDSA_WITH_SHA512.as_bytes()
        || sig == OID_PKCS1_SHA512WITHRSA.as_bytes()
    {
        Hash::Sha512
    } else if sig == OID_PKCS1_RSASSAPSS.as_bytes() {
        pss_hash(params).ok()?
    } else {
        return None;
    };
    Some(match h {
        Hash::Sha256 => &SHA256,
        Hash::Sha384 => &SHA384,
        Hash::Sha512 => &SHA512,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mgf1_oid() {
        let oid = x509_parser::der_parser::oid::Oid::new(Cow::Borrowed(OID_MGF1));
        assert_eq!(oid.to_id_string(), "1.2.840.113549.1.1.8");
    }

    #[test]
    fn rsa_modulus_bits() {
        // SEQUENCE { INTEGER 0x00 0x80 0x00 (16 bits), INTEGER 3 }
        let key = [0x30, 0x08, 0x02, 0x03, 0x00, 0x80, 0x00, 0x02, 0x01, 0x03];
        assert_eq!(rsa_bits(&key), Some(16));
        assert_eq!(rsa_bits(&[0x30, 0x00]), None);
    }
}
