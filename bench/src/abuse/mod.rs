//! Abusive peers for `mtls serve` (and any TLS server), and a well-behaved mutual-TLS client to
//! run beside them: stalled handshakes, garbage, plaintext HTTP, a TLS 1.0-only ClientHello,
//! oversized client chains, connection bursts, peers that vanish mid-record.
//!
//! Used by the `abuse` program (the soak in `scripts/abuse-soak`) and, in-process, by the CI
//! test `crates/cli/tests/cli/abuse.rs`. Every attack reports one JSON object holding the local
//! ports it used, so a caller can find each connection in the server's log
//! (`connection from 127.0.0.1:PORT`, `refused 127.0.0.1:PORT`). Every wait has a deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

mod chains;
mod good;
mod raw;
mod stall;
mod vanish;

pub use chains::*;
pub use good::*;
pub use raw::*;
pub use stall::*;
pub use vanish::*;

/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS handshake may take on the client side.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to attack.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The name to send (SNI) and, for the good client, to verify; `None`: the address's IP.
    pub servername: Option<String>,
}

impl Target {
    /// `addr`, verified by its IP address.
    pub fn new(addr: SocketAddr) -> Target {
        Target {
            addr,
            servername: None,
        }
    }

    fn name(&self) -> Result<ServerName<'static>> {
        let n = self
            .servername
            .clone()
            .unwrap_or_else(|| self.addr.ip().to_string());
        ServerName::try_from(n.clone()).map_err(|_| anyhow::anyhow!("bad server name {n:?}"))
    }
}

/// A client certificate, its key and the CA that issued the server's certificate.
#[derive(Clone, Debug)]
pub struct Creds {
    /// CA certificate(s) for the server's certificate.
    pub ca: PathBuf,
    /// The client certificate (chain), PEM or DER.
    pub cert: PathBuf,
    /// Its unencrypted key.
    pub key: PathBuf,
}

impl Creds {
    fn config(&self) -> Result<Arc<ClientConfig>> {
        crate::client_config(&self.ca, &self.cert, &self.key, false, false, None)
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow::anyhow!("connecting to {addr} timed out after {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn local_port(s: &TcpStream) -> u16 {
    s.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// Percentiles of a list of values (milliseconds or seconds).
pub fn summary(values: &[f64]) -> Value {
    if values.is_empty() {
        return json!({"n": 0});
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        (v[i] * 10.0).round() / 10.0
    };
    json!({"n": v.len(), "min": pct(0.0), "p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0)})
}

// ---- reading what the server answered ----------------------------------------------------

/// How a raw connection ended on our side.
#[derive(Debug, Clone)]
struct RawEnd {
    reply: Vec<u8>,
    how: &'static str,
    after: Duration,
}

/// Reads until the server closes (EOF or reset) or `wait` passes; keeps the first 64 bytes.
async fn read_until_closed(s: &mut TcpStream, wait: Duration) -> RawEnd {
    let t0 = Instant::now();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    let how = loop {
        let left = wait.saturating_sub(t0.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => break "still open",
            Ok(Ok(0)) => break "closed (EOF)",
            Ok(Ok(n)) => {
                let room = 64usize.saturating_sub(reply.len());
                reply.extend_from_slice(&buf[..n.min(room)]);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                break "closed (reset)";
            }
            Ok(Err(_)) => break "closed (error)",
        }
    };
    RawEnd {
        reply,
        how,
        after: t0.elapsed(),
    }
}

/// The name of a TLS alert description.
pub fn alert_name(code: u8) -> &'static str {
    match code {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        _ => "unknown",
    }
}

/// What the server's first bytes were: a plaintext alert, a handshake record, or other.
fn describe_reply(reply: &[u8]) -> String {
    match reply {
        [] => "nothing".into(),
        [0x15, _, _, _, _, level, desc, ..] => format!(
            "alert {} {}({desc})",
            if *level == 2 { "fatal" } else { "warning" },
            alert_name(*desc)
        ),
        [0x16, ..] => "a TLS handshake record".into(),
        other => format!(
            "{} byte(s): {}",
            other.len(),
            hex(&other[..other.len().min(16)])
        ),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Connects, sends `data`, reads what comes back until the server closes (at most `wait`).
async fn raw_exchange(attack: &str, t: &Target, data: &[u8], wait: Duration) -> Result<Value> {
    let mut s = connect(t.addr).await?;
    let port = local_port(&s);
    let write = s.write_all(data).await;
    let end = read_until_closed(&mut s, wait).await;
    Ok(json!({
        "attack": attack,
        "sent_bytes": data.len(),
        "write": match write { Ok(()) => "ok".to_string(), Err(e) => e.to_string() },
        "reply": describe_reply(&end.reply),
        "ended": end.how,
        "after_ms": end.after.as_millis() as u64,
        "local_ports": [port],
    }))
}
