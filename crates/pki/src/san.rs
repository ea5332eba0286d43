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
        match kind.trim().to_ascii_lowercase().as_str() {
            "dns" => {
                if is_dns_name(value) {
                    Ok(San::Dns(value.to_ascii_lowercase()))
                } else {
                    Err(err(
                        "not a valid DNS name (letters, digits, '-' and '.', labels of 1-63 characters, optional leading *.)",
                    ))
                }
            }
            "ip" | "ip address" => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| err("not an IPv4 or IPv6 address")),
            "email" | "rfc822" => {
                let ok = value.is_ascii()
                    && value
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && is_dns_name(d));
                if ok {
                    Ok(San::Email(value.into()))
                } else {
                    Err(err("not an e-mail address (local@domain, ASCII)"))
                }
            }
            "uri" => {
                let ok = value.is_ascii()
                    && !value
                        .chars()
                        .any(|c| c.is_ascii_whitespace() || c.is_control())
                    && value.split_once(':').is_some_and(|(scheme, rest)| {
                        !scheme.is_empty()
                            && !rest.is_empty()
                            && scheme
                                .chars()
                                .next()
                                .is_some_and(|c| c.is_ascii_alphabetic())
                            && scheme
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    });
                if ok {
                    Ok(San::Uri(value.into()))
                } else {
                    Err(err("not an absolute URI (scheme:rest, ASCII, no spaces)"))
                }
            }
            _ => Err(err("unknown type; use DNS:, IP:, email: or URI:")),
        }
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
        for bad in [
            "host",
            "DNS:-x",
            "IP:1.2.3",
            "email:nobody",
            "URI:nope",
            "X400:q",
            "DNS:a b",
        ] {
            assert!(bad.parse::<San>().is_err(), "{bad}");
        }
    }
}
