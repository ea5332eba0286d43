//! `mtls_keys`: decoding a private key file in any of the forms openssl, step, easy-rsa and mtls
//! write, for the CA (`mtls_pki`) and the socket layer (`mtls_socket`) alike:
//!
//! - PEM or DER;
//! - PKCS#8, plain or encrypted (PBES2 with PBKDF2 or scrypt), with the key-derivation cost
//!   bounded before any derivation ([`check_kdf_cost`]): the parameters come from the file;
//! - PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`);
//! - legacy OpenSSL encryption (`Proc-Type: 4,ENCRYPTED`, `openssl genrsa -des3`), see
//!   [`legacy`].
//!
//! Decoded key bytes are wiped when dropped. This crate knows nothing of certificates, sockets
//! or the CA store; what a key is used for is its callers' business.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod legacy;

use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroizing;

/// Why a key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is encrypted and no passphrase was given.
    #[error("{what} is encrypted: give its passphrase")]
    PassphraseRequired {
        /// The key's source (a file name).
        what: String,
    },
    /// The passphrase does not decrypt the key.
    #[error("wrong passphrase for {what}")]
    WrongPassphrase {
        /// The key's source.
        what: String,
    },
    /// The key derivation asks for more memory or time than allowed (see [`check_kdf_cost`]).
    #[error("{what}: {detail}")]
    KdfTooCostly {
        /// The key's source.
        what: String,
        /// The parameters, and how to re-encrypt.
        detail: String,
    },
    /// Not a private key in a known form.
    #[error("{what}: not a valid private key ({detail})")]
    Decode {
        /// The key's source.
        what: String,
        /// What is wrong.
        detail: String,
    },
}

impl KeyError {
    /// A decoding error.
    pub fn decode(what: &str, detail: impl ToString) -> Self {
        KeyError::Decode {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// A decoded key.
#[derive(Debug)]
pub struct Decoded {
    /// The key, wiped when dropped.
    pub der: Zeroizing<PrivateKeyDer<'static>>,
    /// True when it was encrypted: a caller that then fails to parse the key should say "wrong
    /// passphrase" (a wrong passphrase can pass a legacy key's padding check by chance).
    pub encrypted: bool,
}

/// One PEM block (or the whole input as DER), with its headers.
struct Block {
    label: String,
    headers: Vec<(String, String)>,
    der: Zeroizing<Vec<u8>>,
}

/// The PEM blocks of `data`, or `data` itself as one DER block.
fn blocks(data: &[u8], what: &str) -> Result<Vec<Block>, KeyError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(KeyError::decode(what, "the input is empty"));
    }
    if !data.windows(11).any(|w| w == b"-----BEGIN ") {
        if data.first() != Some(&0x30) {
            return Err(KeyError::decode(
                what,
                "neither PEM (no -----BEGIN line) nor DER (does not start with a SEQUENCE)",
            ));
        }
        return Ok(vec![Block {
            label: String::new(),
            headers: Vec::new(),
            der: Zeroizing::new(data.to_vec()),
        }]);
    }
    let pems = pem::parse_many(data).map_err(|e| KeyError::decode(what, e))?;
    Ok(pems
        .into_iter()
        .map(|p| Block {
            label: p.tag().to_string(),
            headers: p
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            der: Zeroizing::new(p.into_contents()),
        })
        .collect())
}

fn is_encrypted_pkcs8(der: &[u8]) -> bool {
    pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).is_ok()
}

/// True when the PEM or DER key in `data` is encrypted (a passphrase is needed).
pub fn is_encrypted(data: &[u8]) -> bool {
    blocks(data, "key").is_ok_and(|bs| {
        bs.iter().any(|b| {
            b.label == "ENCRYPTED PRIVATE KEY"
                || b.headers.iter().any(|(k, _)| k == "DEK-Info")
                || (b.label.is_empty() && is_encrypted_pkcs8(&b.der))
        })
    })
}

/// Decodes the private key in `data`; `what` names the source in errors.
///
/// # Errors
///
/// [`KeyError::PassphraseRequired`] for an encrypted key without `passphrase`,
/// [`KeyError::WrongPassphrase`], [`KeyError::KdfTooCostly`] for hostile key-derivation
/// parameters, [`KeyError::Decode`] for anything that is not a private key.
pub fn decode(data: &[u8], passphrase: Option<&[u8]>, what: &str) -> Result<Decoded, KeyError> {
    let blocks = blocks(data, what)?;
    let block = blocks
        .iter()
        .find(|b| b.label.is_empty() || b.label.contains("PRIVATE KEY"))
        .ok_or_else(|| {
            let found: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
            KeyError::decode(
                what,
                format!("no PRIVATE KEY block (found {})", found.join(", ")),
            )
        })?;
    let need_pass = || KeyError::PassphraseRequired { what: what.into() };

    // Legacy OpenSSL encryption: headers on a PKCS#1 / SEC1 block.
    if let Some((_, dek)) = block.headers.iter().find(|(k, _)| k == "DEK-Info") {
        let pass = passphrase.ok_or_else(need_pass)?;
        let plain = legacy::decrypt(what, dek, &block.der, pass)?;
        let der = typed(&block.label, plain.to_vec())
            .map_err(|_| KeyError::WrongPassphrase { what: what.into() })?;
        return Ok(Decoded {
            der,
            encrypted: true,
        });
    }
    if block.label == "ENCRYPTED PRIVATE KEY"
        || (block.label.is_empty() && is_encrypted_pkcs8(&block.der))
    {
        let pass = passphrase.ok_or_else(need_pass)?;
        return Ok(Decoded {
            der: decrypt_pkcs8(&block.der, pass, what)?,
            encrypted: true,
        });
    }
    let der = typed(&block.label, block.der.to_vec()).map_err(|e| KeyError::decode(what, e))?;
    Ok(Decoded {
        der,
        encrypted: false,
    })
}

/// The key of a block labelled `label` (empty for DER: the form is recognised).
fn typed(label: &str, bytes: Vec<u8>) -> Result<Zeroizing<PrivateKeyDer<'static>>, String> {
    Ok(Zeroizing::new(match label {
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(bytes)),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(bytes)),
        "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bytes)),
        _ => PrivateKeyDer::try_from(bytes).map_err(|e| e.to_string())?,
    }))
}

/// Decrypts an EncryptedPrivateKeyInfo after checking its key-derivation cost.
fn decrypt_pkcs8(
    der: &[u8],
    pass: &[u8],
    what: &str,
) -> Result<Zeroizing<PrivateKeyDer<'static>>, KeyError> {
    let enc = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| KeyError::decode(what, format!("not a valid encrypted key: {e}")))?;
    check_kdf_cost(&enc.encryption_algorithm).map_err(|detail| KeyError::KdfTooCostly {
        what: what.into(),
        detail,
    })?;
    let doc = enc.decrypt(pass).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed)
        | pkcs8::Error::Asn1(_) => KeyError::WrongPassphrase { what: what.into() },
        other => KeyError::decode(
            what,
            format!(
                "{other}; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc` or `mtls key`"
            ),
        ),
    })?;
    Ok(Zeroizing::new(PrivateKeyDer::Pkcs8(
        PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec()),
    )))
}

/// Most memory scrypt may ask for when decrypting a key (128·r·N bytes): 1 GiB. mtls writes
/// keys with N = 2^17, r = 8 (128 MiB); `openssl pkcs8 -scrypt` with N = 2^14, r = 8.
pub const MAX_SCRYPT_MEMORY: u128 = 1 << 30;
/// Most scrypt work (N·r·p) when decrypting a key: 16 times what mtls itself uses.
pub const MAX_SCRYPT_WORK: u128 = 1 << 24;
/// Most PBKDF2 iterations when decrypting a key (OpenSSL's default is 2048; mtls uses
/// 600,000, OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Refuses key-derivation parameters that would take unbounded memory or time: the parameters
/// come from the key file, and without a bound a 200-byte file can ask scrypt for terabytes (an
/// allocation failure aborts the process) or PBKDF2 for 2^32 iterations (hours).
///
/// # Errors
///
/// A sentence naming the parameters and saying how to re-encrypt the key.
pub fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), String> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(());
    };
    match &params.kdf {
        Kdf::Scrypt(p) => {
            let (n, r, par) = (
                u128::from(p.cost_parameter),
                u128::from(p.block_size),
                u128::from(p.parallelization),
            );
            // N must be a power of two above 1: pkcs5 0.8.1 computes log2(N) with an
            // underflow for N = 0 (a panic; found by fuzzing).
            if n < 2 || !n.is_power_of_two() || r == 0 || par == 0 {
                return Err(format!(
                    "its scrypt parameters (N={n}, r={r}, p={par}) are invalid (N must be a power of two above 1, r and p positive)"
                ));
            }
            if 128 * r * n > MAX_SCRYPT_MEMORY || n * r * par > MAX_SCRYPT_WORK {
                return Err(format!(
                    "its scrypt parameters (N={n}, r={r}, p={par}) are too costly: more than {} MiB or {} units of work; re-encrypt it with `mtls key` or `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
                    MAX_SCRYPT_MEMORY >> 20,
                    MAX_SCRYPT_WORK
                ));
            }
        }
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            return Err(format!(
                "its PBKDF2 iteration count {} is too costly (above {MAX_PBKDF2_ITERATIONS}); re-encrypt it with `mtls key` or `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
                p.iteration_count
            ));
        }
        _ => {}
    }
    Ok(())
}
