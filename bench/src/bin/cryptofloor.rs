//! The crypto floor of a full P-256 mTLS 1.3 handshake as the server does it, timed in aws-lc
//! (the library mtls uses), beside `openssl speed`'s figures in `bench/run`: ECDHE key
//! generation, ECDH, one ECDSA sign (CertificateVerify) and two verifies (the client's
//! CertificateVerify and its certificate's signature). Prints microseconds per operation as JSON.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use aws_lc_rs::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey as SigKey,
};

/// Runs `f` repeatedly for about `secs` seconds; returns microseconds per call.
fn time_it(secs: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let budget = Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < budget {
        for _ in 0..64 {
            f()?;
        }
        n += 64;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn main() -> Result<()> {
    let secs: f64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2.0);
    let rng = SystemRandom::new();
    let fail = |what: &str| anyhow!("{what} failed");

    let keygen = time_it(secs, || {
        let k = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| fail("keygen"))?;
        k.compute_public_key().map_err(|_| fail("public key"))?;
        Ok(())
    })?;
    let peer = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| fail("keygen"))?;
    let peer_pub = peer.compute_public_key().map_err(|_| fail("public key"))?;
    let keygen_and_ecdh = time_it(secs, || {
        let k = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| fail("keygen"))?;
        k.compute_public_key().map_err(|_| fail("public key"))?;
        let theirs = UnparsedPublicKey::new(&ECDH_P256, peer_pub.as_ref());
        agree_ephemeral(k, theirs, (), |s| {
            std::hint::black_box(s);
            Ok(())
        })
        .map_err(|_| fail("ECDH"))
    })?;

    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| fail("signing key"))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .map_err(|_| fail("signing key"))?;
    // A TLS 1.3 CertificateVerify input: 64 spaces, the context string, 0, the transcript hash.
    let msg = [0x20u8; 130];
    let sign = time_it(secs, || {
        std::hint::black_box(key.sign(&rng, &msg).map_err(|_| fail("sign"))?);
        Ok(())
    })?;
    let sig = key.sign(&rng, &msg).map_err(|_| fail("sign"))?;
    let public = SigKey::new(&ECDSA_P256_SHA256_ASN1, key.public_key().as_ref().to_vec());
    let verify = time_it(secs, || {
        public
            .verify(&msg, sig.as_ref())
            .map_err(|_| fail("verify"))
    })?;
    let ecdh = keygen_and_ecdh - keygen;
    println!(
        "{{\"keygen_us\":{keygen:.2},\"ecdh_us\":{ecdh:.2},\"sign_us\":{sign:.2},\"verify_us\":{verify:.2},\"handshake_us\":{:.2}}}",
        keygen_and_ecdh + sign + 2.0 * verify
    );
    Ok(())
}
