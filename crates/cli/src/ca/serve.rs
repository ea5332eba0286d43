//! `mtls ca serve`: the online CA (crates/caserver) from the command line.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use mtls_pki::San;

use crate::out;

/// `mtls ca serve` options.
#[derive(Args)]
pub(super) struct ServeArgs {
    /// The HTTPS API's address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9443")]
    listen: SocketAddr,
    /// A plain HTTP address serving only public, signed objects: /roots.pem, /ca.crt and the
    /// CRL. Issued certificates point at it unless ca.toml's [urls] say otherwise.
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// A subjectAltName for the API's certificate besides the listen address (DNS:ca.example);
    /// repeatable.
    #[arg(long = "san")]
    sans: Vec<String>,
    /// Connections served at once on each listener.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// How long after its expiry a certificate may still be renewed (0s: not at all).
    #[arg(long, default_value = "0s", value_parser = grace)]
    renew_grace: std::time::Duration,
}

fn grace(s: &str) -> Result<std::time::Duration, String> {
    match s.trim() {
        "0" | "0s" => Ok(std::time::Duration::ZERO),
        other => crate::argparse::lifetime(other),
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, a: ServeArgs) -> Result<()> {
    let sans = a
        .sans
        .iter()
        .map(|s| s.parse::<San>().with_context(|| format!("--san {s}")))
        .collect::<Result<Vec<_>>>()?;
    let ca = super::open(dir, pass_file, true)?;
    for addr in std::iter::once(a.listen).chain(a.http_listen) {
        if !addr.ip().is_loopback() {
            out::warn(&format!(
                "{addr} is reachable beyond this machine, as asked; make sure a firewall allows only your clients"
            ));
        }
    }
    let opts = mtls_caserver::Options {
        listen: a.listen,
        http_listen: a.http_listen,
        sans,
        max_connections: a.max_connections as usize,
        renew_grace_secs: i64::try_from(a.renew_grace.as_secs()).unwrap_or(i64::MAX),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let running = mtls_caserver::start(ca, opts).await?;
        out::say!("ca serve: API on https://{}", running.api_addr);
        if let Some(h) = running.http_addr {
            out::say!("ca serve: roots and CRL on http://{h}");
        }
        out::say!("ca serve: CA fingerprint SHA256 {}", running.fingerprint);
        for u in &running.urls_filled {
            out::note(&format!(
                "ca serve: issued certificates get [urls] {u} (set [urls] in ca.toml to publish others)"
            ));
        }
        crate::serve_crl::termination().await;
        running.shutdown().await;
        out::say!("ca serve: stopped");
        Ok(())
    })
}
