//! Enrollment load: N keep-alive HTTP/1.1 connections (HTTPS when `--ca` is given) each posting
//! the same JSON body to one path as fast as answers come, for a fixed time (connection i to
//! address i mod n, so one load process can feed several servers alike). Prints requests
//! per second, latency percentiles and the statuses seen, for `mtls ca serve` and
//! `cfssl serve` alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

#[derive(Parser)]
struct Args {
    /// host:port; repeatable: connection i goes to address i mod n.
    #[arg(long, required = true)]
    addr: Vec<String>,
    /// The path to POST to.
    #[arg(long)]
    path: String,
    /// File holding the JSON body; repeatable: connection i sends body i mod n.
    #[arg(long, required = true)]
    body: Vec<std::path::PathBuf>,
    /// CA certificate for HTTPS (plain HTTP without it).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// The status a success has.
    #[arg(long, default_value_t = 201)]
    ok_status: u16,
    /// A new connection for every request (`Connection: close`), for servers without
    /// keep-alive such as `openssl ocsp -port`; the connect is part of each latency.
    #[arg(long)]
    close: bool,
    /// The request's Content-Type.
    #[arg(long, default_value = "application/json")]
    content_type: String,
    /// A file of `user:password` lines for HTTP Basic authorization: connection i uses line
    /// i mod n (EST's simpleenroll with one token per connection).
    #[arg(long)]
    basic_file: Option<std::path::PathBuf>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str, tls: Option<&tokio_rustls::TlsConnector>) -> Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
    match tls {
        Some(c) => {
            let name = rustls_pki_types::ServerName::try_from(host)?;
            let s = c.connect(name, tcp).await?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s)).await?;
            tokio::spawn(conn);
            Ok(send)
        }
        None => {
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            Ok(send)
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let a = Arc::new(Args::parse());
    let bodies: Vec<Bytes> = a
        .body
        .iter()
        .map(|p| std::fs::read(p).map(Bytes::from).context("--body"))
        .collect::<Result<_>>()?;
    let tls = match &a.ca {
        Some(p) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in mtls_verify::load_certificates(&std::fs::read(p)?, "--ca")? {
                roots.add(c)?;
            }
            let cfg = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
        }
        None => None,
    };
    let basics: Vec<String> = match &a.basic_file {
        Some(p) => std::fs::read_to_string(p)
            .context("--basic-file")?
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                use base64::Engine;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(l)
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let stop = Instant::now() + Duration::from_secs(a.secs);
    let mut tasks = Vec::new();
    for i in 0..a.conns {
        let (a, body, tls) = (a.clone(), bodies[i % bodies.len()].clone(), tls.clone());
        let addr = a.addr[i % a.addr.len()].clone();
        let auth = (!basics.is_empty()).then(|| basics[i % basics.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bad = std::collections::BTreeMap::<u16, u64>::new();
            let mut kept = None;
            while Instant::now() < stop {
                let t = Instant::now();
                let mut send = match kept.take() {
                    Some(s) => s,
                    None => match connect(&addr, tls.as_ref()).await {
                        Ok(s) => s,
                        Err(e) => {
                            eprintln!("connect: {e}");
                            return (lat, bad);
                        }
                    },
                };
                let mut req = hyper::Request::post(a.path.as_str())
                    .header(hyper::header::HOST, addr.as_str())
                    .header(hyper::header::CONTENT_TYPE, a.content_type.as_str());
                if a.close {
                    req = req.header(hyper::header::CONNECTION, "close");
                }
                if let Some(v) = &auth {
                    req = req.header(hyper::header::AUTHORIZATION, v.as_str());
                }
                let req = req.body(Full::new(body.clone())).expect("request");
                let Ok(resp) = send.send_request(req).await else {
                    break;
                };
                let status = resp.status().as_u16();
                let _ = resp.into_body().collect().await;
                lat.push(t.elapsed());
                if status != a.ok_status {
                    *bad.entry(status).or_default() += 1;
                }
                if !a.close {
                    kept = Some(send);
                }
            }
            (lat, bad)
        }));
    }
    let mut lat = Vec::new();
    let mut bad = std::collections::BTreeMap::<u16, u64>::new();
    for t in tasks {
        let (l, b) = t.await?;
        lat.extend(l);
        for (k, v) in b {
            *bad.entry(k).or_default() += v;
        }
    }
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!(
        "requests/s {:.0} p50_ms {:.2} p99_ms {:.2} total {} other_statuses {:?}",
        lat.len() as f64 / a.secs as f64,
        ms(pct(0.5)),
        ms(pct(0.99)),
        lat.len(),
        bad
    );
    Ok(())
}
