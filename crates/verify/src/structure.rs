//! A strict check of a certificate's DER structure (RFC 5280 §4.1), before `x509-parser` reads
//! it. x509-parser is lenient about tags in places (a constructed INTEGER serial, an extension
//! whose extnID is not an OBJECT IDENTIFIER): found by the differential fuzzer against
//! rustls-webpki, which refuses both. Two verifiers must not read one certificate two ways, so
//! every field's tag, every length (minimal, definite: see `der::Reader`) and the nesting are
//! checked here; the contents are left to the parser.

use crate::der::{DerError, Reader, tag};

const CONTEXT_0: u8 = 0xa0;
const CONTEXT_3: u8 = 0xa3;
const ISSUER_UID: u8 = 0x81;
const SUBJECT_UID: u8 = 0x82;
const SET: u8 = 0x31;

/// Checks the structure of the DER certificate `der`; the error says what is wrong.
pub(crate) fn check(der: &[u8]) -> Result<(), String> {
    certificate(der).map_err(|e| format!("not DER as RFC 5280 §4.1 defines it: {}", e.0))
}

fn certificate(der: &[u8]) -> Result<(), DerError> {
    let mut outer = Reader::new(der);
    let cert = outer.read(tag::SEQUENCE, "a Certificate is a SEQUENCE")?;
    outer.finish("trailing data after the Certificate")?;
    let mut c = Reader::new(cert);
    tbs(c.read(tag::SEQUENCE, "a TBSCertificate is a SEQUENCE")?)?;
    algorithm(c.read(
        tag::SEQUENCE,
        "signatureAlgorithm is an AlgorithmIdentifier",
    )?)?;
    octet_aligned(
        c.read(tag::BIT_STRING, "signatureValue is a BIT STRING")?,
        "signatureValue has unused bits (a signature is whole octets)",
    )?;
    c.finish("trailing data in the Certificate")
}

/// A BIT STRING holding whole octets: its first content octet (the count of unused bits) is 0.
/// Signatures and the keys of every algorithm mtls supports are octet strings wrapped in a
/// BIT STRING (RFC 5280 §4.1.1.3, RFC 5480 §2.2, RFC 3279 §2.3.1); webpki refuses others,
/// and so does mtls, so that a trust anchor reads the same to both (found by the
/// differential fuzzer).
fn octet_aligned(bits: &[u8], what: &'static str) -> Result<(), DerError> {
    match bits.first() {
        Some(0) => Ok(()),
        _ => Err(DerError(what)),
    }
}

fn tbs(content: &[u8]) -> Result<(), DerError> {
    let mut t = Reader::new(content);
    if let Some(v) = t.read_optional(CONTEXT_0)? {
        let mut r = Reader::new(v);
        r.read(tag::INTEGER, "version is an INTEGER")?;
        r.finish("trailing data in version")?;
    }
    t.read(tag::INTEGER, "serialNumber is an INTEGER")?;
    algorithm(t.read(tag::SEQUENCE, "signature is an AlgorithmIdentifier")?)?;
    name(t.read(tag::SEQUENCE, "issuer is a Name")?)?;
    let mut v = Reader::new(t.read(tag::SEQUENCE, "validity is a SEQUENCE")?);
    for _ in 0..2 {
        match v.read_any()?.0 {
            tag::UTC_TIME | tag::GENERALIZED_TIME => {}
            _ => return Err(DerError("a validity time is a UTCTime or GeneralizedTime")),
        }
    }
    v.finish("trailing data in validity")?;
    name(t.read(tag::SEQUENCE, "subject is a Name")?)?;
    let mut spki = Reader::new(t.read(tag::SEQUENCE, "subjectPublicKeyInfo is a SEQUENCE")?);
    algorithm(spki.read(
        tag::SEQUENCE,
        "the key's algorithm is an AlgorithmIdentifier",
    )?)?;
    octet_aligned(
        spki.read(tag::BIT_STRING, "subjectPublicKey is a BIT STRING")?,
        "subjectPublicKey has unused bits (a key is whole octets)",
    )?;
    spki.finish("trailing data in subjectPublicKeyInfo")?;
    t.read_optional(ISSUER_UID)?;
    t.read_optional(SUBJECT_UID)?;
    if let Some(exts) = t.read_optional(CONTEXT_3)? {
        extensions(exts)?;
    }
    t.finish("unexpected data at the end of the TBSCertificate")
}

fn algorithm(content: &[u8]) -> Result<(), DerError> {
    let mut a = Reader::new(content);
    a.read(tag::OID, "an algorithm is an OBJECT IDENTIFIER")?;
    if !a.at_end() {
        a.read_any()?; // parameters: any type
    }
    a.finish("trailing data in an AlgorithmIdentifier")
}

fn name(content: &[u8]) -> Result<(), DerError> {
    let mut rdns = Reader::new(content);
    while !rdns.at_end() {
        let mut set = Reader::new(rdns.read(SET, "a RelativeDistinguishedName is a SET")?);
        while !set.at_end() {
            let mut atv =
                Reader::new(set.read(tag::SEQUENCE, "an AttributeTypeAndValue is a SEQUENCE")?);
            atv.read(tag::OID, "an attribute type is an OBJECT IDENTIFIER")?;
            atv.read_any()?;
            atv.finish("trailing data in an AttributeTypeAndValue")?;
        }
    }
    Ok(())
}

fn extensions(content: &[u8]) -> Result<(), DerError> {
    let mut outer = Reader::new(content);
    let mut list = Reader::new(outer.read(tag::SEQUENCE, "extensions are a SEQUENCE")?);
    outer.finish("trailing data after the extensions")?;
    while !list.at_end() {
        let mut e = Reader::new(list.read(tag::SEQUENCE, "an Extension is a SEQUENCE")?);
        let id = e.read(tag::OID, "extnID is an OBJECT IDENTIFIER")?;
        if let Some(b) = e.read_optional(tag::BOOLEAN)? {
            boolean(b, "critical is a DER BOOLEAN (0xFF or 0x00)")?;
        }
        let value = e.read(tag::OCTET_STRING, "extnValue is an OCTET STRING")?;
        e.finish("trailing data in an Extension")?;
        if id == BASIC_CONSTRAINTS {
            basic_constraints(value)?;
        }
    }
    Ok(())
}

/// id-ce-basicConstraints (2.5.29.19).
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

/// A BOOLEAN's content as DER writes it (X.690 §11.1: TRUE is 0xFF). x509-parser takes any
/// non-zero octet for TRUE; webpki refuses it (found by the differential fuzzer).
fn boolean(content: &[u8], what: &'static str) -> Result<(), DerError> {
    match content {
        [0xff] | [0x00] => Ok(()),
        _ => Err(DerError(what)),
    }
}

/// BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
/// (RFC 5280 §4.2.1.9): the shape, and cA as a DER BOOLEAN.
fn basic_constraints(value: &[u8]) -> Result<(), DerError> {
    let mut outer = Reader::new(value);
    let mut bc = Reader::new(outer.read(tag::SEQUENCE, "basicConstraints is a SEQUENCE")?);
    outer.finish("trailing data after basicConstraints")?;
    if let Some(b) = bc.read_optional(tag::BOOLEAN)? {
        boolean(b, "basicConstraints cA is a DER BOOLEAN (0xFF or 0x00)")?;
    }
    bc.read_optional(tag::INTEGER)?;
    bc.finish("trailing data in basicConstraints")
}

#[cfg(test)]
mod tests {
    use super::check;

    fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        let content: Vec<u8> = parts.concat();
        let mut v = vec![tag, u8::try_from(content.len()).unwrap()];
        v.extend(content);
        v
    }

    /// A certificate-shaped structure whose serial has tag `serial_tag` and whose one extension
    /// has an extnID of tag `ext_id_tag` (the contents are not parsed by the check).
    fn cert(serial_tag: u8, ext_id_tag: u8) -> Vec<u8> {
        let alg = tlv(0x30, &[&tlv(0x06, &[&[0x2a]])]);
        let ext = tlv(0x30, &[&tlv(ext_id_tag, &[&[0x55]]), &tlv(0x04, &[])]);
        let tbs = tlv(
            0x30,
            &[
                &tlv(serial_tag, &[&[1]]),
                &alg,
                &tlv(0x30, &[]),
                &tlv(0x30, &[&tlv(0x17, &[]), &tlv(0x17, &[])]),
                &tlv(0x30, &[]),
                &tlv(0x30, &[&alg, &tlv(0x03, &[&[0]])]),
                &tlv(0xa3, &[&tlv(0x30, &[&ext])]),
            ],
        );
        tlv(0x30, &[&tbs, &alg, &tlv(0x03, &[&[0]])])
    }

    #[test]
    fn lenient_tags_are_refused() {
        assert_eq!(check(&cert(0x02, 0x06)), Ok(()));
        // A constructed INTEGER serial (0x22).
        assert!(
            check(&cert(0x22, 0x06))
                .unwrap_err()
                .contains("serialNumber")
        );
        // An extension whose extnID is an IA5String.
        assert!(check(&cert(0x02, 0x16)).unwrap_err().contains("extnID"));
    }
}
