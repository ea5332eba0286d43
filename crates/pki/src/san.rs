//! subjectAltName entries in OpenSSL's notation: `DNS:host`, `IP:10.0.0.1`, `email:a@b`, `URI:…`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use rcgen::SanType;
use x509_parser::extensions::GeneralName;

use crate::error::{Error, Result};

/// One subjectAltName entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    /// dNSName (a hostname, optionally with a leading `*.` wildcard).
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// rfc822Name (an e-mail address).
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
}

impl FromStr for San {
    type Err = Error;
    fn from_str(input: &str) -> Result<San> {
        let err = |d: &str| Error::San {
            input: input.into(),
            detail: d.into(),
        };
        let (kind, value) = input.split_once(':').ok_or_else(|| {
            err("write TYPE:value with TYPE one of DNS, IP, email, URI (e.g. DNS:server.example)")
        })?;
        let value = value.trim();
        let san = match kind.trim().to_ascii_lowercase().as_str() {
            "dns" => San::Dns(value.to_ascii_lowercase()),
            "ip" | "ip address" => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| err("not an IPv4 or IPv6 address"))?,
            "email" | "rfc822" => San::Email(value.into()),
            "uri" => San::Uri(value.into()),
            _ => return Err(err("unknown type; use DNS:, IP:, email: or URI:")),
        };
        san.check()?;
        Ok(san)
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(s) => write!(f, "DNS:{s}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Email(s) => write!(f, "email:{s}"),
            San::Uri(s) => write!(f, "URI:{s}"),
        }
    }
}

impl San {
    /// The rcgen form.
    pub fn to_rcgen(&self) -> Result<SanType> {
        let bad = |e: rcgen::Error| Error::San {
            input: self.to_string(),
            detail: e.to_string(),
        };
        Ok(match self {
            San::Dns(s) => SanType::DnsName(s.as_str().try_into().map_err(bad)?),
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Email(s) => SanType::Rfc822Name(s.as_str().try_into().map_err(bad)?),
            San::Uri(s) => SanType::URI(s.as_str().try_into().map_err(bad)?),
        })
    }

    /// Checks the value's syntax, the same for names given on the command line and names
    /// found in a request (RFC 5280 §4.2.1.6):
    /// - DNS: a hostname; a wildcard only as the whole leftmost label, and only over two or
    ///   more labels (`*.example.com`, never `*` or `*.com`);
    /// - email: `local@domain`, ASCII, no spaces or control characters;
    /// - URI: absolute, with an authority (`scheme://host…`, the host a hostname or IP address)
    ///   or a URN (`urn:nid:…`); ASCII without spaces or control characters.
    ///
    /// # Errors
    ///
    /// [`Error::San`] naming the entry and what is wrong with it.
    pub fn check(&self) -> Result<()> {
        let err = |d: &str| {
            Err(Error::San {
                input: self.to_string(),
                detail: d.into(),
            })
        };
        match self {
            San::Ip(_) => Ok(()),
            San::Dns(d) => match dns_problem(d) {
                Some(why) => err(why),
                None => Ok(()),
            },
            San::Email(e) => {
                let ok = e.is_ascii()
                    && !e.chars().any(|c| c.is_ascii_whitespace() || c.is_control())
                    && e.split_once('@').is_some_and(|(l, d)| {
                        !l.is_empty() && !d.contains('@') && is_dns_name(d) && !d.contains('*')
                    });
                if ok {
                    Ok(())
                } else {
                    err("not an e-mail address (local@domain, ASCII, no spaces)")
                }
            }
            San::Uri(u) => match uri_problem(u) {
                Some(why) => err(why),
                None => Ok(()),
            },
        }
    }

    /// Converts a parsed GeneralName; other name forms are reported as unsupported.
    pub fn from_general_name(g: &GeneralName<'_>, what: &str) -> Result<San> {
        let unsupported = |d: String| {
            Error::invalid(
                what,
                format!("subjectAltName {d} is not supported; use DNS:, IP:, email: or URI:"),
            )
        };
        Ok(match g {
            GeneralName::DNSName(s) => San::Dns(s.to_ascii_lowercase()),
            GeneralName::RFC822Name(s) => San::Email((*s).into()),
            GeneralName::URI(s) => San::Uri((*s).into()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => San::Ip(IpAddr::from(
                    <[u8; 4]>::try_from(*b).map_err(|_| unsupported("IP".into()))?,
                )),
                16 => San::Ip(IpAddr::from(
                    <[u8; 16]>::try_from(*b).map_err(|_| unsupported("IP".into()))?,
                )),
                n => return Err(unsupported(format!("IP address of {n} bytes"))),
            },
            other => return Err(unsupported(format!("{other:?}"))),
        })
    }
}

/// Why `d` is not an acceptable dNSName, if it is not.
fn dns_problem(d: &str) -> Option<&'static str> {
    if d.contains('*') {
        let Some(rest) = d.strip_prefix("*.") else {
            return Some("a wildcard must be the whole leftmost label, as in *.example.com");
        };
        if rest.contains('*') {
            return Some("only one wildcard, as the whole leftmost label, is allowed");
        }
        if rest.trim_end_matches('.').split('.').count() < 2 {
            return Some(
                "a wildcard must cover a name of two or more labels (*.example.com, not *.com)",
            );
        }
    }
    if is_dns_name(d) {
        None
    } else {
        Some(
            "not a valid DNS name (letters, digits, '-' and '.', labels of 1-63 characters, optional leading *.)",
        )
    }
}

/// Why `u` is not an acceptable uniformResourceIdentifier, if it is not.
fn uri_problem(u: &str) -> Option<&'static str> {
    const SHAPE: &str = "not an absolute URI with a host (scheme://host/…, e.g. spiffe://example.org/svc) or a URN (urn:nid:…)";
    if !u.is_ascii() || u.chars().any(|c| c.is_ascii_whitespace() || c.is_control()) {
        return Some("a URI must be ASCII without spaces or control characters");
    }
    let Some((scheme, rest)) = u.split_once(':') else {
        return Some(SHAPE);
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Some(SHAPE);
    }
    if scheme.eq_ignore_ascii_case("urn") {
        // RFC 8141: urn:NID:NSS, NID of 2-32 letters, digits and '-'.
        return match rest.split_once(':') {
            Some((nid, nss))
                if (2..=32).contains(&nid.len())
                    && nid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !nss.is_empty() =>
            {
                None
            }
            _ => Some(SHAPE),
        };
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Some(SHAPE);
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    // No user information (a certificate names a service, not a login) and no `.` or `..`
    // path segments (a prefix rule such as spiffe://example.org/* must not be escaped).
    if authority.contains('@') {
        return Some("a URI SAN must not carry user information (user@host)");
    }
    let path = after[authority.len()..]
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Some("a URI SAN must not have . or .. path segments");
    }
    let host_port = authority;
    let host = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, _)) if addr.parse::<std::net::Ipv6Addr>().is_ok() => return None,
            _ => return Some(SHAPE),
        },
        None => host_port.split(':').next().unwrap_or(""),
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() || (is_dns_name(host) && !host.contains('*')) {
        None
    } else {
        Some(SHAPE)
    }
}

/// True for a hostname, optionally with a leading `*.` wildcard label.
pub fn is_dns_name(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_notation() {
        assert_eq!(
            "DNS:Host.Example".parse::<San>().unwrap(),
            San::Dns("host.example".into())
        );
        assert_eq!("IP:::1".parse::<San>().unwrap().to_string(), "IP:::1");
        assert!("email:a@b.c".parse::<San>().is_ok());
        assert!("URI:spiffe://x/y".parse::<San>().is_ok());
        assert!("DNS:*.example.com".parse::<San>().is_ok());
        assert!(
            "URI:urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
                .parse::<San>()
                .is_ok()
        );
        assert!("URI:https://[::1]:8443/x".parse::<San>().is_ok());
        for bad in [
            "host",
            "DNS:-x",
            "IP:1.2.3",
            "email:nobody",
            "email:x",
            "email:a b@example.com",
            "URI:nope",
            "URI:javascript:alert(1)",
            "URI:https://",
            "URI:spiffe://example.org/svc/../admin",
            "URI:https://user@example.org/",
            "X400:q",
            "DNS:a b",
            "DNS:a b.example",
            "DNS:*",
            "DNS:*.com",
            "DNS:a.*.example",
            "DNS:f*o.example",
        ] {
            assert!(bad.parse::<San>().is_err(), "{bad}");
        }
    }
}
