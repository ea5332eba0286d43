//! Facts about a peer's certificate for logs: subject, CN, issuer, serial, validity, fingerprint.

use mtls_socket::SslError;

/// What the logs say about a certificate.
#[derive(Debug, Clone, Default)]
pub struct PeerCert {
    pub subject: String,
    pub cn: Option<String>,
    pub issuer: String,
    pub serial_hex: String,
    pub serial: Vec<u8>,
    pub not_before: String,
    pub not_after: String,
    pub sha256: String,
    pub sans: Vec<String>,
}

impl PeerCert {
    /// Reads what it can from `der`; never fails (an unreadable certificate gives empty fields).
    pub fn from_der(der: &[u8]) -> PeerCert {
        let mut p = PeerCert {
            sha256: mtls_verify::CertInfo::unparsed(der).sha256_hex(),
            ..Default::default()
        };
        if let Ok(shown) = mtls_pki::show::show(der, "peer certificate")
            && let Some(s) = shown.first()
        {
            if let Some(subj) = &s.subject {
                p.subject = subj.text.clone();
                p.cn = subj
                    .fields
                    .iter()
                    .find(|f| f.field == "CN")
                    .map(|f| f.value.clone());
            }
            if let Some(i) = &s.issuer {
                p.issuer = i.text.clone();
            }
            if let Some(v) = &s.validity {
                p.not_before = v.not_before.clone();
                p.not_after = v.not_after.clone();
            }
        }
        if let Ok(serial) = mtls_pki::inspect::cert_serial(der, "peer certificate") {
            p.serial_hex = serial.hex();
            p.serial = serial.as_bytes().to_vec();
        }
        p.sans = mtls_pki::inspect::cert_sans(der);
        p
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
