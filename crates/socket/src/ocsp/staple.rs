//! OCSP stapling of a server's own certificate: the response fetched from the certificate's
//! responder (or read from a file), checked, and attached to the certificate every new
//! handshake presents ([`TlsContext::set_ocsp_staple`]); refreshed at half its life; the last
//! good one kept while the responder is unreachable, and dropped once it expires (a stale
//! staple makes strict clients refuse the server).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mtls_ocsp::{Answer, Issuer, Status};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::http::Responder;
use crate::TlsContext;

/// Where the staple comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StapleSource {
    /// Fetched from `url`, or from the OCSP responder the certificate's authorityInfoAccess
    /// names.
    Fetch {
        /// Overrides the certificate's responder.
        url: Option<String>,
    },
    /// A DER OCSPResponse file (e.g. made by `openssl ocsp -respout`), re-read when it
    /// changes.
    File(PathBuf),
}

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StapleEvent {
    /// A response was checked and is stapled from now on.
    Stapled {
        /// What it says.
        status: Status,
        /// Its thisUpdate, Unix seconds.
        this_update: i64,
        /// Until when it is used (nextUpdate), Unix seconds.
        valid_until: i64,
        /// Where it came from.
        source: String,
    },
    /// No new response; `kept` says whether the last good one is still stapled.
    Failed {
        /// Why, naming the responder or file.
        error: String,
        /// The last good response is still valid and stays stapled.
        kept: bool,
    },
}

/// Keeps a context's staple fresh. Build with [`OcspStapler::new`]; drive with
/// [`OcspStapler::run`] (or [`OcspStapler::refresh`] per round).
#[derive(Debug)]
pub struct OcspStapler {
    ctx: Arc<TlsContext>,
    source: StapleSource,
    timeout: Duration,
    /// The leaf stapled for, with the answer in force.
    current: Option<(CertificateDer<'static>, Answer)>,
    /// The file's modification time when last read.
    file_stamp: Option<SystemTime>,
    failures: u32,
}

fn now() -> i64 {
    i64::try_from(rustls_pki_types::UnixTime::now().as_secs()).unwrap_or(i64::MAX)
}

impl OcspStapler {
    /// A stapler for the server certificate of `ctx`.
    pub fn new(ctx: Arc<TlsContext>, source: StapleSource) -> OcspStapler {
        OcspStapler {
            timeout: ctx.config().ocsp_timeout,
            ctx,
            source,
            current: None,
            file_stamp: None,
            failures: 0,
        }
    }

    /// The server's leaf and its issuer (the next certificate of its chain, else the CA
    /// certificate whose subject is the leaf's issuer).
    fn leaf_and_issuer(&self) -> Result<(CertificateDer<'static>, Issuer), String> {
        let ck = self
            .ctx
            .server_certificate()
            .ok_or("the server has no certificate to staple a response for")?;
        let leaf = ck
            .cert
            .first()
            .ok_or("the server's chain is empty")?
            .clone();
        let issuer_der = match ck.cert.get(1) {
            Some(i) => i.clone(),
            None => {
                let (_, x) = X509Certificate::from_der(&leaf)
                    .map_err(|e| format!("the server certificate does not parse: {e}"))?;
                let wanted = x.issuer().as_raw();
                self.ctx
                    .config()
                    .ca_certificates()
                    .iter()
                    .find(|c| {
                        X509Certificate::from_der(c)
                            .is_ok_and(|(_, ca)| ca.subject().as_raw() == wanted)
                    })
                    .cloned()
                    .ok_or("the issuer of the server certificate is neither in its chain nor among the CA certificates; add it to either")?
            }
        };
        let issuer = Issuer::from_cert_der(&issuer_der).map_err(|e| e.to_string())?;
        Ok((leaf, issuer))
    }

    /// The response's bytes and where they came from; `None` for a file that did not change.
    async fn obtain(
        &mut self,
        leaf: &CertificateDer<'_>,
        issuer: &Issuer,
        changed_leaf: bool,
    ) -> Result<Option<(Vec<u8>, String)>, String> {
        match &self.source {
            StapleSource::File(path) => {
                let stamp = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                if stamp.is_some() && stamp == self.file_stamp && !changed_leaf {
                    return Ok(None);
                }
                let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                self.file_stamp = stamp;
                Ok(Some((bytes, path.display().to_string())))
            }
            StapleSource::Fetch { url } => {
                let url = match url {
                    Some(u) => u.clone(),
                    None => responder_url(leaf)?,
                };
                let req = issuer.request(leaf).map_err(|e| e.to_string())?;
                let body = Responder::parse(&url)?.post(req, self.timeout).await?;
                Ok(Some((body, url)))
            }
        }
    }

    /// One round: obtains and checks a response, staples it, and says when to run again.
    ///
    /// # Cancel safety
    ///
    /// Cancelling abandons this round's fetch; the staple in force stays.
    pub async fn refresh(&mut self) -> (Option<StapleEvent>, Duration) {
        // 5 s, 10 s, 20 s … up to a minute between failed rounds.
        let retry = |failures: u32| {
            Duration::from_secs((5u64 << failures.saturating_sub(1).min(4)).min(60))
        };
        let (leaf, issuer) = match self.leaf_and_issuer() {
            Ok(x) => x,
            Err(error) => {
                self.failures += 1;
                let ev = StapleEvent::Failed { error, kept: false };
                return (Some(ev), retry(self.failures));
            }
        };
        let changed_leaf = self.current.as_ref().is_none_or(|(l, _)| *l != leaf);
        let t = now();
        let result = match self.obtain(&leaf, &issuer, changed_leaf).await {
            Ok(None) => return (None, Duration::from_secs(1)),
            Ok(Some((bytes, source))) => match issuer.check_response(&bytes, &leaf, t) {
                Ok(a) => Ok((bytes, a, source)),
                Err(e) => Err(format!("{source}: {e}")),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok((bytes, a, source)) => {
                self.ctx.set_ocsp_staple(&leaf, Some(bytes));
                self.current = Some((leaf, a));
                self.failures = 0;
                let next = match self.source {
                    StapleSource::File(_) => Duration::from_secs(1),
                    StapleSource::Fetch { .. } => {
                        Duration::from_secs(u64::try_from(a.refresh_at() - t).unwrap_or(0).max(1))
                    }
                };
                let ev = StapleEvent::Stapled {
                    status: a.status,
                    this_update: a.this_update,
                    valid_until: a.valid_until(),
                    source,
                };
                (Some(ev), next)
            }
            Err(error) => {
                self.failures += 1;
                let kept = match &self.current {
                    Some((l, a)) if *l == leaf && t < a.valid_until() => true,
                    _ => {
                        self.ctx.set_ocsp_staple(&leaf, None);
                        self.current = None;
                        false
                    }
                };
                let next = match (&self.source, &self.current) {
                    (StapleSource::File(_), _) => Duration::from_secs(1),
                    // Not past the kept staple's expiry, which ends its stapling.
                    (StapleSource::Fetch { .. }, Some((_, a))) => retry(self.failures).min(
                        Duration::from_secs(u64::try_from(a.valid_until() - t).unwrap_or(0) + 1),
                    ),
                    (StapleSource::Fetch { .. }, None) => retry(self.failures),
                };
                (Some(StapleEvent::Failed { error, kept }), next)
            }
        }
    }

    /// Refreshes for ever, telling `notify` what each round did; a new server certificate
    /// (set with [`TlsContext::set_server_certificate`]) is stapled for within a second.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops refreshing; the staple in force stays and goes stale, so
    /// stop the server too or clear it with [`TlsContext::set_ocsp_staple`].
    pub async fn run(mut self, mut notify: impl FnMut(StapleEvent) + Send) {
        loop {
            let (ev, wait) = self.refresh().await;
            if let Some(ev) = ev {
                notify(ev);
            }
            let until = tokio::time::Instant::now() + wait;
            // Wake early when the certificate changes (a renewal), to staple for the new one.
            while tokio::time::Instant::now() < until {
                tokio::time::sleep_until(
                    until.min(tokio::time::Instant::now() + Duration::from_secs(1)),
                )
                .await;
                let leaf = self
                    .ctx
                    .server_certificate()
                    .and_then(|c| c.cert.first().cloned());
                if leaf != self.current.as_ref().map(|(l, _)| l.clone()) && self.current.is_some() {
                    break;
                }
            }
        }
    }
}

/// The http:// OCSP responder in `leaf`'s authorityInfoAccess.
fn responder_url(leaf: &CertificateDer<'_>) -> Result<String, String> {
    super::check::leaf_facts(leaf).0.ok_or_else(|| {
        "the server certificate names no http:// OCSP responder (authorityInfoAccess); set a responder URL".to_string()
    })
}
