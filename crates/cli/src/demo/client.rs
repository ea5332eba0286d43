//! The demo's clients: their arguments, running one with its output indented, and judging a
//! refusal.

use std::path::Path;

use anyhow::Result;

use super::report::say;
use crate::connect::{self, ConnectArgs};

/// Where clients connect and what they trust.
pub(super) struct Env<'a> {
    pub(super) certs: &'a Path,
    pub(super) addr: &'a str,
    pub(super) ca: &'a Path,
}

impl Env<'_> {
    /// Arguments for a client using `certs/NAME.{crt,key}` that sends `count` messages.
    pub(super) fn client(
        &self,
        name: &str,
        ignore: Vec<String>,
        count: Option<u64>,
        interval: std::time::Duration,
        n: u32,
    ) -> ConnectArgs {
        ConnectArgs {
            target: self.addr.to_string(),
            ca: self.ca.to_path_buf(),
            crl: vec![],
            crl_soft_fail: false,
            revocation: Default::default(),
            cert: Some(self.certs.join(format!("{name}.crt"))),
            key: Some(self.certs.join(format!("{name}.key"))),
            servername: None,
            ignore_error: ignore,
            starttls: false,
            send: "I am in!".into(),
            then: Some(format!("hello I am client {n}")),
            interval,
            count,
            tls_min: crate::argparse::TlsArg::V12,
            tls_max: crate::argparse::TlsArg::V13,
            key_passphrase_file: None,
            handshake_timeout: std::time::Duration::from_secs(5),
            strict: false,
        }
    }
}

/// Runs a client; its status lines are printed indented, its result returned.
pub(super) async fn run_client(label: String, args: ConnectArgs) -> Result<connect::Outcome> {
    let l1 = label.clone();
    let l2 = label.clone();
    connect::session(
        &args,
        &mut move |s: String| {
            if s.starts_with("ssl error")
                || s.starts_with("handshake done")
                || s.starts_with("sent")
            {
                say(&format!("{l1} | {s}"));
            }
        },
        &mut move |d: &str| {
            for line in d.lines() {
                say(&format!("{l2} | received: {line}"));
            }
        },
        false,
    )
    .await
}

/// Whether a client was refused with an error containing `want`, and a short account of what
/// happened.
pub(super) fn refused(r: &Result<connect::Outcome>, want: &str) -> (bool, String) {
    match r {
        Ok(_) => (false, "connected (should have been refused)".into()),
        Err(e) => {
            let t = format!("{e:#}");
            let short: String = t.chars().take(110).collect();
            (t.contains(want), short)
        }
    }
}
