//! CRLs fetched over HTTP(S) (`--crl-url`): polled with conditional requests, each new CRL's
//! signature checked against the trusted CA certificates before it is swapped in, the last
//! good one kept (and said so) while the source is unreachable, and a loud warning once that
//! CRL has lapsed.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use mtls_verify::{CertificateDer, Crl, Verifier};

use crate::crls::{CrlHandle, CrlSummary};
use crate::error::{Error, Result};
use crate::{PeerVerifyMode, SslConfiguration, SslSocket, TlsContext};

/// The largest CRL accepted: 256 MiB (a few million entries).
pub const MAX_CRL_BYTES: usize = 256 * 1024 * 1024;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// What one fetch did.
#[derive(Debug, Clone)]
pub enum FetchEvent {
    /// A new CRL was installed.
    Installed {
        /// Its source.
        url: String,
        /// The set after the swap.
        summary: CrlSummary,
    },
    /// The source still has the CRL already installed.
    Unchanged {
        /// Its source.
        url: String,
    },
    /// The fetch failed; the last good CRL stays in force.
    Failed {
        /// Its source.
        url: String,
        /// Why.
        error: String,
    },
    /// The CRL in force from this source is past its nextUpdate.
    Lapsed {
        /// Its source.
        url: String,
        /// Its nextUpdate, RFC 3339.
        next_update: String,
    },
}

/// Polls one URL into a [`CrlHandle`].
#[derive(Debug)]
pub struct CrlFetcher {
    url: String,
    https: bool,
    host: String,
    port: u16,
    path: String,
    handle: CrlHandle,
    anchors: Vec<CertificateDer<'static>>,
    tls: Option<Arc<TlsContext>>,
    etag: Option<String>,
    refresh: Duration,
}

impl CrlFetcher {
    /// A fetcher of `url` (`http://` or `https://`; an `https` server must chain to one of
    /// `anchors`) into `handle`, polling every `refresh`. CRLs must be signed by one of
    /// `anchors`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a URL that is not `http(s)://HOST[:PORT]/PATH`.
    pub fn new(
        url: &str,
        handle: CrlHandle,
        anchors: Vec<CertificateDer<'static>>,
        refresh: Duration,
    ) -> Result<CrlFetcher> {
        let bad = || {
            Error::config(
                format!("CRL URL {url:?}"),
                "give http(s)://HOST[:PORT]/PATH",
            )
        };
        let uri: hyper::Uri = url.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad()),
        };
        let host = uri.host().ok_or_else(bad)?.to_string();
        let tls = match https {
            true => {
                let mut c = SslConfiguration::new();
                c.set_ca_certificates(anchors.clone());
                c.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
                Some(TlsContext::new(c)?)
            }
            false => None,
        };
        Ok(CrlFetcher {
            url: url.to_string(),
            https,
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            path: uri.path_and_query().map_or("/".into(), |p| p.to_string()),
            host,
            handle,
            anchors,
            tls,
            etag: None,
            refresh,
        })
    }

    /// Fetches until `stop` resolves, telling `notify` what each fetch did.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future between fetches loses nothing; during one, that fetch is abandoned
    /// and the CRL in force stays.
    pub async fn run(
        mut self,
        mut notify: impl FnMut(FetchEvent) + Send,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_secs(1);
        loop {
            let events = self.fetch_once().await;
            let failed = events
                .iter()
                .any(|e| matches!(e, FetchEvent::Failed { .. }));
            for e in events {
                notify(e);
            }
            let wait = match failed {
                true => {
                    backoff = (backoff * 2).min(self.refresh);
                    backoff
                }
                false => {
                    backoff = Duration::from_secs(1);
                    self.refresh
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut stop => return,
            }
        }
    }

    /// One conditional fetch: what happened, and whether the CRL in force has lapsed.
    pub async fn fetch_once(&mut self) -> Vec<FetchEvent> {
        let mut out = Vec::new();
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await {
            Ok(Ok(Some(der))) => match self.install(der).await {
                Ok(summary) => out.push(FetchEvent::Installed {
                    url: self.url.clone(),
                    summary,
                }),
                Err(e) => out.push(self.failed(e)),
            },
            Ok(Ok(None)) => out.push(FetchEvent::Unchanged {
                url: self.url.clone(),
            }),
            Ok(Err(e)) => out.push(self.failed(e)),
            Err(_) => out.push(self.failed(format!("no answer within {FETCH_TIMEOUT:?}"))),
        }
        if let Some(c) = self.handle.url_crl(&self.url) {
            if let Some(n) = c
                .next_update()
                .filter(|n| *n < time::OffsetDateTime::now_utc())
            {
                out.push(FetchEvent::Lapsed {
                    url: self.url.clone(),
                    next_update: n
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                });
            }
        }
        out
    }

    fn failed(&self, error: String) -> FetchEvent {
        FetchEvent::Failed {
            url: self.url.clone(),
            error,
        }
    }

    /// The CRL's DER when the source has a new one; `None` for 304.
    async fn fetch(&mut self) -> std::result::Result<Option<Vec<u8>>, String> {
        let (status, etag, body) = match self.https {
            true => {
                let ctx = self.tls.clone().ok_or("no TLS context")?;
                let mut s = SslSocket::with_context(ctx);
                s.connect_to_host_encrypted(&self.host, self.port)
                    .await
                    .map_err(|e| e.to_string())?;
                self.get(s).await?
            }
            false => {
                let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| format!("connecting: {e}"))?;
                self.get(tcp).await?
            }
        };
        match status {
            200 => {
                self.etag = etag;
                Ok(Some(body))
            }
            304 => Ok(None),
            s => Err(format!("HTTP status {s}")),
        }
    }

    async fn get<I>(&self, io: I) -> std::result::Result<(u16, Option<String>, Vec<u8>), String>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let mut req =
            hyper::Request::get(self.path.as_str()).header(hyper::header::HOST, self.host.as_str());
        if let Some(e) = &self.etag {
            req = req.header(hyper::header::IF_NONE_MATCH, e.as_str());
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get(hyper::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(resp.into_body(), MAX_CRL_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the CRL: {e}"))?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok((status, etag, body))
    }

    /// Parses and checks `der` off the runtime, then swaps it in.
    async fn install(&mut self, der: Vec<u8>) -> std::result::Result<CrlSummary, String> {
        let anchors = self.anchors.clone();
        let current = self.handle.url_crl(&self.url);
        let crl = tokio::task::spawn_blocking(move || -> std::result::Result<Arc<Crl>, String> {
            // DER, as distribution points serve it, or PEM.
            let crl = mtls_verify::load_crls(&der, "the CRL fetched")
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .ok_or("the answer holds no CRL")?;
            let crl = Arc::new(crl);
            let v = Verifier::new(anchors.iter().map(|c| c.as_ref()))
                .map_err(|e| e.to_string())?
                .shared_crls([crl.clone()]);
            if v.check_crl_signatures(&[]) == 0 {
                return Err(format!(
                    "the CRL of {} is not signed by a trusted CA certificate; not installed",
                    crl.issuer()
                ));
            }
            Ok(crl)
        })
        .await
        .map_err(|e| e.to_string())??;
        if let Some(cur) = current {
            let number = |c: &Crl| c.crl_number().and_then(|n| n.parse::<u128>().ok());
            if let (Some(new), Some(old)) = (number(&crl), number(&cur)) {
                if new < old {
                    self.etag = None;
                    return Err(format!(
                        "CRL number {new} is older than the {old} in force; not installed"
                    ));
                }
            }
        }
        let handle = self.handle.clone();
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || handle.set_url_crl(&url, crl))
            .await
            .map_err(|e| e.to_string())
    }
}
