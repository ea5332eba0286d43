//! Time helpers: Unix seconds <-> `OffsetDateTime`, RFC 3339 text.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, truncated to whole seconds (certificates carry seconds).
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Unix seconds to `OffsetDateTime` (clamped to the representable range).
pub fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Unix seconds as RFC 3339 (`2026-11-29T09:00:00Z`).
pub fn rfc3339(secs: i64) -> String {
    from_unix(secs)
        .format(&Rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

/// 9999-12-31T23:59:59Z, the last instant a GeneralizedTime can carry (RFC 5280 §4.1.2.5).
pub const MAX_UNIX: i64 = 253_402_300_799;

/// `start` plus `days` days; `what` names the validity in the error.
///
/// # Errors
///
/// [`crate::Error::DaysOutOfRange`] when the result is past [`MAX_UNIX`] (or overflows).
pub fn after_days(start: OffsetDateTime, days: u32, what: &str) -> crate::Result<OffsetDateTime> {
    start
        .checked_add(time::Duration::days(i64::from(days)))
        .filter(|t| t.unix_timestamp() <= MAX_UNIX)
        .ok_or_else(|| crate::Error::DaysOutOfRange {
            what: what.into(),
            days,
        })
}

/// The longest lifetime [`parse_lifetime`] accepts: 100 years.
pub const MAX_LIFETIME_SECS: u64 = 36_500 * 86_400;

/// A lifetime written as `90s`, `15m`, `24h`, `30d` or plain seconds, in seconds: 1 s to
/// [`MAX_LIFETIME_SECS`]. The error says what is accepted.
pub fn parse_lifetime(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a lifetime; give e.g. 90s, 15m, 24h or 30d");
    let t = s.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let mult: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = n.saturating_mul(mult);
    if secs == 0 || secs > MAX_LIFETIME_SECS {
        return Err(format!(
            "{s} is out of range; give 1s to {}d",
            MAX_LIFETIME_SECS / 86_400
        ));
    }
    Ok(secs)
}
