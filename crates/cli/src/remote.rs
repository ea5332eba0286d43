//! The options of a command that talks to `mtls ca serve` as the holder of a certificate
//! (`mtls ca token --url`, `mtls ca revoke --url`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_caserver::client::{Answer, Client};
use mtls_socket::SslConfiguration;

/// `--url URL --cert C --key K --ca CA`.
#[derive(Args, Clone, Default)]
pub struct Remote {
    /// The CA server (https://HOST:PORT): do this through its API instead of on the CA
    /// directory; needs --cert and --key (an admin certificate, or for revoke the certificate
    /// itself).
    #[arg(long)]
    pub url: Option<String>,
    /// The client certificate for --url.
    #[arg(long, requires = "url")]
    pub cert: Option<PathBuf>,
    /// Its private key.
    #[arg(long, requires = "url")]
    pub key: Option<PathBuf>,
    /// The CA certificate the server must chain to [default: ca.crt of the CA directory].
    #[arg(long = "ca", requires = "url")]
    pub ca_file: Option<PathBuf>,
}

impl Remote {
    /// True when the command goes through the API.
    pub fn is_remote(&self) -> bool {
        self.url.is_some() && self.cert.is_some()
    }

    /// `method path body` as the holder of --cert; a non-2xx answer is an error naming the
    /// server's reason.
    pub fn call(
        &self,
        default_ca: PathBuf,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Answer> {
        let (Some(url), Some(cert), Some(key)) = (&self.url, &self.cert, &self.key) else {
            bail!("--url needs --cert and --key (an admin certificate of this CA)");
        };
        let ca = self.ca_file.clone().unwrap_or(default_ca);
        let pass = crate::pass::for_key_file(key, None)?;
        let mut tls = SslConfiguration::new();
        tls.add_ca_certificates_file(&ca)
            .with_context(|| format!("--ca {}", ca.display()))?;
        tls.set_local_certificate_files(cert, key, pass.as_ref().map(|p| p.as_slice()))
            .with_context(|| format!("--cert {} --key {}", cert.display(), key.display()))?;
        let client = Client::new(url, tls)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let answer = rt.block_on(client.request(method, path, Some(body)))?;
        if !(200..300).contains(&answer.status) {
            bail!(
                "{} refused ({}): {}",
                client.url(),
                answer.status,
                answer.reason()
            );
        }
        Ok(answer)
    }
}
