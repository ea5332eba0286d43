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
