//! Facts about a peer's certificate for logs: subject, CN, issuer, serial, validity, fingerprint.

use mtls_socket::SslError;

/// What the logs say about a certificate.
#[derive(Debug, Clone, Default)]
pub struct PeerCert {
    pub subject: String,
    pub cn: Option<String>,
    pub issuer: String,
    pub serial_hex: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256: String,
    pub sans: Vec<String>,
}

impl PeerCert {
    /// Reads what it can from `der` with one parse; never fails (an unreadable certificate
    /// gives empty fields).
    pub fn from_der(der: &[u8]) -> PeerCert {
        let sha256 = mtls_verify::CertInfo::unparsed(der).sha256_hex();
        match mtls_pki::inspect::cert_summary(der) {
            Some(s) => PeerCert {
                subject: s.subject,
                cn: s.cn,
                issuer: s.issuer,
                serial_hex: s.serial.hex(),
                not_before: s.not_before,
                not_after: s.not_after,
                sha256,
                sans: s.sans,
            },
            None => PeerCert {
                sha256,
                ..Default::default()
            },
        }
    }

    /// One line: subject, issuer, serial, validity.
    pub fn describe(&self) -> String {
        format!(
            "subject {} issuer {} serial {} valid {} .. {}",
            self.subject, self.issuer, self.serial_hex, self.not_before, self.not_after
        )
    }
}

/// One line for an SSL error: its kind, message and certificate.
pub fn describe_error(e: &SslError) -> String {
    let cert = match &e.certificate {
        Some(c) => format!(
            " [certificate {} sha256 {}]",
            c.subject_or_serial(),
            c.sha256_hex()
        ),
        None => String::new(),
    };
    let detail = if e.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", e.detail)
    };
    format!("{}: {}{detail}{cert}", e.kind, e.kind.message())
}
