//! The URLs of an `openssl ca` extension section (`crlDistributionPoints = URI:…`,
//! `authorityInfoAccess = OCSP;URI:…, caIssuers;URI:…`) to and from `[urls]` of `ca.toml`.
//! Only the plain forms are read; a `@section` or another GeneralName type is reported as not
//! carried over.

use crate::urls::Urls;

/// `[urls]` from the lines of an extension section, and notes on what could not be read.
pub(super) fn from_section(lines: &[(String, String)]) -> (Urls, Vec<String>) {
    let mut urls = Urls::default();
    let mut skipped = Vec::new();
    for (key, value) in lines {
        match key.as_str() {
            "crlDistributionPoints" => {
                for item in items(value) {
                    match item.strip_prefix("URI:") {
                        Some(u) => urls.crl.push(u.to_string()),
                        None => skipped.push(format!("crlDistributionPoints entry {item:?}")),
                    }
                }
            }
            "authorityInfoAccess" => {
                for item in items(value) {
                    let (method, loc) = item.split_once(';').unwrap_or((item, ""));
                    let list = match method.trim() {
                        m if m.eq_ignore_ascii_case("OCSP") => &mut urls.ocsp,
                        m if m.eq_ignore_ascii_case("caIssuers") => &mut urls.ca_issuers,
                        _ => {
                            skipped.push(format!("authorityInfoAccess entry {item:?}"));
                            continue;
                        }
                    };
                    match loc.trim().strip_prefix("URI:") {
                        Some(u) => list.push(u.to_string()),
                        None => skipped.push(format!("authorityInfoAccess entry {item:?}")),
                    }
                }
            }
            _ => {}
        }
    }
    (urls, skipped)
}

/// The comma-separated entries of a value.
fn items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The openssl.cnf lines that put `urls` into a certificate (empty when none is set).
pub(super) fn to_section(urls: &Urls) -> String {
    let mut s = String::new();
    if !urls.crl.is_empty() {
        let list: Vec<String> = urls.crl.iter().map(|u| format!("URI:{u}")).collect();
        s.push_str(&format!("crlDistributionPoints = {}\n", list.join(", ")));
    }
    let aia: Vec<String> = (urls.ocsp.iter().map(|u| format!("OCSP;URI:{u}")))
        .chain(urls.ca_issuers.iter().map(|u| format!("caIssuers;URI:{u}")))
        .collect();
    if !aia.is_empty() {
        s.push_str(&format!("authorityInfoAccess = {}\n", aia.join(", ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_forms_round_trip() {
        let lines = vec![
            (
                "crlDistributionPoints".to_string(),
                "URI:http://a/crl, URI:ldap://b/cn=x, @dp_section".to_string(),
            ),
            (
                "authorityInfoAccess".to_string(),
                "OCSP;URI:http://o/, caIssuers;URI:http://a/ca.crt, caIssuers;email:x@y"
                    .to_string(),
            ),
            ("basicConstraints".to_string(), "CA:FALSE".to_string()),
        ];
        let (urls, skipped) = from_section(&lines);
        assert_eq!(urls.crl, ["http://a/crl", "ldap://b/cn=x"]);
        assert_eq!(urls.ocsp, ["http://o/"]);
        assert_eq!(urls.ca_issuers, ["http://a/ca.crt"]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        let text = to_section(&urls);
        assert_eq!(
            text,
            "crlDistributionPoints = URI:http://a/crl, URI:ldap://b/cn=x\n\
             authorityInfoAccess = OCSP;URI:http://o/, caIssuers;URI:http://a/ca.crt\n"
        );
        assert_eq!(to_section(&Urls::default()), "");
    }
}
