//! Loading certificates and CRLs from PEM or DER bytes.
//!
//! PEM input may hold several blocks (a bundle); blocks of other kinds (a private key next to a
//! certificate, say) are skipped. DER input may be one object or several concatenated.

use rustls_pki_types::CertificateDer;

use crate::cert::Cert;
use crate::crl::Crl;
use crate::der::Reader;
use crate::error::LoadError;

const CERT_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];
const CRL_LABELS: &[&str] = &["X509 CRL", "CRL"];

/// Splits `data` into the DER objects of the wanted PEM labels (or raw DER objects).
fn objects(
    data: &[u8],
    what: &str,
    expected: &'static str,
    labels: &[&str],
) -> Result<Vec<Vec<u8>>, LoadError> {
    let decode = |detail: String| LoadError::Decode {
        what: what.to_string(),
        expected,
        detail,
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(LoadError::Empty {
            what: what.to_string(),
            expected,
            found: String::new(),
        });
    }
    if data.windows(11).any(|w| w == b"-----BEGIN ") {
        let blocks = pem::parse_many(data).map_err(|e| decode(e.to_string()))?;
        let mut found = Vec::new();
        let mut out = Vec::new();
        for b in blocks {
            if labels.contains(&b.tag()) {
                let mut der = b.into_contents();
                if let Ok((_, _, whole)) = Reader::new(&der).read_any() {
                    // OpenSSL's TRUSTED CERTIFICATE appends trust settings after the
                    // certificate: keep the certificate only.
                    let len = whole.len();
                    der.truncate(len);
                }
                out.push(der);
            } else {
                found.push(b.tag().to_string());
            }
        }
        if out.is_empty() {
            return Err(LoadError::Empty {
                what: what.to_string(),
                expected,
                found: found.join(", "),
            });
        }
        return Ok(out);
    }
    if data.first() != Some(&0x30) {
        return Err(decode(
            "neither PEM (no -----BEGIN line) nor DER (does not start with a SEQUENCE)".into(),
        ));
    }
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while !r.at_end() {
        let (_, _, whole) = r
            .read_any()
            .map_err(|e| decode(format!("bad DER: {}", e.0)))?;
        out.push(whole.to_vec());
    }
    Ok(out)
}

/// Parses the certificates in `data` (PEM bundle or DER). `what` names the input in errors.
///
/// Every certificate is checked to parse, so a bad file is reported at load time with the
/// position of the bad certificate.
pub fn load_certificates(
    data: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let ders = objects(data, what, "certificate", CERT_LABELS)?;
    ders.into_iter()
        .enumerate()
        .map(|(i, der)| match Cert::parse(&der) {
            Ok(_) => Ok(CertificateDer::from(der)),
            Err(detail) => Err(LoadError::Invalid {
                what: what.to_string(),
                expected: "certificate",
                index: i + 1,
                detail,
            }),
        })
        .collect()
}

/// Parses and indexes the CRLs in `data` (PEM bundle or DER). `what` names the input in errors.
pub fn load_crls(data: &[u8], what: &str) -> Result<Vec<Crl>, LoadError> {
    let ders = objects(data, what, "CRL", CRL_LABELS)?;
    ders.into_iter()
        .enumerate()
        .map(|(i, der)| {
            Crl::from_der(&der).map_err(|e| match e {
                LoadError::Invalid { detail, .. } => LoadError::Invalid {
                    what: what.to_string(),
                    expected: "CRL",
                    index: i + 1,
                    detail,
                },
                other => other,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs() {
        assert!(matches!(
            load_certificates(b"", "x"),
            Err(LoadError::Empty { .. })
        ));
        assert!(matches!(
            load_certificates(b"hello", "x"),
            Err(LoadError::Decode { .. })
        ));
        let e = load_certificates(
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "k.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("k.pem") && e.contains("PRIVATE KEY"), "{e}");
        let e = load_certificates(&[0x30, 0x03, 0x02, 0x01, 0x00], "d.der")
            .unwrap_err()
            .to_string();
        assert!(e.contains("d.der: certificate #1"), "{e}");
        assert!(load_crls(&[0x30, 0x00], "c.crl").is_err());
        assert!(load_crls(&[0x30, 0x85, 0, 0, 0, 0, 1], "c.crl").is_err());
    }
}
