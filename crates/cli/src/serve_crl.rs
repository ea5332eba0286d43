//! CRL reloading for `mtls serve` (SIGHUP, or the files changing), and termination signals.

use std::time::{Duration, SystemTime};

use mtls_socket::CrlHandle;
use serde_json::json;
use tokio::sync::watch;

use crate::log::{Logger, Record};

fn stamps(files: &[std::path::PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// Reloads `crls` on SIGHUP or when a file's mtime/size changes (checked every 500 ms), logs
/// `CRL reloaded: <entries> entries, CRL number <n>`, and publishes the new generation.
pub async fn watch_crls(
    crls: CrlHandle,
    log: Logger,
    gen_tx: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let files = crls.files();
    let mut last = stamps(&files);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        #[cfg(unix)]
        let hup_fut = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fut = std::future::pending::<()>();
        let why = tokio::select! {
            _ = hup_fut => "SIGHUP",
            _ = tick.tick() => {
                let now = stamps(&files);
                if files.is_empty() || now == last { continue; }
                "the file changed"
            }
            _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
        };
        last = stamps(&files);
        if files.is_empty() {
            log.msg(
                None,
                None,
                "crl_reload_skipped",
                format!("{why}: no --crl files to reload"),
            );
            continue;
        }
        match crls.reload_in_background().await {
            Ok(s) => {
                log.log(Record {
                    conn: None,
                    cn: None,
                    kind: "crl_reloaded",
                    message: format!(
                        "CRL reloaded: {} entries, CRL number {} ({why})",
                        s.entries,
                        s.crl_number.clone().unwrap_or_else(|| "none".into())
                    ),
                    fields: json!({"entries": s.entries, "crl_number": s.crl_number})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                });
                let _ = gen_tx.send(s.generation);
            }
            Err(e) => log.msg(
                None,
                None,
                "crl_reload_failed",
                format!("CRL reload failed, keeping the previous CRLs: {e}"),
            ),
        }
    }
}

/// Logs what a `--crl-url` fetch did; a new CRL is published to the connections (which close
/// those whose peer is now revoked).
pub fn log_fetch(log: &Logger, gen_tx: &watch::Sender<u64>, e: mtls_socket::crl_fetch::FetchEvent) {
    use mtls_socket::crl_fetch::FetchEvent;
    match e {
        FetchEvent::Installed { url, summary } => {
            log.msg(
                None,
                None,
                "crl_fetched",
                format!(
                    "CRL fetched from {url}: {} entries, CRL number {}",
                    summary.entries,
                    summary.crl_number.unwrap_or_else(|| "none".into())
                ),
            );
            let _ = gen_tx.send(summary.generation);
        }
        FetchEvent::Unchanged { .. } => {}
        FetchEvent::Failed { url, error } => log.msg(
            None,
            None,
            "crl_fetch_failed",
            format!("warning: fetching the CRL from {url} failed, keeping the last good one: {error}"),
        ),
        FetchEvent::Lapsed { url, next_update } => log.msg(
            None,
            None,
            "crl_lapsed",
            format!("WARNING: the CRL from {url} lapsed at {next_update}; clients under it are refused until a current one is fetched"),
        ),
    }
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed by this call, not
/// at the first poll: called before the server starts, no signal sent once it listens can take
/// the default action (death by signal instead of a clean stop). Needs a runtime context.
pub fn termination() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            return Box::pin(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
