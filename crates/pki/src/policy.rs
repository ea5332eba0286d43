//! The DN policy: which subject fields must match the CA's, must be supplied, or may be given.
//!
//! This is `openssl ca`'s `policy_match` / `policy_anything`, with two fixes: values are compared as
//! text, not as ASN.1 strings (UTF8String "GuangDong" equals PrintableString "GuangDong",
//! openssl#16772), and every field that is dropped is reported instead of silently lost.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::name::{Attr, Name};

/// What the policy says about one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Must be present and equal to the CA's value.
    Match,
    /// Must be present.
    Supplied,
    /// May be present.
    Optional,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Match => "match",
            Rule::Supplied => "supplied",
            Rule::Optional => "optional",
        })
    }
}

/// A DN policy: fields in the order they appear in issued certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The fields and their rules. Fields not listed are dropped from requests.
    pub fields: Vec<(Attr, Rule)>,
}

/// The outcome of applying a policy to a request's subject.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The subject the certificate will carry.
    pub subject: Name,
    /// Fields of the request the policy does not list, dropped.
    pub dropped: Vec<(Attr, String)>,
}

impl Policy {
    /// The seed's `policy_match`: C, ST, O match the CA; CN supplied; L, OU, emailAddress optional.
    pub fn matching() -> Policy {
        Policy {
            fields: vec![
                (Attr::Country, Rule::Match),
                (Attr::State, Rule::Match),
                (Attr::Locality, Rule::Optional),
                (Attr::Organization, Rule::Match),
                (Attr::OrgUnit, Rule::Optional),
                (Attr::CommonName, Rule::Supplied),
                (Attr::Email, Rule::Optional),
            ],
        }
    }

    /// `policy_anything`: only CN supplied, the usual fields optional.
    pub fn anything() -> Policy {
        let mut p = Policy::matching();
        for (a, r) in &mut p.fields {
            *r = if *a == Attr::CommonName {
                Rule::Supplied
            } else {
                Rule::Optional
            };
        }
        p
    }

    /// A named preset: `match` or `anything`.
    pub fn preset(name: &str) -> Result<Policy> {
        match name {
            "match" => Ok(Policy::matching()),
            "anything" => Ok(Policy::anything()),
            other => Err(Error::invalid(
                format!("policy {other:?}"),
                "unknown; use match or anything (or edit [policy] in ca.toml)",
            )),
        }
    }

    /// The rule for `attr`, if listed.
    pub fn rule(&self, attr: &Attr) -> Option<Rule> {
        self.fields.iter().find(|(a, _)| a == attr).map(|(_, r)| *r)
    }

    /// Applies the policy to `request` against the CA's subject `ca`.
    ///
    /// A `match` field the CA itself lacks is treated as optional. `what` names the request.
    pub fn apply(&self, ca: &Name, request: &Name, what: &str) -> Result<Applied> {
        let mut subject = Name::default();
        for (attr, rule) in &self.fields {
            let value = request.get(attr);
            match (rule, value) {
                (Rule::Match, _) if ca.get(attr).is_some() => {
                    let ca_value = ca.get(attr).unwrap_or_default();
                    let got = value.unwrap_or_default();
                    if got != ca_value {
                        return Err(Error::PolicyMismatch {
                            what: what.into(),
                            field: attr.short(),
                            ca_value: ca_value.into(),
                            request_value: value
                                .map(str::to_owned)
                                .unwrap_or_else(|| "(absent)".into()),
                        });
                    }
                }
                (Rule::Supplied, None) => {
                    return Err(Error::PolicyMissing {
                        what: what.into(),
                        field: attr.short(),
                    });
                }
                _ => {}
            }
            // Every value of the field, in request order (duplicates are refused later).
            for (a, v) in &request.entries {
                if a == attr {
                    subject.entries.push((a.clone(), v.clone()));
                }
            }
        }
        let dropped = request
            .entries
            .iter()
            .filter(|(a, _)| self.rule(a).is_none())
            .cloned()
            .collect();
        Ok(Applied { subject, dropped })
    }

    /// The policy as a TOML table body (`C = "match"` lines), for `ca.toml`.
    pub fn to_map(&self) -> BTreeMap<String, Rule> {
        self.fields.iter().map(|(a, r)| (a.short(), *r)).collect()
    }

    /// Builds a policy from `(field name, rule)` pairs, in the canonical field order.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Rule)>) -> Result<Policy> {
        let mut fields = Vec::new();
        for (k, r) in pairs {
            let attr = Attr::from_name(k).ok_or_else(|| {
                Error::invalid(format!("policy field {k:?}"), "unknown field name")
            })?;
            fields.push((attr, r));
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|a, b| a.0 == b.0);
        Ok(Policy { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> Name {
        Name::parse("/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=Root").unwrap()
    }

    #[test]
    fn match_accepts_equal_values_and_drops_unlisted() {
        let req = Name::parse("/C=CN/ST=GuangDong/O=XXX, Inc./CN=host/title=boss").unwrap();
        let a = Policy::matching().apply(&ca(), &req, "r").unwrap();
        assert_eq!(
            a.subject.to_string(),
            "/C=CN/ST=GuangDong/O=XXX, Inc./CN=host"
        );
        assert_eq!(a.dropped, vec![(Attr::Title, "boss".to_string())]);
    }

    #[test]
    fn match_failure_names_field_and_values() {
        let req = Name::parse("/C=CN/ST=Beijing/O=XXX, Inc./CN=host").unwrap();
        let e = Policy::matching()
            .apply(&ca(), &req, "r")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ST") && e.contains("GuangDong") && e.contains("Beijing"),
            "{e}"
        );
        let req = Name::parse("/C=CN/ST=GuangDong/O=XXX, Inc.").unwrap();
        assert!(matches!(
            Policy::matching().apply(&ca(), &req, "r"),
            Err(Error::PolicyMissing { .. })
        ));
        let req = Name::parse("CN=host").unwrap();
        assert!(Policy::anything().apply(&ca(), &req, "r").is_ok());
    }
}
