//! Certificate reloading for `mtls serve`: when `--cert` or `--key` change (`mtls renew
//! --daemon` replacing them), the new pair is checked and served to new handshakes; open
//! connections keep theirs. A pair that does not load (a key that does not fit, a file half
//! written by a tool that does not rename) is refused and the old one stays, with a warning.
//! The tunnel also reloads its CA bundle this way, and both on SIGHUP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mtls_socket::TlsContext;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::log::Logger;

/// What to watch.
pub struct CertFiles {
    /// `--cert`.
    pub cert: PathBuf,
    /// `--key`.
    pub key: PathBuf,
    /// The key's passphrase, kept for reloads.
    pub pass: Option<Zeroizing<Vec<u8>>>,
    /// `--ca`, when the CA bundle is reloaded too (the tunnel).
    pub ca: Option<PathBuf>,
    /// Reload on SIGHUP as well as when the files change.
    pub on_hangup: bool,
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp_of(f: &std::path::Path) -> Stamp {
    std::fs::metadata(f)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// The pair's stamps and the CA bundle's.
fn stamp(files: &CertFiles) -> ([Stamp; 2], Stamp) {
    (
        [stamp_of(&files.cert), stamp_of(&files.key)],
        files.ca.as_deref().and_then(stamp_of),
    )
}

/// Checks the files every 500 ms until `stop`.
pub async fn watch_cert(
    ctx: Arc<TlsContext>,
    files: CertFiles,
    log: Logger,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = stamp(&files);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    #[cfg(unix)]
    let mut hup = files
        .on_hangup
        .then(|| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
        .flatten();
    loop {
        #[cfg(unix)]
        let hup_fut = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fut = std::future::pending::<Option<()>>();
        let hangup = tokio::select! {
            _ = tick.tick() => false,
            _ = hup_fut => true,
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        };
        let now = stamp(&files);
        let (pair, ca) = (hangup || now.0 != last.0, hangup || now.1 != last.1);
        last = now;
        if ca && let Some(path) = &files.ca {
            reload_ca(&ctx, path, &log);
        }
        if !pair {
            continue;
        }
        match reload(&ctx, &files) {
            Ok(what) => log.msg(
                None,
                None,
                "cert_reloaded",
                format!("certificate reloaded: {what}"),
            ),
            Err(e) => log.msg(
                None,
                None,
                "cert_reload_failed",
                format!("warning: certificate reload failed, keeping the current one: {e}"),
            ),
        }
    }
}

/// Trusts the CA bundle at `path` from the next handshake on; a bundle that does not load is
/// refused and the old one kept.
fn reload_ca(ctx: &TlsContext, path: &std::path::Path, log: &Logger) {
    let loaded = std::fs::read(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|d| {
            mtls_socket::load_certificates(&d, &path.display().to_string())
                .map_err(|e| e.to_string())
        })
        .and_then(|certs| {
            let n = certs.len();
            ctx.set_ca_certificates(certs).map_err(|e| e.to_string())?;
            Ok(n)
        });
    match loaded {
        Ok(n) => log.msg(
            None,
            None,
            "ca_reloaded",
            format!(
                "CA bundle reloaded: {n} certificate(s) from {}",
                path.display()
            ),
        ),
        Err(e) => log.msg(
            None,
            None,
            "ca_reload_failed",
            format!("warning: CA bundle reload failed, keeping the current one: {e}"),
        ),
    }
}

fn reload(ctx: &TlsContext, f: &CertFiles) -> Result<String, String> {
    let cert_data = std::fs::read(&f.cert).map_err(|e| format!("{}: {e}", f.cert.display()))?;
    let key_data =
        Zeroizing::new(std::fs::read(&f.key).map_err(|e| format!("{}: {e}", f.key.display()))?);
    let chain = mtls_socket::load_certificates(&cert_data, &f.cert.display().to_string())
        .map_err(|e| e.to_string())?;
    let key = mtls_socket::load_private_key(
        &key_data,
        f.pass.as_ref().map(|p| p.as_slice()),
        &f.key.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    let what = chain
        .first()
        .and_then(|c| mtls_pki::inspect::cert_summary(c))
        .map(|s| {
            format!(
                "{} serial {} until {}",
                s.subject,
                s.serial.hex(),
                s.not_after
            )
        })
        .unwrap_or_default();
    ctx.set_server_certificate(chain, key)
        .map_err(|e| e.to_string())?;
    Ok(what)
}
