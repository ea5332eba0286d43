//! Distinguished names: parsing the OpenSSL (`/C=CN/O=X/CN=h`) and RFC 4514 (`CN=h,O=X,C=CN`)
//! forms, comparing values independently of their ASN.1 string type, and encoding.

use std::fmt;

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

use crate::error::{Error, Result};

/// A DN attribute type mtls knows by name. Others are kept by OID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    /// countryName (C), two letters, PrintableString.
    Country,
    /// stateOrProvinceName (ST).
    State,
    /// localityName (L).
    Locality,
    /// streetAddress (street).
    Street,
    /// organizationName (O).
    Organization,
    /// organizationalUnitName (OU).
    OrgUnit,
    /// commonName (CN).
    CommonName,
    /// emailAddress (PKCS#9), IA5String.
    Email,
    /// serialNumber (the subject's, not the certificate's).
    SerialNumber,
    /// domainComponent (DC), IA5String.
    DomainComponent,
    /// title.
    Title,
    /// givenName (GN).
    GivenName,
    /// surname (SN).
    Surname,
    /// postalCode.
    PostalCode,
    /// userId (UID).
    UserId,
    /// Any other attribute, by dotted OID.
    Other(String),
}

const KNOWN: &[(Attr, &str, &[u64], &[&str])] = &[
    (Attr::Country, "C", &[2, 5, 4, 6], &["countryname"]),
    (
        Attr::State,
        "ST",
        &[2, 5, 4, 8],
        &["s", "stateorprovincename"],
    ),
    (Attr::Locality, "L", &[2, 5, 4, 7], &["localityname"]),
    (Attr::Street, "street", &[2, 5, 4, 9], &["streetaddress"]),
    (
        Attr::Organization,
        "O",
        &[2, 5, 4, 10],
        &["organizationname"],
    ),
    (
        Attr::OrgUnit,
        "OU",
        &[2, 5, 4, 11],
        &["organizationalunitname"],
    ),
    (Attr::CommonName, "CN", &[2, 5, 4, 3], &["commonname"]),
    (
        Attr::Email,
        "emailAddress",
        &[1, 2, 840, 113549, 1, 9, 1],
        &["e", "email"],
    ),
    (Attr::SerialNumber, "serialNumber", &[2, 5, 4, 5], &[]),
    (
        Attr::DomainComponent,
        "DC",
        &[0, 9, 2342, 19200300, 100, 1, 25],
        &["domaincomponent"],
    ),
    (Attr::Title, "title", &[2, 5, 4, 12], &[]),
    (Attr::GivenName, "GN", &[2, 5, 4, 42], &["givenname"]),
    (Attr::Surname, "SN", &[2, 5, 4, 4], &["surname"]),
    (Attr::PostalCode, "postalCode", &[2, 5, 4, 17], &[]),
    (
        Attr::UserId,
        "UID",
        &[0, 9, 2342, 19200300, 100, 1, 1],
        &["userid"],
    ),
];

impl Attr {
    /// Looks an attribute up by short or long name (case-insensitive) or dotted OID.
    pub fn from_name(s: &str) -> Option<Attr> {
        let l = s.trim().to_ascii_lowercase();
        for (a, short, _, longs) in KNOWN {
            if short.to_ascii_lowercase() == l || longs.contains(&l.as_str()) {
                return Some(a.clone());
            }
        }
        let arcs = parse_oid(&l)?;
        Some(Self::from_oid(&arcs))
    }

    /// The attribute for an OID.
    pub fn from_oid(arcs: &[u64]) -> Attr {
        KNOWN
            .iter()
            .find(|(_, _, oid, _)| *oid == arcs)
            .map(|(a, ..)| a.clone())
            .unwrap_or_else(|| {
                Attr::Other(
                    arcs.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join("."),
                )
            })
    }

    /// The OID arcs.
    pub fn oid(&self) -> Vec<u64> {
        match self {
            Attr::Other(s) => parse_oid(s).unwrap_or_default(),
            a => KNOWN
                .iter()
                .find(|(k, ..)| k == a)
                .map(|(_, _, oid, _)| oid.to_vec())
                .unwrap_or_default(),
        }
    }

    /// The short name OpenSSL prints (C, ST, O, CN, emailAddress …).
    pub fn short(&self) -> String {
        match self {
            Attr::Other(s) => s.clone(),
            a => KNOWN
                .iter()
                .find(|(k, ..)| k == a)
                .map(|(_, s, ..)| s.to_string())
                .unwrap_or_default(),
        }
    }

    /// Upper bound on the value's length (RFC 5280 appendix A), if any.
    fn max_len(&self) -> Option<usize> {
        match self {
            Attr::Country => Some(2),
            Attr::State | Attr::Locality | Attr::Street | Attr::Title => Some(128),
            Attr::Organization | Attr::OrgUnit | Attr::CommonName | Attr::SerialNumber => Some(64),
            Attr::Email => Some(255),
            Attr::PostalCode => Some(40),
            _ => None,
        }
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

/// The rules for one attribute value (see [`Name::check`]).
fn check_value(attr: &Attr, value: &str) -> std::result::Result<(), String> {
    if value.is_empty() {
        return Err(format!("{attr} has no value"));
    }
    if let Some(max) = attr.max_len()
        && value.chars().count() > max
    {
        return Err(format!(
            "{attr} is {} characters long; at most {max} are allowed",
            value.chars().count()
        ));
    }
    match attr {
        Attr::Country if !(value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic())) => {
            return Err(format!(
                "C must be a two-letter country code such as CN or US, not {value:?}"
            ));
        }
        Attr::Email | Attr::DomainComponent if !value.is_ascii() => {
            return Err(format!("{attr} must be ASCII, not {value:?}"));
        }
        _ => {}
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(format!("{attr} contains a control character ({:?})", value));
    }
    Ok(())
}

fn parse_oid(s: &str) -> Option<Vec<u64>> {
    let arcs: Option<Vec<u64>> = s.split('.').map(|p| p.parse().ok()).collect();
    arcs.filter(|a| a.len() >= 2)
}

/// A distinguished name: attribute/value pairs in encoding order (most significant first, as
/// OpenSSL's `/C=…/CN=…` form writes them). Values are Unicode text; the ASN.1 string type is
/// chosen on encoding and ignored on comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    /// The attributes, most significant (C) first.
    pub entries: Vec<(Attr, String)>,
}

impl Name {
    /// Parses a subject in OpenSSL form (starting with `/`) or RFC 4514 form.
    pub fn parse(input: &str) -> Result<Name> {
        let err = |d: String| Error::Subject {
            input: input.into(),
            detail: d,
        };
        let s = trim_escaped(input);
        if s.is_empty() {
            return Err(err(
                "it is empty; write e.g. /C=CN/O=Example/CN=host or CN=host,O=Example,C=CN".into(),
            ));
        }
        let parts = if let Some(rest) = s.strip_prefix('/') {
            split_unescaped(rest, &['/'])
                .map_err(err)?
                .into_iter()
                .filter(|p| !p.trim().is_empty())
                .collect::<Vec<_>>()
        } else {
            let mut parts = split_unescaped(s, &[',', ';', '+']).map_err(err)?;
            parts.reverse();
            parts
        };
        let mut name = Name::default();
        for part in parts {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                err(format!(
                    "{part:?} is not TYPE=value; write e.g. CN=host (escape a literal separator with a backslash)"
                ))
            })?;
            let attr = Attr::from_name(k).ok_or_else(|| {
                err(format!(
                    "unknown field {k:?}; use C, ST, L, O, OU, CN, emailAddress, street, serialNumber, DC, title, GN, SN, UID or a dotted OID"
                ))
            })?;
            let value = unescape(trim_escaped(v)).map_err(err)?;
            name.push(attr, value).map_err(|e| match e {
                Error::Invalid { detail, .. } => err(detail),
                other => other,
            })?;
        }
        if name.entries.is_empty() {
            return Err(err("no fields given".into()));
        }
        Ok(name)
    }

    /// Appends an attribute after checking its value (see [`Name::check`]).
    pub fn push(&mut self, attr: Attr, value: String) -> Result<()> {
        check_value(&attr, &value).map_err(|d| Error::invalid(format!("field {attr}"), d))?;
        self.entries.push((attr, value));
        Ok(())
    }

    /// Checks every value as [`Name::push`] does: not empty, within RFC 5280's length bounds,
    /// a two-letter C, ASCII emailAddress and DC, no control characters. For names that
    /// arrive from outside (a request's subject), which must meet the same rules as a subject
    /// typed on the command line. `what` names the source in the error.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the source and the field.
    pub fn check(&self, what: &str) -> Result<()> {
        for (attr, value) in &self.entries {
            check_value(attr, value)
                .map_err(|d| Error::invalid(what, format!("subject field {attr}: {d}")))?;
        }
        Ok(())
    }

    /// The first value of `attr`.
    pub fn get(&self, attr: &Attr) -> Option<&str> {
        self.entries
            .iter()
            .find(|(a, _)| a == attr)
            .map(|(_, v)| v.as_str())
    }

    /// The common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.get(&Attr::CommonName)
    }

    /// Decodes an X.509 name, whatever string types it uses.
    pub fn from_x509(name: &X509Name<'_>, what: &str) -> Result<Name> {
        let mut out = Name::default();
        for rdn in name.iter() {
            if rdn.iter().next().is_none() {
                return Err(Error::decode(what, "name", "an empty RDN set"));
            }
            for atv in rdn.iter() {
                let arcs: Vec<u64> = atv
                    .attr_type()
                    .iter()
                    .map(|i| i.collect())
                    .ok_or_else(|| Error::decode(what, "name", "an attribute OID too large"))?;
                let attr = Attr::from_oid(&arcs);
                let value = decode_string(atv.attr_value().header.tag(), atv.attr_value().data)
                    .ok_or_else(|| {
                        Error::decode(what, "name", format!("the value of {attr} is not a string"))
                    })?;
                out.entries.push((attr, value));
            }
        }
        Ok(out)
    }

    /// Encodes for rcgen: C as PrintableString, emailAddress and DC as IA5String, the rest UTF8String
    /// (RFC 5280's recommendation and OpenSSL's `utf8only` default).
    pub fn to_rcgen(&self) -> Result<DistinguishedName> {
        let mut dn = DistinguishedName::new();
        let mut seen = std::collections::HashSet::new();
        for (attr, value) in &self.entries {
            if !seen.insert(attr.clone()) {
                return Err(Error::invalid(
                    format!("subject {self}"),
                    format!("{attr} appears twice; mtls supports one value per field"),
                ));
            }
            let bad = |e: rcgen::Error| Error::invalid(format!("field {attr}"), e.to_string());
            let v = match attr {
                Attr::Country => DnValue::PrintableString(value.as_str().try_into().map_err(bad)?),
                Attr::Email | Attr::DomainComponent => {
                    DnValue::Ia5String(value.as_str().try_into().map_err(bad)?)
                }
                _ => DnValue::Utf8String(value.clone()),
            };
            let ty = match attr {
                Attr::Country => DnType::CountryName,
                Attr::State => DnType::StateOrProvinceName,
                Attr::Locality => DnType::LocalityName,
                Attr::Organization => DnType::OrganizationName,
                Attr::OrgUnit => DnType::OrganizationalUnitName,
                Attr::CommonName => DnType::CommonName,
                other => DnType::CustomDnType(other.oid()),
            };
            dn.push(ty, v);
        }
        Ok(dn)
    }

    /// RFC 4514 text (least significant first): `CN=host,O=XXX\, Inc.,C=CN`.
    pub fn rfc4514(&self) -> String {
        self.entries
            .iter()
            .rev()
            .map(|(a, v)| format!("{}={}", a.short(), escape_rfc4514(v)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Name {
    /// OpenSSL's `-subject` form: `/C=CN/ST=GuangDong/CN=host`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (a, v) in &self.entries {
            write!(f, "/{}={}", a.short(), v.replace('/', "\\/"))?;
        }
        Ok(())
    }
}

/// Decodes any DirectoryString-like value to Unicode.
pub(crate) fn decode_string(tag: Tag, data: &[u8]) -> Option<String> {
    match tag {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_owned),
        // T.61 in practice carries Latin-1.
        Tag::T61String => Some(data.iter().map(|&b| b as char).collect()),
        Tag::BmpString => {
            if data.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString => {
            if data.len() % 4 != 0 {
                return None;
            }
            data.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

fn split_unescaped(s: &str, seps: &[char]) -> std::result::Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            match chars.next() {
                Some(n) => cur.push(n),
                None => return Err("it ends with a lone backslash".into()),
            }
        } else if seps.contains(&c) {
            if c == '+' {
                return Err(
                    "multi-valued RDNs (A=x+B=y) are not supported; escape a literal + as \\+"
                        .into(),
                );
            }
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    Ok(parts)
}

fn unescape(v: &str) -> std::result::Result<String, String> {
    if v.starts_with('#') {
        return Err("hex-encoded (#…) values are not supported; write the text".into());
    }
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
            } else if let Some(&n) = b.get(i + 1) {
                out.push(n);
                i += 2;
            } else {
                return Err("it ends with a lone backslash".into());
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "an escaped value is not valid UTF-8".into())
}

/// Trims surrounding whitespace, but not whitespace escaped with a backslash: `CN=x\ ` keeps its
/// final space (RFC 4514 writes a trailing space that way).
fn trim_escaped(s: &str) -> &str {
    let s = s.trim_start();
    let t = s.trim_end();
    if t.len() < s.len() && t.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1 {
        let kept = s[t.len()..].chars().next().map_or(0, char::len_utf8);
        return &s[..t.len() + kept];
    }
    t
}

fn escape_rfc4514(v: &str) -> String {
    let mut out = String::new();
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        // Whitespace at either end is escaped (any kind: parsing trims unescaped whitespace).
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && c == '#')
            || ((i == 0 || i == last) && c.is_whitespace());
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_and_rfc4514_forms_agree() {
        let a = Name::parse("/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=host").unwrap();
        let b = Name::parse("CN=host,L=GuangZhou,O=XXX\\, Inc.,ST=GuangDong,C=CN").unwrap();
        assert_eq!(a.get(&Attr::Organization), Some("XXX, Inc."));
        assert_eq!(b.get(&Attr::Organization), Some("XXX, Inc."));
        assert_eq!(a.entries.first().unwrap().0, Attr::Country);
        assert_eq!(b.entries.first().unwrap().0, Attr::Country);
        assert_eq!(
            a.to_string(),
            "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=host"
        );
        assert_eq!(
            Name::parse(&a.rfc4514()).unwrap().get(&Attr::Organization),
            Some("XXX, Inc.")
        );
        let e = Name::parse("/CN=x/emailAddress=a@b.c").unwrap();
        assert_eq!(e.get(&Attr::Email), Some("a@b.c"));
    }

    #[test]
    fn escaped_spaces_at_the_ends_survive() {
        // Found by fuzzing (fuzz target `subject`): `CN=\20` became `CN=\ `, which did not parse.
        for input in [
            "CN=\\20",
            "CN=\\ ",
            "/CN=\\ x\\ ",
            "CN=\\E2\\80\\83",
            "CN=a\\ ,O=b",
        ] {
            let n = Name::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(Name::parse(&n.rfc4514()).unwrap(), n, "{input}");
        }
        assert_eq!(Name::parse("CN=\\ ").unwrap().common_name(), Some(" "));
        assert_eq!(
            Name::parse("CN=a\\ ,O=b").unwrap().common_name(),
            Some("a ")
        );
        assert_eq!(Name::parse("CN=a\\\\ ").unwrap().common_name(), Some("a\\"));
        assert_eq!(Name::parse(" CN=a  ").unwrap().common_name(), Some("a"));
    }

    #[test]
    fn bad_subjects_are_named() {
        for bad in [
            "",
            "/C=China/CN=x",
            "CN",
            "/XX=1",
            "CN=a+O=b",
            "CN=x\\",
            "/CN=",
        ] {
            let e = Name::parse(bad).unwrap_err();
            assert!(matches!(e, Error::Subject { .. }), "{bad}: {e}");
        }
    }
}
