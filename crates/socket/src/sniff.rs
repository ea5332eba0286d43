//! A look at a peer's first bytes before rustls sees them, so that a server can say plainly what
//! a peer that does not speak TLS 1.2+ sent, and refuse TLS 1.0/1.1-only clients with the alert
//! RFC 8446 asks for (protocol_version) rather than rustls' handshake_failure.

use tokio::net::TcpStream;

/// Up to 16 bytes the peer has sent, without consuming them (empty when it closed first).
pub(crate) async fn peek(tcp: &TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 16];
    match tcp.peek(&mut buf).await {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

/// Why the connection is refused before any TLS processing, and the bytes to send back.
pub(crate) struct Refusal {
    pub reason: String,
    pub alert: Option<Vec<u8>>,
}

const HTTP_METHODS: [&[u8]; 9] = [
    b"GET ", b"POST", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"CONN", b"PATC", b"TRAC",
];

/// Classifies the first bytes; `None` when they look like a TLS 1.2+ ClientHello.
pub(crate) fn refusal(first: &[u8]) -> Option<Refusal> {
    if first.is_empty() {
        return Some(Refusal {
            reason: "the peer closed the connection before sending a ClientHello (0 bytes received; a port check?)".into(),
            alert: None,
        });
    }
    if HTTP_METHODS.iter().any(|m| first.starts_with(m)) {
        let line: String = first
            .iter()
            .take_while(|&&b| b != b'\r' && b != b'\n')
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        return Some(Refusal {
            reason: format!(
                "the peer sent plaintext HTTP ({line:?}…), not TLS: it must use https:// or a TLS client"
            ),
            alert: None,
        });
    }
    if first[0] != 0x16 {
        let hex: Vec<String> = first.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Some(Refusal {
            reason: format!(
                "the peer does not speak TLS (first bytes {} are not a TLS record header)",
                hex.join(" ")
            ),
            alert: None,
        });
    }
    // A handshake record: 16 03 0x LL LL, then ClientHello: 01 LL LL LL, legacy_version.
    if first.len() >= 11 && first[5] == 0x01 && first[9] == 0x03 && first[10] < 0x03 {
        let version = match first[10] {
            0x00 => "SSL 3.0",
            0x01 => "TLS 1.0",
            _ => "TLS 1.1",
        };
        return Some(Refusal {
            reason: format!(
                "the client supports only {version}; this server accepts TLS 1.2 and 1.3 only"
            ),
            // alert(21), record version 3.1, length 2, fatal(2), protocol_version(70)
            alert: Some(vec![0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn classifies_first_bytes() {
        assert!(refusal(b"").unwrap().reason.contains("before sending"));
        assert!(
            refusal(b"GET / HTTP/1.1\r\n")
                .unwrap()
                .reason
                .contains("plaintext HTTP")
        );
        assert!(
            refusal(&[0x1d, 0x1d, 0x57])
                .unwrap()
                .reason
                .contains("not a TLS record")
        );
        let tls10 = [
            0x16, 0x03, 0x01, 0x00, 0x50, 0x01, 0x00, 0x00, 0x4c, 0x03, 0x01,
        ];
        let r = refusal(&tls10).unwrap();
        assert!(r.reason.contains("TLS 1.0") && r.alert.is_some());
        let tls12 = [
            0x16, 0x03, 0x01, 0x00, 0x50, 0x01, 0x00, 0x00, 0x4c, 0x03, 0x03,
        ];
        assert!(refusal(&tls12).is_none());
        assert!(refusal(&[0x16, 0x03]).is_none());
    }
}
