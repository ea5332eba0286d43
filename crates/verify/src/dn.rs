//! Distinguished names in a canonical form, for chaining (issuer = subject) and directoryName
//! name constraints.
//!
//! RFC 5280 §7.1 asks for RFC 4518 string preparation. We apply its practical core, as OpenSSL
//! does: string values are decoded (UTF8String, PrintableString, IA5String, BMPString,
//! UniversalString, TeletexString as Latin-1 …), leading and trailing spaces are dropped,
//! inner runs of white space become one space, and case is folded. Values of other types are
//! compared as raw DER. The attributes of a multi-valued RDN are compared as a set.

use x509_parser::x509::X509Name;

/// An attribute value after preparation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Value {
    /// A prepared string.
    Text(String),
    /// A non-string value: its tag and content.
    Raw(u32, Vec<u8>),
}

/// One attribute: type OID (content bytes) and prepared value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Atv {
    pub oid: Vec<u8>,
    pub value: Value,
}

/// A canonical DN: its RDNs in order, each a sorted set of attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Dn(pub Vec<Vec<Atv>>);

impl Dn {
    /// The canonical form of a parsed name.
    pub fn from_x509(name: &X509Name<'_>) -> Dn {
        Dn(name
            .iter()
            .map(|rdn| {
                let mut set: Vec<Atv> = rdn
                    .iter()
                    .map(|atv| {
                        let v = atv.attr_value();
                        Atv {
                            oid: atv.attr_type().as_bytes().to_vec(),
                            value: prepare(v.tag().0, v.data),
                        }
                    })
                    .collect();
                set.sort();
                set
            })
            .collect())
    }

    /// True for the empty DN (an empty SEQUENCE).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A readable form of the canonical name (`cn=foo, o=bar`), for messages.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| {
                        let value = match &a.value {
                            Value::Text(t) => t.clone(),
                            Value::Raw(_, b) => format!("#{}", crate::report::hex(b)),
                        };
                        format!("{}={value}", crate::sig::oid_name(&a.oid))
                    })
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// True when `prefix`'s RDNs are the first RDNs of `self` (directoryName constraint match).
    pub fn starts_with(&self, prefix: &Dn) -> bool {
        prefix.0.len() <= self.0.len() && self.0.iter().zip(&prefix.0).all(|(a, b)| a == b)
    }
}

/// Decodes and prepares a value of ASN.1 tag `tag`.
fn prepare(tag: u32, data: &[u8]) -> Value {
    let text = match tag {
        // UTF8String
        12 => std::str::from_utf8(data).ok().map(str::to_string),
        // NumericString, PrintableString, IA5String, VisibleString
        18 | 19 | 22 | 26 => data
            .is_ascii()
            .then(|| String::from_utf8_lossy(data).into_owned()),
        // TeletexString: treated as Latin-1, as most software does
        20 => Some(data.iter().map(|b| char::from(*b)).collect()),
        // UniversalString (UCS-4 big endian)
        28 if data.len() % 4 == 0 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        // BMPString (UCS-2 big endian)
        30 if data.len() % 2 == 0 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    match text {
        Some(t) => Value::Text(fold(&t)),
        None => Value::Raw(tag, data.to_vec()),
    }
}

/// Trims, collapses white space and folds case.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparation() {
        assert_eq!(
            prepare(19, b"  Example   CA "),
            prepare(12, "example ca".as_bytes())
        );
        assert_eq!(prepare(30, &[0, b'A', 0, b'b']), Value::Text("ab".into()));
        assert_eq!(prepare(2, &[1]), Value::Raw(2, vec![1]));
        assert_ne!(prepare(12, b"a"), prepare(12, b"b"));
    }
}
