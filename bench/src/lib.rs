//! Shared helpers of the benchmark programs: reading a process's CPU time and memory from
//! `/proc`, and rustls client configurations for the load generator; [`abuse`]: abusive peers
//! and a well-behaved client for the abuse soak and its CI test.
#![forbid(unsafe_code)]

pub mod abuse;

use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls_pki_types::PrivateKeyDer;

/// User + system CPU seconds of a process (all threads), from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are utime and stime; after ')' they are at 11 and 12.
    let utime: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let stime: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    Ok((utime + stime) / clock_ticks())
}

/// The kernel's clock ticks per second (USER_HZ); 100 on Linux.
fn clock_ticks() -> f64 {
    100.0
}

/// Resident set size in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")
}

/// A TLS 1.3 (or 1.2) mutual-auth client configuration for the load generator. Server
/// certificates are verified against `ca` with rustls-webpki (what a real client pays).
pub fn client_config(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
    resume: bool,
    tls12: bool,
    suite: Option<&str>,
) -> Result<Arc<ClientConfig>> {
    let roots_der = mtls_verify::load_certificates(&std::fs::read(ca)?, &ca.display().to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for r in roots_der {
        roots.add(r)?;
    }
    let chain = mtls_verify::load_certificates(&std::fs::read(cert)?, &cert.display().to_string())?;
    let key: PrivateKeyDer<'static> =
        mtls_socket::load_private_key(&std::fs::read(key)?, None, &key.display().to_string())?;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // ECDHE on P-256 only: the crypto floor is computed from `openssl speed ecdhp256`, and every
    // peer (OpenSSL 3.0 has no ML-KEM) then does the same key exchange.
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::SECP256R1];
    if let Some(s) = suite {
        provider
            .cipher_suites
            .retain(|cs| format!("{:?}", cs.suite()).contains(s));
        anyhow::ensure!(
            !provider.cipher_suites.is_empty(),
            "no cipher suite matches {s}"
        );
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    cfg.resumption = if resume {
        Resumption::in_memory_sessions(1024)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(cfg))
}
