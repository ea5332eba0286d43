//! A client of the CA server's API, for `mtls enroll`, `mtls renew` and the remote forms of
//! `mtls ca token` / `mtls ca revoke`: HTTPS over the socket layer (so the server's chain is
//! verified as every mtls peer verifies it), one request per connection.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use mtls_socket::{SslConfiguration, SslSocket, TlsContext};

/// The largest answer read: a certificate chain or a page of records.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// How long one request may take, connection and handshake included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request to the CA server failed (an answer with an error status is not a failure:
/// see [`Answer`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `https://HOST[:PORT]`.
    #[error(
        "{url:?} is not a CA server URL; give https://HOST[:PORT] as `mtls ca serve` printed it"
    )]
    Url {
        /// The URL given.
        url: String,
    },
    /// Connecting, the TLS handshake (an untrusted server names its certificate errors), or
    /// the exchange failed.
    #[error("{url}: {source}")]
    Socket {
        /// The server.
        url: String,
        /// The cause.
        #[source]
        source: mtls_socket::Error,
    },
    /// The server refused.
    #[error("{url} refused {what} ({status}): {reason}")]
    Refused {
        /// The server.
        url: String,
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The server's reason.
        reason: String,
    },
    /// The HTTP exchange failed.
    #[error("{url}: {detail}")]
    Http {
        /// The server.
        url: String,
        /// What failed.
        detail: String,
    },
}

/// An answer of the server.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The server's reason for an error answer: its `message`, else the body as text.
    pub fn reason(&self) -> String {
        match self.json().get("message").and_then(|m| m.as_str()) {
            Some(m) => m.to_string(),
            None => String::from_utf8_lossy(&self.body).trim().to_string(),
        }
    }
}

/// A certificate the server issued (`201` of `/v1/enroll` and `/v1/renew`).
#[derive(Debug, Clone)]
pub struct IssuedAnswer {
    /// Its serial, hex.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The certificate and the CA chain, PEM.
    pub chain: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// For a renewal: the serial it supersedes.
    pub supersedes: Option<String>,
}

impl Answer {
    /// The certificate of a `201` answer; any other answer is [`ClientError::Refused`] with the
    /// server's reason (`what`: "the enrollment", "the renewal").
    pub fn issued(&self, url: &str, what: &str) -> Result<IssuedAnswer, ClientError> {
        let v = self.json();
        let text = |k: &str| v[k].as_str().map(str::to_string);
        match (self.status, text("certificate"), text("chain")) {
            (201, Some(certificate), Some(chain)) => Ok(IssuedAnswer {
                serial: text("serial").unwrap_or_default(),
                certificate,
                chain,
                not_after: text("not_after").unwrap_or_default(),
                supersedes: text("supersedes"),
            }),
            (201, ..) => Err(ClientError::Refused {
                url: url.into(),
                what: what.into(),
                status: 201,
                reason: "the answer holds no certificate".into(),
            }),
            (status, ..) => Err(ClientError::Refused {
                url: url.into(),
                what: what.into(),
                status,
                reason: self.reason(),
            }),
        }
    }
}

/// A CA server, as a client sees it.
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    host: String,
    port: u16,
    ctx: Arc<TlsContext>,
}

impl Client {
    /// A client of the server at `url` (`https://HOST[:PORT]`, port 443 by default) that
    /// trusts and presents what `tls` says.
    ///
    /// # Errors
    ///
    /// [`ClientError::Url`], or the TLS configuration's own errors.
    pub fn new(url: &str, tls: SslConfiguration) -> Result<Client, ClientError> {
        let bad = || ClientError::Url { url: url.into() };
        let uri: hyper::Uri = url.trim().parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") || !matches!(uri.path(), "" | "/") {
            return Err(bad());
        }
        let host = uri.host().ok_or_else(bad)?.to_string();
        let base = format!("https://{}", uri.authority().ok_or_else(bad)?);
        let ctx = TlsContext::new(tls).map_err(|source| ClientError::Socket {
            url: base.clone(),
            source,
        })?;
        Ok(Client {
            port: uri.port_u16().unwrap_or(443),
            url: base,
            host,
            ctx,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `method path` with a JSON `body`, if any.
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ClientError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body)).await {
            Ok(r) => r,
            Err(_) => Err(self.http(format!("no answer within {REQUEST_TIMEOUT:?}"))),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ClientError> {
        let mut socket = SslSocket::with_context(self.ctx.clone());
        socket
            .connect_to_host_encrypted(&self.host, self.port)
            .await
            .map_err(|source| ClientError::Socket {
                url: self.url.clone(),
                source,
            })?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(socket))
            .await
            .map_err(|e| self.http(e.to_string()))?;
        let driver = tokio::spawn(conn);
        let data = body.map(|b| b.to_string()).unwrap_or_default();
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.host.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(data)))
            .map_err(|e| self.http(e.to_string()))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| self.http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| self.http(format!("reading the answer: {e}")))?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok(Answer { status, body })
    }

    fn http(&self, detail: String) -> ClientError {
        ClientError::Http {
            url: self.url.clone(),
            detail,
        }
    }
}
