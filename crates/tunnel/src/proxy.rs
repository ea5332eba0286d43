//! The PROXY protocol header (HAProxy's specification, versions 1 and 2), which tells the
//! backend who connected: the client's address and, in version 2, its TLS session and
//! certificate.
//!
//! Version 2 carries `PP2_TYPE_SSL` (0x20) with `client` = SSL | CERT_CONN | CERT_SESS when a
//! certificate was verified, `verify` = 0, and the sub-TLVs `PP2_SUBTYPE_SSL_VERSION` (0x21),
//! `PP2_SUBTYPE_SSL_CN` (0x22) and `PP2_SUBTYPE_SSL_CIPHER` (0x23). The certificate's SHA-256
//! (32 bytes) goes in [`TLV_CERT_SHA256`], from the range the specification leaves to
//! applications (0xE0-0xEF).

use std::net::{IpAddr, SocketAddr};

/// Which version to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The text header.
    V1,
    /// The binary header with TLVs.
    V2,
}

/// The version 2 signature (section 2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// `PP2_TYPE_SSL`.
pub const TLV_SSL: u8 = 0x20;
/// `PP2_SUBTYPE_SSL_VERSION`.
pub const SUB_SSL_VERSION: u8 = 0x21;
/// `PP2_SUBTYPE_SSL_CN`.
pub const SUB_SSL_CN: u8 = 0x22;
/// `PP2_SUBTYPE_SSL_CIPHER`.
pub const SUB_SSL_CIPHER: u8 = 0x23;
/// mtls's TLV: the SHA-256 of the client's certificate (DER), 32 bytes.
pub const TLV_CERT_SHA256: u8 = 0xE0;

/// `PP2_CLIENT_SSL`, `PP2_CLIENT_CERT_CONN`, `PP2_CLIENT_CERT_SESS`.
const CLIENT_SSL: u8 = 0x01;
const CLIENT_CERT_CONN: u8 = 0x02;
const CLIENT_CERT_SESS: u8 = 0x04;

/// What the header says about the TLS session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`, as OpenSSL names them.
    pub version: String,
    /// The cipher suite's IANA name.
    pub cipher: String,
    /// The verified client certificate's commonName.
    pub cn: Option<String>,
    /// The verified client certificate's SHA-256.
    pub cert_sha256: Option<[u8; 32]>,
}

/// The header for a connection from `src` to `dst`.
pub fn header(v: Version, src: SocketAddr, dst: SocketAddr, tls: &TlsInfo) -> Vec<u8> {
    match v {
        Version::V1 => v1(src, dst).into_bytes(),
        Version::V2 => v2(src, dst, tls),
    }
}

/// Both addresses in one family: IPv4 ones are mapped into IPv6 when the other is IPv6.
fn same_family(src: SocketAddr, dst: SocketAddr) -> (IpAddr, IpAddr) {
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V6(d)) => (IpAddr::V6(s.to_ipv6_mapped()), IpAddr::V6(d)),
        (IpAddr::V6(s), IpAddr::V4(d)) => (IpAddr::V6(s), IpAddr::V6(d.to_ipv6_mapped())),
        (s, d) => (s, d),
    }
}

fn v1(src: SocketAddr, dst: SocketAddr) -> String {
    let (s, d) = same_family(src, dst);
    let fam = if s.is_ipv4() { "TCP4" } else { "TCP6" };
    format!("PROXY {fam} {s} {d} {} {}\r\n", src.port(), dst.port())
}

fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    // A value longer than a TLV can say is cut (names are far shorter).
    let len = value.len().min(u16::MAX as usize);
    out.push(kind);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&value[..len]);
}

fn v2(src: SocketAddr, dst: SocketAddr, tls: &TlsInfo) -> Vec<u8> {
    let mut body = Vec::with_capacity(128);
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    let fam = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
            0x11 // TCP over IPv4
        }
        (s, d) => {
            body.extend_from_slice(&v6(s).octets());
            body.extend_from_slice(&v6(d).octets());
            0x21 // TCP over IPv6
        }
    };
    body.extend_from_slice(&src.port().to_be_bytes());
    body.extend_from_slice(&dst.port().to_be_bytes());
    let mut ssl = Vec::with_capacity(64);
    let verified = tls.cn.is_some() || tls.cert_sha256.is_some();
    ssl.push(match verified {
        true => CLIENT_SSL | CLIENT_CERT_CONN | CLIENT_CERT_SESS,
        false => CLIENT_SSL,
    });
    // 0: the client presented a certificate and it was successfully verified.
    ssl.extend_from_slice(&u32::from(!verified).to_be_bytes());
    tlv(&mut ssl, SUB_SSL_VERSION, tls.version.as_bytes());
    if let Some(cn) = &tls.cn {
        tlv(&mut ssl, SUB_SSL_CN, cn.as_bytes());
    }
    tlv(&mut ssl, SUB_SSL_CIPHER, tls.cipher.as_bytes());
    tlv(&mut body, TLV_SSL, &ssl);
    if let Some(h) = &tls.cert_sha256 {
        tlv(&mut body, TLV_CERT_SHA256, h);
    }
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(0x21); // version 2, PROXY
    out.push(fam);
    out.extend_from_slice(&(body.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_names_both_ends() {
        let h = header(
            Version::V1,
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:6379".parse().unwrap(),
            &TlsInfo::default(),
        );
        assert_eq!(h, b"PROXY TCP4 127.0.0.1 127.0.0.1 5000 6379\r\n");
        let h = header(
            Version::V1,
            "[::1]:5000".parse().unwrap(),
            "127.0.0.1:6379".parse().unwrap(),
            &TlsInfo::default(),
        );
        assert_eq!(h, b"PROXY TCP6 ::1 ::ffff:127.0.0.1 5000 6379\r\n");
    }

    #[test]
    fn v2_carries_the_session_and_the_certificate() {
        let tls = TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS_AES_128_GCM_SHA256".into(),
            cn: Some("player-7".into()),
            cert_sha256: Some([7; 32]),
        };
        let h = header(
            Version::V2,
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:6379".parse().unwrap(),
            &tls,
        );
        assert_eq!(h[..12], V2_SIGNATURE);
        assert_eq!((h[12], h[13]), (0x21, 0x11));
        let len = u16::from_be_bytes([h[14], h[15]]) as usize;
        assert_eq!(h.len(), 16 + len);
        assert_eq!(&h[16..20], &[127, 0, 0, 1]);
        assert_eq!(u16::from_be_bytes([h[24], h[25]]), 5000);
        assert_eq!(h[28], TLV_SSL);
        assert_eq!(h[31], 0x07);
        assert_eq!(&h[32..36], &[0, 0, 0, 0]);
        let text = String::from_utf8_lossy(&h);
        assert!(text.contains("TLSv1.3") && text.contains("player-7"));
        assert_eq!(&h[h.len() - 35..h.len() - 32], &[TLV_CERT_SHA256, 0, 32]);
    }
}
