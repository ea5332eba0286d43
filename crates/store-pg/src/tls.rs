//! TLS to PostgreSQL on rustls (aws-lc-rs), for `sslmode=require`: the server's certificate is
//! verified against `sslrootcert` (a PEM file, e.g. the mtls CA that issued it) or the system
//! roots, and its name against the URL's host. This is libpq's `verify-full`; mtls has no mode
//! that encrypts without verifying.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::Socket;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Makes a verified TLS connection per PostgreSQL connection.
#[derive(Clone)]
pub(crate) struct MakeRustls(Arc<ClientConfig>);

/// One connection's connector.
pub(crate) struct Connector {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

/// The encrypted stream.
pub(crate) struct Stream(tokio_rustls::client::TlsStream<Socket>);

impl MakeRustls {
    /// Trusting the certificates of the PEM file `roots`, or the system's when `None`.
    pub(crate) fn new(roots: Option<&std::path::Path>) -> Result<MakeRustls, String> {
        let path = roots
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from))
            .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        let text =
            std::fs::read(&path).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        let mut store = rustls::RootCertStore::empty();
        let blocks =
            pem::parse_many(&text).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        for b in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
            store
                .add(CertificateDer::from(b.contents().to_vec()))
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
        }
        if store.is_empty() {
            return Err(format!(
                "sslrootcert {}: no certificate in it",
                path.display()
            ));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(MakeRustls(Arc::new(config)))
    }
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = Stream;
    type TlsConnect = Connector;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connector> {
        let name = ServerName::try_from(domain.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("host {domain:?}: {e}"))
        })?;
        Ok(Connector {
            config: self.0.clone(),
            name,
        })
    }
}

impl TlsConnect<Socket> for Connector {
    type Stream = Stream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(Stream(tls))
        })
    }
}

impl TlsStream for Stream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
