//! The revocation flags `mtls serve` and `mtls connect` share (`--revocation`,
//! `--ocsp-failure`), and `mtls serve`'s OCSP stapling (`--ocsp-staple`, `--ocsp-url`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use clap::Args;
use mtls_socket::ocsp::{OcspStapler, StapleEvent, StapleSource};
use mtls_socket::{PeerRevocation, RevocationFailure, SslConfiguration, TlsContext};

use crate::log::Logger;

/// `--revocation`: where the peer's revocation status comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RevocationArg {
    /// The --crl / --crl-url CRLs, for every certificate below the trust anchor.
    Crl,
    /// OCSP for the peer's certificate: its stapled response, else its responder (AIA).
    Ocsp,
    /// Both.
    Both,
}

/// `--ocsp-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailureArg {
    /// Accept a peer whose OCSP status cannot be had.
    Soft,
    /// Refuse it.
    Hard,
}

/// How the peer's certificate is checked for revocation.
#[derive(Args, Clone, Debug)]
pub struct RevocationArgs {
    /// Where the peer's revocation status comes from: crl (the --crl files and URLs), ocsp
    /// (the response the peer stapled, else the OCSP responder its certificate names), or both.
    #[arg(long, value_enum, default_value = "crl")]
    pub revocation: RevocationArg,
    /// With --revocation ocsp|both, what a peer whose OCSP status cannot be had means (none
    /// stapled, responder unreachable or answering an error): soft accepts it, hard refuses it
    /// [default: soft; hard for a certificate with must-staple].
    #[arg(long, value_enum)]
    pub ocsp_failure: Option<FailureArg>,
}

impl Default for RevocationArgs {
    fn default() -> Self {
        RevocationArgs {
            revocation: RevocationArg::Crl,
            ocsp_failure: None,
        }
    }
}

impl RevocationArgs {
    /// Applies the flags to `cfg`.
    pub fn apply(&self, cfg: &mut SslConfiguration) {
        cfg.set_peer_revocation(match self.revocation {
            RevocationArg::Crl => PeerRevocation::Crl,
            RevocationArg::Ocsp => PeerRevocation::Ocsp,
            RevocationArg::Both => PeerRevocation::Both,
        });
        if let Some(f) = self.ocsp_failure {
            cfg.set_ocsp_failure(match f {
                FailureArg::Soft => RevocationFailure::Soft,
                FailureArg::Hard => RevocationFailure::Hard,
            });
        }
    }
}

/// `mtls serve`'s stapling flags.
#[derive(Args, Clone, Debug, Default)]
pub struct StapleArgs {
    /// Staple an OCSP response to our certificate: `auto` fetches it from the responder the
    /// certificate names (or --ocsp-url) and refreshes it at half its life; a FILE (DER, e.g.
    /// from `openssl ocsp -respout`) is stapled as is and re-read when it changes.
    #[arg(long, value_name = "auto|FILE")]
    pub ocsp_staple: Option<String>,
    /// The OCSP responder to ask for --ocsp-staple auto, instead of the certificate's
    /// authorityInfoAccess, e.g. http://127.0.0.1:9080/ocsp.
    #[arg(long, requires = "ocsp_staple")]
    pub ocsp_url: Option<String>,
}

impl StapleArgs {
    fn source(&self) -> Result<Option<StapleSource>> {
        Ok(match self.ocsp_staple.as_deref() {
            None => None,
            Some("auto") => Some(StapleSource::Fetch {
                url: self.ocsp_url.clone(),
            }),
            Some(file) => {
                if self.ocsp_url.is_some() {
                    bail!("--ocsp-url applies to --ocsp-staple auto, not to a file");
                }
                let path = PathBuf::from(file);
                if !path.is_file() {
                    bail!(
                        "--ocsp-staple {file}: no such file (give `auto` or a DER OCSP response)"
                    );
                }
                Some(StapleSource::File(path))
            }
        })
    }

    /// Staples a first response before the server listens (logging the outcome), then keeps
    /// it fresh in a task until `stop`.
    pub async fn start(
        &self,
        ctx: &Arc<TlsContext>,
        log: &Logger,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<()> {
        let Some(source) = self.source()? else {
            return Ok(());
        };
        let mut stapler = OcspStapler::new(ctx.clone(), source);
        let (first, _) = stapler.refresh().await;
        if let Some(ev) = first {
            log_staple(log, ev);
        }
        let log = log.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stapler.run(move |ev| log_staple(&log, ev)) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
        Ok(())
    }
}

fn status_word(s: mtls_socket::ocsp::Status) -> String {
    match s {
        mtls_socket::ocsp::Status::Good => "good".into(),
        mtls_socket::ocsp::Status::Unknown => "unknown".into(),
        mtls_socket::ocsp::Status::Revoked { .. } => "revoked".into(),
    }
}

fn log_staple(log: &Logger, ev: StapleEvent) {
    match ev {
        StapleEvent::Stapled {
            status,
            valid_until,
            source,
            ..
        } => log.msg(
            None,
            None,
            "ocsp_stapled",
            format!(
                "OCSP response stapled: {} (from {source}, valid until {})",
                status_word(status),
                rfc3339(valid_until)
            ),
        ),
        StapleEvent::Failed { error, kept } => log.msg(
            None,
            None,
            "ocsp_staple_failed",
            match kept {
                true => format!("OCSP staple not refreshed, the last good one stays: {error}"),
                false => format!("no OCSP response stapled: {error}"),
            },
        ),
    }
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
