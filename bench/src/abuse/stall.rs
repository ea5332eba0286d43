//! Stalled handshakes and connection bursts.

#[allow(unused_imports)]
use super::*;

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
pub(crate) struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

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

pub(crate) fn attacker_builder()
-> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
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
