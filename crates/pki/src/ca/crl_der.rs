//! The DER encoding of a v2 CRL (RFC 5280 5.1), with the entry extensions openssl writes.
//!
//! rcgen writes reasonCode and invalidityDate but not holdInstructionCode (RFC 3280 5.3.2,
//! which openssl's `ca -crl_hold` sets), so mtls encodes the TBSCertList itself and signs it
//! with the CA key. The encoding streams into one buffer: a million entries cost one pass.

use rcgen::SigningKey;

use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::store::{Reason, RevokedEntry};

pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0a;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const CONTEXT_0: u8 = 0xa0;
    pub const CONTEXT_PRIM_0: u8 = 0x80;
}

/// id-ce-authorityKeyIdentifier (2.5.29.35).
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
/// id-ce-cRLNumber (2.5.29.20).
const OID_CRL_NUMBER: &[u8] = &[0x55, 0x1d, 0x14];
/// id-ce-cRLReasons (2.5.29.21).
const OID_REASON: &[u8] = &[0x55, 0x1d, 0x15];
/// id-ce-holdInstructionCode (2.5.29.23).
const OID_HOLD: &[u8] = &[0x55, 0x1d, 0x17];
/// id-ce-invalidityDate (2.5.29.24).
const OID_INVALIDITY: &[u8] = &[0x55, 0x1d, 0x18];

/// What goes into a CRL besides its entries.
pub(super) struct CrlFields<'a> {
    /// The issuer Name, DER, exactly as in the CA certificate's subject.
    pub issuer: &'a [u8],
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// The cRLNumber.
    pub number: u64,
    /// The CA's subjectKeyIdentifier, for the authorityKeyIdentifier.
    pub key_id: &'a [u8],
}

/// Encodes and signs the CRL; returns its DER.
pub(super) fn signed_crl(
    fields: &CrlFields<'_>,
    entries: &[RevokedEntry],
    key: &PrivateKey,
) -> Result<Vec<u8>> {
    let alg = algorithm_identifier(key)?;
    let tbs = tbs_cert_list(fields, entries, &alg)?;
    let signature = key
        .key_pair()
        .sign(&tbs)
        .map_err(|e| Error::crypto("signing the CRL", e))?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&signature);
    let mut body = Vec::with_capacity(tbs.len() + alg.len() + bits.len() + 16);
    body.extend_from_slice(&tbs);
    body.extend_from_slice(&alg);
    tlv(tag::BIT_STRING, &bits, &mut body);
    let mut out = Vec::with_capacity(body.len() + 8);
    tlv(tag::SEQUENCE, &body, &mut out);
    Ok(out)
}

fn tbs_cert_list(fields: &CrlFields<'_>, entries: &[RevokedEntry], alg: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(entries.len() * 40 + 256);
    tlv(tag::INTEGER, &[1], &mut body); // v2
    body.extend_from_slice(alg);
    body.extend_from_slice(fields.issuer);
    time(fields.this_update, false, &mut body)?;
    time(fields.next_update, false, &mut body)?;
    if !entries.is_empty() {
        // RFC 5280 5.1.2.6: absent, not empty, when nothing is revoked.
        let mut list = Vec::with_capacity(entries.len() * 40);
        let mut entry = Vec::with_capacity(128);
        for e in entries {
            entry.clear();
            revoked_entry(e, &mut entry)?;
            tlv(tag::SEQUENCE, &entry, &mut list);
        }
        tlv(tag::SEQUENCE, &list, &mut body);
    }
    let mut exts = Vec::with_capacity(64);
    let mut aki = Vec::with_capacity(fields.key_id.len() + 4);
    tlv(tag::CONTEXT_PRIM_0, fields.key_id, &mut aki);
    let mut aki_seq = Vec::with_capacity(aki.len() + 2);
    tlv(tag::SEQUENCE, &aki, &mut aki_seq);
    extension(OID_AKI, &aki_seq, &mut exts);
    let mut number = Vec::with_capacity(12);
    integer(&fields.number.to_be_bytes(), &mut number);
    extension(OID_CRL_NUMBER, &number, &mut exts);
    let mut ext_seq = Vec::with_capacity(exts.len() + 4);
    tlv(tag::SEQUENCE, &exts, &mut ext_seq);
    tlv(tag::CONTEXT_0, &ext_seq, &mut body);
    let mut out = Vec::with_capacity(body.len() + 8);
    tlv(tag::SEQUENCE, &body, &mut out);
    Ok(out)
}

/// One revokedCertificates element's content: serial, date, and the entry extensions.
fn revoked_entry(e: &RevokedEntry, out: &mut Vec<u8>) -> Result<()> {
    let r = &e.revocation;
    integer(e.serial.as_bytes(), out);
    time(r.at, false, out)?;
    let mut exts = Vec::new();
    // RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent.
    if r.reason != Reason::Unspecified {
        let mut v = Vec::with_capacity(3);
        tlv(tag::ENUMERATED, &[r.reason.code()], &mut v);
        extension(OID_REASON, &v, &mut exts);
    }
    if let Some(oid) = &r.hold_instruction {
        let der = oid_der(oid).ok_or_else(|| {
            Error::invalid(
                format!("the hold instruction of serial {}", e.serial),
                format!("{oid:?} is not a dotted OID"),
            )
        })?;
        let mut v = Vec::with_capacity(der.len() + 2);
        tlv(tag::OID, &der, &mut v);
        extension(OID_HOLD, &v, &mut exts);
    }
    if let Some(at) = r.invalidity_date {
        let mut v = Vec::with_capacity(17);
        time(at, true, &mut v)?;
        extension(OID_INVALIDITY, &v, &mut exts);
    }
    if !exts.is_empty() {
        tlv(tag::SEQUENCE, &exts, out);
    }
    Ok(())
}

/// A non-critical Extension whose extnValue holds `value` (already DER).
fn extension(oid: &[u8], value: &[u8], out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(oid.len() + value.len() + 6);
    tlv(tag::OID, oid, &mut body);
    tlv(tag::OCTET_STRING, value, &mut body);
    tlv(tag::SEQUENCE, &body, out);
}

/// Writes tag, DER length and content.
pub(crate) fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// A non-negative INTEGER from big-endian magnitude bytes (minimal, with a 0 before a high bit).
fn integer(magnitude: &[u8], out: &mut Vec<u8>) {
    let first = magnitude.iter().position(|&b| b != 0);
    let trimmed = first.map(|i| &magnitude[i..]).unwrap_or(&[0]);
    if trimmed[0] & 0x80 != 0 {
        let mut v = Vec::with_capacity(trimmed.len() + 1);
        v.push(0);
        v.extend_from_slice(trimmed);
        tlv(tag::INTEGER, &v, out);
    } else {
        tlv(tag::INTEGER, trimmed, out);
    }
}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 5.1.2.4); `generalized` forces
/// GeneralizedTime (invalidityDate, RFC 5280 5.3.2).
fn time(secs: i64, generalized: bool, out: &mut Vec<u8>) -> Result<()> {
    let t = ::time::OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| Error::invalid("a CRL time", format!("{secs} is out of range")))?;
    let y = t.year();
    if !(0..=9999).contains(&y) {
        return Err(Error::invalid(
            "a CRL time",
            format!("year {y} cannot be encoded"),
        ));
    }
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if !generalized && (1950..2050).contains(&y) {
        tlv(
            tag::UTC_TIME,
            format!("{:02}{rest}", y % 100).as_bytes(),
            out,
        );
    } else {
        tlv(
            tag::GENERALIZED_TIME,
            format!("{y:04}{rest}").as_bytes(),
            out,
        );
    }
    Ok(())
}

/// The content octets of a dotted OID (X.690 8.19), or `None` if it is not one.
pub(crate) fn oid_der(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| {
            (!a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                .then(|| a.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
        return None;
    }
    let mut out = Vec::new();
    let first = arcs[0].checked_mul(40)?.checked_add(arcs[1])?;
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = Vec::new();
        let mut v = arc;
        loop {
            groups.push((v & 0x7f) as u8);
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for (i, g) in groups.iter().rev().enumerate() {
            out.push(if i + 1 < groups.len() { g | 0x80 } else { *g });
        }
    }
    Some(out)
}

/// The AlgorithmIdentifier of the signatures `key` makes (RFC 5758 3.2, RFC 8410 3,
/// RFC 4055 5 with the NULL parameters RFC 8017 A.2.4 asks for).
pub(crate) fn algorithm_identifier(key: &PrivateKey) -> Result<Vec<u8>> {
    let alg = key.algorithm();
    let (oid, null): (&[u8], bool) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02], false)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03], false)
    } else if alg == &rcgen::PKCS_ED25519 {
        (&[0x2b, 0x65, 0x70], false)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
            true,
        )
    } else {
        return Err(Error::invalid(
            "the CA key",
            format!(
                "{} keys cannot sign CRLs or OCSP responses here",
                key.description()
            ),
        ));
    };
    let mut body = Vec::with_capacity(16);
    tlv(tag::OID, oid, &mut body);
    if null {
        tlv(tag::NULL, &[], &mut body);
    }
    let mut out = Vec::with_capacity(body.len() + 2);
    tlv(tag::SEQUENCE, &body, &mut out);
    Ok(out)
}

impl PrivateKey {
    /// The DER AlgorithmIdentifier of the signatures this key makes (for a signer outside the
    /// CA, such as a delegated OCSP responder).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a key type that cannot sign here.
    pub fn signature_algorithm_der(&self) -> Result<Vec<u8>> {
        algorithm_identifier(self)
    }
}

/// The serial's DER INTEGER (for tests comparing entries).
#[cfg(test)]
fn serial_der(s: &crate::serial::Serial) -> Vec<u8> {
    let mut v = Vec::new();
    integer(s.as_bytes(), &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serial::Serial;

    #[test]
    fn integers_oids_and_lengths_are_der() {
        assert_eq!(serial_der(&Serial::from_bytes(&[0x00, 0x01])), [2, 1, 1]);
        assert_eq!(serial_der(&Serial::from_bytes(&[0x80])), [2, 2, 0, 0x80]);
        assert_eq!(serial_der(&Serial::from_bytes(&[])), [2, 1, 0]);
        assert_eq!(
            oid_der("1.2.840.10040.2.3").unwrap(),
            [0x2a, 0x86, 0x48, 0xce, 0x38, 0x02, 0x03]
        );
        assert_eq!(oid_der("2.999.1").unwrap(), [0x88, 0x37, 0x01]);
        for bad in [
            "",
            "1",
            "3.1",
            "1.40",
            "1..2",
            "1.2.x",
            "1.2.99999999999999999999",
        ] {
            assert!(oid_der(bad).is_none(), "{bad}");
        }
        let mut v = Vec::new();
        tlv(0x04, &[0u8; 300], &mut v);
        assert_eq!(&v[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut t = Vec::new();
        time(2_524_608_000, false, &mut t).unwrap(); // 2050-01-01
        assert_eq!(&t[2..], b"20500101000000Z");
        t.clear();
        time(0, false, &mut t).unwrap();
        assert_eq!(&t[2..], b"700101000000Z");
    }
}
