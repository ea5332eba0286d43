//! A reader for the parts of `openssl.cnf` that `openssl ca` uses: the `[ ca ]` section, the
//! default CA section's paths and its policy section. Values with `$var` / `$dir` are expanded.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::policy::{Policy, Rule};

/// The longest value after `$var` expansion, as in OpenSSL (`MAX_CONF_VALUE_LENGTH`).
pub const MAX_VALUE_LEN: usize = 65536;

/// A parsed configuration file: section name -> (key -> value), in file order.
#[derive(Debug, Default, Clone)]
pub struct Cnf {
    sections: HashMap<String, Vec<(String, String)>>,
}

impl Cnf {
    /// Parses openssl.cnf text. `what` names the file in errors.
    pub fn parse(text: &str, what: &str) -> Result<Cnf> {
        let mut cnf = Cnf::default();
        let mut section = String::from("default");
        for (n, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim().to_string();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or_else(|| {
                    Error::decode(
                        what,
                        "openssl config",
                        format!("line {}: unclosed [section", n + 1),
                    )
                })?;
                section = name.trim().to_string();
                continue;
            }
            if line.starts_with('.') {
                continue; // .include / .pragma directives: not needed for `ca`
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(Error::decode(
                    what,
                    "openssl config",
                    format!("line {}: expected key = value, found {line:?}", n + 1),
                ));
            };
            let key = k.trim().to_string();
            let value = v.trim().trim_matches('"').to_string();
            let expanded = cnf.expand(&section, &value).ok_or_else(|| {
                Error::decode(
                    what,
                    "openssl config",
                    format!(
                        "line {}: the value of {key} is longer than {MAX_VALUE_LEN} bytes after $-expansion",
                        n + 1
                    ),
                )
            })?;
            cnf.sections
                .entry(section.clone())
                .or_default()
                .push((key, expanded));
        }
        Ok(cnf)
    }

    /// The value of `key` in `section` (last one wins, as in openssl).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .get(section)?
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every `key = value` of `section`, in order.
    pub fn section(&self, section: &str) -> Option<&[(String, String)]> {
        self.sections.get(section).map(|v| v.as_slice())
    }

    /// The default CA section's name (`[ ca ] default_ca`), or `CA_default`.
    pub fn default_ca(&self) -> String {
        self.get("ca", "default_ca")
            .unwrap_or("CA_default")
            .to_string()
    }

    /// The default CA's policy, converted. `None` when the config names no policy.
    pub fn policy(&self, what: &str) -> Result<Option<Policy>> {
        let ca = self.default_ca();
        let Some(name) = self.get(&ca, "policy") else {
            return Ok(None);
        };
        let fields = self.section(name).ok_or_else(|| {
            Error::decode(
                what,
                "openssl config",
                format!("policy section [{name}] is missing"),
            )
        })?;
        let mut pairs = Vec::new();
        for (k, v) in fields {
            let rule = match v.to_ascii_lowercase().as_str() {
                "match" => Rule::Match,
                "supplied" => Rule::Supplied,
                "optional" => Rule::Optional,
                other => {
                    return Err(Error::decode(
                        what,
                        "openssl config",
                        format!("[{name}] {k} = {other}: expected match, supplied or optional"),
                    ));
                }
            };
            pairs.push((k.as_str(), rule));
        }
        Policy::from_pairs(pairs).map(Some)
    }

    /// Expands `$var`, `${var}`, `$(var)` and `$section::var`; `None` when the result would
    /// exceed [`MAX_VALUE_LEN`] (each line can double the length of the last: `a = $a$a`).
    fn expand(&self, section: &str, value: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(j) => (&inner[..j], &inner[j + 1..]),
                    None => ("", after),
                }
            } else if let Some(inner) = after.strip_prefix('(') {
                match inner.find(')') {
                    Some(j) => (&inner[..j], &inner[j + 1..]),
                    None => ("", after),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            let (sec, key) = name.split_once("::").unwrap_or((section, name));
            match self.get(sec, key).or_else(|| self.get("default", key)) {
                Some(v) if !name.is_empty() => {
                    if out.len() + v.len() > MAX_VALUE_LEN {
                        return None;
                    }
                    out.push_str(v)
                }
                _ => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        (out.len() <= MAX_VALUE_LEN).then_some(out)
    }
}

fn strip_comment(line: &str) -> &str {
    // openssl treats # as a comment anywhere unless escaped; escapes are rare in CA configs.
    match line.find('#') {
        Some(i) if !line[..i].ends_with('\\') => &line[..i],
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stock_ca_section() {
        let text = "[ ca ]\ndefault_ca = CA_default # comment\n[ CA_default ]\ndir = ./demoCA\n\
                    database = $dir/index.txt\npolicy = policy_match\n[ policy_match ]\n\
                    countryName = match\nstateOrProvinceName = match\norganizationName = match\n\
                    organizationalUnitName = optional\ncommonName = supplied\nemailAddress = optional\n";
        let c = Cnf::parse(text, "t").unwrap();
        assert_eq!(c.get("CA_default", "database"), Some("./demoCA/index.txt"));
        let p = c.policy("t").unwrap().unwrap();
        assert_eq!(p.rule(&crate::name::Attr::Country), Some(Rule::Match));
        assert_eq!(p.rule(&crate::name::Attr::Locality), None);
        assert!(Cnf::parse("[oops\n", "t").is_err());
        assert!(Cnf::parse("novalue\n", "t").is_err());
    }

    #[test]
    fn expansion_is_bounded() {
        // Each line doubles the value: 2^40 bytes without a bound.
        let mut text = String::from("a = xxxxxxxxxxxxxxxx\n");
        for _ in 0..40 {
            text.push_str("a = $a$a\n");
        }
        let e = Cnf::parse(&text, "t").unwrap_err().to_string();
        assert!(e.contains("line 14") && e.contains("65536"), "{e}");
        let ok = "a = xxxxxxxxxxxxxxxx\n".to_string() + &"a = $a$a\n".repeat(12);
        assert_eq!(
            Cnf::parse(&ok, "t")
                .unwrap()
                .get("default", "a")
                .unwrap()
                .len(),
            65536
        );
    }
}
