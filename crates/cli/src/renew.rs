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
    pub(crate) url: String,
    /// The current certificate (leaf, or leaf and chain); replaced atomically.
    #[arg(long)]
    pub(crate) cert: PathBuf,
    /// Its private key; replaced atomically with --rekey.
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The CA certificate the server must chain to.
    #[arg(long)]
    pub(crate) ca: PathBuf,
    /// A new key (same type) for the new certificate, instead of the same key.
    #[arg(long)]
    pub(crate) rekey: bool,
    /// Keep running: renew at 2/3 of each certificate's lifetime (with jitter), retrying with
    /// backoff while the CA is unreachable.
    #[arg(long)]
    pub(crate) daemon: bool,
    /// A command run (with `sh -c`) after each renewal, e.g. to reload a server.
    #[arg(long)]
    pub(crate) exec: Option<String>,
    /// File holding the key's passphrase (first line). Else $MTLS_KEY_PASSPHRASE, else a
    /// prompt, when the key is encrypted; a new key (--rekey) is encrypted with it too.
    #[arg(long)]
    pub(crate) key_passphrase_file: Option<PathBuf>,
}

/// Renews once, or forever with --daemon.
pub fn run(a: RenewArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let pass = crate::pass::for_key_file(&a.key, a.key_passphrase_file.as_deref())?;
    let pass = pass.as_deref().map(|p| p.as_slice());
    if !a.daemon {
        let r = rt.block_on(renew_once(&a, pass))?;
        print_event(Event::Renewed(r));
        return Ok(());
    }
    rt.block_on(daemon(
        &a,
        pass,
        &print_event,
        crate::serve_crl::termination(),
    ));
    Ok(())
}

/// What the daemon did, for whoever narrates it.
pub(crate) enum Event {
    /// The next renewal is due in this long.
    Next(Duration),
    /// A renewal succeeded (and `--exec` ran).
    Renewed(Renewed),
    /// A renewal, or reading the current certificate, failed; retried after this long.
    Failed(String, Duration),
}

/// A renewal's result.
pub(crate) struct Renewed {
    pub serial: String,
    pub not_after: String,
    pub supersedes: Option<String>,
}

fn print_event(e: Event) {
    match e {
        Event::Next(w) => out::note(&format!("next renewal in {} s", w.as_secs())),
        Event::Renewed(r) => out::say!(
            "renewed: serial {} until {} (supersedes {})",
            r.serial,
            r.not_after,
            r.supersedes.as_deref().unwrap_or("?")
        ),
        Event::Failed(e, retry) => out::warn(&format!(
            "renewal failed, retrying in {} s: {e}",
            retry.as_secs()
        )),
    }
}

/// Renews at 2/3 of each certificate's lifetime until `stop` resolves, retrying with backoff
/// while the CA is unreachable.
///
/// # Cancel safety
///
/// Dropping the future while it waits loses nothing; during a renewal, the files are either
/// all replaced or untouched (they are renamed into place together).
pub(crate) async fn daemon(
    a: &RenewArgs,
    pass: Option<&[u8]>,
    report: &(dyn Fn(Event) + Sync),
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let wait = match next_renewal(&a.cert) {
            Ok(w) => w,
            Err(e) => {
                report(Event::Failed(format!("{e:#}"), backoff));
                backoff
            }
        };
        report(Event::Next(wait));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut stop => return,
        }
        match renew_once(a, pass).await {
            Ok(r) => {
                report(Event::Renewed(r));
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                report(Event::Failed(format!("{e:#}"), backoff));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut stop => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How long until 2/3 of the current certificate's lifetime, minus up to 5% of it at random
/// (so that a fleet issued together does not renew together); zero when past it.
///
/// The lifetime counts from when the holder got the certificate (the file's modification
/// time, which enroll and renew set by renaming it into place), not from notBefore: CAs
/// backdate notBefore (mtls and step-ca by a minute), and for a 5-minute certificate that
/// minute would otherwise pull every renewal forward until the daemon renewed in a loop.
fn next_renewal(cert: &Path) -> Result<Duration> {
    let der = first_der(
        &std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
        cert,
    )?;
    let (nb, na) = inspect::cert_validity(&der)
        .with_context(|| format!("{}: not a certificate", cert.display()))?;
    let now = mtls_pki::time::now().unix_timestamp();
    let got = std::fs::metadata(cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(nb)
        .clamp(nb, now.max(nb));
    let life = (na - got).max(0);
    // Jitter needs no cryptographic randomness: std's per-process random hash keys will do.
    let r = std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), nb);
    let jitter = life * 5 / 100 * i64::from(r as u16) / i64::from(u16::MAX);
    let at = got + life * 2 / 3 - jitter;
    // At least a second between renewals, whatever the certificate says.
    Ok(Duration::from_secs(
        u64::try_from(at - now).unwrap_or(0).max(1),
    ))
}

fn first_der(data: &[u8], path: &Path) -> Result<Vec<u8>> {
    let what = path.display().to_string();
    let blocks = pemutil::blocks(data, &what, "certificate")?;
    match blocks.into_iter().next() {
        Some(b) => Ok(b.der.to_vec()),
        None => bail!("{what} holds no certificate"),
    }
}

async fn renew_once(a: &RenewArgs, pass: Option<&[u8]>) -> Result<Renewed> {
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
    if let Some(cmd) = &a.exec {
        let st = std::process::Command::new("sh").arg("-c").arg(cmd).status();
        match st {
            Ok(s) if s.success() => {}
            Ok(s) => out::warn(&format!("--exec {cmd:?} exited with {s}")),
            Err(e) => out::warn(&format!("--exec {cmd:?} could not run: {e}")),
        }
    }
    Ok(Renewed {
        serial: got.serial,
        not_after: got.not_after,
        supersedes: got.supersedes,
    })
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
