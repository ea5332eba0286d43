//! Certificate revocation lists: parsed once, revoked serials indexed in a hash map.
//!
//! The list of revoked certificates is walked with the crate's own DER reader, without
//! allocating per entry beyond the index itself: a 1,000,000-entry CRL loads in well under a
//! second, lookups are O(1), and memory stays proportional to the input (a hostile length field
//! cannot make us reserve more than the entries actually present).
//!
//! A CRL is used for a certificate only when: its issuer name equals the certificate's issuer
//! name; its authorityKeyIdentifier (if any) matches the issuer's subjectKeyIdentifier (if
//! any); the issuer's keyUsage (if present) has cRLSign; its signature verifies with the
//! issuer's key; its issuingDistributionPoint (if any) covers the certificate; it is not a delta
//! CRL, an indirect CRL, or partitioned by reason; and its thisUpdate is not in the future.

use std::collections::HashMap;
use std::collections::HashSet;

use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension, X509Extension};
use x509_parser::oid_registry::{
    OID_PKIX_AUTHORITY_INFO_ACCESS, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_CRL_NUMBER,
    OID_X509_EXT_DELTA_CRL_INDICATOR, OID_X509_EXT_FRESHEST_CRL, OID_X509_EXT_INVALIDITY_DATE,
    OID_X509_EXT_ISSUER, OID_X509_EXT_ISSUER_ALT_NAME, OID_X509_EXT_ISSUER_DISTRIBUTION_POINT,
    OID_X509_EXT_REASON_CODE,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::cert::{Cert, ku};
use crate::der::{self, DerError, Reader, tag};
use crate::dn::Dn;
use crate::sig::AlgId;

/// SHA-256 of `data`, calling `pause` between pieces of 256 KiB.
fn paced_sha256(data: &[u8], pause: &dyn Fn()) -> [u8; 32] {
    let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for piece in data.chunks(crate::load::PACE_BYTES) {
        h.update(piece);
        pause();
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}

/// The hasher of the serial index: foldhash, randomly seeded per process. SipHash took a fifth
/// of the time to load a million-entry CRL; serials are chosen by the CA, and the seed keeps
/// anyone who did not see it from building colliding ones.
type SerialHasher = foldhash::fast::RandomState;

/// A serial number of up to 24 bytes, stored inline (no allocation per entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortSerial {
    len: u8,
    bytes: [u8; 24],
}

impl ShortSerial {
    fn new(serial: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; 24];
        bytes.get_mut(..serial.len())?.copy_from_slice(serial);
        Some(ShortSerial {
            len: u8::try_from(serial.len()).ok()?,
            bytes,
        })
    }
}

/// A revocation: when, and why (the CRLReason code, if given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub date: i64,
    pub reason: Option<u8>,
}

/// CRLReason removeFromCRL (RFC 5280 5.3.1).
const REMOVE_FROM_CRL: u8 = 8;

impl Entry {
    /// False for a removeFromCRL entry: RFC 5280 6.3.3 (k) sets such a certificate's status to
    /// UNREVOKED (openssl's `ca` lists released holds this way, in full CRLs too).
    pub(crate) fn revokes(&self) -> bool {
        self.reason != Some(REMOVE_FROM_CRL)
    }
}

/// What an issuingDistributionPoint restricts the CRL to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Scope {
    only_user: bool,
    only_ca: bool,
    only_attribute: bool,
    some_reasons: bool,
    indirect: bool,
    uris: Vec<String>,
}

/// A parsed certificate revocation list.
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: std::ops::Range<usize>,
    pub(crate) issuer: Dn,
    issuer_text: String,
    pub(crate) this_update: i64,
    pub(crate) next_update: Option<i64>,
    pub(crate) sig_alg: AlgId,
    pub(crate) signature: Vec<u8>,
    pub(crate) aki: Option<Vec<u8>>,
    crl_number: Option<String>,
    scope: Scope,
    short: HashMap<ShortSerial, Entry, SerialHasher>,
    long: HashMap<Vec<u8>, Entry, SerialHasher>,
    /// `(strict_only, detail)`: reasons not to use this CRL.
    pub(crate) problems: Vec<(bool, String)>,
    sha256: [u8; 32],
}

impl Crl {
    /// Parses one DER-encoded CRL.
    pub fn from_der(der: &[u8]) -> Result<Crl, crate::LoadError> {
        Self::from_der_paced(der, &|| {})
    }

    /// [`Crl::from_der`], calling `pause` every 512 revoked entries and every 256 KiB hashed
    /// (see [`crate::load_crls_paced`]).
    pub fn from_der_paced(der: &[u8], pause: &dyn Fn()) -> Result<Crl, crate::LoadError> {
        Crl::parse(der, pause).map_err(|detail| crate::LoadError::Invalid {
            what: "DER data".into(),
            expected: "CRL",
            index: 1,
            detail,
        })
    }

    /// The issuer DN as text.
    pub fn issuer(&self) -> &str {
        &self.issuer_text
    }

    /// thisUpdate.
    pub fn this_update(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.this_update).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// nextUpdate, if present.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
    }

    /// The cRLNumber in hex, if present.
    pub fn crl_number(&self) -> Option<&str> {
        self.crl_number.as_deref()
    }

    /// The number of revoked serials.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// True when no certificate is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the serial number (big-endian bytes, as in the certificate) is listed.
    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        self.lookup(der::trim_integer(serial))
            .is_some_and(Entry::revokes)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER encoding.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    /// Reasons why this CRL is never used (unsupported features, RFC 5280 violations). The
    /// RFC 5280 profile rules among them apply only to a strict verifier.
    pub fn problems(&self) -> Vec<String> {
        self.problems.iter().map(|p| p.1.clone()).collect()
    }

    /// The signed part.
    pub(crate) fn tbs(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    /// The entry for a serial without leading zeros.
    pub(crate) fn lookup(&self, serial: &[u8]) -> Option<&Entry> {
        match ShortSerial::new(serial) {
            Some(k) => self.short.get(&k),
            None => self.long.get(serial),
        }
    }

    /// "CRL of <issuer> (thisUpdate …)" for messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "CRL of {} (thisUpdate {})",
            self.issuer_text,
            crate::checks::fmt_time(self.this_update)
        )
    }

    /// Why this CRL does not cover `cert` per its issuingDistributionPoint, if it does not.
    pub(crate) fn scope_excludes(&self, cert: &Cert) -> Option<&'static str> {
        let s = &self.scope;
        if s.only_user && cert.is_ca() {
            Some("it covers only end-entity certificates")
        } else if s.only_ca && !cert.is_ca() {
            Some("it covers only CA certificates")
        } else if s.only_attribute {
            Some("it covers only attribute certificates")
        } else if !s.uris.is_empty()
            && !cert.crl_dp_uris.is_empty()
            && !cert.crl_dp_uris.iter().any(|u| s.uris.contains(u))
        {
            Some("its distribution point is not one of the certificate's")
        } else {
            None
        }
    }

    fn parse(der: &[u8], pause: &dyn Fn()) -> Result<Crl, String> {
        let e = |e: DerError| e.0.to_string();
        let mut outer = Reader::new(der);
        let list = outer
            .read(tag::SEQUENCE, "a CRL must be a SEQUENCE")
            .map_err(e)?;
        outer.finish("trailing data after the CRL").map_err(e)?;
        let mut r = Reader::new(list);
        let tbs_whole = r
            .read_whole(tag::SEQUENCE, "TBSCertList expected")
            .map_err(e)?;
        let sig_alg = AlgId::from_der(
            r.read(tag::SEQUENCE, "signatureAlgorithm expected")
                .map_err(e)?,
        )
        .map_err(e)?;
        let bits = r
            .read(tag::BIT_STRING, "signatureValue expected")
            .map_err(e)?;
        r.finish("trailing data in the CRL").map_err(e)?;
        let signature = match bits.split_first() {
            Some((0, sig)) => sig.to_vec(),
            _ => return Err("malformed signatureValue".into()),
        };
        // The outer SEQUENCE's content ends `der` and starts with the TBS.
        let start = der.len() - list.len();
        let tbs_range = start..start + tbs_whole.len();
        let tbs = Reader::new(tbs_whole)
            .read(tag::SEQUENCE, "TBSCertList expected")
            .map_err(e)?;

        let mut problems = Vec::new();
        let mut t = Reader::new(tbs);
        let version = t.read_optional(tag::INTEGER).map_err(e)?;
        if version.is_some_and(|v| v != [1]) {
            return Err("unsupported CRL version (only v2 is defined)".into());
        }
        let inner_alg = AlgId::from_der(
            t.read(tag::SEQUENCE, "signature algorithm expected")
                .map_err(e)?,
        )
        .map_err(e)?;
        if inner_alg != sig_alg {
            problems.push((
                false,
                "the signature algorithm inside the signed part differs from the outer one"
                    .to_string(),
            ));
        }
        let issuer_der = t
            .read_whole(tag::SEQUENCE, "issuer Name expected")
            .map_err(e)?;
        let (_, name) = X509Name::from_der(issuer_der)
            .map_err(|err| format!("malformed issuer name ({err})"))?;
        let issuer = Dn::from_x509(&name);
        let issuer_text = name.to_string();
        let read_time = |t: &mut Reader<'_>| -> Result<Option<i64>, String> {
            match t.peek_tag() {
                Some(tg @ (tag::UTC_TIME | tag::GENERALIZED_TIME)) => {
                    let c = t.read(tg, "time expected").map_err(e)?;
                    der::parse_time(tg, c).map(Some).map_err(e)
                }
                _ => Ok(None),
            }
        };
        let this_update = read_time(&mut t)?.ok_or("thisUpdate expected")?;
        let next_update = read_time(&mut t)?;

        let mut short = HashMap::with_hasher(SerialHasher::default());
        let mut long = HashMap::with_hasher(SerialHasher::default());
        if let Some(list) = t.read_optional(tag::SEQUENCE).map_err(e)? {
            // First pass: count, so the index is sized by what is really there.
            let mut count = 0usize;
            let mut c = Reader::new(list);
            while !c.at_end() {
                c.read_any().map_err(e)?;
                count += 1;
            }
            short.reserve(count);
            let mut entry_flags = (false, false);
            let mut c = Reader::new(list);
            let mut n = 0usize;
            while !c.at_end() {
                n += 1;
                if n % 512 == 0 {
                    pause();
                }
                let rc = c
                    .read(tag::SEQUENCE, "revoked certificate entry expected")
                    .map_err(e)?;
                let mut rr = Reader::new(rc);
                let serial = der::trim_integer(
                    rr.read(tag::INTEGER, "entry serial number expected")
                        .map_err(e)?,
                );
                let date = read_time(&mut rr)?.ok_or("entry revocationDate expected")?;
                let mut reason = None;
                if let Some(exts) = rr.read_optional(tag::SEQUENCE).map_err(e)? {
                    reason = entry_extensions(exts, &mut entry_flags).map_err(e)?;
                }
                rr.finish("trailing data in a revoked certificate entry")
                    .map_err(e)?;
                let entry = Entry { date, reason };
                match ShortSerial::new(serial) {
                    Some(k) => {
                        short.entry(k).or_insert(entry);
                    }
                    None => {
                        long.entry(serial.to_vec()).or_insert(entry);
                    }
                }
            }
            if entry_flags.0 {
                problems.push((
                    false,
                    "entries with a certificateIssuer (indirect CRL) are not supported".to_string(),
                ));
            }
            if entry_flags.1 {
                problems.push((
                    false,
                    "an entry has a critical extension that is not understood".to_string(),
                ));
            }
        }

        let mut crl = Crl {
            der: der.to_vec(),
            tbs: tbs_range,
            issuer,
            issuer_text,
            this_update,
            next_update,
            sig_alg,
            signature,
            aki: None,
            crl_number: None,
            scope: Scope::default(),
            short,
            long,
            problems,
            sha256: paced_sha256(der, pause),
        };
        if let Some(exts) = t.read_optional(0xa0).map_err(e)? {
            if version.is_none() {
                crl.problems
                    .push((true, "a v1 CRL with extensions".to_string()));
            }
            let seq = Reader::new(exts)
                .read(tag::SEQUENCE, "crlExtensions expected")
                .map_err(e)?;
            crl.extensions(seq)?;
        }
        t.finish("trailing data in TBSCertList").map_err(e)?;
        if crl.crl_number.is_none() {
            crl.problems.push((
                true,
                "the cRLNumber extension is missing (RFC 5280 requires it)".to_string(),
            ));
        }
        Ok(crl)
    }

    fn extensions(&mut self, seq: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(seq);
        let mut seen = HashSet::new();
        while !r.at_end() {
            let whole = r
                .read_whole(tag::SEQUENCE, "extension expected")
                .map_err(|e| e.0.to_string())?;
            let (_, ext) = X509Extension::from_der(whole)
                .map_err(|err| format!("malformed CRL extension ({err})"))?;
            let oid = ext.oid.as_bytes();
            let name = crate::sig::oid_name(oid);
            if !seen.insert(oid.to_vec()) {
                self.problems.push((
                    false,
                    format!("the {name} extension appears more than once"),
                ));
                continue;
            }
            if let ParsedExtension::ParseError { .. } = ext.parsed_extension() {
                self.problems
                    .push((false, format!("the {name} extension is malformed")));
                continue;
            }
            if oid == OID_X509_EXT_CRL_NUMBER.as_bytes() {
                if let ParsedExtension::CRLNumber(n) = ext.parsed_extension() {
                    self.crl_number = Some(n.to_str_radix(16));
                }
                if ext.critical {
                    self.problems
                        .push((true, "cRLNumber is marked critical".to_string()));
                }
            } else if oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER.as_bytes() {
                if let ParsedExtension::AuthorityKeyIdentifier(a) = ext.parsed_extension() {
                    self.aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
            } else if oid == OID_X509_EXT_ISSUER_DISTRIBUTION_POINT.as_bytes() {
                if let ParsedExtension::IssuingDistributionPoint(idp) = ext.parsed_extension() {
                    let mut uris = Vec::new();
                    if let Some(DistributionPointName::FullName(names)) = &idp.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                uris.push((*u).to_string());
                            }
                        }
                    }
                    self.scope = Scope {
                        only_user: idp.only_contains_user_certs,
                        only_ca: idp.only_contains_ca_certs,
                        only_attribute: idp.only_contains_attribute_certs,
                        some_reasons: idp.only_some_reasons.is_some(),
                        indirect: idp.indirect_crl,
                        uris,
                    };
                    if self.scope.some_reasons {
                        self.problems.push((
                            false,
                            "CRLs partitioned by reason (onlySomeReasons) are not supported"
                                .to_string(),
                        ));
                    }
                    if self.scope.indirect {
                        self.problems
                            .push((false, "indirect CRLs are not supported".to_string()));
                    }
                }
            } else if oid == OID_X509_EXT_DELTA_CRL_INDICATOR.as_bytes() {
                self.problems
                    .push((false, "delta CRLs are not supported".to_string()));
            } else if oid == OID_X509_EXT_FRESHEST_CRL.as_bytes()
                || oid == OID_PKIX_AUTHORITY_INFO_ACCESS.as_bytes()
                || oid == OID_X509_EXT_ISSUER_ALT_NAME.as_bytes()
            {
                // Informational.
            } else if ext.critical {
                self.problems.push((
                    false,
                    format!("critical CRL extension {name} is not understood"),
                ));
            }
        }
        Ok(())
    }
}

/// Reads a revoked entry's extensions: returns the reason code, and sets `flags.0` for a
/// certificateIssuer and `flags.1` for an unknown critical extension.
fn entry_extensions(exts: &[u8], flags: &mut (bool, bool)) -> Result<Option<u8>, DerError> {
    let mut reason = None;
    let mut r = Reader::new(exts);
    while !r.at_end() {
        let ext = r.read(tag::SEQUENCE, "entry extension expected")?;
        let mut er = Reader::new(ext);
        let oid = er.read(tag::OID, "extension OID expected")?;
        let critical = er.read_optional(tag::BOOLEAN)?.is_some_and(|b| b != [0]);
        let value = er.read(tag::OCTET_STRING, "extension value expected")?;
        er.finish("trailing data in an entry extension")?;
        if oid == OID_X509_EXT_REASON_CODE.as_bytes() {
            let code = Reader::new(value).read(tag::ENUMERATED, "reasonCode must be ENUMERATED")?;
            reason = code.first().copied();
        } else if oid == OID_X509_EXT_ISSUER.as_bytes() {
            flags.0 = true;
        } else if oid == OID_X509_EXT_INVALIDITY_DATE.as_bytes() {
            // Informational.
        } else if critical {
            flags.1 = true;
        }
    }
    Ok(reason)
}

/// The revocation status of a certificate.
pub(crate) enum Status {
    /// A current CRL of the issuer covers the certificate and does not list it.
    Good,
    /// A CRL of the issuer lists the certificate.
    Revoked(String),
    /// Only expired CRLs cover it (detail).
    Expired(String),
    /// No usable CRL covers it (detail: why each candidate was not used).
    Unknown(String),
}

/// The readable name of a CRLReason code.
pub(crate) fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown reason",
    }
}

/// Determines the status of `cert` issued by `issuer` from `candidates` (the CRLs whose issuer
/// name is the certificate's issuer name). `signature_ok(crl)` verifies a CRL's signature with
/// the issuer's key.
pub(crate) fn status(
    cert: &Cert,
    issuer: &Cert,
    candidates: &[(usize, &Crl)],
    time: i64,
    strict: bool,
    allow_expired: bool,
    signature_ok: &mut dyn FnMut(usize, &Crl) -> Result<(), String>,
) -> Status {
    let mut notes = Vec::new();
    let mut expired = None;
    let mut good = false;
    for &(index, crl) in candidates {
        let mut reject = |why: String| notes.push(format!("{} not used: {why}", crl.describe()));
        if let Some(p) = crl.problems.iter().find(|p| strict || !p.0) {
            reject(p.1.clone());
            continue;
        }
        if let (Some(a), Some(s)) = (&crl.aki, &issuer.ski) {
            if a != s {
                reject("its authorityKeyIdentifier does not match the issuer's key".into());
                continue;
            }
        }
        if issuer.key_usage.is_some_and(|k| k & ku::CRL_SIGN == 0) {
            reject("the issuer's keyUsage does not allow cRLSign".into());
            continue;
        }
        if let Some(why) = crl.scope_excludes(cert) {
            reject(why.into());
            continue;
        }
        if let Err(why) = signature_ok(index, crl) {
            reject(why);
            continue;
        }
        if crl.this_update > time {
            reject("it is not yet valid".into());
            continue;
        }
        if let Some(entry) = crl.lookup(&cert.serial).filter(|e| e.revokes()) {
            let reason = entry
                .reason
                .map(|r| format!(", reason {}", reason_name(r)))
                .unwrap_or_default();
            return Status::Revoked(format!(
                "serial {} revoked on {}{reason} ({})",
                cert.info.serial,
                crate::checks::fmt_time(entry.date),
                crl.describe()
            ));
        }
        match crl.next_update {
            Some(next) if next < time && !allow_expired => {
                expired = Some(format!(
                    "{} expired: nextUpdate {} is before the verification time",
                    crl.describe(),
                    crate::checks::fmt_time(next)
                ));
            }
            _ => good = true,
        }
    }
    if good {
        Status::Good
    } else if let Some(d) = expired {
        Status::Expired(d)
    } else if notes.is_empty() {
        Status::Unknown(format!(
            "no CRL issued by {} was supplied",
            issuer.info.subject
        ))
    } else {
        Status::Unknown(notes.join("; "))
    }
}
