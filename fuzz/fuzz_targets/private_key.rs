//! Private keys: plain PKCS#8 / PKCS#1 / SEC1, PKCS#8-encrypted (PBES2: scrypt or PBKDF2) and
//! legacy OpenSSL-encrypted (`Proc-Type: 4,ENCRYPTED`), PEM or DER, through both loaders:
//! mtls-pki's (`mtls key`, `mtls ca`) and mtls-socket's (`serve`/`connect --key`).
//! The seeds are encrypted with the passphrase "fuzz".
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mtls_pki::PrivateKey::is_encrypted(data);
    let _ = mtls_pki::PrivateKey::from_bytes(data, None, "fuzz");
    let _ = mtls_socket::load_private_key(data, None, "fuzz");
    if common::any_costly_kdf(data) {
        return;
    }
    for pass in [&b"fuzz"[..], b"wrong"] {
        if let Ok(k) = mtls_pki::PrivateKey::from_bytes(data, Some(pass), "fuzz") {
            let _ = (k.description(), k.public_key_der(), k.rsa_bits());
        }
        let _ = mtls_socket::load_private_key(data, Some(pass), "fuzz");
    }
});
