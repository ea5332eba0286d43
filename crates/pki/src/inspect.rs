//! Small facts about keys and certificates used across the crate.

use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// A short description of a SubjectPublicKeyInfo: `EC P-256`, `RSA 2048`, `Ed25519` ….
pub fn describe_spki(spki_der: &[u8]) -> String {
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
        return "unknown key".into();
    };
    describe(&spki)
}

/// A short description of a parsed SubjectPublicKeyInfo.
pub fn describe(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => format!("RSA {}", modulus_bits(rsa.modulus)),
            _ => "RSA (malformed)".into(),
        },
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => "EC P-256".into(),
                "1.3.132.0.34" => "EC P-384".into(),
                "1.3.132.0.35" => "EC P-521".into(),
                other => format!("EC ({other})"),
            }
        }
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        other => format!("unknown ({other})"),
    }
}

/// The RSA modulus size in bits, or `None` for non-RSA keys.
pub fn rsa_bits(spki_der: &[u8]) -> Option<usize> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => Some(modulus_bits(rsa.modulus)),
        _ => None,
    }
}

/// True for the key kinds mtls can certify and sign with.
pub fn is_supported(description: &str) -> bool {
    matches!(description, "EC P-256" | "EC P-384" | "Ed25519")
        || (description.starts_with("RSA ") && !description.contains('('))
}

/// The serial number of the first certificate in PEM or DER `data`.
pub fn cert_serial(data: &[u8], what: &str) -> crate::Result<crate::Serial> {
    with_first_cert(data, what, |c| crate::Serial::from_bytes(c.raw_serial()))
}

/// The DER SubjectPublicKeyInfo of the first certificate in PEM or DER `data`: to check that
/// a certificate received certifies the key at hand.
pub fn cert_spki(data: &[u8], what: &str) -> crate::Result<Vec<u8>> {
    with_first_cert(data, what, |c| c.public_key().raw.to_vec())
}

/// `f` of the first certificate in PEM or DER `data`.
fn with_first_cert<T>(
    data: &[u8],
    what: &str,
    f: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> crate::Result<T> {
    let blocks = crate::pemutil::blocks(data, what, "certificate")?;
    let block = blocks
        .iter()
        .find(|b| b.label.is_empty() || b.label == "CERTIFICATE")
        .ok_or_else(|| crate::Error::decode(what, "certificate", "no CERTIFICATE block"))?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&block.der)
        .map_err(|e| crate::Error::decode(what, "certificate", e))?;
    Ok(f(&cert))
}

/// The exact bit length of a big-endian modulus (x509-parser's `key_size` rounds to bytes).
pub fn modulus_bits(modulus: &[u8]) -> usize {
    let m: &[u8] = match modulus.iter().position(|&b| b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    (m.len() - 1) * 8 + (8 - m[0].leading_zeros() as usize)
}

/// The subject key identifier mtls puts in certificates: RFC 7093 section 2 method 1, the
/// leftmost 160 bits of the SHA-256 of the subjectPublicKey BIT STRING's value (a method linters
/// such as pkilint recognise, unlike a hash of the whole SubjectPublicKeyInfo).
pub fn key_id(spki_der: &[u8]) -> Option<Vec<u8>> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki.subject_public_key.data);
    Some(digest.as_ref()[..20].to_vec())
}

/// The subjectAltNames of the first certificate in PEM or DER `data`, in OpenSSL notation
/// (empty when there are none or the input is not a certificate).
pub fn cert_sans(data: &[u8]) -> Vec<String> {
    crate::pemutil::blocks(data, "certificate", "certificate")
        .ok()
        .and_then(|blocks| blocks.into_iter().next())
        .and_then(|b| cert_summary(&b.der))
        .map(|s| s.sans)
        .unwrap_or_default()
}

/// What logs say about a certificate, read with one parse and no signature checks (servers
/// log this for every peer, so it must stay cheap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject in OpenSSL one-line form.
    pub subject: String,
    /// The subject's CN, if any.
    pub cn: Option<String>,
    /// Issuer in OpenSSL one-line form.
    pub issuer: String,
    /// The serial number.
    pub serial: crate::Serial,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// subjectAltNames in OpenSSL notation.
    pub sans: Vec<String>,
}

/// notBefore and notAfter of a DER certificate, Unix seconds; `None` when it does not parse.
pub fn cert_validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let v = cert.validity();
    Some((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// Summarises a DER certificate; `None` when it does not parse.
pub fn cert_summary(der: &[u8]) -> Option<CertSummary> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let subject = crate::Name::from_x509(cert.subject(), "certificate").ok()?;
    let issuer = crate::Name::from_x509(cert.issuer(), "certificate").ok()?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| crate::San::from_general_name(g, "certificate").ok())
            .map(|s| s.to_string())
            .collect(),
        _ => Vec::new(),
    };
    Some(CertSummary {
        cn: subject.common_name().map(str::to_owned),
        subject: subject.to_string(),
        issuer: issuer.to_string(),
        serial: crate::Serial::from_bytes(cert.raw_serial()),
        not_before: crate::time::rfc3339(cert.validity().not_before.timestamp()),
        not_after: crate::time::rfc3339(cert.validity().not_after.timestamp()),
        sans,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn modulus_bits_counts_exactly() {
        assert_eq!(super::modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(super::modulus_bits(&[0x7f, 0x00]), 15);
        assert_eq!(super::modulus_bits(&[0x00]), 0);
    }
}
