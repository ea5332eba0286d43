//! [`Served`]: `mtls serve` run in this process for the demo, on a free loopback port, its log
//! narrated as it comes and kept for the checks.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, oneshot, watch};

use super::client::Env;
use super::report::{Check, say};
use super::seen::Seen;
use crate::log::{Logger, Record};
use crate::serve::{self, ServeArgs};

/// A running `mtls serve` and what it logged.
pub(super) struct Served {
    pub(super) addr: String,
    pub(super) seen: Seen,
    stop_tx: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
    printer: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Starts `mtls serve` with `args` and waits (2 s at most) for a log record of kind
    /// `ready` (`listening`, or `crl_fetched` when it must have a CRL first).
    pub(super) async fn start(args: ServeArgs, ready: &str) -> Result<Served> {
        let seen = Seen::default();
        let (tx, rx) = mpsc::unbounded_channel::<Record>();
        let printer = tokio::spawn(narrate(rx, seen.clone()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(serve::serve(
            args,
            Logger::observed(tx, true),
            stop_rx,
            Some(ready_tx),
        ));
        let addr = ready_rx
            .await
            .context("the server did not start")?
            .to_string();
        seen.wait(0, Duration::from_secs(2), &|r| r.kind == ready)
            .await;
        Ok(Served {
            addr,
            seen,
            stop_tx,
            task,
            printer,
        })
    }

    /// Where clients find it, their certificates in `certs`, trusting `ca`.
    pub(super) fn env<'a>(&'a self, certs: &'a Path, ca: &'a Path) -> Env<'a> {
        Env {
            certs,
            addr: &self.addr,
            ca,
        }
    }

    /// Stops it (close_notify to every peer); the check `what` says whether it stopped cleanly.
    pub(super) async fn stop(self, what: &str, checks: &mut Vec<Check>) {
        let _ = self.stop_tx.send(true);
        let stopped = tokio::time::timeout(Duration::from_secs(6), self.task).await;
        let ok = matches!(stopped, Ok(Ok(Ok(()))));
        checks.push(Check {
            what: what.into(),
            expected: "clean stop".into(),
            seen: if ok {
                "stopped".into()
            } else {
                format!("{stopped:?}")
            },
            ok,
        });
        self.printer.abort();
    }
}

/// The server's options in the demo: `certs/CERT` and `certs/KEY`, clients of `ca`, no CRL.
pub(super) fn serve_args(certs: &Path, ca: &Path, cert: &str, key: &str) -> ServeArgs {
    ServeArgs {
        listen: "127.0.0.1:0".into(),
        cert: certs.join(cert),
        key: certs.join(key),
        ca: ca.to_path_buf(),
        crl: vec![],
        crl_url: vec![],
        crl_refresh: Duration::from_secs(30),
        verify: crate::argparse::VerifyArg::Peer,
        allow_cn: vec![],
        allow_san: vec![],
        crl_soft_fail: false,
        revocation: Default::default(),
        staple: Default::default(),
        tls_min: crate::argparse::TlsArg::V12,
        ciphers: None,
        heartbeat: Duration::from_millis(250),
        starttls: false,
        handshake_timeout: Duration::from_secs(5),
        strict: false,
        max_conns: 100,
        key_passphrase_file: None,
        json_log: false,
    }
}

/// Prints the server's interesting records as they come, and keeps every one in `seen`.
async fn narrate(mut rx: mpsc::UnboundedReceiver<Record>, seen: Seen) {
    while let Some(r) = rx.recv().await {
        let interesting = matches!(
            r.kind,
            "listening"
                | "handshake_failed"
                | "received"
                | "crl_reloaded"
                | "crl_fetched"
                | "cert_reloaded"
                | "closed"
                | "encrypted"
        );
        if interesting {
            let who = match (r.conn, &r.cn) {
                (Some(c), Some(cn)) => format!("conn {c} {cn}: "),
                (Some(c), None) => format!("conn {c}: "),
                _ => String::new(),
            };
            say(&format!("server  | {who}{}", r.message));
        }
        if let Ok(mut v) = seen.0.lock() {
            v.push(r);
        }
    }
}
