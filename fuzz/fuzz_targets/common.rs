//! Helpers shared by the fuzz targets (included with `#[path]`).
#![allow(dead_code)]

use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::pkcs5::pbes2::Kdf;

/// Largest KDF work the harness lets through to a decryptor: scrypt N·r·p, or PBKDF2 iterations.
/// Real keys cost far more (mtls: scrypt 2^17·8), which would make each execution take a second;
/// the seeds use tiny parameters instead, and inputs that ask for more are only parsed.
/// (The library's own, much higher cap against hostile parameters is tested in mtls-pki.)
pub const MAX_FUZZ_KDF_WORK: u128 = 1 << 12;

/// True when `der` is an EncryptedPrivateKeyInfo whose KDF would cost more than
/// [`MAX_FUZZ_KDF_WORK`].
pub fn kdf_too_costly(der: &[u8]) -> bool {
    let Ok(enc) = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der) else {
        return false;
    };
    match enc.encryption_algorithm {
        EncryptionScheme::Pbes2(p) => match p.kdf {
            Kdf::Pbkdf2(k) => u128::from(k.iteration_count) > MAX_FUZZ_KDF_WORK,
            Kdf::Scrypt(s) => {
                u128::from(s.cost_parameter)
                    * u128::from(s.block_size)
                    * u128::from(s.parallelization)
                    > MAX_FUZZ_KDF_WORK
            }
            _ => false,
        },
        _ => false,
    }
}

/// Every candidate DER encoding of an encrypted key in `data`, as each of the two key loaders
/// could find it: raw DER, mtls-pki's PEM blocks, and the `pkcs8` crate's PEM decoder from the
/// first `BEGIN ENCRYPTED PRIVATE KEY` line (what mtls-socket uses).
pub fn any_costly_kdf(data: &[u8]) -> bool {
    if kdf_too_costly(data) {
        return true;
    }
    if let Ok(blocks) = mtls_pki::pemutil::blocks(data, "fuzz", "private key")
        && blocks.iter().any(|b| kdf_too_costly(&b.der))
    {
        return true;
    }
    let text = std::str::from_utf8(data).unwrap_or("");
    if let Some(start) = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        && let Ok((_, der)) = pkcs8::der::pem::decode_vec(&data[start..])
    {
        return kdf_too_costly(&der);
    }
    false
}

/// The peer_chain input format: one flags byte, then certificates as `u16` big-endian length +
/// DER, end entity first (what a TLS Certificate message carries, after rustls split it).
pub fn split_chain(data: &[u8]) -> Option<(u8, Vec<Vec<u8>>)> {
    let (&flags, mut rest) = data.split_first()?;
    let mut certs = Vec::new();
    while rest.len() >= 2 && certs.len() < 12 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let n = n.min(rest.len());
        certs.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    Some((flags, certs))
}
