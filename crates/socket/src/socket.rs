//! [`SslSocket`]: one TLS connection, client or server, with an immediate or delayed handshake.
//!
//! This module holds the socket itself: construction, connecting, state and events, closing and
//! what the handshake negotiated. The handshake is in `handshake`, reading and writing in
//! `io_impl`.

mod handshake;
mod io_impl;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mtls_verify::{IgnoreRule, SslError};
use rustls::SupportedCipherSuite;
use rustls_pki_types::CertificateDer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::config::suite_name;
use crate::context::TlsContext;
use crate::error::{Error, Result};
use crate::event::{Event, SocketState, SslMode};
use crate::io::{Counted, Shared};
use crate::verify::IgnorePolicy;
use crate::{SslConfiguration, TlsVersion};

type Tcp = Counted<TcpStream>;

enum Stream {
    None,
    Plain(Tcp),
    Client(Box<tokio_rustls::client::TlsStream<Tcp>>),
    Server(Box<tokio_rustls::server::TlsStream<Tcp>>),
}

/// A TCP socket that can become a TLS client or server (QSslSocket).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use mtls_socket::{SslConfiguration, SslSocket};
/// use tokio::io::AsyncWriteExt;
/// let mut cfg = SslConfiguration::new();
/// cfg.add_ca_certificates_file("ca.crt".as_ref())?;
/// cfg.set_local_certificate_files("client.crt".as_ref(), "client.key".as_ref(), None)?;
/// let mut s = SslSocket::new(cfg)?;
/// let mut events = s.events();
/// s.enqueue(b"I am in!\n"); // sent encrypted as soon as the handshake ends
/// s.connect_to_host_encrypted("server.example", 8443).await?;
/// s.write_all(b"hello\n").await?;
/// # Ok(()) }
/// ```
pub struct SslSocket {
    ctx: Arc<TlsContext>,
    shared: Arc<Shared>,
    stream: Stream,
    state: SocketState,
    mode: SslMode,
    ignore: IgnorePolicy,
    peer_addr: Option<SocketAddr>,
    peer_chain: Vec<CertificateDer<'static>>,
    peer_verified: bool,
    ssl_errors: Vec<SslError>,
    protocol: Option<TlsVersion>,
    cipher: Option<SupportedCipherSuite>,
    alpn: Option<Vec<u8>>,
    queued: Vec<u8>,
    disconnected_emitted: bool,
}

impl std::fmt::Debug for SslSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SslSocket")
            .field("state", &self.state)
            .field("mode", &self.mode)
            .field("peer", &self.peer_addr)
            .finish()
    }
}

impl SslSocket {
    /// An unconnected socket with its own context.
    pub fn new(config: SslConfiguration) -> Result<SslSocket> {
        Ok(Self::with_context(TlsContext::new(config)?))
    }

    /// An unconnected socket sharing `ctx` (session cache, verifier) with others.
    pub fn with_context(ctx: Arc<TlsContext>) -> SslSocket {
        SslSocket {
            ctx,
            shared: Arc::new(Shared::default()),
            stream: Stream::None,
            state: SocketState::Unconnected,
            mode: SslMode::Unencrypted,
            ignore: IgnorePolicy::Nothing,
            peer_addr: None,
            peer_chain: Vec::new(),
            peer_verified: false,
            ssl_errors: Vec::new(),
            protocol: None,
            cipher: None,
            alpn: None,
            queued: Vec::new(),
            disconnected_emitted: false,
        }
    }

    /// Wraps a connected TCP stream (plain, for a delayed handshake: STARTTLS).
    pub fn from_tcp(stream: TcpStream, ctx: Arc<TlsContext>) -> SslSocket {
        let peer = stream.peer_addr().ok();
        Self::from_accepted(stream, peer, ctx)
    }

    /// [`SslSocket::from_tcp`] with the peer address `accept` already returned (one system
    /// call less per connection).
    pub(crate) fn from_accepted(
        stream: TcpStream,
        peer: Option<std::net::SocketAddr>,
        ctx: Arc<TlsContext>,
    ) -> SslSocket {
        let mut s = Self::with_context(ctx);
        s.peer_addr = peer;
        let _ = stream.set_nodelay(true);
        s.stream = Stream::Plain(Counted {
            inner: stream,
            shared: s.shared.clone(),
        });
        s.state = SocketState::Connected;
        s
    }

    /// The event stream. Events are only recorded from the first call on; a second call
    /// replaces the first receiver.
    pub fn events(&mut self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.set_sender(tx);
        rx
    }

    /// Stops recording events and frees the channel (a server holding thousands of idle
    /// connections need not keep a queue for each).
    pub fn stop_events(&mut self) {
        self.shared.clear_sender();
    }

    fn set_state(&mut self, s: SocketState) {
        if self.state != s {
            self.state = s;
            self.shared.emit(Event::StateChanged(s));
        }
    }

    fn set_mode(&mut self, m: SslMode) {
        if self.mode != m {
            self.mode = m;
            self.shared.emit(Event::ModeChanged(m));
        }
    }

    /// Ignores every certificate error (they are still reported).
    pub fn ignore_ssl_errors(&mut self) {
        self.ignore = IgnorePolicy::All;
    }

    /// Continues the handshake only if every error found matches one of `expected` — by kind,
    /// and by certificate when the rule names one.
    pub fn ignore_ssl_errors_expected(&mut self, expected: Vec<IgnoreRule>) {
        self.ignore = IgnorePolicy::Expected(expected);
    }

    /// Queues data to send as soon as the connection is encrypted; on an encrypted socket it
    /// goes out before the next write or flush.
    pub fn enqueue(&mut self, data: &[u8]) {
        self.queued.extend_from_slice(data);
    }

    /// Resolves `host`, connects and performs the client handshake (connectToHostEncrypted).
    pub async fn connect_to_host_encrypted(&mut self, host: &str, port: u16) -> Result<()> {
        self.connect_to_host(host, port).await?;
        self.start_client_encryption(Some(host)).await
    }

    /// Resolves `host` and connects over plain TCP (for a later delayed handshake).
    pub async fn connect_to_host(&mut self, host: &str, port: u16) -> Result<()> {
        if self.state != SocketState::Unconnected {
            return Err(Error::State("the socket is already connected".into()));
        }
        self.set_state(SocketState::HostLookup);
        let target = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((target, port)).await {
            Ok(a) => a.collect(),
            Err(e) => {
                // The resolver's own error (e.g. "failed to lookup address information: Name or
                // service not known") goes both to the event and to the caller.
                let kind = e.kind();
                let text = e.to_string();
                self.fail(format!("host lookup of {host}"), e);
                return Err(Error::io(
                    format!("host lookup of {host}"),
                    std::io::Error::new(kind, text),
                ));
            }
        };
        self.set_state(SocketState::Connecting);
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    self.peer_addr = Some(addr);
                    self.stream = Stream::Plain(Counted {
                        inner: s,
                        shared: self.shared.clone(),
                    });
                    self.set_state(SocketState::Connected);
                    self.shared.emit(Event::Connected);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("no address"));
        let msg = format!("connecting to {host}:{port}");
        self.fail(msg.clone(), std::io::Error::new(e.kind(), e.to_string()));
        Err(Error::io(msg, e))
    }

    fn fail(&mut self, context: String, e: std::io::Error) {
        self.shared.emit(Event::Error(format!("{context}: {e}")));
        self.stream = Stream::None;
        self.set_state(SocketState::Unconnected);
    }

    fn peer_label(&self) -> String {
        self.peer_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "peer".into())
    }

    fn emit_disconnected(&mut self) {
        if !self.disconnected_emitted {
            self.disconnected_emitted = true;
            self.shared.emit(Event::Disconnected);
        }
    }

    /// Sends close_notify (when encrypted), shuts the connection down and drops it.
    pub async fn disconnect_from_host(&mut self) -> Result<()> {
        if matches!(self.stream, Stream::None) {
            return Ok(());
        }
        self.set_state(SocketState::Closing);
        let r = self.shutdown().await;
        self.stream = Stream::None;
        self.set_state(SocketState::Unconnected);
        self.emit_disconnected();
        r.map_err(|e| Error::io("closing", e))
    }

    /// The connection state.
    pub fn state(&self) -> SocketState {
        self.state
    }

    /// The encryption mode.
    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// True once the handshake has finished.
    pub fn is_encrypted(&self) -> bool {
        matches!(self.stream, Stream::Client(_) | Stream::Server(_))
    }

    /// The peer's certificate chain as it sent it (leaf first).
    pub fn peer_certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.peer_chain
    }

    /// True when the peer presented a certificate chain that verified: no error, or only
    /// errors the ignore policy tolerates. In `QueryPeer` mode a handshake succeeds whatever
    /// the chain; identity checks (CN or SAN allow-lists, pinning) must require this, or a
    /// certificate from any CA with the right name would pass.
    pub fn peer_verified(&self) -> bool {
        self.peer_verified
    }

    /// The errors the handshake's verification found (ignored ones included).
    pub fn ssl_errors(&self) -> &[SslError] {
        &self.ssl_errors
    }

    /// The negotiated protocol.
    pub fn protocol(&self) -> Option<TlsVersion> {
        self.protocol
    }

    /// The negotiated cipher suite's name (`TLS13_AES_256_GCM_SHA384` …).
    pub fn cipher(&self) -> Option<String> {
        self.cipher.map(|c| suite_name(c.suite()))
    }

    /// The negotiated ALPN protocol.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// Application bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.shared.bytes_written.load(Ordering::Relaxed)
    }

    /// Bytes written to the network since encryption started, TLS overhead included.
    pub fn encrypted_bytes_written(&self) -> u64 {
        self.shared.encrypted_bytes_written.load(Ordering::Relaxed)
    }

    /// Application bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.shared.bytes_read.load(Ordering::Relaxed)
    }

    /// The context (shared configuration).
    pub fn context(&self) -> &Arc<TlsContext> {
        &self.ctx
    }
}
