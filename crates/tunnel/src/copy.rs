//! The byte pump between a tunnel's two sockets.
//!
//! - **Half-close both ways:** end of stream on one side (a FIN, or TLS close_notify) becomes a
//!   shutdown of the other side's write half, and the other direction goes on until it ends too.
//!   A proxy that closes both at the first end of stream cuts off answers still on their way.
//! - **No buffer while idle:** a read borrows a [`BUF`]-byte buffer from a per-thread pool and
//!   gives it back at once when nothing is there, so ten thousand idle connections hold no
//!   copy buffers at all, and a busy one reuses the same few (no allocation per chunk).
//! - **Idle timeout:** no byte either way for that long ends the pump.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The size of a copy buffer: four full TLS records, so one read can take what a bulk sender
/// has in flight.
pub const BUF: usize = 64 * 1024;

/// Where in a buffer what is read starts, when the writer is TLS. rustls copies each plaintext
/// record it sends to 5 bytes into a fresh record buffer (after the record header), and on AMD
/// Zen hosts glibc's memcpy runs several times slower when the source is 64-byte aligned and the
/// destination is not (glibc bug 30994). Starting the data 5 bytes in keeps both ends of that copy
/// alike; it cut the tunnel's user CPU per GB sent to a client by a third there (bench/tunnel).
/// A TLS reader copies out of an aligned buffer, so the other direction starts at 0.
const SKEW: usize = 5;

/// Buffers kept per thread for reuse (beyond these, a returned buffer is freed).
const POOL: usize = 32;

thread_local! {
    static FREE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

fn take_buf() -> Box<[u8]> {
    FREE.with(|f| f.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; BUF].into_boxed_slice())
}

fn give_buf(b: Box<[u8]>) {
    FREE.with(|f| {
        let mut f = f.borrow_mut();
        if f.len() < POOL {
            f.push(b);
        }
    });
}

/// How a pump ended.
#[derive(Debug)]
pub enum Ended {
    /// Both directions reached end of stream and were shut down in turn.
    Done,
    /// No byte moved either way for the idle timeout.
    Idle,
    /// Reading from or writing to a side failed.
    Failed {
        /// The side that failed: true for the first (`a`) socket.
        first: bool,
        /// The error.
        error: io::Error,
    },
}

/// Bytes moved by a pump.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// From the first socket to the second.
    pub a_to_b: u64,
    /// From the second socket to the first.
    pub b_to_a: u64,
}

/// One direction.
#[derive(Default)]
struct Half {
    /// Where data starts in the buffer: [`SKEW`] or 0.
    skew: usize,
    buf: Option<Box<[u8]>>,
    pos: usize,
    end: usize,
    eof: bool,
    shut: bool,
    moved: u64,
    /// A read error met while filling the buffer, reported once what was read is written.
    error: Option<io::Error>,
}

/// What one poll of a direction achieved.
enum Step {
    /// Finished: end of stream read and passed on.
    Done,
    /// Bytes moved, and more may come at once: poll again.
    Moved,
}

/// Whose fault an error of a direction is.
struct SideError {
    reader: bool,
    error: io::Error,
}

impl Half {
    /// Reads on into `b[from..]` while more is ready, so that a TLS reader's one record per
    /// read becomes one large write (a quarter of the write calls); returns the bytes held.
    fn fill<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        b: &mut [u8],
        from: usize,
    ) -> usize {
        let mut end = from;
        while end < b.len() {
            let mut more = ReadBuf::new(&mut b[end..]);
            match Pin::new(&mut *r).poll_read(cx, &mut more) {
                Poll::Ready(Ok(())) if more.filled().is_empty() => {
                    self.eof = true;
                    break;
                }
                Poll::Ready(Ok(())) => end += more.filled().len(),
                Poll::Ready(Err(e)) => {
                    self.error = Some(e);
                    break;
                }
                Poll::Pending => break,
            }
        }
        end
    }

    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Poll<Result<Step, SideError>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let wr = |error| SideError {
            reader: false,
            error,
        };
        let mut progressed = false;
        loop {
            if self.pos < self.end {
                let Some(buf) = self.buf.as_ref() else {
                    self.pos = self.end;
                    continue;
                };
                let n = match Pin::new(&mut *w).poll_write(cx, &buf[self.pos..self.end]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(wr(io::ErrorKind::WriteZero.into())));
                    }
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(wr(e))),
                    Poll::Pending if progressed => return Poll::Ready(Ok(Step::Moved)),
                    Poll::Pending => return Poll::Pending,
                };
                self.pos += n;
                self.moved += n as u64;
                progressed = true;
                continue;
            }
            if let Some(b) = self.buf.take() {
                give_buf(b);
            }
            if self.eof {
                if !self.shut {
                    match Pin::new(&mut *w).poll_shutdown(cx) {
                        Poll::Ready(Ok(())) => self.shut = true,
                        // The peer may have gone already: its half is over either way.
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => {
                            self.shut = true
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(wr(e))),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                return Poll::Ready(Ok(Step::Done));
            }
            if let Some(error) = self.error.take() {
                return Poll::Ready(Err(SideError {
                    reader: true,
                    error,
                }));
            }
            let mut b = take_buf();
            let mut rb = ReadBuf::new(&mut b[self.skew..]);
            match Pin::new(&mut *r).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        give_buf(b);
                        self.eof = true;
                    } else {
                        let end = self.fill(cx, r, &mut b, self.skew + n);
                        self.buf = Some(b);
                        (self.pos, self.end) = (self.skew, end);
                    }
                }
                Poll::Ready(Err(error)) => {
                    give_buf(b);
                    return Poll::Ready(Err(SideError {
                        reader: true,
                        error,
                    }));
                }
                Poll::Pending => {
                    give_buf(b);
                    // Nothing more to read now: what was written must leave (a TLS writer
                    // holds records until flushed).
                    return match (Pin::new(&mut *w).poll_flush(cx), progressed) {
                        (Poll::Ready(Err(e)), _) => Poll::Ready(Err(wr(e))),
                        (_, true) => Poll::Ready(Ok(Step::Moved)),
                        (_, false) => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Pumps bytes between `a` and `b` until both directions end, one fails, or nothing moves for
/// `idle`. `tls_a` says which side is the TLS one (`a` when true, `b` otherwise), for the buffer
/// layout its writes want. `moved` counts the bytes written on each side as they go.
///
/// # Cancel safety
///
/// Not cancel safe: bytes read and not yet written are lost when the future is dropped (a
/// tunnel drops it only to cut the connection off). `moved` is right up to the drop.
pub async fn pump<A, B>(
    a: &mut A,
    b: &mut B,
    idle: Option<Duration>,
    tls_a: bool,
    moved: &mut Moved,
) -> Ended
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let skew = |tls_writer: bool| Half {
        skew: if tls_writer { SKEW } else { 0 },
        ..Half::default()
    };
    let (mut ab, mut ba) = (skew(!tls_a), skew(tls_a));
    let (mut ab_done, mut ba_done) = (false, false);
    let mut timer = idle.map(|d| (d, Box::pin(tokio::time::sleep(d))));
    poll_fn(|cx| {
        let mut progressed = false;
        for first in [true, false] {
            let (half, done) = match first {
                true => (&mut ab, &mut ab_done),
                false => (&mut ba, &mut ba_done),
            };
            if *done {
                continue;
            }
            let polled = match first {
                true => half.poll(cx, a, b),
                false => half.poll(cx, b, a),
            };
            match polled {
                Poll::Ready(Ok(Step::Done)) => {
                    *done = true;
                    progressed = true;
                }
                Poll::Ready(Ok(Step::Moved)) => {
                    progressed = true;
                    // Poll again soon: more may be there (the waker is not armed).
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Ended::Failed {
                        first: first == e.reader,
                        error: e.error,
                    });
                }
                Poll::Pending => {}
            }
        }
        *moved = Moved {
            a_to_b: ab.moved,
            b_to_a: ba.moved,
        };
        if ab_done && ba_done {
            return Poll::Ready(Ended::Done);
        }
        if let Some((d, sleep)) = timer.as_mut() {
            if progressed {
                sleep.as_mut().reset(tokio::time::Instant::now() + *d);
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ended::Idle);
            }
        }
        Poll::Pending
    })
    .await
}
