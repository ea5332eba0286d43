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
/// [`crate::Error::LifetimeOutOfRange`] when the result is past [`MAX_UNIX`] (or overflows).
pub fn after_days(start: OffsetDateTime, days: u32, what: &str) -> crate::Result<OffsetDateTime> {
    after(start, Lifetime::days(days), what)
}

/// `start` plus `life`; `what` names the validity in the error.
///
/// # Errors
///
/// [`crate::Error::LifetimeOutOfRange`] when the result is past [`MAX_UNIX`] (or overflows).
pub fn after(start: OffsetDateTime, life: Lifetime, what: &str) -> crate::Result<OffsetDateTime> {
    i64::try_from(life.secs())
        .ok()
        .and_then(|s| start.checked_add(time::Duration::seconds(s)))
        .filter(|t| t.unix_timestamp() <= MAX_UNIX)
        .ok_or_else(|| crate::Error::LifetimeOutOfRange {
            what: what.into(),
            lifetime: life.human(),
        })
}

/// How long a certificate is valid: whole days (`days = 397` in `ca.toml`) or a duration
/// written as [`parse_lifetime`] reads it (`90s`, `15m`, `24h`, `30d`). Short lives are the
/// modern answer to revocation; anything from one second up is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lifetime(u64);

impl Lifetime {
    /// `days` whole days.
    pub const fn days(days: u32) -> Lifetime {
        Lifetime(days as u64 * 86_400)
    }

    /// `secs` seconds, if at least one.
    pub fn from_secs(secs: u64) -> Option<Lifetime> {
        (secs > 0).then_some(Lifetime(secs))
    }

    /// In seconds.
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// In words, for messages: `30 days`, `36 hours`, `15 minutes`, `1 second`.
    pub fn human(self) -> String {
        let s = self.0;
        let (n, unit) = match () {
            _ if s % 86_400 == 0 => (s / 86_400, "day"),
            _ if s % 3600 == 0 => (s / 3600, "hour"),
            _ if s % 60 == 0 => (s / 60, "minute"),
            _ => (s, "second"),
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }

    /// In days, rounded up (what a setting counted in days must say to cover it).
    pub fn whole_days_ceil(self) -> u64 {
        self.0.div_ceil(86_400)
    }
}

impl std::str::FromStr for Lifetime {
    type Err = String;

    fn from_str(s: &str) -> Result<Lifetime, String> {
        parse_lifetime(s).map(Lifetime)
    }
}

impl serde::Serialize for Lifetime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// From its text (`"15m"`); a bare integer is refused, since `ca.toml` counts days with
/// `days = N`, and seconds there would be a trap.
impl<'de> serde::Deserialize<'de> for Lifetime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Lifetime, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The largest unit that divides it exactly: `30d`, `36h`, `15m`, `90s`.
impl std::fmt::Display for Lifetime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0;
        match () {
            _ if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            _ if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            _ if s % 60 == 0 => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_round_trip_through_their_text() {
        for (text, secs, shown) in [
            ("90s", 90, "90s"),
            ("15m", 900, "15m"),
            ("24h", 86_400, "1d"),
            ("36h", 129_600, "36h"),
            ("30d", 2_592_000, "30d"),
            ("120", 120, "2m"),
        ] {
            let l: Lifetime = text.parse().unwrap();
            assert_eq!(l.secs(), secs, "{text}");
            assert_eq!(l.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<Lifetime>().unwrap(), l);
        }
        for bad in [
            "",
            "0",
            "0s",
            "-1d",
            "1.5h",
            "1w",
            "inf",
            "99999999999999999999d",
            "36501d",
        ] {
            assert!(bad.parse::<Lifetime>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Lifetime::days(2).whole_days_ceil(), 2);
        assert_eq!(Lifetime::from_secs(90).unwrap().whole_days_ceil(), 1);
        assert!(Lifetime::from_secs(0).is_none());
    }

    #[test]
    fn a_lifetime_past_9999_is_refused() {
        let start = from_unix(MAX_UNIX - 10);
        assert!(after(start, Lifetime::from_secs(10).unwrap(), "x").is_ok());
        let e = after(start, Lifetime::from_secs(11).unwrap(), "x").unwrap_err();
        assert!(e.to_string().contains("11 seconds"), "{e}");
        assert_eq!(Lifetime::days(1).human(), "1 day");
        assert_eq!(Lifetime::from_secs(900).unwrap().human(), "15 minutes");
    }
}
