//! The socket layer's side of the bulk benchmark: an `SslServer` (mutual TLS) that either
//! discards everything it reads (`sink`) or sends BYTES to each client (`source`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use mtls_socket::{PeerVerifyMode, SslConfiguration, SslServer, TlsContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Args {
    /// sink or source.
    mode: String,
    #[arg(long)]
    listen: String,
    #[arg(long)]
    cert: PathBuf,
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    ca: PathBuf,
    /// For source: bytes sent to each client.
    #[arg(long, default_value_t = 0)]
    bytes: u64,
    /// Cipher suites (names as `mtls serve --ciphers`).
    #[arg(long)]
    ciphers: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let a = Args::parse();
    let mut cfg = SslConfiguration::new();
    cfg.set_local_certificate_files(&a.cert, &a.key, None)?;
    cfg.add_ca_certificates_file(&a.ca)?;
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
    if let Some(c) = &a.ciphers {
        cfg.set_cipher_suites(c)?;
    }
    let server = SslServer::bind(a.listen.as_str(), TlsContext::new(cfg)?, 64).await?;
    println!("listening on {}", server.local_addr()?);
    let source = a.mode == "source";
    loop {
        let mut inc = server.accept(&mut |_| {}).await;
        let bytes = a.bytes;
        tokio::spawn(async move {
            if inc.socket.start_server_encryption().await.is_err() {
                return;
            }
            let mut s = inc.socket;
            if source {
                let buf = vec![0xa5u8; 256 * 1024];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(buf.len() as u64) as usize;
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                let _ = s.shutdown().await;
            } else {
                let mut buf = vec![0u8; 256 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.shutdown().await;
            }
        });
    }
}
