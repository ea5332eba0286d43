//! `mtls ca bootstrap`: trust on first use done right. Fetch the roots from `mtls ca serve`
//! without trusting the connection, and keep them only if the CA certificate has the
//! fingerprint `ca init` / `ca serve` printed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_caserver::client::Client;
use mtls_pki::{fsutil, pemutil};
use mtls_socket::{PeerVerifyMode, SslConfiguration};

use crate::out;

/// `mtls ca bootstrap` options.
#[derive(Args)]
pub(super) struct BootstrapArgs {
    /// The CA server (https://HOST:PORT).
    url: String,
    /// The CA certificate's SHA-256 fingerprint, as `mtls ca serve` printed it (colons and
    /// case do not matter).
    #[arg(long)]
    fingerprint: String,
    /// Where to write the roots (refuses to overwrite).
    #[arg(long, default_value = "ca.crt")]
    out: PathBuf,
}

/// Fetches, checks and writes the roots.
pub(super) fn run(a: BootstrapArgs) -> Result<()> {
    let want: String = a
        .fingerprint
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_uppercase();
    if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons allowed");
    }
    out::check_new_file(&a.out, false)?;
    // Nothing about this connection is trusted: what it brings is checked by fingerprint.
    let mut tls = SslConfiguration::new();
    tls.set_peer_verify_mode(PeerVerifyMode::VerifyNone);
    let client = Client::new(&a.url, tls)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let answer = rt.block_on(client.request("GET", "/roots.pem", None))?;
    if answer.status != 200 {
        bail!(
            "{} answered {} for /roots.pem: {}",
            client.url(),
            answer.status,
            answer.reason()
        );
    }
    let blocks = pemutil::blocks(&answer.body, "the roots received", "certificate")?;
    let Some(first) = blocks.first() else {
        bail!("{} sent no certificate", client.url());
    };
    let got = mtls_pki::show::sha256_fingerprint(&first.der);
    if got.replace(':', "") != want {
        bail!(
            "the CA certificate from {} has fingerprint {got}, not the one given; nothing was written (a wrong URL, or someone in between)",
            client.url()
        );
    }
    fsutil::write_atomic(&a.out, &answer.body, fsutil::Mode::Public, false)?;
    out::say!(
        "wrote {} ({} certificate(s)); the CA certificate's fingerprint matches",
        a.out.display(),
        blocks.len()
    );
    Ok(())
}
