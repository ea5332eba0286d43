//! Legacy OpenSSL encrypted PEM keys (`Proc-Type: 4,ENCRYPTED` / `DEK-Info:`).
//!
//! `openssl genrsa -des3 -traditional` — the recipe most private CAs started from — writes the key
//! this way. No RustCrypto crate reads it (RustCrypto/formats#1249), so we implement OpenSSL's
//! `EVP_BytesToKey` (MD5, one iteration, salt = first 8 bytes of the IV) and CBC decryption here.

use aes::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

use crate::KeyError;

type Result<T> = std::result::Result<T, KeyError>;

/// Decrypts the body of a legacy encrypted PEM block, given its `DEK-Info` header value.
///
/// A wrong passphrase usually fails the padding check, but can pass it by chance (1 in 256):
/// the caller must parse the result and treat a parse failure as a wrong passphrase too.
pub fn decrypt(
    what: &str,
    dek_info: &str,
    body: &[u8],
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let (alg, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| KeyError::decode(what, "malformed DEK-Info header"))?;
    let iv = decode_hex(iv_hex.trim())
        .ok_or_else(|| KeyError::decode(what, "DEK-Info IV is not hex"))?;
    let alg = alg.trim().to_ascii_uppercase();
    let (key_len, iv_len) = match alg.as_str() {
        "DES-EDE3-CBC" => (24, 8),
        "DES-CBC" => (8, 8),
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        other => {
            return Err(KeyError::decode(
                what,
                format!(
                    "legacy encryption {other} is not supported; convert it with `openssl pkey -in KEY -aes256 -out NEW`"
                ),
            ));
        }
    };
    if iv.len() != iv_len {
        return Err(KeyError::decode(what, "DEK-Info IV has the wrong length"));
    }
    if body.is_empty() || body.len() % iv_len != 0 {
        return Err(KeyError::decode(what, "encrypted body is truncated"));
    }
    let key = bytes_to_key(passphrase, &iv[..8], key_len);
    let wrong = || KeyError::WrongPassphrase { what: what.into() };
    let out = match alg.as_str() {
        "DES-EDE3-CBC" => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|_| wrong())?
            .decrypt_padded_vec::<Pkcs7>(body),
        "DES-CBC" => cbc::Decryptor::<des::Des>::new_from_slices(&key, &iv)
            .map_err(|_| wrong())?
            .decrypt_padded_vec::<Pkcs7>(body),
        "AES-128-CBC" => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .map_err(|_| wrong())?
            .decrypt_padded_vec::<Pkcs7>(body),
        "AES-192-CBC" => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .map_err(|_| wrong())?
            .decrypt_padded_vec::<Pkcs7>(body),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .map_err(|_| wrong())?
            .decrypt_padded_vec::<Pkcs7>(body),
    };
    out.map(Zeroizing::new).map_err(|_| wrong())
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one iteration.
fn bytes_to_key(pass: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    while out.len() < len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = Zeroizing::new(h.finalize().to_vec());
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

/// Decodes an even-length hex string.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_key_matches_openssl() {
        // `openssl enc -des-ede3-cbc -k secret -S 0102030405060708 -P -md md5`
        let k = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 24);
        assert_eq!(k.len(), 24);
        assert!(decode_hex("zz").is_none());
        assert_eq!(decode_hex("0aff"), Some(vec![10, 255]));
    }
}
