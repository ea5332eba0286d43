//! One OCSP request over HTTP (RFC 6960 A.1, RFC 5019 5): a POST of the DER request to the
//! responder's URL, the DER response read back. Responders are plain HTTP by custom (their
//! answers are signed, and an HTTPS responder would need revocation checking of its own).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The largest response read: 1 MiB (a response with a responder certificate is a few KiB).
pub(crate) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Where a responder is: host, port and path of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Responder {
    host: String,
    port: u16,
    path: String,
}

impl Responder {
    /// Parses `url`.
    ///
    /// # Errors
    ///
    /// A sentence naming the URL when it is not `http://HOST[:PORT][/PATH]`.
    pub(crate) fn parse(url: &str) -> Result<Responder, String> {
        let bad = |why: &str| format!("OCSP URL {url:?}: {why}");
        let uri: hyper::Uri = url
            .parse()
            .map_err(|_| bad("give http://HOST[:PORT]/PATH"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "only http:// responders are supported (OCSP answers are signed; RFC 5019 5 uses plain HTTP)",
                ));
            }
            _ => return Err(bad("give http://HOST[:PORT]/PATH")),
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        Ok(Responder {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: uri.port_u16().unwrap_or(80),
            path: uri.path_and_query().map_or("/".into(), |p| p.to_string()),
        })
    }

    fn host_header(&self) -> String {
        let host = match self.host.contains(':') {
            true => format!("[{}]", self.host),
            false => self.host.clone(),
        };
        match self.port {
            80 => host,
            p => format!("{host}:{p}"),
        }
    }

    /// POSTs `request` and returns the response body, within `timeout`.
    ///
    /// # Errors
    ///
    /// A sentence: unreachable, timed out, an HTTP status other than 200, or a body over
    /// [`MAX_RESPONSE_BYTES`].
    pub(crate) async fn post(
        &self,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        match tokio::time::timeout(timeout, self.exchange(request)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the OCSP responder {}:{} did not answer within {timeout:?}",
                self.host, self.port
            )),
        }
    }

    async fn exchange(&self, request: Vec<u8>) -> Result<Vec<u8>, String> {
        let at = format!("the OCSP responder {}:{}", self.host, self.port);
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {at}: {e}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("{at}: {e}"))?;
        let driver = tokio::spawn(conn);
        let req = hyper::Request::post(self.path.as_str())
            .header(hyper::header::HOST, self.host_header())
            .header(hyper::header::CONTENT_TYPE, "application/ocsp-request")
            .body(Full::new(Bytes::from(request)))
            .map_err(|e| format!("{at}: {e}"))?;
        let result = async {
            let resp = send
                .send_request(req)
                .await
                .map_err(|e| format!("{at}: {e}"))?;
            if resp.status() != hyper::StatusCode::OK {
                return Err(format!("{at} answered HTTP {}", resp.status()));
            }
            Ok(Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer of {at}: {e}"))?
                .to_bytes()
                .to_vec())
        }
        .await;
        driver.abort();
        result
    }
}
