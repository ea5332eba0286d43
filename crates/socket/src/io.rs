//! The transport under TLS: a TCP stream that counts (and reports) the bytes it writes, and the
//! state every part of a socket shares for emitting events.

use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::UnboundedSender;

use crate::event::Event;

/// Event sender and byte counters of one socket.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    tx: Mutex<Option<UnboundedSender<Event>>>,
    /// Set once TLS runs over the stream: raw writes are then "encrypted bytes".
    pub encrypting: AtomicBool,
    pub bytes_written: AtomicU64,
    pub encrypted_bytes_written: AtomicU64,
    pub bytes_read: AtomicU64,
}

impl Shared {
    pub fn set_sender(&self, tx: UnboundedSender<Event>) {
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    pub fn clear_sender(&self) {
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn emit(&self, e: Event) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(e);
        }
    }

    pub fn listening(&self) -> bool {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }
}

/// A transport that reports what it writes.
#[derive(Debug)]
pub(crate) struct Counted<T> {
    pub inner: T,
    pub shared: std::sync::Arc<Shared>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T> Counted<T> {
    /// Counts (and reports) a completed write once TLS runs over the stream.
    fn count(&self, r: &Poll<std::io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = r
            && self.shared.encrypting.load(Ordering::Relaxed)
        {
            self.shared
                .encrypted_bytes_written
                .fetch_add(*n as u64, Ordering::Relaxed);
            if self.shared.listening() {
                self.shared.emit(Event::EncryptedBytesWritten(*n));
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.count(&r);
        r
    }

    // rustls hands its queued records over as one slice each: without this the default
    // implementation would write only the first, one ~16 KiB record per system call, and sending
    // bulk data cost twice the CPU of receiving it.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.count(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
