//! Peers that vanish mid-record.

#[allow(unused_imports)]
use super::*;

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
