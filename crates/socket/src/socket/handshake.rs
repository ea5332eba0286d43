//! The TLS handshake of an [`SslSocket`]: client and server, the peer's verification outcome,
//! and how a failed handshake is reported.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mtls_verify::SslError;
use rustls::{HandshakeKind, SupportedCipherSuite};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;

use super::{SslSocket, Stream, Tcp};
use crate::TlsVersion;
use crate::error::{Error, Result, from_tls};
use crate::event::{Event, SocketState, SslMode};
use crate::verify::{HANDSHAKE, OutcomeSlot};

impl SslSocket {
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
        let (cfg, slot) = self
            .ctx
            .client_config(Some(host.clone()), self.ignore.clone())?;
        self.set_mode(SslMode::Client);
        self.shared.encrypting.store(true, Ordering::Relaxed);
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let timeout = self.ctx.config().handshake_timeout;
        let res = tokio::time::timeout(timeout, connector.connect(name, tcp)).await;
        match res {
            Ok(Ok(tls)) => {
                let (_, conn) = tls.get_ref();
                let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
                self.record(
                    conn.peer_certificates(),
                    conn.protocol_version(),
                    conn.negotiated_cipher_suite(),
                    conn.alpn_protocol(),
                );
                self.stream = Stream::Client(Box::new(tls));
                if resumed {
                    self.check_resumed(&slot, false, Some(host))?;
                }
                self.check_ocsp(&slot).await?;
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
                let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
                self.record(
                    conn.peer_certificates(),
                    conn.protocol_version(),
                    conn.negotiated_cipher_suite(),
                    conn.alpn_protocol(),
                );
                self.stream = Stream::Server(Box::new(tls));
                if resumed {
                    self.check_resumed(&slot, true, None)?;
                }
                self.check_ocsp(&slot).await?;
                self.finish_handshake(&slot).await
            }
            Ok(Err(e)) => Err(self.handshake_failed(&slot, Some(e))),
            Err(_) => Err(self.handshake_failed(&slot, None)),
        }
    }

    /// A resumed session skips certificate verification inside rustls: the peer's chain was
    /// verified when the session was made, but it may have been revoked or have expired since.
    /// Before the connection counts as encrypted, its path is re-checked against the current
    /// CRLs and time; a refusal ends the connection (without close_notify: it is no orderly
    /// close) and fails the handshake with the errors found.
    fn check_resumed(
        &mut self,
        slot: &OutcomeSlot,
        server_side: bool,
        host: Option<String>,
    ) -> Result<()> {
        let verified_now = slot.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if verified_now || self.peer_chain.is_empty() {
            return Ok(());
        }
        let outcome = self
            .ctx
            .resumed_outcome(server_side, host, &self.peer_chain, &self.ignore);
        let accepted = outcome.accepted;
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        if accepted {
            return Ok(());
        }
        Err(self.handshake_failed(slot, None))
    }

    /// Asks the peer certificate's OCSP responder when the handshake could not learn its
    /// status (nothing stapled or cached; see `ocsp::check`). An answer that refuses the peer
    /// ends the connection and fails the handshake with its errors, as a refusal inside the
    /// handshake would.
    async fn check_ocsp(&mut self, slot: &OutcomeSlot) -> Result<()> {
        let pending = slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .and_then(|o| o.ocsp.take());
        let (Some(p), Some(checker)) = (pending, self.ctx.ocsp_checker().cloned()) else {
            return Ok(());
        };
        let errors = checker.fetch(&p).await;
        if errors.is_empty() {
            return Ok(());
        }
        let accepted = {
            let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
            let o = guard.get_or_insert_with(Default::default);
            o.errors.extend(errors);
            let clean = o.errors.iter().all(|e| self.ignore.covers(e));
            o.verified &= clean;
            o.accepted &= clean || !p.enforce;
            o.accepted
        };
        if accepted {
            return Ok(());
        }
        Err(self.handshake_failed(slot, None))
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
        let outcome = self.report_errors(slot);
        self.peer_verified = !self.peer_chain.is_empty() && outcome.is_some_and(|o| o.verified);
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
}
