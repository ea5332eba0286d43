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
    pause: &dyn Fn(),
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
        let blocks = pem_blocks(data, pause).map_err(decode)?;
        let mut found = Vec::new();
        let mut out = Vec::new();
        for (tag, der) in blocks {
            if labels.contains(&tag.as_str()) {
                let mut der = der;
                if let Ok((_, _, whole)) = Reader::new(&der).read_any() {
                    // OpenSSL's TRUSTED CERTIFICATE appends trust settings after the
                    // certificate: keep the certificate only.
                    let len = whole.len();
                    der.truncate(len);
                }
                out.push(der);
            } else {
                found.push(tag);
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

/// The (label, DER) of every PEM block of `data`. Written for size: the PEM of a million-entry
/// CRL is 67 MB, and the `pem` crate builds a `String` of its base64 first (a quarter of the
/// load time); here the body is stripped of line breaks into bytes and decoded once. Text
/// outside blocks is ignored; headers (`Proc-Type:` …) are not expected in certificates or
/// CRLs and are an error.
fn pem_blocks(data: &[u8], pause: &dyn Fn()) -> Result<Vec<(String, Vec<u8>)>, String> {
    use base64::Engine;
    const BEGIN: &[u8] = b"-----BEGIN ";
    let find = |hay: &[u8], needle: &[u8]| memchr::memmem::find(hay, needle);
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, BEGIN) {
        let after = &rest[at + BEGIN.len()..];
        let label_end = find(after, b"-----").ok_or("a BEGIN line without its closing -----")?;
        let label = std::str::from_utf8(&after[..label_end])
            .map_err(|_| "a PEM label that is not text".to_string())?
            .to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_len = find(body_start, end_marker.as_bytes())
            .ok_or_else(|| format!("no -----END {label}----- line"))?;
        let body = &body_start[..body_len];
        if body.contains(&b':') {
            return Err(format!("the {label} block has headers, which it must not"));
        }
        let mut b64: Vec<u8> = Vec::with_capacity(body.len());
        for chunk in body.chunks(PACE_BYTES) {
            b64.extend(chunk.iter().copied().filter(|b| !b.is_ascii_whitespace()));
            pause();
        }
        // Decoded in pieces of whole base64 quanta, pausing between them.
        let mut der = Vec::with_capacity(b64.len() / 4 * 3);
        let step = PACE_BYTES / 4 * 4;
        for (i, piece) in b64.chunks(step).enumerate() {
            base64::engine::general_purpose::STANDARD
                .decode_vec(piece, &mut der)
                .map_err(|e| {
                    format!(
                        "the {label} block is not valid base64 near byte {} ({e})",
                        i * step
                    )
                })?;
            pause();
        }
        out.push((label, der));
        rest = &body_start[body_len + end_marker.len()..];
    }
    if out.is_empty() {
        return Err("no complete PEM block found".into());
    }
    Ok(out)
}

/// How much work runs between two calls of a loader's `pause` (see [`load_crls_paced`]):
/// 256 KiB of input, a fraction of a millisecond.
pub(crate) const PACE_BYTES: usize = 256 * 1024;

/// Parses the certificates in `data` (PEM bundle or DER). `what` names the input in errors.
///
/// Every certificate is checked to parse, so a bad file is reported at load time with the
/// position of the bad certificate.
pub fn load_certificates(
    data: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let ders = objects(data, what, "certificate", CERT_LABELS, &|| {})?;
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
    load_crls_paced(data, what, &|| {})
}

/// [`load_crls`] that calls `pause` every fraction of a millisecond of work (256 KiB of input,
/// or 512 revoked entries). A reloader running beside latency-sensitive work passes
/// `std::thread::yield_now`: a million-entry CRL takes half a second of CPU, and without
/// these points it would hold the CPU for whole scheduler slices.
pub fn load_crls_paced(data: &[u8], what: &str, pause: &dyn Fn()) -> Result<Vec<Crl>, LoadError> {
    let ders = objects(data, what, "CRL", CRL_LABELS, pause)?;
    ders.into_iter()
        .enumerate()
        .map(|(i, der)| {
            Crl::from_der_paced(&der, pause).map_err(|e| match e {
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
