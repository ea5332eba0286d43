//! Private keys: generation, encrypted storage (PKCS#8 PBES2) and loading of every format openssl
//! writes (PKCS#8 plain and encrypted, PKCS#1, SEC1, legacy `Proc-Type` encrypted PEM; PEM or DER).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use pkcs8::der::Encode;
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::pemutil;

/// The smallest RSA modulus accepted without an explicit override.
pub const MIN_RSA_BITS: usize = 2048;

/// The kinds of key mtls generates.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256 (the default: small, fast, universally supported).
    #[default]
    EcP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcP384,
    /// Ed25519.
    Ed25519,
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order the CLI lists them.
    pub const ALL: [KeyType; 6] = [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// The name used on the command line and in `ca.toml`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::EcP256 => "ec-p256",
            KeyType::EcP384 => "ec-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        if let Some(k) = KeyType::ALL.iter().find(|k| k.name() == norm) {
            return Ok(*k);
        }
        if let Some(bits) = norm
            .strip_prefix("rsa")
            .and_then(|b| b.trim_start_matches('-').parse::<usize>().ok())
            && bits < MIN_RSA_BITS
        {
            return Err(Error::WeakRsaKey {
                what: format!("key type {s}"),
                bits,
            });
        }
        Err(Error::invalid(
            format!("key type {s:?}"),
            "unknown; use one of ec-p256, ec-p384, ed25519, rsa2048, rsa3072, rsa4096",
        ))
    }
}

/// A private key held in memory, able to sign certificates, requests and CRLs.
///
/// Every serialization and decryption buffer mtls makes is wrapped in [`Zeroizing`]. The copy
/// rcgen's `KeyPair` keeps is not wiped on drop (rcgen 0.14 offers no way to), nor are the
/// `PrivateKeyDer` values handed to rcgen; the key objects aws-lc holds are freed by aws-lc.
pub struct PrivateKey {
    pair: KeyPair,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.description())
    }
}

impl PrivateKey {
    /// Generates a new key of type `kt`.
    pub fn generate(kt: KeyType) -> Result<Self> {
        let pair = match kt {
            KeyType::EcP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            KeyType::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
            KeyType::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
            KeyType::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            }
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
        }
        .map_err(|e| Error::crypto(format!("generating a {kt} key"), e))?;
        Ok(PrivateKey { pair })
    }

    /// The rcgen key pair, for signing.
    pub fn key_pair(&self) -> &KeyPair {
        &self.pair
    }

    /// The signature algorithm this key signs with.
    pub fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.pair.algorithm()
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// A short description such as `EC P-256` or `RSA 3072`.
    pub fn description(&self) -> String {
        crate::inspect::describe_spki(&self.public_key_der())
    }

    /// The key's type. An RSA key gets the largest [`KeyType`] its modulus reaches (an RSA-2560
    /// key is `Rsa2048`); every key mtls can load is one of them.
    pub fn key_type(&self) -> KeyType {
        let alg = self.pair.algorithm();
        if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
            KeyType::EcP384
        } else if alg == &rcgen::PKCS_ED25519 {
            KeyType::Ed25519
        } else if let Some(bits) = self.rsa_bits() {
            match bits {
                4096.. => KeyType::Rsa4096,
                3072.. => KeyType::Rsa3072,
                _ => KeyType::Rsa2048,
            }
        } else {
            KeyType::EcP256
        }
    }

    /// The RSA modulus size, or `None` for other key kinds.
    pub fn rsa_bits(&self) -> Option<usize> {
        crate::inspect::rsa_bits(&self.public_key_der())
    }

    /// Refuses RSA keys below [`MIN_RSA_BITS`] unless `allow_weak`.
    pub fn check_strength(&self, what: &str, allow_weak: bool) -> Result<()> {
        match self.rsa_bits() {
            Some(bits) if bits < MIN_RSA_BITS && !allow_weak => Err(Error::WeakRsaKey {
                what: what.into(),
                bits,
            }),
            _ => Ok(()),
        }
    }

    /// PKCS#8 v1 DER (no embedded public key: OpenSSL 3.0 cannot read v2 Ed25519 keys).
    fn pkcs8_v1_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let der = self.pair.serialized_der();
        let mut info = pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|e| Error::crypto("encoding the private key", e))?;
        if info.public_key.is_none() {
            return Ok(Zeroizing::new(der.to_vec()));
        }
        info.public_key = None;
        info.to_der()
            .map(Zeroizing::new)
            .map_err(|e| Error::crypto("encoding the private key", e))
    }

    /// PEM text: `ENCRYPTED PRIVATE KEY` (PBES2: scrypt + AES-256-CBC) when a passphrase is given,
    /// else `PRIVATE KEY`.
    pub fn to_pem(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>> {
        let der = self.pkcs8_v1_der()?;
        match passphrase {
            None => Ok(Zeroizing::new(pemutil::encode("PRIVATE KEY", &der))),
            Some(pass) => {
                if pass.is_empty() {
                    return Err(Error::invalid(
                        "passphrase",
                        "is empty; give a non-empty passphrase or choose an unencrypted key",
                    ));
                }
                let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice())
                    .map_err(|e| Error::crypto("encoding the private key", e))?;
                let doc = info
                    .encrypt(pass)
                    .map_err(|e| Error::crypto("encrypting the private key", e))?;
                doc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
                    .map_err(|e| Error::crypto("encoding the private key", e))
            }
        }
    }

    /// Writes the key to `path` (0600, atomically), encrypted when a passphrase is given.
    pub fn write(&self, path: &Path, passphrase: Option<&[u8]>, overwrite: bool) -> Result<()> {
        let pem = self.to_pem(passphrase)?;
        fsutil::write_atomic(path, pem.as_bytes(), fsutil::Mode::Secret, overwrite)
    }

    /// Reads a key file; see [`PrivateKey::from_bytes`].
    pub fn load(path: &Path, passphrase: Option<&[u8]>) -> Result<Self> {
        let data = Zeroizing::new(fsutil::read(path)?);
        Self::from_bytes(&data, passphrase, &path.display().to_string())
    }

    /// True when the PEM or DER key in `data` is encrypted (so a passphrase is needed).
    pub fn is_encrypted(data: &[u8]) -> bool {
        mtls_keys::is_encrypted(data)
    }

    /// Decodes a private key from PEM or DER in any of the formats openssl writes (see
    /// [`mtls_keys::decode`]).
    ///
    /// `what` names the source in errors. An encrypted key without a passphrase gives
    /// [`Error::PassphraseRequired`]; a wrong passphrase gives [`Error::WrongPassphrase`].
    pub fn from_bytes(data: &[u8], passphrase: Option<&[u8]>, what: &str) -> Result<Self> {
        let decoded = mtls_keys::decode(data, passphrase, what).map_err(|e| match e {
            mtls_keys::KeyError::PassphraseRequired { what } => Error::PassphraseRequired { what },
            mtls_keys::KeyError::WrongPassphrase { what } => Error::WrongPassphrase { what },
            mtls_keys::KeyError::KdfTooCostly { what, detail } => {
                Error::decode(what, "encrypted private key", detail)
            }
            mtls_keys::KeyError::Decode { what, detail } => {
                Error::decode(what, "private key", detail)
            }
            other => Error::decode(what, "private key", other),
        })?;
        // A wrong passphrase can survive a legacy key's padding check: a parse failure of a
        // decrypted key means the same.
        Self::from_der(&decoded.der, what).map_err(|e| match e {
            Error::Decode { .. } if decoded.encrypted => {
                Error::WrongPassphrase { what: what.into() }
            }
            other => other,
        })
    }

    fn from_der(der: &PrivateKeyDer<'_>, what: &str) -> Result<Self> {
        let bad = |e: rcgen::Error| {
            Error::decode(
                what,
                "private key",
                format!("{e} (supported: EC P-256/P-384, Ed25519, RSA)"),
            )
        };
        // aws-lc refuses RSA keys under 2048 bits: say that, rather than "not a valid key".
        if let Some(bits) = rsa_private_bits(der)
            && bits < MIN_RSA_BITS
        {
            return Err(Error::WeakRsaKey {
                what: what.into(),
                bits,
            });
        }
        // rcgen picks the algorithm; for PKCS#8 it tries each known one.
        let pair = KeyPair::try_from(der).map_err(bad)?;
        // Keep every key as PKCS#8 internally, so that it is written back as PKCS#8.
        let alg_id: &[u8] = match der {
            PrivateKeyDer::Pkcs8(_) => return Ok(PrivateKey { pair }),
            PrivateKeyDer::Pkcs1(_) => &RSA_ALG_ID,
            _ if pair.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 => &EC_P256_ALG_ID,
            _ if pair.algorithm() == &rcgen::PKCS_ECDSA_P384_SHA384 => &EC_P384_ALG_ID,
            _ => {
                return Err(Error::UnsupportedKey {
                    what: what.into(),
                    detail: "a SEC1 key on an unsupported curve".into(),
                });
            }
        };
        let inner = der.secret_der();
        let mut body = Zeroizing::new(vec![0x02, 0x01, 0x00]);
        body.extend_from_slice(alg_id);
        body.extend_from_slice(&der_tlv(0x04, inner));
        let pkcs8 = Zeroizing::new(der_tlv(0x30, &body));
        let pair = KeyPair::try_from(&PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            pkcs8.as_slice(),
        )))
        .map_err(bad)?;
        Ok(PrivateKey { pair })
    }
}

/// AlgorithmIdentifier rsaEncryption, NULL.
pub use mtls_keys::{MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_WORK, check_kdf_cost};

/// AlgorithmIdentifier rsaEncryption, NULL.
const RSA_ALG_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
/// AlgorithmIdentifier id-ecPublicKey, prime256v1.
const EC_P256_ALG_ID: [u8; 21] = [
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// AlgorithmIdentifier id-ecPublicKey, secp384r1.
const EC_P384_ALG_ID: [u8; 18] = [
    0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04,
    0x00, 0x22,
];

/// The modulus size of an RSA private key (PKCS#1, or PKCS#8 wrapping PKCS#1), if it is one.
fn rsa_private_bits(der: &PrivateKeyDer<'_>) -> Option<usize> {
    let pkcs1: &[u8] = match der {
        PrivateKeyDer::Pkcs1(k) => k.secret_pkcs1_der(),
        PrivateKeyDer::Pkcs8(k) => {
            let info = pkcs8::PrivateKeyInfoRef::try_from(k.secret_pkcs8_der()).ok()?;
            if info.algorithm.oid.to_string() != "1.2.840.113549.1.1.1" {
                return None;
            }
            info.private_key.as_bytes()
        }
        _ => return None,
    };
    // RSAPrivateKey ::= SEQUENCE { version INTEGER, modulus INTEGER, ... }
    let (tag, body, _) = der_read(pkcs1)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, rest) = der_read(body)?;
    let (tag, modulus, _) = der_read(rest)?;
    (tag == 0x02).then(|| crate::inspect::modulus_bits(modulus))
}

/// Reads one DER TLV: (tag, contents, rest).
fn der_read(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = data.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |a, &b| (a << 8) | b as usize),
            2 + n,
        )
    };
    let body = data.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, body, &data[hdr + len..]))
}

/// One DER TLV with a definite length.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_is_read_from_the_key() {
        for kt in KeyType::ALL {
            assert_eq!(PrivateKey::generate(kt).unwrap().key_type(), kt, "{kt}");
        }
    }

    #[test]
    fn round_trip_every_type_encrypted_and_plain() {
        for kt in [
            KeyType::EcP256,
            KeyType::EcP384,
            KeyType::Ed25519,
            KeyType::Rsa2048,
        ] {
            let k = PrivateKey::generate(kt).unwrap();
            let plain = k.to_pem(None).unwrap();
            let back = PrivateKey::from_bytes(plain.as_bytes(), None, "t").unwrap();
            assert_eq!(back.public_key_der(), k.public_key_der());
            let enc = k.to_pem(Some(b"pw")).unwrap();
            assert!(enc.contains("ENCRYPTED PRIVATE KEY"));
            assert!(PrivateKey::is_encrypted(enc.as_bytes()));
            assert!(matches!(
                PrivateKey::from_bytes(enc.as_bytes(), None, "t"),
                Err(Error::PassphraseRequired { .. })
            ));
            assert!(matches!(
                PrivateKey::from_bytes(enc.as_bytes(), Some(b"nope"), "t"),
                Err(Error::WrongPassphrase { .. })
            ));
            let back = PrivateKey::from_bytes(enc.as_bytes(), Some(b"pw"), "t").unwrap();
            assert_eq!(back.public_key_der(), k.public_key_der());
        }
    }

    #[test]
    fn key_type_names() {
        assert_eq!("EC-P256".parse::<KeyType>().unwrap(), KeyType::EcP256);
        assert!(matches!(
            "rsa1024".parse::<KeyType>(),
            Err(Error::WeakRsaKey { bits: 1024, .. })
        ));
        assert!("dsa".parse::<KeyType>().is_err());
    }
}
