//! The seed's Qt server (QTcpServer + QSslSocket per connection, VerifyPeer, a CA database,
//! "hello I am Server threadId: N" every second, received data printed) with `mtls_socket`.
//!
//! ```sh
//! mtls ca issue server --profile server --cn server.example --out-dir certs
//! cargo run -p mtls-socket --example seed_server -- 127.0.0.1:8443 certs/server.chain.pem certs/server.key ca/ca.crt
//! ```

use std::time::Duration;

use mtls_socket::{Event, PeerVerifyMode, SslConfiguration, SslServer, TlsContext};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key, ca] = args.as_slice() else {
        return Err("usage: seed_server LISTEN CERT KEY CA".into());
    };
    let mut cfg = SslConfiguration::new();
    cfg.set_local_certificate_files(cert.as_ref(), key.as_ref(), None)?; // setLocalCertificate + setPrivateKey
    cfg.add_ca_certificates_file(ca.as_ref())?; // the CA database
    cfg.set_peer_verify_mode(PeerVerifyMode::VerifyPeer); // setPeerVerifyMode(VerifyPeer)
    let server = SslServer::bind(listen.as_str(), TlsContext::new(cfg)?, 1000).await?;
    println!("listening on {}", server.local_addr()?);
    loop {
        // incomingConnection(fd): one task per connection instead of one thread.
        let mut inc = server.accept(&mut |n| eprintln!("{n:?}")).await;
        tokio::spawn(async move {
            let id = inc.id;
            let mut events = inc.socket.events();
            tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if !matches!(
                        e,
                        Event::BytesWritten(_) | Event::EncryptedBytesWritten(_) | Event::ReadyRead
                    ) {
                        println!("[{id}] {e:?}");
                    }
                }
            });
            if let Err(e) = inc.socket.start_server_encryption().await {
                println!("[{id}] handshake failed: {e}");
                return;
            }
            let (r, mut w) = tokio::io::split(inc.socket);
            let mut lines = BufReader::new(r).lines();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if w.write_all(format!("hello I am Server threadId: {id}\n").as_bytes()).await.is_err() { break; }
                    }
                    line = lines.next_line() => match line {
                        Ok(Some(l)) => println!("[{id}] received: {l}"),
                        _ => break,
                    },
                }
            }
        });
    }
}
