//! Value parsers shared by the subcommands, so that every flag refuses a bad value the same way
//! at parse time (clap's exit code 2 and a message naming the flag and the allowed range)
//! instead of panicking later: `Duration::from_secs_f64` panics on NaN, infinity, negatives
//! and overflow, and `OffsetDateTime + Duration::days(u32::MAX)` on overflow.

use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, ValueParser};

/// The longest heartbeat or message interval: a day. Longer ones are indistinguishable from
/// none, and a `Duration` that large is a typo.
pub const MAX_INTERVAL_SECS: f64 = 86_400.0;

/// The longest handshake timeout: an hour (a handshake takes milliseconds; a peer stalled for
/// longer only holds a connection slot).
pub const MAX_TIMEOUT_SECS: f64 = 3_600.0;

/// The longest validity of anything mtls signs: 100 years (X.509 can say 9999, nobody needs it).
pub const MAX_DAYS: u32 = 36_500;

/// `--verify`: how a server treats client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyArg {
    /// A valid client certificate is required.
    Peer,
    /// Asked for and logged, not required.
    Query,
    /// Not asked for.
    None,
}

impl VerifyArg {
    /// The socket layer's mode.
    pub fn mode(self) -> mtls_socket::PeerVerifyMode {
        match self {
            VerifyArg::Peer => mtls_socket::PeerVerifyMode::VerifyPeer,
            VerifyArg::Query => mtls_socket::PeerVerifyMode::QueryPeer,
            VerifyArg::None => mtls_socket::PeerVerifyMode::VerifyNone,
        }
    }
}

impl std::fmt::Display for VerifyArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyArg::Peer => "peer",
            VerifyArg::Query => "query",
            VerifyArg::None => "none",
        })
    }
}

/// `--tls-min` / `--tls-max`: a TLS version (1.0 and 1.1 are not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsArg {
    /// TLS 1.2.
    #[value(name = "1.2")]
    V12,
    /// TLS 1.3.
    #[value(name = "1.3")]
    V13,
}

impl TlsArg {
    /// The socket layer's version.
    pub fn version(self) -> mtls_socket::TlsVersion {
        match self {
            TlsArg::V12 => mtls_socket::TlsVersion::Tls12,
            TlsArg::V13 => mtls_socket::TlsVersion::Tls13,
        }
    }
}

/// Seconds as a decimal number (`0.5`, `10`), from 0 to `max`.
fn seconds_in(s: &str, min_exclusive: bool, max: f64) -> Result<Duration, String> {
    let range = if min_exclusive {
        format!("more than 0 and at most {max}")
    } else {
        format!("from 0 to {max}")
    };
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds; give {range}, e.g. 0.5"))?;
    if !v.is_finite() || v < 0.0 || v > max || (min_exclusive && v == 0.0) {
        return Err(format!("{s} seconds is out of range; give {range}"));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("{s}: {e}"))
}

/// An interval in seconds, 0 (meaning none) to a day.
pub fn interval(s: &str) -> Result<Duration, String> {
    seconds_in(s, false, MAX_INTERVAL_SECS)
}

/// A timeout in seconds, above 0 and at most an hour.
pub fn timeout(s: &str) -> Result<Duration, String> {
    seconds_in(s, true, MAX_TIMEOUT_SECS)
}

/// A validity in days, 1 to [`MAX_DAYS`].
pub fn days() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS))
}

/// `--purpose`: server, client or any (openssl's `sslserver`/`sslclient` and the EKU names
/// too), parsed to the canonical name.
pub fn purposes() -> ValueParser {
    ValueParser::new(PossibleValuesParser::new([
        PossibleValue::new("server").aliases(["sslserver", "serverAuth"]),
        PossibleValue::new("client").aliases(["sslclient", "clientAuth"]),
        PossibleValue::new("any"),
    ]))
}

/// `--key-type`: the names of [`mtls_pki::KeyType::ALL`].
pub fn key_types() -> ValueParser {
    one_of(mtls_pki::KeyType::ALL.iter().map(|k| k.name()))
}

/// A point in time, as Unix seconds: RFC 3339 (`2026-11-01T12:00:00Z`) or openssl's
/// `YYYYMMDDHHMMSSZ` (what `-crl_compromise` takes).
pub fn instant(s: &str) -> Result<i64, String> {
    if let Some(t) = mtls_pki::openssl::index::parse_time(s) {
        return Ok(t);
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            format!("{s:?} is not a time; give RFC 3339 (2026-11-01T12:00:00Z) or YYYYMMDDHHMMSSZ")
        })
}

/// A lifetime: `90s`, `15m`, `24h`, `30d`, or plain seconds; 1 s to 100 years.
pub fn lifetime(s: &str) -> Result<Duration, String> {
    mtls_pki::time::parse_lifetime(s).map(Duration::from_secs)
}

/// A certificate's validity as a duration (`90s`, `15m`, `24h`, `30d`).
pub fn validity(s: &str) -> Result<mtls_pki::time::Lifetime, String> {
    s.parse()
}

/// `--days N` or `--validity DURATION`, whichever was given (clap keeps them exclusive).
pub fn lifetime_of(
    days: Option<u32>,
    validity: Option<mtls_pki::time::Lifetime>,
) -> Option<mtls_pki::time::Lifetime> {
    validity.or(days.map(mtls_pki::time::Lifetime::days))
}

/// One of `names`, kept as given.
pub fn one_of(names: impl IntoIterator<Item = &'static str>) -> ValueParser {
    ValueParser::new(PossibleValuesParser::new(
        names.into_iter().map(PossibleValue::new),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_take_units() {
        assert_eq!(lifetime("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(lifetime("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(lifetime("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(lifetime("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(lifetime("60"), Ok(Duration::from_secs(60)));
        for bad in [
            "",
            "0s",
            "-1m",
            "1.5h",
            "10y",
            "inf",
            "99999999999999999999d",
            "36501d",
        ] {
            assert!(lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_refuse_what_duration_would_panic_on() {
        for bad in [
            "inf",
            "-inf",
            "NaN",
            "-1",
            "1e300",
            "18446744073709551616",
            "",
            "abc",
        ] {
            assert!(interval(bad).is_err(), "{bad}");
            assert!(timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(interval("0"), Ok(Duration::ZERO));
        assert!(timeout("0").is_err());
        assert_eq!(timeout("0.25"), Ok(Duration::from_millis(250)));
        assert!(interval("86401").is_err());
    }

    #[test]
    fn instants_take_both_forms() {
        assert_eq!(instant("20261101000000Z"), Ok(1_793_491_200));
        assert_eq!(instant("2026-11-01T00:00:00Z"), Ok(1_793_491_200));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "99999999999999Z"] {
            assert!(instant(bad).is_err(), "{bad}");
        }
    }
}
