//! A TLS load generator: full or resumed mutual-auth handshakes, idle connections held open,
//! and bulk transfers, against any TLS server, on one thread (pin it with `taskset`). It prints
//! one JSON line with its own CPU time beside the results, so a script can show that the load
//! generator was not the bottleneck.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Conn {
    /// Server address.
    #[arg(long)]
    connect: SocketAddr,
    /// Name to send and verify.
    #[arg(long, default_value = "server.example")]
    servername: String,
    /// CA certificate(s).
    #[arg(long)]
    ca: PathBuf,
    /// Client certificate chain.
    #[arg(long)]
    cert: PathBuf,
    /// Client key (unencrypted).
    #[arg(long)]
    key: PathBuf,
    /// TLS 1.2 instead of 1.3.
    #[arg(long)]
    tls12: bool,
    /// Only cipher suites whose name contains this (AES_128_GCM, CHACHA20, …).
    #[arg(long)]
    suite: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// N handshakes, C at a time; each waits for the server to close after our close_notify, so
    /// the server has finished its side (client certificate verified) when it is counted.
    Handshakes {
        #[command(flatten)]
        conn: Conn,
        #[arg(short = 'n', long, default_value_t = 1000)]
        count: u64,
        #[arg(short = 'c', long, default_value_t = 16)]
        concurrency: u64,
        /// Resume sessions (after one full handshake per worker).
        #[arg(long)]
        resume: bool,
    },
    /// Full handshakes for SECS seconds, C at a time, each timed: prints every handshake's
    /// start (Unix time, ms) and latency (ms), for latency across an event on the server.
    Latency {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        secs: f64,
        #[arg(short = 'c', long, default_value_t = 4)]
        concurrency: u64,
    },
    /// Open N connections and hold them idle until stdin closes (or --secs pass).
    Hold {
        #[command(flatten)]
        conn: Conn,
        #[arg(short = 'n', long)]
        count: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: u64,
        #[arg(long, default_value_t = 3600.0)]
        secs: f64,
    },
    /// Send BYTES of application data on one connection, then close.
    Send {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        bytes: u64,
    },
    /// Receive BYTES (or until the server closes) on one connection.
    Recv {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        bytes: u64,
    },
}

async fn connect(
    c: &Conn,
    connector: &TlsConnector,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(c.connect).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(c.servername.clone())?;
    Ok(connector.connect(name, tcp).await?)
}

fn self_cpu() -> f64 {
    mtls_bench::cpu_seconds(std::process::id()).unwrap_or(0.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Handshakes {
            conn,
            count,
            concurrency,
            resume,
        } => {
            let cfg = mtls_bench::client_config(
                &conn.ca,
                &conn.cert,
                &conn.key,
                resume,
                conn.tls12,
                conn.suite.as_deref(),
            )?;
            let connector = TlsConnector::from(cfg);
            // One untimed handshake: it names the suite the server chose and, with --resume,
            // obtains the tickets the timed ones use.
            let (_, suite) = one_handshake(&conn, &connector)
                .await
                .context("warm-up handshake")?;
            let next = Arc::new(AtomicU64::new(0));
            let failed = Arc::new(AtomicU64::new(0));
            let resumed = Arc::new(AtomicU64::new(0));
            let cpu0 = self_cpu();
            let t0 = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..concurrency.max(1) {
                let (conn, connector, next, failed, resumed) = (
                    conn.clone(),
                    connector.clone(),
                    next.clone(),
                    failed.clone(),
                    resumed.clone(),
                );
                tasks.spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        match one_handshake(&conn, &connector).await {
                            Ok((r, _)) => {
                                if r {
                                    resumed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "{{\"handshakes\":{count},\"failed\":{},\"resumed\":{},\"seconds\":{secs:.3},\"per_second\":{:.1},\"client_cpu\":{:.3},\"suite\":\"{suite}\"}}",
                failed.load(Ordering::Relaxed),
                resumed.load(Ordering::Relaxed),
                count as f64 / secs,
                self_cpu() - cpu0
            );
        }
        Cmd::Latency {
            conn,
            secs,
            concurrency,
        } => latency(conn, secs, concurrency).await?,
        Cmd::Hold {
            conn,
            count,
            concurrency,
            secs,
        } => {
            let cfg = mtls_bench::client_config(
                &conn.ca, &conn.cert, &conn.key, false, conn.tls12, None,
            )?;
            let connector = TlsConnector::from(cfg);
            let held = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(count as usize)));
            let next = Arc::new(AtomicU64::new(0));
            let failed = Arc::new(AtomicU64::new(0));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..concurrency.max(1) {
                let (conn, connector, held, next, failed) = (
                    conn.clone(),
                    connector.clone(),
                    held.clone(),
                    next.clone(),
                    failed.clone(),
                );
                tasks.spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < count {
                        match connect(&conn, &connector).await {
                            Ok(s) => held.lock().await.push(s),
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            let n = held.lock().await.len();
            println!(
                "{{\"held\":{n},\"failed\":{}}}",
                failed.load(Ordering::Relaxed)
            );
            let mut stdin = tokio::io::stdin();
            let mut sink = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs_f64(secs), async {
                while stdin.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
            })
            .await;
        }
        Cmd::Send { conn, bytes } => {
            let cfg = mtls_bench::client_config(
                &conn.ca,
                &conn.cert,
                &conn.key,
                false,
                conn.tls12,
                conn.suite.as_deref(),
            )?;
            let mut s = connect(&conn, &TlsConnector::from(cfg)).await?;
            let suite = format!(
                "{:?}",
                s.get_ref().1.negotiated_cipher_suite().map(|c| c.suite())
            );
            let buf = vec![0x5au8; 256 * 1024];
            let cpu0 = self_cpu();
            let t0 = Instant::now();
            let mut left = bytes;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                s.write_all(&buf[..n]).await?;
                left -= n as u64;
            }
            s.shutdown().await?;
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "{{\"bytes\":{bytes},\"seconds\":{secs:.3},\"mb_per_s\":{:.1},\"client_cpu\":{:.3},\"suite\":\"{suite}\"}}",
                bytes as f64 / secs / 1e6,
                self_cpu() - cpu0
            );
        }
        Cmd::Recv { conn, bytes } => {
            let cfg = mtls_bench::client_config(
                &conn.ca,
                &conn.cert,
                &conn.key,
                false,
                conn.tls12,
                conn.suite.as_deref(),
            )?;
            let mut s = connect(&conn, &TlsConnector::from(cfg)).await?;
            let suite = format!(
                "{:?}",
                s.get_ref().1.negotiated_cipher_suite().map(|c| c.suite())
            );
            let mut buf = vec![0u8; 256 * 1024];
            let cpu0 = self_cpu();
            // The clock starts at the first byte: a server may start sending a moment after the
            // handshake (openssl s_server's input is held back until then; see bench/run).
            let mut t0 = None;
            let mut got = 0u64;
            while got < bytes {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        t0.get_or_insert_with(Instant::now);
                        got += n as u64;
                    }
                }
            }
            let secs = t0.map_or(0.0, |t| t.elapsed().as_secs_f64()).max(1e-9);
            println!(
                "{{\"bytes\":{got},\"seconds\":{secs:.3},\"mb_per_s\":{:.1},\"client_cpu\":{:.3},\"suite\":\"{suite}\"}}",
                got as f64 / secs / 1e6,
                self_cpu() - cpu0
            );
        }
    }
    Ok(())
}

/// `loadgen latency`: timed full handshakes for `secs` seconds.
async fn latency(conn: Conn, secs: f64, concurrency: u64) -> Result<()> {
    let cfg = mtls_bench::client_config(&conn.ca, &conn.cert, &conn.key, false, conn.tls12, None)?;
    let connector = TlsConnector::from(cfg);
    one_handshake(&conn, &connector)
        .await
        .context("warm-up handshake")?;
    let t0 = Instant::now();
    let epoch_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0);
    let until = t0 + Duration::from_secs_f64(secs);
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (conn, connector, samples, failed) = (
            conn.clone(),
            connector.clone(),
            samples.clone(),
            failed.clone(),
        );
        tasks.spawn(async move {
            while Instant::now() < until {
                let start = Instant::now();
                match one_handshake(&conn, &connector).await {
                    Ok(_) => {
                        let at = start.duration_since(t0).as_secs_f64() * 1e3 + epoch_ms;
                        let ms = start.elapsed().as_secs_f64() * 1e3;
                        samples
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((at, ms));
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut v = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let list: Vec<String> = v.iter().map(|(a, m)| format!("[{a:.2},{m:.3}]")).collect();
    println!(
        "{{\"failed\":{},\"samples\":[{}]}}",
        failed.load(Ordering::Relaxed),
        list.join(",")
    );
    Ok(())
}

/// One handshake; true when it was resumed.
/// One handshake and close: whether it resumed a session, and the suite negotiated.
async fn one_handshake(c: &Conn, connector: &TlsConnector) -> Result<(bool, String)> {
    let mut s = connect(c, connector).await?;
    let resumed = matches!(
        s.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    let suite = s
        .get_ref()
        .1
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    s.shutdown().await?;
    let mut sink = [0u8; 4096];
    // Read until the server closes: by then it has processed our Finished and close_notify.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    Ok((resumed, suite))
}
