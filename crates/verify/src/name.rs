//! Host name and IP address verification against the end-entity's subjectAltName
//! (RFC 6125 / RFC 9525).
//!
//! * Only subjectAltName is used. **There is no fallback to the subject's CN**, even when the
//!   certificate has no subjectAltName: modern clients (browsers, rustls, Go, Qt 6 via OpenSSL's
//!   `X509_CHECK_FLAG_NEVER_CHECK_SUBJECT` when SANs exist) do not trust the CN, and CABF requires
//!   SANs. A certificate without a subjectAltName therefore never matches.
//! * A host given as an IP literal (`192.0.2.1`, `::1`, `[::1]`) matches only iPAddress
//!   entries, byte for byte; a DNS name matches only dNSName entries.
//! * DNS comparison is ASCII case-insensitive; one trailing dot of the host is ignored.
//! * Wildcards: only a left-most label that is exactly `*`, followed by at least two labels
//!   (`*.example.com`, not `*.com`, `f*.example.com` or `foo.*.example.com`); it matches exactly
//!   one non-empty label (`*.example.com` matches `a.example.com`, not `example.com` nor
//!   `a.b.example.com`).

use std::net::IpAddr;

use crate::nc::GenName;

/// What the caller expects the end-entity certificate to be for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    /// A DNS name: lowercase, without a trailing dot.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

/// Parses the `host` given by the caller.
pub(crate) fn parse_reference(host: &str) -> Result<Reference, String> {
    let h = host.trim();
    let unbracketed = h
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(h);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(Reference::Ip(ip));
    }
    let name = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
    if valid_dns(&name, false, true) {
        Ok(Reference::Dns(name))
    } else {
        Err(format!(
            "{host:?} is neither a valid DNS name nor an IP address"
        ))
    }
}

/// True when `name` is a syntactically valid DNS name: labels of 1–63 letters, digits and
/// hyphens (and underscores when `underscore`), not starting or ending with a hyphen, at most
/// 253 characters, the last label not all digits. With `wildcard`, a left-most `*` label
/// followed by at least two labels is allowed.
pub(crate) fn valid_dns(name: &str, wildcard: bool, underscore: bool) -> bool {
    if name.is_empty() || name.len() > 253 || !name.is_ascii() {
        return false;
    }
    let rest = match name.strip_prefix("*.") {
        Some(rest) if wildcard => {
            if rest.split('.').count() < 2 {
                return false;
            }
            rest
        }
        _ => name,
    };
    let labels: Vec<&str> = rest.split('.').collect();
    for label in &labels {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'))
        {
            return false;
        }
    }
    labels
        .last()
        .is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
}

/// True when the presented dNSName `presented` (possibly a wildcard) matches `reference`
/// (lowercase, no wildcard).
pub(crate) fn dns_matches(presented: &str, reference: &str) -> bool {
    if !valid_dns(presented, true, true) {
        return false;
    }
    match presented.strip_prefix("*.") {
        Some(rest) => match reference.split_once('.') {
            Some((label, ref_rest)) => !label.is_empty() && ref_rest.eq_ignore_ascii_case(rest),
            None => false,
        },
        None => presented.eq_ignore_ascii_case(reference),
    }
}

/// True when the IP in a SAN (`octets`, 4 or 16 bytes) is `ip`.
fn ip_matches(octets: &[u8], ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => octets == v4.octets(),
        IpAddr::V6(v6) => octets == v6.octets(),
    }
}

/// Checks `reference` against the subjectAltName entries `san` (None when the certificate has
/// no SAN extension). On mismatch returns the detail for `HostNameMismatch`.
pub(crate) fn check_host(
    san: Option<&[GenName]>,
    reference: &Reference,
    host: &str,
) -> Result<(), String> {
    let Some(names) = san else {
        return Err(format!(
            "{host} cannot match: the certificate has no subjectAltName (the subject CN is not used)"
        ));
    };
    let found = names.iter().any(|n| match (n, reference) {
        (GenName::Dns(p), Reference::Dns(r)) => dns_matches(p, r),
        (GenName::Ip(o), Reference::Ip(ip)) => ip_matches(o, ip),
        _ => false,
    });
    if found {
        return Ok(());
    }
    let relevant: Vec<String> = names
        .iter()
        .filter(|n| matches!(n, GenName::Dns(_) | GenName::Ip(_)))
        .map(GenName::describe)
        .collect();
    let list = if relevant.is_empty() {
        "none".to_string()
    } else if relevant.len() > 8 {
        format!("{} … ({} in all)", relevant[..8].join(", "), relevant.len())
    } else {
        relevant.join(", ")
    };
    Err(format!(
        "{host} is not among the certificate's DNS/IP names: {list}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        assert!(valid_dns("example.com", false, false));
        assert!(valid_dns("localhost", false, false));
        assert!(valid_dns("*.example.com", true, false));
        assert!(!valid_dns("*.example.com", false, false));
        assert!(!valid_dns("*.com", true, false));
        assert!(!valid_dns("*", true, false));
        assert!(!valid_dns("f*.example.com", true, false));
        assert!(!valid_dns("foo.*.example.com", true, false));
        assert!(!valid_dns(".example.com", true, false));
        assert!(!valid_dns("example.com.", true, false));
        assert!(!valid_dns("-a.example.com", true, false));
        assert!(!valid_dns("a_b.example.com", true, false));
        assert!(valid_dns("a_b.example.com", true, true));
        assert!(!valid_dns("127.0.0.1", true, true));
        assert!(!valid_dns("bücher.example", true, true));
    }

    #[test]
    fn wildcards() {
        assert!(dns_matches("*.example.com", "foo.example.com"));
        assert!(dns_matches("*.EXAMPLE.com", "foo.example.com"));
        assert!(!dns_matches("*.example.com", "example.com"));
        assert!(!dns_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_matches("ba*.example.com", "baz.example.com"));
        assert!(!dns_matches("foo.*.example.com", "foo.bar.example.com"));
        assert!(!dns_matches("*.com", "example.com"));
        assert!(dns_matches("Example.COM", "example.com"));
        assert!(!dns_matches("example.com", "example2.com"));
    }

    #[test]
    fn references() {
        assert_eq!(
            parse_reference("Example.COM."),
            Ok(Reference::Dns("example.com".into()))
        );
        assert_eq!(
            parse_reference("[::1]"),
            Ok(Reference::Ip("::1".parse().unwrap()))
        );
        assert!(matches!(parse_reference("127.0.0.1"), Ok(Reference::Ip(_))));
        assert!(parse_reference("*.example.com").is_err());
        assert!(parse_reference("010.0.0.1").is_err());
        assert!(parse_reference("").is_err());
    }

    #[test]
    fn host_check() {
        let san = vec![
            GenName::Dns("*.example.com".into()),
            GenName::Ip(vec![127, 0, 0, 1]),
        ];
        let ip = parse_reference("127.0.0.1").unwrap();
        assert!(check_host(Some(&san), &ip, "127.0.0.1").is_ok());
        let dns = parse_reference("a.example.com").unwrap();
        assert!(check_host(Some(&san), &dns, "a.example.com").is_ok());
        let other = parse_reference("127.0.0.2").unwrap();
        let e = check_host(Some(&san), &other, "127.0.0.2").unwrap_err();
        assert!(
            e.contains("DNS:*.example.com") && e.contains("IP:127.0.0.1"),
            "{e}"
        );
        assert!(check_host(None, &dns, "a.example.com").is_err());
    }
}
