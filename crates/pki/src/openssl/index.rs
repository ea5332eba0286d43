//! `index.txt`, `serial` and `crlnumber`: openssl ca's text database.
//!
//! An index line is six tab-separated fields: status (V, R, E), expiry date, revocation date with
//! optional `,reason`, serial (hex), file name (usually `unknown`) and the subject in `/C=…` form.

use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::store::Reason;

/// One line of `index.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// `V`, `R` or `E`.
    pub status: char,
    /// notAfter, Unix seconds.
    pub expires: i64,
    /// Revocation time and reason, for `R` lines.
    pub revoked: Option<(i64, Reason)>,
    /// The serial.
    pub serial: Serial,
    /// The subject, as openssl wrote it.
    pub subject: String,
}

/// Parses the whole of `index.txt`. Errors name the line.
pub fn parse_index(text: &str, what: &str) -> Result<Vec<IndexEntry>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |d: String| Error::decode(what, "openssl index", format!("line {}: {d}", n + 1));
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 6 {
            return Err(bad(format!(
                "expected 6 tab-separated fields, found {}",
                f.len()
            )));
        }
        let status = match f[0] {
            "V" => 'V',
            "R" => 'R',
            "E" => 'E',
            other => return Err(bad(format!("status {other:?} is not V, R or E"))),
        };
        let expires = parse_time(f[1]).ok_or_else(|| bad(format!("bad expiry date {:?}", f[1])))?;
        let revoked = if status == 'R' {
            let (date, reason) = f[2].split_once(',').unwrap_or((f[2], "unspecified"));
            let at =
                parse_time(date).ok_or_else(|| bad(format!("bad revocation date {date:?}")))?;
            let reason = match reason {
                // openssl accepts these; they have no CRLReason of ours, keep them listed.
                r if r.eq_ignore_ascii_case("removeFromCRL") => continue,
                r if r.eq_ignore_ascii_case("holdInstruction") => Reason::CertificateHold,
                r if r.eq_ignore_ascii_case("keyTime") => Reason::KeyCompromise,
                r if r.eq_ignore_ascii_case("CAkeyTime") => Reason::CaCompromise,
                r => {
                    Reason::parse(r).map_err(|_| bad(format!("unknown revocation reason {r:?}")))?
                }
            };
            Some((at, reason))
        } else {
            None
        };
        let serial: Serial = f[3]
            .parse()
            .map_err(|_| bad(format!("bad serial {:?}", f[3])))?;
        let subject = f[5..].join("\t");
        out.push(IndexEntry {
            status,
            expires,
            revoked,
            serial,
            subject,
        });
    }
    Ok(out)
}

/// Formats one index line (with trailing newline).
pub fn format_entry(e: &IndexEntry) -> String {
    let rev = match e.revoked {
        Some((at, Reason::Unspecified)) => format_time(at),
        Some((at, r)) => format!("{},{}", format_time(at), r.name()),
        None => String::new(),
    };
    format!(
        "{}\t{}\t{}\t{}\tunknown\t{}\n",
        e.status,
        format_time(e.expires),
        rev,
        e.serial.hex(),
        e.subject
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
        assert_eq!(e[1].revoked.unwrap().1, Reason::KeyCompromise);
        assert_eq!(
            format_entry(&e[0]),
            text.lines().next().unwrap().to_string() + "\n"
        );
        assert_eq!(
            format_entry(&e[1]),
            text.lines().nth(1).unwrap().to_string() + "\n"
        );
        assert!(parse_index("X\t1\t\t01\tunknown\t/CN=a\n", "i").is_err());
        assert!(parse_index("V\t36\t\t01\tunknown\t/CN=a\n", "i").is_err());
        assert!(parse_index("V\t360101000000Z\t\tzz\tunknown\t/CN=a\n", "i").is_err());
        assert!(parse_index("V\t360101000000Z\n", "i").is_err());
        assert_eq!(
            parse_time("991231235959Z").map(format_time).as_deref(),
            Some("991231235959Z")
        );
    }
}
