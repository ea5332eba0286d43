//! `mtls cert show`: everything in a certificate, chain, request or CRL, decoded.
//!
//! [`show`] reads PEM (any number of `CERTIFICATE`, `TRUSTED CERTIFICATE`, `CERTIFICATE REQUEST`,
//! `NEW CERTIFICATE REQUEST` and `X509 CRL` blocks; other blocks such as keys are skipped with a
//! note) or a single DER object (certificate, request or CRL, detected by trying each), and returns
//! one [`Shown`](crate::show::Shown) per object. [`Shown::to_text`](crate::show::Shown::to_text) renders a readable report; the same struct
//! serializes with serde for `--json`.
//!
//! # JSON shape
//!
//! Every key is always present; fields that do not apply to a kind are `null` (or `[]`).
//!
//! ```text
//! {
//!   "kind": "certificate" | "request" | "crl",
//!   "index": 1, "count": 3,                 // position in the input, 1-based
//!   "source": "PEM CERTIFICATE" | "DER",
//!   "version": 3,                           // 1-based, as printed by openssl
//!   "serial": {"hex": "0A:1B", "plain": "0A1B", "decimal": "2587"} | null,
//!   "subject": {"text": "/C=CN/O=X/CN=h", "rfc4514": "CN=h,O=X,C=CN",
//!               "fields": [{"field": "C", "oid": "2.5.4.6", "value": "CN"}, …]} | null,
//!   "issuer":  (same shape as subject) | null,
//!   "validity": {"not_before": RFC 3339, "not_after": RFC 3339, "checked_at": RFC 3339,
//!                "expired": bool, "not_yet_valid": bool, "days_remaining": int} | null,
//!   "public_key": {"algorithm": "EC P-256", "oid": "1.2.840.10045.2.1", "bits": 256 | null,
//!                  "curve": "P-256" | null, "rsa_exponent": 65537 | null} | null,
//!   "signature_algorithm": {"name": "ecdsa-with-SHA256", "oid": "1.2.840.10045.4.3.2"},
//!   "signature_valid": bool | null,         // null: not checked (issuer not in the input)
//!   "signature_checked_with": "its own key" | "certificate 2" | null,
//!   "extensions": [{"name": "keyUsage", "oid": "2.5.29.15", "critical": true,
//!                   "value": {"type": "key_usage", "usages": ["Digital Signature"]}}, …],
//!   "attributes": [{"name": "challengePassword", "oid": "…", "values": ["…"]}],   // requests
//!   "crl": {"this_update": …, "next_update": … | null, "stale": bool, "crl_number": "3" | null,
//!           "revoked_count": 1, "revoked": [{"serial": {…}, "revocation_date": …,
//!           "reason": "keyCompromise" | null, "invalidity_date": … | null,
//!           "hold_instruction": "holdInstructionReject" | "1.2.3…" | null,
//!           "extensions": […]}]} | null,
//!   "fingerprints": {"sha256": "AB:CD:…", "sha1": "…"},
//!   "notes": ["…"]
//! }
//! ```
//!
//! The `value` of an extension is tagged by `type`; see [`ExtValue`](crate::show::ExtValue) for each variant's fields.

mod ext;
mod model;
mod names;
mod text;
mod verify;

use time::OffsetDateTime;
use x509_parser::asn1_rs::{Any, FromDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::error::X509Error;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name};

pub use ext::{Access, DistPoint, ExtValue, Extension, Named, Policy, PolicyMap, SctEntry};
pub use model::{
    AlgInfo, Attribute, CrlInfo, DnField, DnInfo, Fingerprints, KeyInfo, Kind, RevokedEntry,
    Serial, Shown, Validity,
};

use crate::error::{Error, Result};
use crate::name::{Attr, Name, decode_string};
use crate::pemutil;

const EXPECTED: &str = "certificate, certificate request or CRL";

/// Decodes every certificate, request and CRL in `data` (PEM or DER), judging validity now.
///
/// `what` names the input in errors. Fails when nothing showable is found, when a block does not
/// decode, or when DER input carries trailing bytes.
pub fn show(data: &[u8], what: &str) -> Result<Vec<Shown>> {
    show_at(data, what, OffsetDateTime::now_utc())
}

/// As [`show`], judging validity (expired, days remaining, stale CRL) at `now`.
pub fn show_at(data: &[u8], what: &str, now: OffsetDateTime) -> Result<Vec<Shown>> {
    let blocks = pemutil::blocks(data, what, EXPECTED)?;
    let multi = blocks.len() > 1;
    let mut parsed: Vec<Entry<'_>> = Vec::new();
    let mut pending: Vec<String> = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let place = if multi {
            format!("{what} (PEM block {})", i + 1)
        } else {
            what.to_string()
        };
        let (p, source, mut notes) = match block.label.as_str() {
            "" => (detect(&block.der, &place)?, "DER".to_string(), Vec::new()),
            "CERTIFICATE" | "X509 CERTIFICATE" => {
                let p = parse_cert(&block.der).map_err(|e| fail(&place, "certificate", e))?;
                (p, format!("PEM {}", block.label), Vec::new())
            }
            "TRUSTED CERTIFICATE" => {
                let (p, rest) =
                    parse_cert_with_rest(&block.der).map_err(|e| fail(&place, "certificate", e))?;
                let notes = names::trust_note(rest).into_iter().collect();
                (p, format!("PEM {}", block.label), notes)
            }
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                let p =
                    parse_req(&block.der).map_err(|e| fail(&place, "certificate request", e))?;
                (p, format!("PEM {}", block.label), Vec::new())
            }
            "X509 CRL" => {
                let p = parse_crl(&block.der).map_err(|e| fail(&place, "CRL", e))?;
                (p, format!("PEM {}", block.label), Vec::new())
            }
            other => {
                pending.push(format!(
                    "skipped PEM block {} ({other}): not a certificate, request or CRL",
                    i + 1
                ));
                continue;
            }
        };
        notes.splice(0..0, pending.drain(..));
        parsed.push((p, source, notes));
    }
    if parsed.is_empty() {
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        return Err(Error::decode(
            what,
            EXPECTED,
            format!("it holds only {} PEM block(s)", labels.join(", ")),
        ));
    }
    if let Some((_, _, notes)) = parsed.last_mut() {
        notes.append(&mut pending);
    }
    let count = parsed.len();
    let certs: Vec<&X509Certificate<'_>> = parsed
        .iter()
        .filter_map(|(p, ..)| match p {
            Parsed::Cert(c) => Some(&**c),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    for (i, (p, source, notes)) in parsed.iter().enumerate() {
        let mut s = match p {
            Parsed::Cert(c) => show_cert(c, &certs, &parsed, now),
            Parsed::Req(r) => show_req(r),
            Parsed::Crl(c) => show_crl(c, &certs, &parsed, now),
        };
        s.index = i + 1;
        s.count = count;
        s.source = source.clone();
        s.notes.splice(0..0, notes.iter().cloned());
        out.push(s);
    }
    Ok(out)
}

enum Parsed<'a> {
    Cert(Box<X509Certificate<'a>>),
    Req(X509CertificationRequest<'a>),
    Crl(CertificateRevocationList<'a>),
}

/// Why a parser did not return an object.
enum Failure {
    /// The object decoded, but this many bytes follow it.
    Trailing(usize),
    /// It did not decode.
    Invalid(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Trailing(n) => write!(f, "{n} bytes of trailing data follow it"),
            Failure::Invalid(e) => f.write_str(e),
        }
    }
}

type Parse<T> = std::result::Result<T, Failure>;

/// A parser for one kind of object.
type ParseFn = for<'a> fn(&'a [u8]) -> Parse<Parsed<'a>>;

/// A parsed object, where it came from, and notes gathered while reading the input.
type Entry<'a> = (Parsed<'a>, String, Vec<String>);

fn fail(place: &str, expected: &'static str, f: Failure) -> Error {
    Error::decode(place, expected, f)
}

fn invalid(e: x509_parser::nom::Err<X509Error>) -> Failure {
    Failure::Invalid(match e {
        x509_parser::nom::Err::Incomplete(_) => "the input is truncated".into(),
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e.to_string(),
    })
}

fn no_trailing(rest: &[u8]) -> Parse<()> {
    match rest.len() {
        0 => Ok(()),
        n => Err(Failure::Trailing(n)),
    }
}

fn parse_cert_with_rest(der: &[u8]) -> Parse<(Parsed<'_>, &[u8])> {
    let (rest, c) = X509Certificate::from_der(der).map_err(invalid)?;
    Ok((Parsed::Cert(Box::new(c)), rest))
}

fn parse_cert(der: &[u8]) -> Parse<Parsed<'_>> {
    let (p, rest) = parse_cert_with_rest(der)?;
    no_trailing(rest)?;
    Ok(p)
}

fn parse_req(der: &[u8]) -> Parse<Parsed<'_>> {
    let (rest, r) = X509CertificationRequest::from_der(der).map_err(invalid)?;
    no_trailing(rest)?;
    Ok(Parsed::Req(r))
}

fn parse_crl(der: &[u8]) -> Parse<Parsed<'_>> {
    let (rest, c) = CertificateRevocationList::from_der(der).map_err(invalid)?;
    no_trailing(rest)?;
    Ok(Parsed::Crl(c))
}

/// Tries each parser on DER input; one that decodes the object but finds trailing bytes decides
/// the error.
fn detect<'a>(der: &'a [u8], place: &str) -> Result<Parsed<'a>> {
    let tries: [(&str, ParseFn); 3] = [
        ("certificate", parse_cert),
        ("certificate request", parse_req),
        ("CRL", parse_crl),
    ];
    let mut errors = Vec::new();
    for (name, f) in tries {
        match f(der) {
            Ok(p) => return Ok(p),
            Err(e @ Failure::Trailing(_)) => {
                let detail = format!("it is a DER {name}, but {e} (concatenate PEM, not DER)");
                return Err(Error::decode(place, EXPECTED, detail));
            }
            Err(e) => errors.push(format!("as a {name}: {e}")),
        }
    }
    Err(Error::decode(place, EXPECTED, errors.join("; ")))
}

fn blank(kind: Kind, sig: &AlgorithmIdentifier<'_>, der: &[u8]) -> Shown {
    Shown {
        kind,
        index: 0,
        count: 0,
        source: String::new(),
        version: 1,
        serial: None,
        subject: None,
        issuer: None,
        validity: None,
        public_key: None,
        signature_algorithm: names::sig_alg(sig),
        signature_valid: None,
        signature_checked_with: None,
        extensions: Vec::new(),
        attributes: Vec::new(),
        crl: None,
        fingerprints: fingerprints(der),
        notes: Vec::new(),
    }
}

fn show_cert(
    c: &X509Certificate<'_>,
    certs: &[&X509Certificate<'_>],
    all: &[Entry<'_>],
    now: OffsetDateTime,
) -> Shown {
    let tbs = &c.tbs_certificate;
    let mut s = blank(Kind::Certificate, &c.signature_algorithm, c.as_raw());
    s.version = tbs.version.0.saturating_add(1);
    s.serial = Some(serial(c.raw_serial(), &mut s.notes));
    s.subject = Some(dn_info(&tbs.subject));
    s.issuer = Some(dn_info(&tbs.issuer));
    let (nb, na) = (tbs.validity.not_before, tbs.validity.not_after);
    s.validity = Some(Validity {
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        checked_at: rfc3339_dt(now.replace_nanosecond(0).unwrap_or(now)),
        expired: now > na.to_datetime(),
        not_yet_valid: now < nb.to_datetime(),
        days_remaining: (na.to_datetime() - now).whole_days(),
    });
    s.public_key = Some(key_info(&tbs.subject_pki));
    if c.signature_algorithm != tbs.signature {
        s.notes.push(
            "the outer signature algorithm differs from the one inside the certificate".into(),
        );
    }
    s.extensions = ext::decode_all(tbs.extensions(), &mut s.notes);
    let check = |spki: &SubjectPublicKeyInfo<'_>| c.verify_signature(Some(spki));
    verify::check_signature(
        &mut s,
        &c.signature_algorithm,
        &tbs.issuer,
        certs,
        all,
        check,
        c.as_raw(),
    );
    s
}

fn show_req(r: &X509CertificationRequest<'_>) -> Shown {
    let info = &r.certification_request_info;
    let mut s = blank(Kind::Request, &r.signature_algorithm, r.as_raw());
    s.version = info.version.0.saturating_add(1);
    s.subject = Some(dn_info(&info.subject));
    s.public_key = Some(key_info(&info.subject_pki));
    match r.verify_signature() {
        Ok(()) => s.signature_valid = Some(true),
        Err(X509Error::SignatureVerificationError) => {
            match verify::verifier_limit(&r.signature_algorithm, &info.subject_pki) {
                Some(why) => s
                    .notes
                    .push(format!("the request's signature was not checked: {why}")),
                None => s.signature_valid = Some(false),
            }
        }
        Err(e) => s
            .notes
            .push(format!("the request's signature was not checked: {e}")),
    }
    if s.signature_valid.is_some() {
        s.signature_checked_with = Some("its own key".into());
    }
    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            s.extensions
                .extend(ext::decode_all(&req.extensions, &mut s.notes));
        }
    }
    s.attributes = names::request_attributes(info.raw);
    s
}

fn show_crl(
    c: &CertificateRevocationList<'_>,
    certs: &[&X509Certificate<'_>],
    all: &[Entry<'_>],
    now: OffsetDateTime,
) -> Shown {
    let tbs = &c.tbs_cert_list;
    let mut s = blank(Kind::Crl, &c.signature_algorithm, c.as_raw());
    s.version = tbs.version.map_or(1, |v| v.0.saturating_add(1));
    s.issuer = Some(dn_info(&tbs.issuer));
    s.extensions = ext::decode_all(tbs.extensions(), &mut s.notes);
    let mut revoked = Vec::new();
    for r in c.iter_revoked_certificates() {
        let mut entry_notes = Vec::new();
        let extensions = ext::decode_all(r.extensions(), &mut entry_notes);
        let serial = serial(r.raw_serial(), &mut entry_notes);
        s.notes.extend(
            entry_notes
                .into_iter()
                .map(|n| format!("revoked entry {}: {n}", serial.hex)),
        );
        revoked.push(RevokedEntry {
            reason: r.reason_code().map(|(_, code)| names::reason_name(code.0)),
            invalidity_date: r.invalidity_date().map(|(_, d)| rfc3339(d)),
            hold_instruction: hold_instruction(r),
            serial,
            revocation_date: rfc3339(r.revocation_date),
            extensions,
        });
    }
    s.crl = Some(CrlInfo {
        this_update: rfc3339(tbs.this_update),
        next_update: tbs.next_update.map(rfc3339),
        stale: tbs.next_update.is_some_and(|n| now > n.to_datetime()),
        crl_number: c.crl_number().map(|n| n.to_string()),
        revoked_count: revoked.len(),
        revoked,
    });
    let check = |spki: &SubjectPublicKeyInfo<'_>| c.verify_signature(spki);
    verify::check_signature(
        &mut s,
        &c.signature_algorithm,
        &tbs.issuer,
        certs,
        all,
        check,
        c.as_raw(),
    );
    s
}

/// A name decoded field by field; never fails (non-string values become `#hex`).
fn dn_info(name: &X509Name<'_>) -> DnInfo {
    let mut n = Name::default();
    let mut fields = Vec::new();
    for atv in name.iter_attributes() {
        let oid = atv.attr_type();
        let attr = oid
            .iter()
            .map(|arcs| Attr::from_oid(&arcs.collect::<Vec<u64>>()))
            .unwrap_or_else(|| Attr::Other(oid.to_id_string()));
        let v = atv.attr_value();
        let value = decode_string(v.header.tag(), v.data)
            .unwrap_or_else(|| format!("#{}", hex_plain(v.data)));
        fields.push(DnField {
            field: attr.short(),
            oid: oid.to_id_string(),
            value: value.clone(),
        });
        n.entries.push((attr, value));
    }
    DnInfo {
        text: n.to_string(),
        rfc4514: n.rfc4514(),
        fields,
    }
}

fn key_info(spki: &SubjectPublicKeyInfo<'_>) -> KeyInfo {
    let oid = spki.algorithm.algorithm.to_id_string();
    let mut k = KeyInfo {
        algorithm: crate::inspect::describe(spki),
        oid: oid.clone(),
        bits: None,
        curve: None,
        rsa_exponent: None,
    };
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            if let Some(rsa) = verify::rsa_key(spki) {
                k.bits = verify::rsa_bits(&rsa);
                k.rsa_exponent = rsa.try_exponent().ok();
                // inspect::describe does not know RSA-PSS keys; name the family here.
                if let Some(bits) = k.bits {
                    let family = if oid.ends_with(".10") {
                        "RSA-PSS"
                    } else {
                        "RSA"
                    };
                    k.algorithm = format!("{family} {bits}");
                }
            }
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            if let Some(curve) = curve {
                let (name, bits) = names::curve(&curve);
                k.curve = Some(name);
                k.bits = bits;
            }
        }
        "1.3.101.112" => k.bits = Some(256),
        "1.3.101.113" => k.bits = Some(456),
        _ => {}
    }
    k
}

/// The DER elements one after another in `data` (stops at the first undecodable byte).
fn children(mut data: &[u8]) -> Vec<Any<'_>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        match Any::from_der(data) {
            Ok((rest, any)) => {
                out.push(any);
                data = rest;
            }
            Err(_) => break,
        }
    }
    out
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&x| x == 0).count();
    b.get(n..).unwrap_or_default()
}

/// A serial from the INTEGER's content bytes.
fn serial(raw: &[u8], notes: &mut Vec<String>) -> Serial {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        notes.push("the serial number is negative (RFC 5280 requires a positive integer)".into());
    }
    let bytes = strip_zeros(raw);
    let decimal = x509_parser::num_bigint::BigUint::from_bytes_be(raw).to_string();
    if bytes.is_empty() {
        return Serial {
            hex: "00".into(),
            plain: "0".into(),
            decimal,
        };
    }
    Serial {
        hex: hex_colon(bytes),
        plain: hex_plain(bytes),
        decimal,
    }
}

/// The SHA-256 fingerprint of `der`, uppercase colon-hex as `openssl x509 -fingerprint
/// -sha256` prints it: what `mtls ca serve` shows and `mtls ca bootstrap` checks.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    hex_colon(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

fn fingerprints(der: &[u8]) -> Fingerprints {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
    Fingerprints {
        sha256: hex_colon(digest(&SHA256, der).as_ref()),
        sha1: hex_colon(digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
    }
}

/// Uppercase hex, colon-separated: `0A:1B`.
pub(crate) fn hex_colon(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Uppercase hex: `0A1B`.
pub(crate) fn hex_plain(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn rfc3339_dt(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// An ASN.1 time in RFC 3339 (UTC).
pub(crate) fn rfc3339(t: ASN1Time) -> String {
    rfc3339_dt(t.to_datetime())
}

/// The holdInstructionCode entry extension (RFC 3280 5.3.2) by openssl's name, or its OID.
fn hold_instruction(r: &x509_parser::revocation_list::RevokedCertificate<'_>) -> Option<String> {
    let e = r
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == "2.5.29.23")?;
    let (_, oid) = x509_parser::asn1_rs::Oid::from_der(e.value).ok()?;
    let dotted = oid.to_id_string();
    Some(crate::store::hold::name(&dotted).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_notations() {
        let mut notes = Vec::new();
        let s = serial(&[0x00, 0x8F, 0x01], &mut notes);
        assert_eq!((s.hex.as_str(), s.plain.as_str()), ("8F:01", "8F01"));
        assert_eq!(s.decimal, "36609");
        assert!(notes.is_empty());
        assert_eq!(serial(&[0], &mut notes).plain, "0");
        serial(&[0x80], &mut notes);
        assert_eq!(notes.len(), 1, "a negative serial is noted");
    }

    #[test]
    fn undecodable_bits_become_hex() {
        assert!(children(&[0x30, 0x05, 0x01]).is_empty());
        assert_eq!(names::request_attributes(&[0x30, 0x00]).len(), 0);
        assert_eq!(names::curve("1.2.3").0, "1.2.3");
        assert_eq!(names::reason_name(7), "reason 7");
    }
}
