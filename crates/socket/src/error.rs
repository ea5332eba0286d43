//! Errors of the socket layer.

use mtls_verify::SslError;

/// What went wrong on a socket, a server or in configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A private key could not be decoded (passphrase needed or wrong, not a key …).
    #[error(transparent)]
    Key(#[from] mtls_keys::KeyError),
    /// Certificates or CRLs could not be loaded (the error names the file and the object).
    #[error(transparent)]
    Load(#[from] mtls_verify::LoadError),
    /// A configuration value is invalid.
    #[error("{what}: {detail}")]
    Config {
        /// The setting or file concerned.
        what: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// The peer's certificate failed verification; every error found is listed.
    #[error("{}", describe_ssl_errors(.errors))]
    PeerVerification {
        /// Every error of the chain, each with its certificate.
        errors: Vec<SslError>,
    },
    /// The peer rejected the handshake or our certificate (it sent an alert).
    #[error("{context}: the peer rejected the connection: {reason}")]
    PeerRejected {
        /// What we were doing, with whom.
        context: String,
        /// The alert the peer sent, for callers to decide on.
        alert: rustls::AlertDescription,
        /// The alert, in words.
        reason: String,
    },
    /// The peer does not speak TLS 1.2+ at all, or misbehaved before TLS got going: plaintext
    /// HTTP, random bytes, an old TLS version, a connection closed before a ClientHello ….
    #[error("{0}")]
    NotTls(String),
    /// A TLS protocol failure.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// A network failure.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An operation did not finish in time.
    #[error("{0} timed out")]
    Timeout(String),
    /// The operation does not fit the socket's state (e.g. encrypting twice).
    #[error("{0}")]
    State(String),
}

impl Error {
    /// Wraps an I/O error from a socket read or write, unwrapping a TLS error inside it: an
    /// alert from the peer becomes [`Error::PeerRejected`] (in TLS 1.3 a server that refuses our
    /// certificate says so only at our first read).
    pub fn from_io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::io(context, source)
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        // rustls reports a TCP close without close_notify with a link to its manual; say what
        // happened instead.
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            return Error::Io {
                context: context.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the peer closed the TCP connection without close_notify, possibly in the middle of a TLS record (the last data may be truncated)",
                ),
            };
        }
        // A rustls error carried through tokio-rustls' io::Error: unwrap it for a better message.
        if let Some(inner) = source.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return from_tls(context.into(), tls.clone());
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn config(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Config {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// The certificate errors, when this is a verification failure.
    pub fn ssl_errors(&self) -> &[SslError] {
        match self {
            Error::PeerVerification { errors } => errors,
            _ => &[],
        }
    }
}

/// Maps a rustls error: our verifier's full error list is carried inside
/// `InvalidCertificate(Other(..))`; alerts from the peer become [`Error::PeerRejected`].
pub(crate) fn from_tls(context: String, e: rustls::Error) -> Error {
    match &e {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            if let Some(v) = other.0.downcast_ref::<crate::verify::VerificationFailed>() {
                return Error::PeerVerification {
                    errors: v.errors.clone(),
                };
            }
            Error::Tls(e)
        }
        rustls::Error::AlertReceived(alert) => Error::PeerRejected {
            context,
            alert: *alert,
            reason: alert_reason(*alert),
        },
        _ => Error::Tls(e),
    }
}

/// A readable reason for an alert we received.
pub fn alert_reason(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    let text = match alert {
        A::CertificateRevoked => "our certificate is revoked (CertificateRevoked)",
        A::CertificateExpired => "our certificate has expired (CertificateExpired)",
        A::UnknownCA => "our certificate is not issued by a CA it trusts (UnknownCA)",
        A::CertificateRequired => {
            "it requires a client certificate and we sent none (CertificateRequired)"
        }
        A::BadCertificate => "it found our certificate bad (BadCertificate)",
        A::UnsupportedCertificate => {
            "our certificate is not usable for this purpose (UnsupportedCertificate)"
        }
        A::CertificateUnknown => "it could not accept our certificate (CertificateUnknown)",
        A::AccessDenied => "access denied (AccessDenied)",
        A::ProtocolVersion => "no TLS version in common (ProtocolVersion)",
        A::HandshakeFailure => "no parameters in common (HandshakeFailure)",
        A::DecryptError => "a handshake signature did not verify (DecryptError)",
        A::UnrecognisedName => "it does not know the server name we asked for (UnrecognisedName)",
        other => return format!("alert {other:?}"),
    };
    text.into()
}

fn describe_ssl_errors(errors: &[SslError]) -> String {
    let parts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    format!("peer certificate rejected: {}", parts.join("; "))
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
