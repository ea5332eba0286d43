//! Mutual-TLS sockets on tokio + rustls (work in progress: see the socket-layer issue).
#![forbid(unsafe_code)]
