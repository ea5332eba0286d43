//! `AsyncRead` and `AsyncWrite` for [`SslSocket`]: reads and writes go to whichever stream the
//! socket has now (plain or TLS), count the bytes, emit events, and send the data queued by
//! [`SslSocket::enqueue`] first.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{SslSocket, Stream};
use crate::event::{Event, SocketState};

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
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let tcp = match &self.stream {
                Stream::Client(s) => Some(&s.get_ref().0.inner),
                Stream::Server(s) => Some(&s.get_ref().0.inner),
                _ => None,
            };
            if let Some(tcp) = tcp {
                let _ = socket2::SockRef::from(tcp).set_tcp_cork(true);
            }
        }
        match &mut self.stream {
            Stream::None => Poll::Ready(Ok(())),
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
