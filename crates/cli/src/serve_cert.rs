//! Certificate reloading for `mtls serve`: when `--cert` or `--key` change (`mtls renew
//! --daemon` replacing them), the new pair is checked and served to new handshakes; open
//! connections keep theirs. A pair that does not load (a key that does not fit, a file half
//! written by a tool that does not rename) is refused and the old one stays, with a warning.

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
}

fn stamp(files: &CertFiles) -> [Option<(SystemTime, u64)>; 2] {
    [&files.cert, &files.key].map(|f| {
        std::fs::metadata(f)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
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
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        }
        let now = stamp(&files);
        if now == last {
            continue;
        }
        last = now;
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
