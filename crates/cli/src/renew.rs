//! `mtls renew`: a certificate's holder gets its successor from `mtls ca serve`, once or as a
//! daemon that renews at 2/3 of each lifetime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_caserver::client::Client;
use mtls_pki::{KeyType, PrivateKey, fsutil, inspect, pemutil};
use mtls_socket::SslConfiguration;
use serde_json::json;
use zeroize::Zeroizing;

use crate::out;

/// The first retry after a failed renewal; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between retries while the CA is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// `mtls renew` options.
#[derive(Args)]
pub struct RenewArgs {
    /// The CA server (https://HOST:PORT).
    url: String,
    /// The current certificate (leaf, or leaf and chain); replaced atomically.
    #[arg(long)]
    cert: PathBuf,
    /// Its private key; replaced atomically with --rekey.
    #[arg(long)]
    key: PathBuf,
    /// The CA certificate the server must chain to.
    #[arg(long)]
    ca: PathBuf,
    /// A new key (same type) for the new certificate, instead of the same key.
    #[arg(long)]
    rekey: bool,
    /// Keep running: renew at 2/3 of each certificate's lifetime (with jitter), retrying with
    /// backoff while the CA is unreachable.
    #[arg(long)]
    daemon: bool,
    /// A command run (with `sh -c`) after each renewal, e.g. to reload a server.
    #[arg(long)]
    exec: Option<String>,
    /// File holding the key's passphrase (first line). Else $MTLS_KEY_PASSPHRASE, else a
    /// prompt, when the key is encrypted; a new key (--rekey) is encrypted with it too.
    #[arg(long)]
    key_passphrase_file: Option<PathBuf>,
}

/// Renews once, or forever with --daemon.
pub fn run(a: RenewArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let pass = crate::pass::for_key_file(&a.key, a.key_passphrase_file.as_deref())?;
    if !a.daemon {
        return rt.block_on(renew_once(&a, pass.as_deref().map(|p| p.as_slice())));
    }
    rt.block_on(async {
        let stop = crate::serve_crl::termination();
        tokio::pin!(stop);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let wait = match next_renewal(&a.cert) {
                Ok(w) => w,
                Err(e) => {
                    out::warn(&format!("{e:#}"));
                    backoff
                }
            };
            out::note(&format!("next renewal in {} s", wait.as_secs()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut stop => return Ok(()),
            }
            match renew_once(&a, pass.as_deref().map(|p| p.as_slice())).await {
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(e) => {
                    out::warn(&format!(
                        "renewal failed, retrying in {} s: {e:#}",
                        backoff.as_secs()
                    ));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stop => return Ok(()),
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    })
}

/// How long until 2/3 of the current certificate's lifetime, minus up to 5% of it at random
/// (so that a fleet issued together does not renew together); zero when past it.
fn next_renewal(cert: &Path) -> Result<Duration> {
    let der = first_der(
        &std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
        cert,
    )?;
    let (nb, na) = inspect::cert_validity(&der)
        .with_context(|| format!("{}: not a certificate", cert.display()))?;
    let life = (na - nb).max(0);
    // Jitter needs no cryptographic randomness: std's per-process random hash keys will do.
    let r = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), nb);
    let jitter = life * 5 / 100 * i64::from(r as u16) / i64::from(u16::MAX);
    let at = nb + life * 2 / 3 - jitter;
    let now = mtls_pki::time::now().unix_timestamp();
    Ok(Duration::from_secs(u64::try_from(at - now).unwrap_or(0)))
}

fn first_der(data: &[u8], path: &Path) -> Result<Vec<u8>> {
    let what = path.display().to_string();
    let blocks = pemutil::blocks(data, &what, "certificate")?;
    match blocks.into_iter().next() {
        Some(b) => Ok(b.der.to_vec()),
        None => bail!("{what} holds no certificate"),
    }
}

async fn renew_once(a: &RenewArgs, pass: Option<&[u8]>) -> Result<()> {
    let old_text =
        std::fs::read(&a.cert).with_context(|| format!("reading {}", a.cert.display()))?;
    let old_der = first_der(&old_text, &a.cert)?;
    let with_chain = pemutil::blocks(&old_text, "", "certificate").is_ok_and(|b| b.len() > 1);
    let mut tls = SslConfiguration::new();
    tls.add_ca_certificates_file(&a.ca)
        .with_context(|| format!("--ca {}", a.ca.display()))?;
    tls.set_local_certificate_files(&a.cert, &a.key, pass)
        .with_context(|| format!("--cert {} --key {}", a.cert.display(), a.key.display()))?;
    let new_key = match a.rekey {
        true => Some(new_key_like(&a.key, pass)?),
        false => None,
    };
    let body = match &new_key {
        Some(k) => {
            let s = inspect::cert_summary(&old_der)
                .context("the current certificate does not parse")?;
            let subject = mtls_pki::Name::parse(&s.subject)?;
            json!({"csr": mtls_pki::csr::create(k, &subject, &[])?})
        }
        None => json!({}),
    };
    let client = Client::new(&a.url, tls)?;
    let answer = client.request("POST", "/v1/renew", Some(&body)).await?;
    let got = answer.issued(client.url(), "the renewal")?;
    let (cert, chain) = (got.certificate.as_str(), got.chain.as_str());
    let spki = inspect::cert_spki(cert.as_bytes(), "the certificate received")?;
    let expected = match &new_key {
        Some(k) => k.public_key_der(),
        None => inspect::cert_spki(&old_der, "the current certificate")?,
    };
    if spki != expected {
        bail!("the CA answered with a certificate for another key; nothing was written");
    }
    write(
        a,
        if with_chain { chain } else { cert },
        new_key.as_ref(),
        pass,
    )?;
    out::say!(
        "renewed: serial {} until {} (supersedes {})",
        got.serial,
        got.not_after,
        got.supersedes.as_deref().unwrap_or("?")
    );
    if let Some(cmd) = &a.exec {
        let st = std::process::Command::new("sh").arg("-c").arg(cmd).status();
        match st {
            Ok(s) if s.success() => {}
            Ok(s) => out::warn(&format!("--exec {cmd:?} exited with {s}")),
            Err(e) => out::warn(&format!("--exec {cmd:?} could not run: {e}")),
        }
    }
    Ok(())
}

/// A key of the same type as the one in `path`.
fn new_key_like(path: &Path, pass: Option<&[u8]>) -> Result<PrivateKey> {
    let data =
        Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let old = PrivateKey::from_bytes(&data, pass, &path.display().to_string())?;
    let kt: KeyType = old.key_type();
    Ok(PrivateKey::generate(kt)?)
}

/// Replaces the certificate (and the key, when new) atomically, the key first: a crash in
/// between leaves a new key with the old certificate only if the rename of the certificate
/// itself failed, which the next run repairs by renewing again.
fn write(a: &RenewArgs, cert: &str, key: Option<&PrivateKey>, pass: Option<&[u8]>) -> Result<()> {
    let mut items: Vec<(&Path, Vec<u8>, fsutil::Mode)> = Vec::new();
    let key_pem;
    if let Some(k) = key {
        key_pem = k.to_pem(pass)?;
        items.push((&a.key, key_pem.as_bytes().to_vec(), fsutil::Mode::Secret));
    }
    items.push((&a.cert, cert.as_bytes().to_vec(), fsutil::Mode::Public));
    let refs: Vec<(&Path, &[u8], fsutil::Mode)> = items
        .iter()
        .map(|(p, d, m)| (*p, d.as_slice(), *m))
        .collect();
    fsutil::write_many_atomic(&refs, true)?;
    Ok(())
}
