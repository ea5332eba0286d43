//! The API's own certificate: issued by the CA to itself at start for the listen address (and
//! `--san`s), and renewed while the server runs, at 2/3 of its life, without a restart:
//! new handshakes get the new certificate, established connections keep theirs.

use std::sync::Arc;
use std::time::Duration;

use mtls_pki::{CertificateAuthority, KeyType, Name, San};
use mtls_socket::{PeerVerifyMode, SslConfiguration, TlsContext};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

use crate::server::Options;
use crate::state::{Shared, with_ca};
use crate::{ApiError, Error};

/// After a failed renewal, the next attempt comes this much later.
const RETRY: Duration = Duration::from_secs(60);

/// A certificate the CA issued to its API.
pub(crate) struct ServerCert {
    /// Leaf first, then the CA chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key, PKCS#8.
    pub key: PrivateKeyDer<'static>,
    /// The CA chain (the trust anchors for client certificates).
    pub roots: Vec<CertificateDer<'static>>,
    /// Its serial, hex.
    pub serial: String,
    /// (notBefore, notAfter), Unix seconds.
    pub validity: (i64, i64),
}

/// Issues (and records) a server certificate for the listen address and `opts.sans`.
pub(crate) fn issue(ca: &mut CertificateAuthority, opts: &Options) -> Result<ServerCert, Error> {
    let mut sans = opts.sans.clone();
    let ip = opts.listen.ip();
    if ip.is_unspecified() {
        sans.push(San::Ip(std::net::Ipv4Addr::LOCALHOST.into()));
    } else {
        sans.push(San::Ip(ip));
    }
    let cn = match ca.config().ca.unique_subject {
        // A fresh subject each time, so unique_subject never refuses the server its own.
        true => format!("mtls ca serve {}", mtls_pki::time::now().unix_timestamp()),
        false => "mtls ca serve".to_string(),
    };
    let subject = Name::parse(&format!("/CN={cn}"))?;
    let (key, issued) = ca.issue(
        "the API server certificate",
        subject,
        sans,
        "server",
        None,
        KeyType::EcP256,
    )?;
    let roots = mtls_socket::load_certificates(ca.chain_pem().as_bytes(), "the CA chain")
        .map_err(mtls_socket::Error::Load)?;
    let mut chain = vec![CertificateDer::from(issued.der.clone())];
    chain.extend(roots.iter().cloned());
    let validity = mtls_pki::inspect::cert_validity(&issued.der)
        .unwrap_or((mtls_pki::time::now().unix_timestamp(), issued.not_after));
    Ok(ServerCert {
        chain,
        key: PrivateKeyDer::Pkcs8(key.key_pair().serialize_der().into()),
        roots,
        serial: issued.serial.hex(),
        validity,
    })
}

/// The API's TLS configuration: `cert`, TLS 1.2 and up, client certificates of this CA
/// requested but not required.
pub(crate) fn tls_config(cert: &ServerCert) -> Result<SslConfiguration, Error> {
    let mut cfg = SslConfiguration::new();
    cfg.set_local_certificate(cert.chain.clone(), cert.key.clone_key())?;
    cfg.set_ca_certificates(cert.roots.clone());
    cfg.set_peer_verify_mode(PeerVerifyMode::QueryPeer);
    cfg.set_alpn_protocols(vec![b"http/1.1".to_vec()]);
    Ok(cfg)
}

/// Renews the API's certificate at 2/3 of each one's life, until `stop`.
pub(crate) async fn keep(
    state: Shared,
    ctx: Arc<TlsContext>,
    opts: Options,
    mut validity: (i64, i64),
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (nb, na) = validity;
        let due = nb + (na - nb) * 2 / 3;
        let now = mtls_pki::time::now().unix_timestamp();
        let wait = Duration::from_secs(u64::try_from(due - now).unwrap_or(0));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let o = opts.clone();
        let renewed = with_ca(&state, move |ca| {
            issue(ca, &o).map_err(|e| ApiError::internal(e.to_string()))
        })
        .await
        .and_then(|c| {
            ctx.set_server_certificate(c.chain, c.key)
                .map(|()| (c.serial, c.validity))
                .map_err(|e| ApiError::internal(e.to_string()))
        });
        match renewed {
            Ok((serial, v)) => {
                eprintln!("ca serve: renewed the API certificate: serial {serial}");
                validity = v;
            }
            Err(e) => {
                eprintln!(
                    "warning: ca serve could not renew its API certificate: {}",
                    e.message
                );
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}
