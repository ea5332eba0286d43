//! The same socket for programs that do not use async: every call blocks, with a timeout,
//! like QSslSocket's `waitFor…` functions.

use std::time::Duration;

use mtls_verify::IgnoreRule;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

use crate::error::{Error, Result};
use crate::event::{Event, SocketState, SslMode};
use crate::{SslConfiguration, TlsContext};

/// A blocking TLS socket (client or server) driven by its own single-threaded runtime.
pub struct SslSocket {
    rt: Runtime,
    inner: crate::SslSocket,
    events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    buffer: Vec<u8>,
    pending: Vec<u8>,
}

/// Runs `f` on `rt` with a timeout. The timer is created inside the runtime: creating it before
/// `block_on` would need a runtime context that a non-async caller does not have.
fn run_timed<T>(
    rt: &Runtime,
    what: &str,
    t: Duration,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match rt.block_on(async move { tokio::time::timeout(t, f).await }) {
        Ok(v) => v,
        Err(_) => Err(Error::Timeout(format!("{what} (after {t:?})"))),
    }
}

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the runtime", e))
}

impl SslSocket {
    fn build(inner: crate::SslSocket) -> Result<SslSocket> {
        let rt = runtime()?;
        let mut inner = inner;
        let events = inner.events();
        Ok(SslSocket {
            rt,
            inner,
            events,
            buffer: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// An unconnected socket.
    pub fn new(config: SslConfiguration) -> Result<SslSocket> {
        Self::build(crate::SslSocket::with_context(TlsContext::new(config)?))
    }

    /// Wraps a connected std TCP stream (plain; call a `start_…_encryption` next).
    pub fn from_std(stream: std::net::TcpStream, config: SslConfiguration) -> Result<SslSocket> {
        let ctx = TlsContext::new(config)?;
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::io("preparing the stream", e))?;
        let rt = runtime()?;
        let tcp = {
            let _guard = rt.enter();
            tokio::net::TcpStream::from_std(stream)
                .map_err(|e| Error::io("preparing the stream", e))?
        };
        let mut inner = crate::SslSocket::from_tcp(tcp, ctx);
        let events = inner.events();
        Ok(SslSocket {
            rt,
            inner,
            events,
            buffer: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// Events recorded so far (the blocking socket records them all; drain them here).
    pub fn take_events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// See [`crate::SslSocket::ignore_ssl_errors`].
    pub fn ignore_ssl_errors(&mut self) {
        self.inner.ignore_ssl_errors();
    }

    /// See [`crate::SslSocket::ignore_ssl_errors_expected`].
    pub fn ignore_ssl_errors_expected(&mut self, expected: Vec<IgnoreRule>) {
        self.inner.ignore_ssl_errors_expected(expected);
    }

    /// Connects over TCP (waitForConnected).
    pub fn connect_to_host(&mut self, host: &str, port: u16, timeout: Duration) -> Result<()> {
        let f = self.inner.connect_to_host(host, port);
        run_timed(&self.rt, "connecting", timeout, f)
    }

    /// Connects and handshakes (connectToHostEncrypted + waitForEncrypted).
    pub fn connect_to_host_encrypted(
        &mut self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<()> {
        let f = self.inner.connect_to_host_encrypted(host, port);
        run_timed(&self.rt, "connecting", timeout, f)
    }

    /// Client handshake on the connected socket (startClientEncryption + waitForEncrypted).
    pub fn start_client_encryption(
        &mut self,
        server_name: Option<&str>,
        timeout: Duration,
    ) -> Result<()> {
        let f = self.inner.start_client_encryption(server_name);
        run_timed(&self.rt, "the TLS handshake", timeout, f)
    }

    /// Server handshake on the connected socket (startServerEncryption + waitForEncrypted).
    pub fn start_server_encryption(&mut self, timeout: Duration) -> Result<()> {
        let f = self.inner.start_server_encryption();
        run_timed(&self.rt, "the TLS handshake", timeout, f)
    }

    /// Queues `data`; [`wait_for_bytes_written`](Self::wait_for_bytes_written) sends it.
    pub fn write(&mut self, data: &[u8]) -> usize {
        self.pending.extend_from_slice(data);
        data.len()
    }

    /// Sends what [`write`](Self::write) queued (waitForBytesWritten). Ok(false) when nothing
    /// was pending.
    pub fn wait_for_bytes_written(&mut self, timeout: Duration) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        let data = std::mem::take(&mut self.pending);
        let inner = &mut self.inner;
        let f = async move {
            inner
                .write_all(&data)
                .await
                .map_err(|e| Error::io("writing", e))?;
            inner.flush().await.map_err(|e| Error::io("writing", e))
        };
        run_timed(&self.rt, "writing", timeout, f).map(|()| true)
    }

    /// Waits until data arrives (waitForReadyRead). Ok(false) when the peer closed.
    pub fn wait_for_ready_read(&mut self, timeout: Duration) -> Result<bool> {
        if !self.buffer.is_empty() {
            return Ok(true);
        }
        self.wait_for_ready_read_into(timeout)
    }

    /// Takes up to `buf.len()` bytes already received.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.buffer.len());
        buf[..n].copy_from_slice(&self.buffer[..n]);
        self.buffer.drain(..n);
        n
    }

    /// Takes everything received so far.
    pub fn read_all(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }

    /// Closes with close_notify (disconnectFromHost + waitForDisconnected).
    pub fn disconnect_from_host(&mut self, timeout: Duration) -> Result<()> {
        let f = self.inner.disconnect_from_host();
        run_timed(&self.rt, "closing", timeout, f)
    }

    /// Reads until the peer closes (waitForDisconnected); data read is kept for [`read`](Self::read).
    pub fn wait_for_disconnected(&mut self, timeout: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(format!(
                    "waiting for the peer to close (after {timeout:?})"
                )));
            }
            let had = self.buffer.len();
            let more = self.wait_for_ready_read_into(left)?;
            if !more && self.buffer.len() == had {
                return Ok(());
            }
        }
    }

    /// Reads once (with a timeout) into the buffer; Ok(false) at end of stream.
    fn wait_for_ready_read_into(&mut self, timeout: Duration) -> Result<bool> {
        let mut chunk = vec![0u8; 16 * 1024];
        let inner = &mut self.inner;
        let f = async move {
            inner
                .read(&mut chunk)
                .await
                .map(|n| (n, chunk))
                .map_err(|e| Error::io("reading", e))
        };
        let (n, chunk) = run_timed(&self.rt, "waiting for data", timeout, f)?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The async socket inside (accessors: peer chain, protocol, cipher, errors …).
    pub fn inner(&self) -> &crate::SslSocket {
        &self.inner
    }

    /// Connection state.
    pub fn state(&self) -> SocketState {
        self.inner.state()
    }

    /// Encryption mode.
    pub fn mode(&self) -> SslMode {
        self.inner.mode()
    }

    /// True once encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.inner.is_encrypted()
    }
}
