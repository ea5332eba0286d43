//! `index.txt`, `serial` and `crlnumber`: openssl ca's text database.
//!
//! An index line is six tab-separated fields: status (V, R, E), expiry date, revocation info,
//! serial (hex), file name (usually `unknown`) and the subject in `/C=…` form. The revocation
//! info is what openssl's `make_revocation_str` writes and `unpack_revinfo` reads:
//! `TIME[,REASON[,ARG]]`, where REASON is a CRLReason name or one of the pseudo-reasons
//! `holdInstruction,OID` (`-crl_hold`), `keyTime,GENTIME` (`-crl_compromise`) and
//! `CAkeyTime,GENTIME` (`-crl_CA_compromise`). The subject is `X509_NAME_oneline` output: bytes
//! outside printable ASCII are written `\xHH`, so a UTF-8 name arrives escaped.

use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::store::{Reason, Revocation, hold};

/// One line of `index.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// `V`, `R` or `E`.
    pub status: char,
    /// notAfter, Unix seconds.
    pub expires: i64,
    /// The revocation, for `R` lines.
    pub revoked: Option<Revocation>,
    /// The serial.
    pub serial: Serial,
    /// The subject, with openssl's `\xHH` escapes decoded when they spell UTF-8.
    pub subject: String,
}

/// Parses the whole of `index.txt`. Errors name the line; no line is ever skipped.
pub fn parse_index(text: &str, what: &str) -> Result<Vec<IndexEntry>> {
    let mut out = Vec::new();
    let mut lines_of = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |d: String| Error::decode(what, "openssl index", format!("line {}: {d}", n + 1));
        let e = parse_line(line).map_err(bad)?;
        if let Some(first) = lines_of.insert(e.serial.hex(), n + 1) {
            return Err(bad(format!(
                "serial {} is listed again (first on line {first}); openssl refuses such an index too",
                e.serial
            )));
        }
        out.push(e);
    }
    Ok(out)
}

fn parse_line(line: &str) -> std::result::Result<IndexEntry, String> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 6 {
        return Err(format!(
            "expected 6 tab-separated fields, found {}",
            f.len()
        ));
    }
    let status = match f[0] {
        "V" => 'V',
        "R" => 'R',
        "E" => 'E',
        other => return Err(format!("status {other:?} is not V, R or E")),
    };
    let expires = parse_time(f[1]).ok_or_else(|| format!("bad expiry date {:?}", f[1]))?;
    let revoked = match (status, f[2].is_empty()) {
        ('R', true) => return Err("a revoked (R) entry without a revocation date".into()),
        ('R', false) => Some(parse_revinfo(f[2])?),
        (_, false) => {
            return Err(format!(
                "status {status} (not revoked) but a revocation date {:?}; openssl refuses this too",
                f[2]
            ));
        }
        (_, true) => None,
    };
    let serial: Serial = f[3].parse().map_err(|_| format!("bad serial {:?}", f[3]))?;
    Ok(IndexEntry {
        status,
        expires,
        revoked,
        serial,
        subject: decode_subject(&f[5..].join("\t")),
    })
}

/// Parses `TIME[,REASON[,ARG]]` as openssl's `unpack_revinfo` does.
pub fn parse_revinfo(s: &str) -> std::result::Result<Revocation, String> {
    let mut parts = s.splitn(3, ',');
    let date = parts.next().unwrap_or_default();
    let at = parse_time(date).ok_or_else(|| format!("bad revocation date {date:?}"))?;
    let reason = parts.next();
    let arg = parts.next();
    let mut rev = Revocation::new(at, Reason::Unspecified);
    let Some(reason) = reason else {
        return Ok(rev);
    };
    let need = |what: &str| {
        arg.filter(|a| !a.is_empty()).ok_or_else(|| {
            format!("reason {reason:?} needs {what} after a comma, as openssl writes it")
        })
    };
    if reason.eq_ignore_ascii_case("holdInstruction") {
        let name = need("a hold instruction")?;
        rev.reason = Reason::CertificateHold;
        rev.hold_instruction = Some(hold::parse(name).ok_or_else(|| {
            format!(
                "unknown hold instruction {name:?}; expected holdInstructionNone, holdInstructionCallIssuer, holdInstructionReject or a dotted OID"
            )
        })?);
    } else if reason.eq_ignore_ascii_case("keyTime") || reason.eq_ignore_ascii_case("CAkeyTime") {
        let t = need("the compromise time")?;
        rev.reason = if reason.eq_ignore_ascii_case("keyTime") {
            Reason::KeyCompromise
        } else {
            Reason::CaCompromise
        };
        rev.invalidity_date = Some(
            parse_time(t)
                .ok_or_else(|| format!("bad compromise time {t:?} (need YYYYMMDDHHMMSSZ)"))?,
        );
    } else {
        rev.reason = Reason::parse(reason).map_err(|_| {
            format!(
                "unknown revocation reason {reason:?}; openssl writes unspecified, keyCompromise, CACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, removeFromCRL, holdInstruction, keyTime or CAkeyTime"
            )
        })?;
        if let Some(a) = arg {
            return Err(format!("reason {reason:?} takes no argument, found {a:?}"));
        }
    }
    Ok(rev)
}

/// The revocation info openssl writes for `rev` (`make_revocation_str`); the invalidity date
/// of a reason other than keyCompromise / cACompromise has no place in it and is left out.
pub fn format_revinfo(rev: &Revocation) -> String {
    let at = format_time(rev.at);
    let gen_time = |t: i64| format_generalized(t);
    match (rev.reason, rev.invalidity_date, &rev.hold_instruction) {
        (Reason::KeyCompromise, Some(t), _) => format!("{at},keyTime,{}", gen_time(t)),
        (Reason::CaCompromise, Some(t), _) => format!("{at},CAkeyTime,{}", gen_time(t)),
        (Reason::CertificateHold, _, Some(h)) => format!("{at},holdInstruction,{}", hold::name(h)),
        (Reason::Unspecified, _, _) => at,
        (r, _, _) => format!("{at},{}", r.name()),
    }
}

/// Decodes openssl's `\xHH` escapes when the bytes they stand for make UTF-8; otherwise the
/// text is kept as written. Only bytes openssl escapes (outside 0x20..=0x7E) are decoded, so a
/// literal `\x41` in a name stays as it is.
pub fn decode_subject(s: &str) -> String {
    if !s.contains("\\x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            let byte = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|&v| !(0x20..=0x7e).contains(&v));
            if let Some(v) = byte {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Escapes a subject as `X509_NAME_oneline` does (bytes outside 0x20..=0x7E as `\xHH`).
pub fn encode_subject(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if (0x20..=0x7e).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Formats one index line (with trailing newline).
pub fn format_entry(e: &IndexEntry) -> String {
    let rev = e.revoked.as_ref().map(format_revinfo).unwrap_or_default();
    format!(
        "{}\t{}\t{}\t{}\tunknown\t{}\n",
        e.status,
        format_time(e.expires),
        rev,
        e.serial.hex(),
        encode_subject(&e.subject)
    )
}

/// Parses an openssl `serial` or `crlnumber` file (hex).
pub fn parse_hex_number(text: &str, what: &str) -> Result<Serial> {
    text.trim()
        .parse()
        .map_err(|_| Error::decode(what, "hex number", format!("{:?}", text.trim())))
}

/// openssl writes UTCTime (`YYMMDDHHMMSSZ`) before 2050 and GeneralizedTime after.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match s.len() {
        12 => {
            let yy: i32 = s.get(0..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..)?)
        }
        14 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let num = |r: std::ops::Range<usize>| rest.get(r)?.parse::<u8>().ok();
    let month = ::time::Month::try_from(num(0..2)?).ok()?;
    let date = ::time::Date::from_calendar_date(year, month, num(2..4)?).ok()?;
    let t = ::time::Time::from_hms(num(4..6)?, num(6..8)?, num(8..10)?).ok()?;
    Some(
        ::time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// `YYYYMMDDHHMMSSZ`, the form openssl wants for compromise times.
pub fn format_generalized(secs: i64) -> String {
    let t = crate::time::from_unix(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The inverse of [`parse_time`].
pub fn format_time(secs: i64) -> String {
    let t = crate::time::from_unix(secs);
    let y = t.year();
    let body = format!(
        "{:02}{:02}{:02}{:02}{:02}",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if (1950..2050).contains(&y) {
        format!("{:02}{body}Z", y % 100)
    } else {
        format!("{y:04}{body}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_index_lines() {
        let text = "V\t360101000000Z\t\t01\tunknown\t/C=CN/CN=a\n\
                    R\t20510101000000Z\t261129090000Z,keyCompromise\t0A\tunknown\t/CN=b\n";
        let e = parse_index(text, "index.txt").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].revoked.as_ref().unwrap().reason, Reason::KeyCompromise);
        for (i, line) in text.lines().enumerate() {
            assert_eq!(format_entry(&e[i]), format!("{line}\n"));
        }
        for bad in [
            "X\t1\t\t01\tunknown\t/CN=a\n",
            "V\t36\t\t01\tunknown\t/CN=a\n",
            "V\t360101000000Z\t\tzz\tunknown\t/CN=a\n",
            "V\t360101000000Z\n",
            "R\t360101000000Z\t\t01\tunknown\t/CN=a\n",
            "V\t360101000000Z\t261129090000Z\t01\tunknown\t/CN=a\n",
            "V\t360101000000Z\t\t01\tunknown\t/CN=a\nV\t360101000000Z\t\t1\tunknown\t/CN=b\n",
        ] {
            assert!(parse_index(bad, "i").is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_time("991231235959Z").map(format_time).as_deref(),
            Some("991231235959Z")
        );
    }

    #[test]
    fn every_revocation_form_openssl_writes_round_trips() {
        for (info, reason, inv, hold_oid) in [
            ("261101000000Z", Reason::Unspecified, None, None),
            ("261101000000Z,superseded", Reason::Superseded, None, None),
            (
                "261101000000Z,removeFromCRL",
                Reason::RemoveFromCrl,
                None,
                None,
            ),
            (
                "261101000000Z,keyTime,20261030120000Z",
                Reason::KeyCompromise,
                Some(1_793_361_600),
                None,
            ),
            (
                "261101000000Z,CAkeyTime,20261030120000Z",
                Reason::CaCompromise,
                Some(1_793_361_600),
                None,
            ),
            (
                "261101000000Z,holdInstruction,holdInstructionReject",
                Reason::CertificateHold,
                None,
                Some(hold::REJECT),
            ),
            (
                "261101000000Z,holdInstruction,holdInstructionCallIssuer",
                Reason::CertificateHold,
                None,
                Some(hold::CALL_ISSUER),
            ),
        ] {
            let r = parse_revinfo(info).unwrap();
            assert_eq!(r.reason, reason, "{info}");
            assert_eq!(r.invalidity_date, inv, "{info}");
            assert_eq!(r.hold_instruction.as_deref(), hold_oid, "{info}");
            assert_eq!(format_revinfo(&r), info);
        }
        // A dotted OID hold instruction, and openssl's case-insensitive names.
        let r = parse_revinfo("261101000000Z,HOLDINSTRUCTION,1.2.840.10040.2.1").unwrap();
        assert_eq!(
            format_revinfo(&r),
            "261101000000Z,holdInstruction,holdInstructionNone"
        );
        for bad in [
            "261101000000Z,keyTime",
            "261101000000Z,holdInstruction",
            "261101000000Z,holdInstruction,nonsense",
            "261101000000Z,keyTime,yesterday",
            "261101000000Z,bogus",
            "261101000000Z,superseded,extra",
            "soon,superseded",
        ] {
            let e = parse_revinfo(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn utf8_subjects_are_decoded_and_encoded_back() {
        let escaped = "/C=CN/CN=\\xE5\\xBC\\xA0\\xE4\\xB8\\x89/O=a\\x41";
        let d = decode_subject(escaped);
        assert_eq!(d, "/C=CN/CN=张三/O=a\\x41");
        assert_eq!(encode_subject(&d), escaped);
        // Bytes that are not UTF-8 (a Latin-1 T61String) keep openssl's form.
        assert_eq!(decode_subject("/CN=caf\\xE9"), "/CN=caf\\xE9");
    }
}
