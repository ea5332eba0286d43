//! Abusive peers for `mtls serve` (and any TLS server), and a well-behaved mutual-TLS client to
//! run beside them: stalled handshakes, garbage, plaintext HTTP, a TLS 1.0-only ClientHello,
//! oversized client chains, connection bursts, peers that vanish mid-record.
//!
//! Used by the `abuse` program (the soak in `scripts/abuse-soak`) and, in-process, by the CI
//! test `crates/cli/tests/abuse.rs`. Every attack reports one JSON object holding the local
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

// ---- garbage, HTTP, TLS 1.0 ---------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so that a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `bytes` random bytes from `seed`.
pub fn random_bytes(bytes: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..bytes).map(|_| r.next() as u8).collect()
}

/// Sends `bytes` random bytes (seeded) and reports how the server reacted.
pub async fn garbage(t: &Target, bytes: usize, seed: u64, wait: Duration) -> Result<Value> {
    let data = random_bytes(bytes, seed);
    let mut v = raw_exchange("garbage", t, &data, wait).await?;
    v["seed"] = json!(seed);
    v["first_bytes"] = json!(hex(&data[..data.len().min(8)]));
    Ok(v)
}

/// Sends a plaintext `GET / HTTP/1.1` request.
pub async fn http(t: &Target, wait: Duration) -> Result<Value> {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: abuse/1\r\nAccept: */*\r\n\r\n",
        t.addr
    );
    raw_exchange("http", t, req.as_bytes(), wait).await
}

/// A TLS 1.0-only ClientHello record, built by hand: record and client version 3.1, no
/// supported_versions or signature_algorithms extension, TLS 1.0 CBC suites only.
pub fn tls10_client_hello() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0x03, 0x01]); // client_version TLS 1.0
    body.extend_from_slice(&random_bytes(32, 0x1010)); // random
    body.push(0); // session_id
    let suites: [u16; 6] = [0xc00a, 0xc009, 0xc014, 0xc013, 0x0035, 0x002f];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    // supported_groups: secp256r1, secp384r1
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x18]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // renegotiation_info (empty)
    ext.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01]; // ClientHello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Sends a TLS 1.0-only ClientHello.
pub async fn tls10(t: &Target, wait: Duration) -> Result<Value> {
    raw_exchange("tls10", t, &tls10_client_hello(), wait).await
}

// ---- stalled handshakes and bursts --------------------------------------------------------

/// What a staller sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallMode {
    /// Nothing at all.
    Silent,
    /// The first half of a real ClientHello.
    Partial,
    /// Silent and partial alternately.
    Mixed,
}

impl std::str::FromStr for StallMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "silent" => StallMode::Silent,
            "partial" => StallMode::Partial,
            "mixed" => StallMode::Mixed,
            o => anyhow::bail!("unknown stall mode {o:?}: silent, partial or mixed"),
        })
    }
}

/// Accepts any server certificate: the attackers do not care whom they talk to.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn attacker_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
}

/// The bytes of a real (rustls) ClientHello for `t`.
pub fn client_hello(t: &Target) -> Result<Vec<u8>> {
    let cfg = Arc::new(attacker_builder().with_no_client_auth());
    let mut conn = rustls::ClientConnection::new(cfg, t.name()?)?;
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    Ok(out)
}

/// Opens `n` connections at once, each sending nothing or half a ClientHello, and holds each
/// until the server closes it (at most `max_wait`). Reports how long the server took to free
/// them: with a handshake timeout T they should all go at about T. (A connection that the
/// kernel completed with a SYN cookie but could not queue for accept() exists on our side only;
/// a silent one stays so until we close it: `not_freed_ports`.)
pub async fn stall(t: &Target, n: usize, mode: StallMode, max_wait: Duration) -> Result<Value> {
    let hello = client_hello(t)?;
    let half = hello[..hello.len() / 2].to_vec();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let partial = match mode {
            StallMode::Silent => false,
            StallMode::Partial => true,
            StallMode::Mixed => i % 2 == 1,
        };
        let (addr, half) = (t.addr, half.clone());
        tasks.spawn(async move {
            let mut s = connect(addr).await?;
            let port = local_port(&s);
            if partial {
                s.write_all(&half).await?;
            }
            let end = read_until_closed(&mut s, max_wait).await;
            anyhow::Ok((port, end))
        });
    }
    let (mut ports, mut freed, mut freed_s, mut not_freed, mut failed) = (
        Vec::new(),
        0u64,
        Vec::new(),
        Vec::new(),
        BTreeMap::<String, u64>::new(),
    );
    let mut replies = BTreeMap::<String, u64>::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok((port, end))) => {
                ports.push(port);
                if end.how == "still open" {
                    not_freed.push(port);
                } else {
                    freed += 1;
                    freed_s.push(end.after.as_secs_f64());
                }
                *replies.entry(describe_reply(&end.reply)).or_default() += 1;
            }
            Ok(Err(e)) => *failed.entry(format!("{e:#}")).or_default() += 1,
            Err(e) => *failed.entry(format!("task: {e}")).or_default() += 1,
        }
    }
    ports.sort_unstable();
    Ok(json!({
        "attack": "stall",
        "mode": format!("{mode:?}").to_lowercase(),
        "opened": ports.len(),
        "connect_failed": failed.values().sum::<u64>(),
        "errors": failed,
        "freed": freed,
        "not_freed": not_freed.len(),
        "not_freed_ports": not_freed,
        "freed_after_s": summary(&freed_s),
        "replies": replies,
        "local_ports": ports,
    }))
}

/// Opens `n` connections at once and holds each for `hold` (sending nothing). Connections the
/// server closes within `hold` were (with a handshake timeout longer than `hold`) refused by
/// its connection limit; the rest are closed by us when `hold` ends.
pub async fn burst(t: &Target, n: usize, hold: Duration) -> Result<Value> {
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..n {
        let addr = t.addr;
        tasks.spawn(async move {
            let mut s = connect(addr).await?;
            let connected = start.elapsed();
            let port = local_port(&s);
            let end = read_until_closed(&mut s, hold).await;
            anyhow::Ok((port, connected, end))
        });
    }
    let (mut ports, mut by_server, mut held, mut failed) =
        (Vec::new(), 0u64, 0u64, BTreeMap::<String, u64>::new());
    let (mut closed_ms, mut connect_ms) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok((port, connected, end))) => {
                ports.push(port);
                connect_ms.push(connected.as_secs_f64() * 1000.0);
                if end.how == "still open" {
                    held += 1;
                } else {
                    by_server += 1;
                    closed_ms.push(end.after.as_secs_f64() * 1000.0);
                }
            }
            Ok(Err(e)) => *failed.entry(format!("{e:#}")).or_default() += 1,
            Err(e) => *failed.entry(format!("task: {e}")).or_default() += 1,
        }
    }
    ports.sort_unstable();
    Ok(json!({
        "attack": "burst",
        "attempted": n,
        "connected": ports.len(),
        "connect_failed": failed.values().sum::<u64>(),
        "errors": failed,
        "closed_by_server": by_server,
        "closed_by_server_after_ms": summary(&closed_ms),
        "connected_after_ms": summary(&connect_ms),
        "held_then_closed_by_us": held,
        "seconds": (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "local_ports": ports,
    }))
}

// ---- oversized client chains ---------------------------------------------------------------

/// A client certificate chain (leaf first) and the leaf's key.
pub struct ClientChain {
    /// The chain as sent.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key.
    pub key: PrivateKeyDer<'static>,
}

impl ClientChain {
    /// The size of the TLS 1.3 Certificate message carrying it (4-byte header, context, list).
    pub fn message_bytes(&self) -> usize {
        4 + 1 + 3 + self.chain.iter().map(|c| 3 + c.len() + 2).sum::<usize>()
    }
}

fn ca_params(cn: &str) -> Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

fn leaf_params(cn: &str) -> Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(vec![format!("{cn}.abuse.invalid")])?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

fn pkcs8(k: &rcgen::KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()))
}

/// A chain of `n` certificates from an attacker's own root: leaf, `n - 2` intermediates, each
/// issued by the next, and the self-signed root last. (`n` ≥ 2.)
pub fn attacker_chain(n: usize) -> Result<ClientChain> {
    anyhow::ensure!(n >= 2, "a chain needs at least 2 certificates");
    let root_key = rcgen::KeyPair::generate()?;
    let root_params = ca_params("Abuse Root 0")?;
    let root = root_params.self_signed(&root_key)?;
    let mut issuer = rcgen::Issuer::new(root_params, root_key);
    let mut upwards = vec![root.der().clone()];
    for i in 1..n - 1 {
        let key = rcgen::KeyPair::generate()?;
        let params = ca_params(&format!("Abuse Intermediate {i}"))?;
        let cert = params.signed_by(&key, &issuer)?;
        upwards.push(cert.der().clone());
        issuer = rcgen::Issuer::new(params, key);
    }
    let key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params("abuse-leaf")?.signed_by(&key, &issuer)?;
    upwards.push(leaf.der().clone());
    upwards.reverse();
    Ok(ClientChain {
        chain: upwards,
        key: pkcs8(&key),
    })
}

/// A leaf followed by copies of one self-signed certificate padded with a ~32 KiB extension,
/// so that the Certificate message is at least `bytes` long.
pub fn padded_chain(bytes: usize) -> Result<ClientChain> {
    let key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params("abuse-huge")?.self_signed(&key)?;
    let pad_key = rcgen::KeyPair::generate()?;
    let mut p = ca_params("Abuse Padding")?;
    let pad = 32_000usize;
    let mut content = vec![0x04, 0x82, (pad >> 8) as u8, pad as u8];
    content.resize(4 + pad, 0x41);
    // 1.3.6.1.4.1.55555.1: a private arc, not critical.
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 55555, 1],
        content,
    )];
    let padded = p.self_signed(&pad_key)?;
    let mut cc = ClientChain {
        chain: vec![leaf.der().clone()],
        key: pkcs8(&key),
    };
    while cc.message_bytes() < bytes {
        cc.chain.push(padded.der().clone());
    }
    Ok(cc)
}

/// A real client certificate (`cert`, PEM or DER) and its unencrypted `key`, followed by
/// `extra` (a legitimate client sending a long chain).
pub fn real_leaf_with(
    cert: &Path,
    key: &Path,
    extra: &[CertificateDer<'static>],
) -> Result<ClientChain> {
    let mut chain =
        mtls_verify::load_certificates(&std::fs::read(cert)?, &cert.display().to_string())?;
    chain.extend(extra.iter().cloned());
    let key =
        mtls_socket::load_private_key(&std::fs::read(key)?, None, &key.display().to_string())?;
    Ok(ClientChain { chain, key })
}

/// Handshakes presenting `cc` as the client chain, then reads what the server says (in TLS 1.3
/// a refusal of the client certificate comes after the client's side of the handshake).
pub async fn present_chain(attack: &str, t: &Target, cc: ClientChain) -> Result<Value> {
    let (certs, bytes) = (cc.chain.len(), cc.message_bytes());
    let cfg = attacker_builder().with_client_auth_cert(cc.chain, cc.key)?;
    let connector = TlsConnector::from(Arc::new(cfg));
    let tcp = connect(t.addr).await?;
    let port = local_port(&tcp);
    let t0 = Instant::now();
    let (handshake, outcome) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(t.name()?, tcp)).await {
            Err(_) => ("timed out".to_string(), String::new()),
            Ok(Err(e)) => (format!("failed: {e}"), String::new()),
            Ok(Ok(mut s)) => {
                let mut buf = vec![0u8; 4096];
                let outcome =
                    match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                        Err(_) => "no answer within 5 s".to_string(),
                        Ok(Ok(0)) => "closed".to_string(),
                        Ok(Ok(n)) => format!(
                            "served: {:?}",
                            String::from_utf8_lossy(&buf[..n]).trim_end()
                        ),
                        Ok(Err(e)) => format!("read failed: {e}"),
                    };
                let _ = s.shutdown().await;
                ("completed on our side".to_string(), outcome)
            }
        };
    Ok(json!({
        "attack": attack,
        "certificates": certs,
        "certificate_message_bytes": bytes,
        "handshake": handshake,
        "outcome": outcome,
        "ms": t0.elapsed().as_millis() as u64,
        "local_ports": [port],
    }))
}

// ---- peers that vanish mid-record -----------------------------------------------------------

/// How a vanishing peer leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VanishMode {
    /// TCP reset (SO_LINGER 0).
    Rst,
    /// A plain FIN without close_notify.
    Fin,
}

impl std::str::FromStr for VanishMode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "rst" => VanishMode::Rst,
            "fin" => VanishMode::Fin,
            o => anyhow::bail!("unknown vanish mode {o:?}: rst or fin"),
        })
    }
}

/// Completes a mutual-TLS handshake, waits for a heartbeat (so the server is in its data loop),
/// writes the first half of an application-data record and leaves with `mode`. When the server
/// does not get that far (e.g. it refused the connection at --max-conns), `vanished` is false
/// and `outcome` says why.
pub async fn vanish(t: &Target, creds: &Creds, mode: VanishMode) -> Result<Value> {
    let connector = TlsConnector::from(creds.config()?);
    let name = t.name()?;
    let tcp = connect(t.addr).await?;
    let port = local_port(&tcp);
    let served = async {
        let mut s = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .context("handshake timed out")?
            .context("handshake")?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + Duration::from_secs(5);
        while !String::from_utf8_lossy(&got).contains("hello I am server") {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                Ok(Ok(_)) => anyhow::bail!("the server closed before a heartbeat"),
                Ok(Err(e)) => anyhow::bail!("reading: {e}"),
                Err(_) => anyhow::bail!("no heartbeat within 5 s"),
            }
        }
        anyhow::Ok(s)
    }
    .await;
    let s = match served {
        Ok(s) => s,
        Err(e) => {
            return Ok(json!({
                "attack": "vanish",
                "mode": format!("{mode:?}").to_lowercase(),
                "vanished": false,
                "outcome": format!("{e:#}"),
                "local_ports": [port],
            }));
        }
    };
    let (mut tcp, mut conn) = s.into_inner();
    {
        use std::io::Write;
        conn.writer()
            .write_all(&[b'v'; 2000])
            .context("encrypting")?;
    }
    let mut record = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut record)?;
    }
    let half = record.len() / 2;
    tcp.write_all(&record[..half]).await?;
    tcp.flush().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    if mode == VanishMode::Rst {
        tcp.set_zero_linger()?;
    }
    drop(tcp);
    Ok(json!({
        "attack": "vanish",
        "mode": format!("{mode:?}").to_lowercase(),
        "vanished": true,
        "record_bytes": record.len(),
        "sent_bytes": half,
        "local_ports": [port],
    }))
}

// ---- the well-behaved client ---------------------------------------------------------------

/// Counts the bytes read from a stream.
struct Counting {
    inner: TcpStream,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the good client saw.
#[derive(Debug, Default, Clone)]
pub struct GoodReport {
    /// Rounds that got a heartbeat (handshake, line sent, heartbeat read).
    pub served: u64,
    /// Rounds that failed (any error other than a refusal at the connection limit, or not
    /// served within the give-up time).
    pub failures: u64,
    /// Connections the server closed before saying anything (its --max-conns refusal); each
    /// was retried after 50 ms.
    pub refused: u64,
    /// Rounds that needed at least one retry.
    pub retried_rounds: u64,
    /// TCP connect + TLS handshake of each successful attempt, ms.
    pub handshake_ms: Vec<f64>,
    /// From the round's start to the handshake done, retries included, ms.
    pub until_handshake_ms: Vec<f64>,
    /// Failure messages and their counts.
    pub errors: BTreeMap<String, u64>,
    /// Seconds run.
    pub seconds: f64,
}

impl GoodReport {
    /// The JSON summary (percentiles, not every sample).
    pub fn to_json(&self) -> Value {
        json!({
            "client": "good",
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "handshakes": self.handshake_ms.len(),
            "served": self.served,
            "failures": self.failures,
            "refused": self.refused,
            "retried_rounds": self.retried_rounds,
            "handshake_ms": summary(&self.handshake_ms),
            "until_handshake_ms": summary(&self.until_handshake_ms),
            "errors": self.errors,
        })
    }

    fn merge(&mut self, o: GoodReport) {
        self.served += o.served;
        self.failures += o.failures;
        self.refused += o.refused;
        self.retried_rounds += o.retried_rounds;
        self.handshake_ms.extend(o.handshake_ms);
        self.until_handshake_ms.extend(o.until_handshake_ms);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// Options of the good client.
#[derive(Clone, Debug)]
pub struct GoodOptions {
    /// Run until this long has passed, or `stop` turns true.
    pub secs: f64,
    /// Loops at once.
    pub workers: usize,
    /// A round not served within this long (retries included) is a failure.
    pub give_up: Duration,
}

fn is_refusal(e: &std::io::Error, read: u64) -> bool {
    use std::io::ErrorKind as K;
    read == 0
        && matches!(
            e.kind(),
            K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted
        )
}

/// One round: handshake (retrying a refusal at the connection limit), send a line, read a
/// heartbeat, close with close_notify.
async fn good_round(
    t: &Target,
    connector: &TlsConnector,
    n: u64,
    give_up: Duration,
    rep: &mut GoodReport,
) -> Result<()> {
    let round = Instant::now();
    let mut retried = false;
    let mut s = loop {
        let t0 = Instant::now();
        let tcp = connect(t.addr).await?;
        let read = Arc::new(AtomicU64::new(0));
        let io = Counting {
            inner: tcp,
            read: read.clone(),
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(t.name()?, io)).await {
            Err(_) => anyhow::bail!("handshake timed out after {HANDSHAKE_TIMEOUT:?}"),
            Ok(Ok(s)) => {
                rep.handshake_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                rep.until_handshake_ms
                    .push(round.elapsed().as_secs_f64() * 1000.0);
                break s;
            }
            Ok(Err(e)) if is_refusal(&e, read.load(Ordering::Relaxed)) => {
                rep.refused += 1;
                retried = true;
                if round.elapsed() >= give_up {
                    anyhow::bail!("refused for {give_up:?} (last: {e})");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Err(e)) => anyhow::bail!("handshake: {e}"),
        }
    };
    if retried {
        rep.retried_rounds += 1;
    }
    s.write_all(format!("good client round {n}\n").as_bytes())
        .await
        .context("writing")?;
    s.flush().await.context("flushing")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains("hello I am server") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => anyhow::bail!("no heartbeat within 5 s"),
            Ok(Ok(0)) => anyhow::bail!("the server closed before a heartbeat"),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => anyhow::bail!("reading: {e}"),
        }
    }
    rep.served += 1;
    let _ = s.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while s.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
    })
    .await;
    Ok(())
}

/// The well-behaved client: `workers` loops of rounds until `opts.secs` pass or `stop` is set.
pub async fn good(
    t: &Target,
    creds: &Creds,
    opts: &GoodOptions,
    stop: Arc<AtomicBool>,
) -> Result<GoodReport> {
    let connector = TlsConnector::from(creds.config()?);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(opts.secs);
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.workers.max(1) {
        let (t, connector, stop, counter, give_up) = (
            t.clone(),
            connector.clone(),
            stop.clone(),
            counter.clone(),
            opts.give_up,
        );
        tasks.spawn(async move {
            let mut rep = GoodReport::default();
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                if let Err(e) = good_round(&t, &connector, n, give_up, &mut rep).await {
                    rep.failures += 1;
                    *rep.errors.entry(format!("{e:#}")).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            rep
        });
    }
    let mut all = GoodReport::default();
    while let Some(r) = tasks.join_next().await {
        all.merge(r.context("a good-client worker panicked")?);
    }
    all.seconds = start.elapsed().as_secs_f64();
    Ok(all)
}
