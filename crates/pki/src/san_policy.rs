//! Which subjectAltNames a profile may certify: `san_allow` in a `[profiles.NAME]` table of
//! `ca.toml`, e.g. `san_allow = ["DNS:*.internal.example", "IP:10.0.0.0/8"]`.
//!
//! A profile without `san_allow` certifies any syntactically valid name (see [`San::check`]).
//! With it, a name is allowed when some pattern of its type matches; a type no pattern names is
//! not allowed at all. Patterns:
//! - `DNS:host.example` (exactly), `DNS:*.example` (any name below `example`, at any depth,
//!   wildcard names included), `DNS:*` (any);
//! - `IP:10.0.0.5`, `IP:10.0.0.0/8`, `IP:fd00::/8` (IPv4-mapped IPv6 addresses count as IPv4);
//! - `email:ops@example.com`, `email:*@example.com`, `email:*`;
//! - `URI:spiffe://example.org/svc` (exactly), `URI:spiffe://example.org/*` (that prefix),
//!   `URI:*`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::san::San;

/// One `san_allow` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanPattern {
    /// A DNS name, or `*.suffix`, or `*`.
    Dns(String),
    /// An address block (an address alone is a /32 or /128).
    Ip(IpAddr, u8),
    /// An e-mail address, `*@domain`, or `*`.
    Email(String),
    /// A URI, or a prefix ending in `*`, or `*`.
    Uri(String),
}

impl FromStr for SanPattern {
    type Err = Error;

    fn from_str(input: &str) -> Result<SanPattern> {
        let err = |d: &str| Error::San {
            input: input.into(),
            detail: format!("as a san_allow pattern: {d}"),
        };
        let (kind, value) = input.split_once(':').ok_or_else(|| {
            err("write TYPE:pattern, e.g. DNS:*.internal.example or IP:10.0.0.0/8")
        })?;
        let value = value.trim();
        match kind.trim().to_ascii_lowercase().as_str() {
            "dns" => {
                let rest = value.strip_prefix("*.").unwrap_or(value);
                let valid = crate::san::is_dns_name(rest) && !rest.contains('*');
                if value != "*" && !valid {
                    return Err(err("a DNS name, *.suffix or *"));
                }
                Ok(SanPattern::Dns(value.to_ascii_lowercase()))
            }
            "ip" => {
                let (addr, bits) = match value.split_once('/') {
                    Some((a, b)) => (a, Some(b)),
                    None => (value, None),
                };
                let addr: IpAddr = addr
                    .parse()
                    .map_err(|_| err("an IP address or CIDR block such as 10.0.0.0/8"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let bits = match bits {
                    None => max,
                    Some(b) => b
                        .parse::<u8>()
                        .ok()
                        .filter(|&b| b <= max)
                        .ok_or_else(|| err("the prefix length is out of range"))?,
                };
                Ok(SanPattern::Ip(addr, bits))
            }
            "email" => Ok(SanPattern::Email(value.to_string())),
            "uri" => {
                if value.contains('*')
                    && !(value == "*" || value.find('*') == Some(value.len() - 1))
                {
                    return Err(err("a URI pattern may only end in *"));
                }
                Ok(SanPattern::Uri(value.to_string()))
            }
            _ => Err(err("unknown type; use DNS:, IP:, email: or URI:")),
        }
    }
}

impl fmt::Display for SanPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SanPattern::Dns(d) => write!(f, "DNS:{d}"),
            SanPattern::Ip(a, bits) => write!(f, "IP:{a}/{bits}"),
            SanPattern::Email(e) => write!(f, "email:{e}"),
            SanPattern::Uri(u) => write!(f, "URI:{u}"),
        }
    }
}

impl SanPattern {
    /// True when `san` matches this pattern.
    pub fn allows(&self, san: &San) -> bool {
        match (self, san) {
            (SanPattern::Dns(p), San::Dns(d)) => dns_matches(p, d),
            (SanPattern::Ip(block, bits), San::Ip(ip)) => ip_in(ip, block, *bits),
            (SanPattern::Email(p), San::Email(e)) => match p.strip_prefix("*@") {
                _ if p == "*" => true,
                Some(domain) => e
                    .rsplit_once('@')
                    .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain)),
                None => p.eq_ignore_ascii_case(e),
            },
            (SanPattern::Uri(p), San::Uri(u)) => match p.strip_suffix('*') {
                Some(prefix) => u.starts_with(prefix),
                None => p == u,
            },
            _ => false,
        }
    }
}

fn dns_matches(pattern: &str, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => pattern == name,
    }
}

/// The address as IPv4 when it is IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
fn unmapped(ip: &IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(*v6)),
        v4 => *v4,
    }
}

fn ip_in(ip: &IpAddr, block: &IpAddr, bits: u8) -> bool {
    let (a, b) = (unmapped(ip), unmapped(block));
    let bits = match (block, b) {
        // A mapped block (::ffff:10.0.0.0/104) keeps its IPv4 prefix.
        (IpAddr::V6(_), IpAddr::V4(_)) => bits.saturating_sub(96),
        _ => bits,
    };
    let (x, y): (Vec<u8>, Vec<u8>) = match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) => (x.octets().to_vec(), y.octets().to_vec()),
        (IpAddr::V6(x), IpAddr::V6(y)) => (x.octets().to_vec(), y.octets().to_vec()),
        _ => return false,
    };
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if x[..full] != y[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    x[full] & mask == y[full] & mask
}

/// Parses a profile's `san_allow` list; `profile` names it in errors.
pub fn parse_list(list: &[String], profile: &str) -> Result<Vec<SanPattern>> {
    list.iter()
        .map(|p| {
            p.parse().map_err(|e: Error| {
                Error::invalid(format!("profile {profile}: san_allow"), e.to_string())
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(pattern: &str, san: &str) -> bool {
        let p: SanPattern = pattern.parse().unwrap();
        p.allows(&san.parse().unwrap())
    }

    #[test]
    fn patterns_match_as_documented() {
        assert!(allowed("DNS:*.internal.example", "DNS:a.internal.example"));
        assert!(allowed(
            "DNS:*.internal.example",
            "DNS:a.b.internal.example"
        ));
        assert!(allowed("DNS:*.internal.example", "DNS:*.internal.example"));
        assert!(!allowed("DNS:*.internal.example", "DNS:internal.example"));
        assert!(!allowed(
            "DNS:*.internal.example",
            "DNS:evilinternal.example"
        ));
        assert!(allowed("DNS:host.example", "DNS:HOST.example"));
        assert!(allowed("IP:10.0.0.0/8", "IP:10.9.8.7"));
        assert!(allowed("IP:10.0.0.0/8", "IP:::ffff:10.9.8.7"));
        assert!(!allowed("IP:10.0.0.0/8", "IP:11.0.0.1"));
        assert!(allowed("IP:fd00::/8", "IP:fd12::1"));
        assert!(!allowed("IP:fd00::/8", "IP:10.0.0.1"));
        assert!(allowed("IP:10.0.0.5", "IP:10.0.0.5"));
        assert!(!allowed("IP:10.0.0.5", "IP:10.0.0.6"));
        assert!(allowed("email:*@example.com", "email:ops@EXAMPLE.com"));
        assert!(!allowed("email:*@example.com", "email:ops@example.org"));
        assert!(allowed(
            "URI:spiffe://example.org/*",
            "URI:spiffe://example.org/svc"
        ));
        assert!(!allowed(
            "URI:spiffe://example.org/*",
            "URI:spiffe://evil.org/svc"
        ));
        assert!(!allowed("DNS:*", "IP:10.0.0.1"));
        for bad in [
            "DNS:a*b.example",
            "IP:10.0.0.0/33",
            "URI:a*b",
            "X:y",
            "nothing",
        ] {
            assert!(bad.parse::<SanPattern>().is_err(), "{bad}");
        }
    }
}
