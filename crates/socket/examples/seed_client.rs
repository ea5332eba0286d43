//! The seed's Qt client with `mtls_socket`: its own CA database and client certificate, exactly one
//! expected `QSslError(HostNameMismatch, server.crt)` ignored (`ignoreSslErrors(expectedList)`),
//! "I am in!" written before the handshake ends (queued, sent encrypted), then
//! "hello I am client N" every second, and every state change, mode change and SSL error logged.
//!
//! ```sh
//! cargo run -p mtls-socket --example seed_client -- 127.0.0.1 8443 certs/client1.crt certs/client1.key ca/ca.crt certs/server.crt
//! ```

use std::time::Duration;

use mtls_socket::{ErrorKind, Event, IgnoreRule, SslConfiguration, SslSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, cert, key, ca, server_crt] = args.as_slice() else {
        return Err("usage: seed_client HOST PORT CERT KEY CA SERVER_CRT".into());
    };
    let mut cfg = SslConfiguration::new();
    cfg.add_ca_certificates_file(ca.as_ref())?;
    cfg.set_local_certificate_files(cert.as_ref(), key.as_ref(), None)?;
    let mut socket = SslSocket::new(cfg)?;

    // expectedSslErrors << QSslError(QSslError::HostNameMismatch, server.crt)
    let server = mtls_verify_sha256(server_crt)?;
    socket.ignore_ssl_errors_expected(vec![IgnoreRule {
        kind: ErrorKind::HostNameMismatch,
        sha256: Some(server),
    }]);
    let mut events = socket.events();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                Event::SslErrors(list) => {
                    for err in list {
                        println!("ssl error: {err}");
                    }
                }
                Event::PeerVerifyError(err) => println!("peer verify error: {}", err.kind),
                Event::BytesWritten(_) | Event::EncryptedBytesWritten(_) | Event::ReadyRead => {}
                other => println!("{other:?}"),
            }
        }
    });
    socket.enqueue(b"I am in!\n");
    socket
        .connect_to_host_encrypted(host, port.parse()?)
        .await?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                socket.write_all(format!("hello I am client {n}\n").as_bytes()).await?;
            }
            r = socket.read(&mut buf) => match r? {
                0 => break,
                k => print!("{}", String::from_utf8_lossy(&buf[..k])),
            },
        }
    }
    Ok(())
}

/// SHA-256 of the first certificate in a PEM or DER file.
fn mtls_verify_sha256(path: &str) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    let data = std::fs::read(path)?;
    let certs = mtls_socket::load_certificates(&data, path)?;
    let first = certs.first().ok_or("no certificate")?;
    Ok(mtls_socket::CertInfo::unparsed(first).sha256)
}
