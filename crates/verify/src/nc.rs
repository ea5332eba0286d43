//! General names and name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)–(c)).
//!
//! Supported forms: dNSName, iPAddress, rfc822Name and directoryName. Constraints on the other
//! forms (URI, otherName, x400Address, ediPartyName, registeredID) fail closed, as RFC 5280
//! allows: a name of such a form under such a constraint is never permitted and always
//! excluded. Malformed names under a constraint of their form fail closed too.
//!
//! A wildcard dNSName (`*.example.com`) is permitted only if every name it can stand for is
//! permitted, and excluded if any of them is excluded (CVE-2025-61727).

use std::net::IpAddr;

use x509_parser::extensions::{GeneralName, NameConstraints as X509Nc};

use crate::dn::Dn;
use crate::name::valid_dns;

/// A subjectAltName entry or a name-constraint base, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GenName {
    /// rfc822Name.
    Email(String),
    /// dNSName.
    Dns(String),
    /// directoryName.
    Dir(Dn),
    /// uniformResourceIdentifier.
    Uri(String),
    /// iPAddress octets (4 or 16 for a SAN; 8 or 32 with the mask for a constraint).
    Ip(Vec<u8>),
    /// otherName (0), x400Address (3), ediPartyName (5), registeredID (8).
    Other(u8),
    /// An entry that could not be decoded, by its tag number.
    Invalid(u8),
}

impl GenName {
    /// From x509-parser's form.
    pub fn from_x509(g: &GeneralName<'_>) -> GenName {
        match g {
            GeneralName::RFC822Name(s) => GenName::Email((*s).to_string()),
            GeneralName::DNSName(s) => GenName::Dns((*s).to_string()),
            GeneralName::DirectoryName(n) => GenName::Dir(Dn::from_x509(n)),
            GeneralName::URI(s) => GenName::Uri((*s).to_string()),
            GeneralName::IPAddress(b) => GenName::Ip(b.to_vec()),
            GeneralName::OtherName(..) => GenName::Other(0),
            GeneralName::X400Address(_) => GenName::Other(3),
            GeneralName::EDIPartyName(_) => GenName::Other(5),
            GeneralName::RegisteredID(_) => GenName::Other(8),
            GeneralName::Invalid(t, _) => GenName::Invalid(u8::try_from(t.0).unwrap_or(u8::MAX)),
        }
    }

    /// The GeneralName CHOICE number (the name form).
    fn form(&self) -> u8 {
        match self {
            GenName::Email(_) => 1,
            GenName::Dns(_) => 2,
            GenName::Dir(_) => 4,
            GenName::Uri(_) => 6,
            GenName::Ip(_) => 7,
            GenName::Other(t) | GenName::Invalid(t) => *t,
        }
    }

    /// `DNS:name`, `IP:addr`, `email:x`, … for messages.
    pub fn describe(&self) -> String {
        match self {
            GenName::Email(s) => format!("email:{s}"),
            GenName::Dns(s) => format!("DNS:{s}"),
            GenName::Dir(d) => format!("DirName:{}", d.to_text()),
            GenName::Uri(s) => format!("URI:{s}"),
            GenName::Ip(o) => match o.len() {
                4 => format!("IP:{}", IpAddr::from([o[0], o[1], o[2], o[3]])),
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(o);
                    format!("IP:{}", IpAddr::from(a))
                }
                8 | 32 => {
                    let (addr, mask) = o.split_at(o.len() / 2);
                    let bits: u32 = mask.iter().map(|b| b.count_ones()).sum();
                    match GenName::Ip(addr.to_vec()).describe().strip_prefix("IP:") {
                        Some(a) => format!("IP:{a}/{bits}"),
                        None => "IP:?".to_string(),
                    }
                }
                n => format!("IP:<{n} bytes>"),
            },
            GenName::Other(0) => "otherName".to_string(),
            GenName::Other(t) => format!("GeneralName[{t}]"),
            GenName::Invalid(t) => format!("malformed GeneralName[{t}]"),
        }
    }
}

/// A nameConstraints extension, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameConstraints {
    pub permitted: Vec<GenName>,
    pub excluded: Vec<GenName>,
}

impl NameConstraints {
    /// From x509-parser's form.
    pub fn from_x509(nc: &X509Nc<'_>) -> NameConstraints {
        let conv = |s: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
            s.iter()
                .flatten()
                .map(|t| GenName::from_x509(&t.base))
                .collect()
        };
        NameConstraints {
            permitted: conv(&nc.permitted_subtrees),
            excluded: conv(&nc.excluded_subtrees),
        }
    }

    /// Problems with the constraints themselves: `(strict_only, detail)`.
    pub fn problems(&self) -> Vec<(bool, String)> {
        let mut out = Vec::new();
        if self.permitted.is_empty() && self.excluded.is_empty() {
            out.push((
                false,
                "nameConstraints has neither permitted nor excluded subtrees".into(),
            ));
        }
        for base in self.permitted.iter().chain(&self.excluded) {
            match base {
                GenName::Dns(d) if d.is_empty() => {}
                GenName::Dns(d) => match d.strip_prefix('.') {
                    Some(rest) if valid_dns(rest, false, true) => out.push((
                        true,
                        format!(
                            "dNSName constraint {d:?} has a leading period (RFC 5280 forbids it)"
                        ),
                    )),
                    _ if valid_dns(d, false, true) => {}
                    _ => out.push((false, format!("malformed dNSName constraint {d:?}"))),
                },
                GenName::Ip(o) if matches!(o.len(), 8 | 32) && !contiguous(&o[o.len() / 2..]) => {
                    out.push((
                        false,
                        format!(
                            "iPAddress constraint {} has a non-contiguous mask",
                            base.describe()
                        ),
                    ));
                }
                GenName::Ip(o) if matches!(o.len(), 8 | 32) => {}
                GenName::Ip(o) => out.push((
                    false,
                    format!(
                        "iPAddress constraint of {} bytes is not address + mask",
                        o.len()
                    ),
                )),
                GenName::Email(e) if !valid_email_constraint(e) => {
                    out.push((false, format!("malformed rfc822Name constraint {e:?}")));
                }
                GenName::Invalid(_) => {
                    out.push((false, format!("{} in nameConstraints", base.describe())))
                }
                _ => {}
            }
        }
        out
    }
}

/// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2);
/// any other address unchanged. A peer that connects over IPv6 to a mapped address reaches the
/// IPv4 host, so the IPv4 constraints must apply to it, or `excluded;IP:10.0.0.0/8` would not
/// exclude `::ffff:10.0.0.1`.
fn unmap_address(addr: &[u8]) -> &[u8] {
    match addr {
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4 @ ..] => v4,
        other => other,
    }
}

/// An IPv6 subtree that lies wholly within `::ffff:0:0/96` as the IPv4 subtree it denotes
/// (address and mask both 4 bytes); any other subtree unchanged.
fn unmap_subtree(subtree: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if subtree.len() == 32 {
        let (addr, mask) = subtree.split_at(16);
        if mask[..12].iter().all(|&m| m == 0xff) && unmap_address(addr).len() == 4 {
            let mut v4 = addr[12..].to_vec();
            v4.extend_from_slice(&mask[12..]);
            return std::borrow::Cow::Owned(v4);
        }
    }
    std::borrow::Cow::Borrowed(subtree)
}

fn contiguous(mask: &[u8]) -> bool {
    let mut seen_zero = false;
    for b in mask {
        for i in (0..8).rev() {
            let one = b & (1 << i) != 0;
            if one && seen_zero {
                return false;
            }
            seen_zero |= !one;
        }
    }
    true
}

fn valid_email_constraint(e: &str) -> bool {
    match e.split_once('@') {
        Some(_) => split_mailbox(e).is_some(),
        None => {
            let host = e.strip_prefix('.').unwrap_or(e);
            valid_dns(host, false, true)
        }
    }
}

/// Splits a mailbox into local part and host; None unless there is exactly one `@` and both
/// sides are non-empty with a valid host.
fn split_mailbox(m: &str) -> Option<(&str, &str)> {
    let (local, host) = m.split_once('@')?;
    (!local.is_empty() && !host.contains('@') && valid_dns(host, false, true))
        .then_some((local, host))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Subtrees {
    Permitted,
    Excluded,
}

/// Whether `name` is within the subtree `base`; None when they are of different forms.
fn within(name: &GenName, base: &GenName, which: Subtrees) -> Option<bool> {
    if name.form() != base.form() {
        return None;
    }
    let fail_closed = Some(which == Subtrees::Excluded);
    match (name, base) {
        (GenName::Dns(n), GenName::Dns(b)) => {
            if !valid_dns(n, true, true) {
                return fail_closed;
            }
            Some(dns_within(n, b, which))
        }
        (GenName::Ip(n), GenName::Ip(b)) => {
            if !matches!(n.len(), 4 | 16) {
                return fail_closed;
            }
            // An IPv4-mapped address is both an IPv6 address and the IPv4 host it reaches:
            // it is within a subtree if either form is (so excluded;IP:10.0.0.0/8 and
            // excluded;IP:::/0 both exclude ::ffff:10.0.0.1).
            let names = [n.as_slice(), unmap_address(n)];
            let subtree = unmap_subtree(b);
            let subtrees = [b.as_slice(), subtree.as_ref()];
            Some(names.iter().any(|n| {
                subtrees.iter().any(|b| {
                    b.len() == n.len() * 2 && {
                        let (addr, mask) = b.split_at(n.len());
                        n.iter()
                            .zip(addr)
                            .zip(mask)
                            .all(|((x, a), m)| x & m == a & m)
                    }
                })
            }))
        }
        (GenName::Email(n), GenName::Email(b)) => {
            let Some((local, host)) = split_mailbox(n) else {
                return fail_closed;
            };
            Some(match split_mailbox(b) {
                Some((bl, bh)) => local == bl && host.eq_ignore_ascii_case(bh),
                None => match b.strip_prefix('.') {
                    Some(_) => ends_with_ci(host, b),
                    None => host.eq_ignore_ascii_case(b),
                },
            })
        }
        (GenName::Dir(n), GenName::Dir(b)) => Some(n.starts_with(b)),
        // Forms we do not process, or malformed entries: fail closed.
        _ => fail_closed,
    }
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// `n` (valid, maybe a wildcard) against DNS constraint `b`.
fn dns_within(n: &str, b: &str, which: Subtrees) -> bool {
    if b.is_empty() {
        return true;
    }
    // Is the concrete name `x` in the subtree?
    let in_subtree = |x: &str| -> bool {
        match b.strip_prefix('.') {
            Some(_) => ends_with_ci(x, b),
            None => {
                x.eq_ignore_ascii_case(b)
                    || (ends_with_ci(x, b) && x[..x.len() - b.len()].ends_with('.'))
            }
        }
    };
    match n.strip_prefix("*.") {
        None => in_subtree(n),
        Some(rest) => {
            // Every expansion `L.rest` is in the subtree iff `rest` is at or below the base
            // (for a leading-period base, `rest` may also be the base's own domain).
            let all = in_subtree(rest)
                || b.strip_prefix('.')
                    .is_some_and(|d| rest.eq_ignore_ascii_case(d));
            match which {
                Subtrees::Permitted => all,
                // Some expansion is in the subtree if all are, or if the base itself is one
                // label below `rest`.
                Subtrees::Excluded => {
                    all || (b.len() > rest.len() + 1
                        && ends_with_ci(b, rest)
                        && b[..b.len() - rest.len()].ends_with('.')
                        && !b[..b.len() - rest.len() - 1].contains('.')
                        && !b.starts_with('.'))
                }
            }
        }
    }
}

/// The names of the certificate `cert` (its subjectAltNames, subject and emailAddress
/// attributes) that the nameConstraints of the CA certificate `ca` do not permit, one readable
/// line each; empty when `ca` has no name constraints or every name is within them. For a CA
/// that checks what it is about to issue (RFC 5280 §4.2.1.10: a chain through it would fail).
///
/// # Errors
///
/// A description when either certificate cannot be parsed or the comparison budget (250,000
/// comparisons, as Go's crypto/x509) runs out.
pub fn name_constraint_violations(cert: &[u8], ca: &[u8]) -> Result<Vec<String>, String> {
    let ca = crate::cert::Cert::parse(ca)?;
    let Some(nc) = &ca.name_constraints else {
        return Ok(Vec::new());
    };
    let cert = crate::cert::Cert::parse(cert)?;
    let mut budget = crate::budget::MAX_NC_COMPARISONS;
    check(&cert.nc_names, nc, &mut budget)
        .map_err(|()| "too many name-constraint comparisons".to_string())
}

/// Checks the names of one certificate against one CA's constraints. Returns one detail per
/// violation, or `Err` when the comparison budget is exhausted.
pub(crate) fn check(
    names: &[GenName],
    nc: &NameConstraints,
    budget: &mut usize,
) -> Result<Vec<String>, ()> {
    let mut out = Vec::new();
    for name in names {
        let mut form_constrained = false;
        let mut permitted = false;
        for base in &nc.permitted {
            *budget = budget.checked_sub(1).ok_or(())?;
            if let Some(m) = within(name, base, Subtrees::Permitted) {
                form_constrained = true;
                permitted |= m;
                if permitted {
                    break;
                }
            }
        }
        if form_constrained && !permitted {
            out.push(format!(
                "{} is not in any permitted subtree",
                describe_name(name)
            ));
            continue;
        }
        for base in &nc.excluded {
            *budget = budget.checked_sub(1).ok_or(())?;
            if within(name, base, Subtrees::Excluded) == Some(true) {
                out.push(format!(
                    "{} is in the excluded subtree {}",
                    describe_name(name),
                    base.describe()
                ));
                break;
            }
        }
    }
    Ok(out)
}

fn describe_name(n: &GenName) -> String {
    n.describe()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nc(p: Vec<GenName>, e: Vec<GenName>) -> NameConstraints {
        NameConstraints {
            permitted: p,
            excluded: e,
        }
    }

    fn dns(s: &str) -> GenName {
        GenName::Dns(s.into())
    }

    fn violations(name: GenName, c: &NameConstraints) -> usize {
        check(&[name], c, &mut 1000).unwrap().len()
    }

    #[test]
    fn dns_subtrees() {
        let c = nc(vec![dns("example.com")], vec![]);
        assert_eq!(violations(dns("example.com"), &c), 0);
        assert_eq!(violations(dns("foo.bar.EXAMPLE.com"), &c), 0);
        assert_eq!(violations(dns("badexample.com"), &c), 1);
        assert_eq!(violations(dns(".example.com"), &c), 1);
        assert_eq!(violations(GenName::Ip(vec![1, 2, 3, 4]), &c), 0);
        let c = nc(vec![dns("foo.com")], vec![]);
        assert_eq!(violations(dns("*.foo.com"), &c), 0);
        let c = nc(vec![dns("foo.example.com")], vec![]);
        assert_eq!(violations(dns("*.example.com"), &c), 1);
        let c = nc(vec![], vec![dns("bar.example.com")]);
        assert_eq!(violations(dns("*.example.com"), &c), 1);
        assert_eq!(violations(dns("foo.example.com"), &c), 0);
        let c = nc(vec![], vec![dns("a.b.example.com")]);
        assert_eq!(violations(dns("*.example.com"), &c), 0);
        let c = nc(vec![dns("example.com")], vec![dns("example.com")]);
        assert_eq!(violations(dns("example.com"), &c), 1);
    }

    /// `::ffff:a.b.c.d` as 16 bytes.
    fn mapped(v4: [u8; 4]) -> Vec<u8> {
        let mut a = vec![0u8; 10];
        a.extend([0xff, 0xff]);
        a.extend(v4);
        a
    }

    /// IPv4-mapped IPv6 names are the IPv4 hosts they reach, for either form of constraint
    /// (limbo-style vectors: excluded and permitted, IPv4 and mapped-IPv6 subtrees).
    #[test]
    fn ipv4_mapped_addresses_meet_ipv4_constraints() {
        let ten = GenName::Ip(vec![10, 0, 0, 0, 255, 0, 0, 0]);
        let excluded = nc(vec![], vec![ten.clone()]);
        assert_eq!(violations(GenName::Ip(mapped([10, 0, 0, 1])), &excluded), 1);
        assert_eq!(violations(GenName::Ip(mapped([11, 0, 0, 1])), &excluded), 0);
        let permitted = nc(vec![ten], vec![]);
        assert_eq!(
            violations(GenName::Ip(mapped([10, 9, 9, 9])), &permitted),
            0
        );
        assert_eq!(
            violations(GenName::Ip(mapped([192, 0, 2, 1])), &permitted),
            1
        );
        // A mapped-IPv6 subtree constrains IPv4 names too.
        let mut sub = mapped([10, 0, 0, 0]);
        sub.extend([0xff; 13]);
        sub.extend([0, 0, 0]);
        let excluded6 = nc(vec![], vec![GenName::Ip(sub)]);
        assert_eq!(violations(GenName::Ip(vec![10, 1, 2, 3]), &excluded6), 1);
        assert_eq!(
            violations(GenName::Ip(mapped([10, 1, 2, 3])), &excluded6),
            1
        );
        assert_eq!(violations(GenName::Ip(vec![11, 1, 2, 3]), &excluded6), 0);
        // An IPv6 subtree still covers the mapped address in its IPv6 form.
        let all6 = vec![0u8; 32];
        let no_ipv6 = nc(vec![], vec![GenName::Ip(all6)]);
        assert_eq!(violations(GenName::Ip(mapped([10, 0, 0, 1])), &no_ipv6), 1);
        // Other IPv6 addresses are left alone.
        let mut v6 = vec![0x20, 0x01, 0x0d, 0xb8];
        v6.extend([0; 12]);
        assert_eq!(violations(GenName::Ip(v6), &excluded), 0);
    }

    #[test]
    fn ip_and_email_subtrees() {
        let c = nc(
            vec![GenName::Ip(vec![192, 0, 2, 0, 255, 255, 255, 0])],
            vec![],
        );
        assert_eq!(violations(GenName::Ip(vec![192, 0, 2, 7]), &c), 0);
        assert_eq!(violations(GenName::Ip(vec![192, 0, 3, 7]), &c), 1);
        assert_eq!(
            violations(GenName::Ip(vec![192, 0, 2, 0, 255, 255, 255, 0]), &c),
            1
        );
        let c = nc(vec![GenName::Email("*@example.com".into())], vec![]);
        assert_eq!(violations(GenName::Email("*@example.com".into()), &c), 0);
        assert_eq!(violations(GenName::Email("user@example.com".into()), &c), 1);
        let c = nc(vec![GenName::Email("example.com".into())], vec![]);
        assert_eq!(violations(GenName::Email("foo@EXAMPLE.com".into()), &c), 0);
        assert_eq!(
            violations(GenName::Email("foo@sub.example.com".into()), &c),
            1
        );
        assert_eq!(violations(GenName::Email("a@b@example.com".into()), &c), 1);
        let c = nc(vec![GenName::Email(".example.com".into())], vec![]);
        assert_eq!(
            violations(GenName::Email("foo@sub.example.com".into()), &c),
            0
        );
        assert_eq!(violations(GenName::Email("foo@example.com".into()), &c), 1);
    }

    #[test]
    fn constraint_problems() {
        assert!(nc(vec![], vec![]).problems().iter().any(|p| !p.0));
        assert!(
            nc(vec![dns("*.example.com")], vec![])
                .problems()
                .iter()
                .any(|p| !p.0)
        );
        assert!(
            nc(vec![dns(".example.com")], vec![])
                .problems()
                .iter()
                .all(|p| p.0)
        );
        assert!(
            nc(vec![GenName::Ip(vec![1, 2, 3, 4])], vec![])
                .problems()
                .iter()
                .any(|p| !p.0)
        );
        assert!(
            nc(vec![GenName::Ip(vec![1, 2, 3, 4, 255, 0, 255, 0])], vec![])
                .problems()
                .iter()
                .any(|p| !p.0)
        );
        assert!(
            nc(vec![GenName::Email("a@b@example.com".into())], vec![])
                .problems()
                .iter()
                .any(|p| !p.0)
        );
        assert!(nc(vec![GenName::Other(0)], vec![]).problems().is_empty());
        let mut budget = 1;
        assert!(
            check(
                &[dns("a.com"), dns("b.com")],
                &nc(vec![dns("x.com")], vec![]),
                &mut budget
            )
            .is_err()
        );
    }
}
