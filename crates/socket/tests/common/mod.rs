//! Test helpers for the socket layer: a PKI made in-process with rcgen (roots, leaves with any
//! validity, CRLs), configurations, a server that handshakes one connection, a deadline for
//! every test, and a recording TCP proxy. Loopback only.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mtls_socket::{
    Event, PeerVerifyMode, SslConfiguration, SslServer, SslSocket, TlsContext, TlsVersion,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every test body runs under this deadline.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// Waits inside a test.
pub const WAIT: Duration = Duration::from_secs(5);

/// Runs `f` on a fresh runtime inside a `LocalSet`, failing the test if it takes over
/// [`DEADLINE`]. (A `LocalSet`, because `SslServer::accept`'s future is not `Send`: its notice
/// callback is a `&mut dyn FnMut` without `+ Send`, so an accept loop cannot be
/// `tokio::spawn`ed; `spawn_local` it.)
pub fn run<F: Future<Output = ()>>(f: F) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::time::timeout(DEADLINE, f)
            .await
            .expect("the test overran its deadline");
    });
    drop(local);
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// Awaits `f` for at most [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {WAIT:?}"))
}

/// A certificate with its parameters and key.
pub struct Node {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub der: CertificateDer<'static>,
}

impl Node {
    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }

    /// SHA-256 of the DER, as `IgnoreRule` and `CertInfo` hold it.
    pub fn sha256(&self) -> [u8; 32] {
        mtls_socket::CertInfo::unparsed(&self.der).sha256
    }

    pub fn serial(&self) -> Vec<u8> {
        self.params
            .serial_number
            .as_ref()
            .expect("serial")
            .to_bytes()
    }
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

fn next_serial() -> SerialNumber {
    let base = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 & 0x00ff_ffff_ffff_ffff;
    SerialNumber::from(base + SERIAL.fetch_add(1, Ordering::Relaxed) + 1)
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn base(cn: &str, from: OffsetDateTime, to: OffsetDateTime) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(next_serial());
    p.not_before = from;
    p.not_after = to;
    p.use_authority_key_identifier_extension = true;
    p
}

/// A self-signed root CA.
pub fn root(cn: &str) -> Node {
    let mut p = base(
        cn,
        now() - time::Duration::days(1),
        now() + time::Duration::days(365),
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("key");
    let der = p.self_signed(&key).expect("self-sign").der().clone();
    Node {
        params: p,
        key,
        der,
    }
}

/// An intermediate CA issued by `issuer`.
pub fn intermediate(cn: &str, issuer: &Node) -> Node {
    let mut p = base(
        cn,
        now() - time::Duration::days(1),
        now() + time::Duration::days(300),
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("key");
    let der = p
        .signed_by(&key, &issuer.issuer())
        .expect("sign")
        .der()
        .clone();
    Node {
        params: p,
        key,
        der,
    }
}

/// What a leaf is for.
#[derive(Clone, Copy)]
pub enum Use {
    Server,
    Client,
    Both,
}

/// A leaf valid from `from` to `to`.
pub fn leaf_at(
    cn: &str,
    sans: &[&str],
    usage: Use,
    issuer: &Node,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Node {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("SAN");
    let b = base(cn, from, to);
    p.distinguished_name = b.distinguished_name;
    p.serial_number = b.serial_number;
    p.not_before = b.not_before;
    p.not_after = b.not_after;
    p.use_authority_key_identifier_extension = true;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = match usage {
        Use::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Use::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Use::Both => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    let key = KeyPair::generate().expect("key");
    let der = p
        .signed_by(&key, &issuer.issuer())
        .expect("sign")
        .der()
        .clone();
    Node {
        params: p,
        key,
        der,
    }
}

/// A leaf valid from yesterday for 30 days.
pub fn leaf(cn: &str, sans: &[&str], usage: Use, issuer: &Node) -> Node {
    leaf_at(
        cn,
        sans,
        usage,
        issuer,
        now() - time::Duration::days(1),
        now() + time::Duration::days(30),
    )
}

/// A leaf that expired in 2021.
pub fn expired(cn: &str, sans: &[&str], usage: Use, issuer: &Node) -> Node {
    leaf_at(
        cn,
        sans,
        usage,
        issuer,
        rcgen::date_time_ymd(2020, 1, 1),
        rcgen::date_time_ymd(2021, 1, 1),
    )
}

/// A CRL of `ca` numbered `number` listing `revoked`.
pub fn crl(ca: &Node, number: u64, revoked: &[&Node]) -> mtls_verify::Crl {
    let params = CertificateRevocationListParams {
        this_update: now() - time::Duration::hours(1),
        next_update: now() + time::Duration::days(7),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|n| RevokedCertParams {
                serial_number: n.params.serial_number.clone().expect("serial"),
                revocation_time: now() - time::Duration::minutes(1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let c = params.signed_by(&ca.issuer()).expect("CRL");
    mtls_verify::Crl::from_der(c.der()).expect("parse CRL")
}

/// The same CRL in PEM, for files.
pub fn crl_pem(crl: &mtls_verify::Crl) -> String {
    use std::fmt::Write;
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let der = crl.der();
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut s = String::from("-----BEGIN X509 CRL-----\n");
    for line in b64.as_bytes().chunks(64) {
        let _ = writeln!(s, "{}", std::str::from_utf8(line).expect("ascii"));
    }
    s.push_str("-----END X509 CRL-----\n");
    s
}

/// A configuration presenting `me` (chain: `me`, then its issuer) and trusting `trust`.
pub fn config(me: Option<(&Node, &Node)>, trust: &[&Node]) -> SslConfiguration {
    let mut c = SslConfiguration::new();
    if let Some((leaf, issuer)) = me {
        c.set_local_certificate(vec![leaf.der.clone(), issuer.der.clone()], leaf.key_der())
            .expect("local certificate");
    }
    c.set_ca_certificates(trust.iter().map(|n| n.der.clone()).collect());
    c.set_handshake_timeout(WAIT);
    c
}

/// The usual cast: one CA, a server certificate for localhost/127.0.0.1/::1, a client.
pub struct Pki {
    pub ca: Node,
    pub server: Node,
    pub client: Node,
}

pub fn pki() -> Pki {
    let ca = root("Socket Test CA");
    let server = leaf(
        "server",
        &["localhost", "127.0.0.1", "::1"],
        Use::Server,
        &ca,
    );
    let client = leaf("client", &[], Use::Client, &ca);
    Pki { ca, server, client }
}

impl Pki {
    /// A VerifyPeer server configuration.
    pub fn server_config(&self) -> SslConfiguration {
        let mut c = config(Some((&self.server, &self.ca)), &[&self.ca]);
        c.set_peer_verify_mode(PeerVerifyMode::VerifyPeer);
        c
    }

    /// A client configuration with the client certificate.
    pub fn client_config(&self) -> SslConfiguration {
        config(Some((&self.client, &self.ca)), &[&self.ca])
    }
}

/// A server that handshakes each accepted connection and hands the result over a channel.
pub struct TestServer {
    pub port: u16,
    pub ctx: Arc<TlsContext>,
    results: tokio::sync::mpsc::UnboundedReceiver<(mtls_socket::Result<()>, SslSocket)>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(cfg: SslConfiguration) -> TestServer {
        let ctx = TlsContext::new(cfg).expect("context");
        let server = SslServer::bind("127.0.0.1:0", ctx.clone(), 64)
            .await
            .expect("bind");
        let port = server.local_addr().expect("addr").port();
        let (tx, results) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::task::spawn_local(async move {
            loop {
                let inc = server.accept(&mut |_| {}).await;
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut s = inc.socket;
                    let r = s.start_server_encryption().await;
                    let _ = tx.send((r, s));
                });
            }
        });
        TestServer {
            port,
            ctx,
            results,
            task,
        }
    }

    /// The next connection's handshake result and socket.
    pub async fn next(&mut self) -> (mtls_socket::Result<()>, SslSocket) {
        within("the server's handshake", self.results.recv())
            .await
            .expect("server task ended")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A client socket for `cfg` with its event receiver.
pub fn client(cfg: SslConfiguration) -> (SslSocket, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let mut s = SslSocket::new(cfg).expect("socket");
    let ev = s.events();
    (s, ev)
}

/// Every event received so far.
pub fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        v.push(e);
    }
    v
}

/// Reads until `want` bytes arrived (or EOF / deadline).
pub async fn read_n(s: &mut SslSocket, want: usize) -> Vec<u8> {
    let mut out = vec![0u8; want];
    within("reading", s.read_exact(&mut out))
        .await
        .expect("read");
    out
}

/// Writes and flushes.
pub async fn send(s: &mut SslSocket, data: &[u8]) {
    s.write_all(data).await.expect("write");
    s.flush().await.expect("flush");
}

/// A TCP proxy on 127.0.0.1 to `port` that records what the client sends (one connection).
pub struct Recorder {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start(port: u16) -> Recorder {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let my = l.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rec = seen.clone();
        let task = tokio::spawn(async move {
            let Ok((c, _)) = l.accept().await else { return };
            let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            let (mut cr, mut cw) = c.into_split();
            let (mut sr, mut sw) = s.into_split();
            let up = async {
                let mut buf = [0u8; 4096];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    rec.lock().unwrap().extend_from_slice(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
            };
            let down = async {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
                let _ = cw.shutdown().await;
            };
            tokio::join!(up, down);
        });
        Recorder {
            port: my,
            seen,
            task,
        }
    }

    pub fn saw(&self, needle: &[u8]) -> bool {
        self.seen
            .lock()
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// TLS 1.2 only.
pub fn tls12(c: &mut SslConfiguration) {
    c.set_protocol_range(TlsVersion::Tls12, TlsVersion::Tls12)
        .expect("range");
}
