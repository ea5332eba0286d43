//! [`SslSocket`]: one TLS connection, client or server, with an immediate or delayed handshake.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use mtls_verify::{IgnoreRule, SslError};
use rustls::SupportedCipherSuite;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::context::TlsContext;
use crate::error::{Error, Result, from_tls};
use crate::event::{Event, SocketState, SslMode};
use crate::io::{Counted, Shared};
use crate::verify::{HANDSHAKE, IgnorePolicy, OutcomeSlot};
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
                self.fail(format!("host lookup of {host}"), e);
                return Err(Error::io(
                    format!("host lookup of {host}"),
                    std::io::Error::other("not found"),
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

    /// Starts the client handshake on a connected plain socket (startClientEncryption).
    /// `server_name` is sent as SNI and checked against the server's certificate (unless a
    /// peer verify name is configured); `None` uses the peer's IP address.
    pub async fn start_client_encryption(&mut self, server_name: Option<&str>) -> Result<()> {
        let tcp = self.take_plain()?;
        let host = match server_name {
            Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
            None => self
                .peer_addr
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
        };
        let name = ServerName::try_from(host.clone()).map_err(|_| {
            Error::config(
                format!("server name {host:?}"),
                "not a DNS name or IP address",
            )
        })?;
        let (cfg, slot) = self.ctx.client_config(Some(host), self.ignore.clone())?;
        self.set_mode(SslMode::Client);
        self.shared.encrypting.store(true, Ordering::Relaxed);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let timeout = self.ctx.config().handshake_timeout;
        let res = tokio::time::timeout(timeout, connector.connect(name, tcp)).await;
        match res {
            Ok(Ok(tls)) => {
                let (_, conn) = tls.get_ref();
                self.record(
                    conn.peer_certificates(),
                    conn.protocol_version(),
                    conn.negotiated_cipher_suite(),
                    conn.alpn_protocol(),
                );
                self.stream = Stream::Client(Box::new(tls));
                self.finish_handshake(&slot).await
            }
            Ok(Err(e)) => Err(self.handshake_failed(&slot, Some(e))),
            Err(_) => Err(self.handshake_failed(&slot, None)),
        }
    }

    /// Starts the server handshake on a connected plain socket (startServerEncryption).
    pub async fn start_server_encryption(&mut self) -> Result<()> {
        let timeout = self.ctx.config().handshake_timeout;
        // Look at the first bytes before rustls does, to say plainly what a peer that does not
        // speak (modern) TLS sent, and to refuse TLS 1.0/1.1-only clients with protocol_version.
        let first = match &mut self.stream {
            Stream::Plain(tcp) => {
                match tokio::time::timeout(timeout, crate::sniff::peek(&tcp.inner)).await {
                    Ok(bytes) => bytes,
                    Err(_) => return Err(self.handshake_failed(&OutcomeSlot::default(), None)),
                }
            }
            _ => Vec::new(),
        };
        if let Some(refusal) = crate::sniff::refusal(&first) {
            if let (Some(alert), Stream::Plain(tcp)) = (refusal.alert, &mut self.stream) {
                let _ = tcp.inner.write_all(&alert).await;
                let _ = tcp.inner.shutdown().await;
            }
            let err = Error::NotTls(refusal.reason);
            self.shared.emit(Event::Error(err.to_string()));
            self.stream = Stream::None;
            self.set_state(SocketState::Unconnected);
            self.emit_disconnected();
            return Err(err);
        }
        let tcp = self.take_plain()?;
        let cfg = self.ctx.server_config()?;
        let slot = OutcomeSlot::default();
        self.set_mode(SslMode::Server);
        self.shared.encrypting.store(true, Ordering::Relaxed);
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        // The shared verifier finds this socket's ignore policy and outcome slot here.
        let scoped = HANDSHAKE.scope((self.ignore.clone(), slot.clone()), acceptor.accept(tcp));
        match tokio::time::timeout(timeout, scoped).await {
            Ok(Ok(tls)) => {
                let (_, conn) = tls.get_ref();
                self.record(
                    conn.peer_certificates(),
                    conn.protocol_version(),
                    conn.negotiated_cipher_suite(),
                    conn.alpn_protocol(),
                );
                self.stream = Stream::Server(Box::new(tls));
                self.finish_handshake(&slot).await
            }
            Ok(Err(e)) => Err(self.handshake_failed(&slot, Some(e))),
            Err(_) => Err(self.handshake_failed(&slot, None)),
        }
    }

    fn take_plain(&mut self) -> Result<Tcp> {
        match std::mem::replace(&mut self.stream, Stream::None) {
            Stream::Plain(t) => Ok(t),
            other => {
                self.stream = other;
                Err(Error::State(match self.mode {
                    SslMode::Unencrypted => "the socket is not connected".into(),
                    _ => "the socket is already encrypted".into(),
                }))
            }
        }
    }

    fn record(
        &mut self,
        chain: Option<&[CertificateDer<'static>]>,
        version: Option<rustls::ProtocolVersion>,
        suite: Option<SupportedCipherSuite>,
        alpn: Option<&[u8]>,
    ) {
        self.peer_chain = chain.map(|c| c.to_vec()).unwrap_or_default();
        self.protocol = match version {
            Some(rustls::ProtocolVersion::TLSv1_3) => Some(TlsVersion::Tls13),
            Some(rustls::ProtocolVersion::TLSv1_2) => Some(TlsVersion::Tls12),
            _ => None,
        };
        self.cipher = suite;
        self.alpn = alpn.map(|a| a.to_vec());
    }

    fn report_errors(&mut self, slot: &OutcomeSlot) -> Option<crate::verify::Outcome> {
        let outcome = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(o) = &outcome
            && !o.errors.is_empty()
        {
            for e in &o.errors {
                self.shared
                    .emit(Event::PeerVerifyError(Box::new(e.clone())));
            }
            self.shared.emit(Event::SslErrors(o.errors.clone()));
            self.ssl_errors = o.errors.clone();
        }
        outcome
    }

    async fn finish_handshake(&mut self, slot: &OutcomeSlot) -> Result<()> {
        self.report_errors(slot);
        self.shared.emit(Event::Encrypted);
        if !self.queued.is_empty() {
            let data = std::mem::take(&mut self.queued);
            self.write_all(&data)
                .await
                .map_err(|e| Error::io("sending queued data", e))?;
            self.flush()
                .await
                .map_err(|e| Error::io("sending queued data", e))?;
        }
        Ok(())
    }

    fn handshake_failed(&mut self, slot: &OutcomeSlot, e: Option<std::io::Error>) -> Error {
        let outcome = self.report_errors(slot);
        let peer = self.peer_label();
        let err = match (outcome, e) {
            (Some(o), _) if !o.accepted => Error::PeerVerification { errors: o.errors },
            (_, None) => Error::Timeout(format!(
                "TLS handshake (after {:?})",
                self.ctx.config().handshake_timeout
            )),
            (_, Some(e)) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::NoCertificatesPresented) => Error::PeerVerification {
                    errors: vec![SslError::new(
                        mtls_verify::ErrorKind::NoPeerCertificate,
                        "the peer sent no certificate",
                    )],
                },
                Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge)) => {
                    Error::NotTls(
                        "the peer sent a handshake message larger than the 64 KiB limit (a client certificate chain that long?)".into(),
                    )
                }
                Some(tls) => from_tls("TLS handshake".into(), tls.clone()),
                None if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::NotTls(format!(
                    "the peer {peer} closed the connection during the handshake (did it reject our certificate?)"
                )),
                None => Error::io("TLS handshake", e),
            },
        };
        if let Error::PeerVerification { errors } = &err
            && self.ssl_errors.is_empty()
        {
            self.ssl_errors = errors.clone();
            self.shared.emit(Event::SslErrors(errors.clone()));
        }
        self.shared.emit(Event::Error(err.to_string()));
        self.stream = Stream::None;
        self.set_state(SocketState::Unconnected);
        self.emit_disconnected();
        err
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
        self.cipher.map(|c| format!("{:?}", c.suite()))
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

impl AsyncRead for SslSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = match &mut self.stream {
            Stream::None => return Poll::Ready(Ok(())),
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match &r {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    self.shared
                        .bytes_read
                        .fetch_add(n as u64, Ordering::Relaxed);
                    self.shared.emit(Event::ReadyRead);
                } else {
                    self.set_state(SocketState::Unconnected);
                    self.emit_disconnected();
                }
            }
            Poll::Ready(Err(e)) => {
                let msg = e.to_string();
                self.shared.emit(Event::Error(msg));
            }
            Poll::Pending => {}
        }
        r
    }
}

impl SslSocket {
    /// Writes `buf` to whatever stream the socket has now.
    fn poll_stream_write(
        stream: &mut Stream,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match stream {
            Stream::None => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the socket is not connected",
            ))),
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    /// Sends what [`SslSocket::enqueue`] queued (on an encrypted socket: before the next write
    /// or flush).
    fn poll_drain_queue(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.is_encrypted() {
            return Poll::Ready(Ok(()));
        }
        while !self.queued.is_empty() {
            match Self::poll_stream_write(&mut self.stream, cx, &self.queued) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.queued.drain(..n);
                    self.shared
                        .bytes_written
                        .fetch_add(n as u64, Ordering::Relaxed);
                    self.shared.emit(Event::BytesWritten(n));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SslSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Poll::Ready(Err(e)) = self.poll_drain_queue(cx) {
            return Poll::Ready(Err(e));
        }
        if !self.queued.is_empty() && self.is_encrypted() {
            return Poll::Pending;
        }
        let r = match &mut self.stream {
            Stream::None => {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the socket is not connected",
                )));
            }
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = &r {
            self.shared
                .bytes_written
                .fetch_add(*n as u64, Ordering::Relaxed);
            self.shared.emit(Event::BytesWritten(*n));
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if let Poll::Ready(Err(e)) | Poll::Ready(Ok(Err(e))) =
            self.poll_drain_queue(cx).map(Ok::<_, std::io::Error>)
        {
            return Poll::Ready(Err(e));
        }
        match &mut self.stream {
            Stream::None => Poll::Ready(Ok(())),
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // Corked, the close_notify record leaves in the same segment as the FIN that follows it:
        // one transmission less per connection (on loopback the sender pays for both ends).
        let tcp = match &self.stream {
            Stream::Client(s) => Some(&s.get_ref().0.inner),
            Stream::Server(s) => Some(&s.get_ref().0.inner),
            _ => None,
        };
        if let Some(tcp) = tcp {
            let _ = socket2::SockRef::from(tcp).set_tcp_cork(true);
        }
        match &mut self.stream {
            Stream::None => Poll::Ready(Ok(())),
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
