//! `[urls]` of `ca.toml`: where relying parties find the CRL, the OCSP responder and the
//! issuing CA's certificate. They go into every certificate the CA issues, as the
//! cRLDistributionPoints (RFC 5280 4.2.1.13) and authorityInfoAccess (RFC 5280 4.2.2.1)
//! extensions, the way openssl's `crlDistributionPoints = URI:…` and
//! `authorityInfoAccess = OCSP;URI:…, caIssuers;URI:…` do.

use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension};
use serde::{Deserialize, Serialize};

use crate::ca::crl_der::{tag, tlv};
use crate::error::{Error, Result};

/// id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1).
const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ad-ocsp (1.3.6.1.5.5.7.48.1), DER content.
const OID_AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
/// id-ad-caIssuers (1.3.6.1.5.5.7.48.2), DER content.
const OID_AD_CA_ISSUERS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
/// GeneralName uniformResourceIdentifier: `[6] IMPLICIT IA5String`.
const TAG_URI: u8 = 0x86;
/// Longest URL accepted: far past any real one, short enough to keep certificates small.
const MAX_URL_LEN: usize = 2048;

/// The `[urls]` table. Each entry is one URL or a list of them; all empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Urls {
    /// Where the CRL is published (`http://ca.example/crl`): cRLDistributionPoints.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub crl: Vec<String>,
    /// The OCSP responder: authorityInfoAccess id-ad-ocsp.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ocsp: Vec<String>,
    /// The issuing CA's certificate, DER (`http://ca.example/ca.crt`): authorityInfoAccess
    /// id-ad-caIssuers.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ca_issuers: Vec<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl Urls {
    /// True when no URL is set.
    pub fn is_empty(&self) -> bool {
        self.crl.is_empty() && self.ocsp.is_empty() && self.ca_issuers.is_empty()
    }

    /// Checks every URL: absolute `http`, `https` or `ldap`, ASCII without spaces or control
    /// characters (a URI GeneralName is an IA5String, RFC 5280 4.2.1.6).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the entry (`urls.crl`) and the URL.
    pub fn validate(&self) -> Result<()> {
        for (field, list) in self.fields() {
            for url in list {
                check_url(url).map_err(|why| Error::invalid(format!("urls.{field}"), why))?;
            }
        }
        Ok(())
    }

    fn fields(&self) -> [(&'static str, &Vec<String>); 3] {
        [
            ("crl", &self.crl),
            ("ocsp", &self.ocsp),
            ("ca_issuers", &self.ca_issuers),
        ]
    }

    /// Adds the extensions to a certificate about to be signed.
    pub fn apply(&self, params: &mut CertificateParams) {
        if !self.crl.is_empty() {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: self.crl.clone(),
            }];
        }
        if let Some(aia) = self.aia_der() {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(OID_AIA, aia));
        }
    }

    /// AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription, OCSP first.
    fn aia_der(&self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        let all = self
            .ocsp
            .iter()
            .map(|u| (OID_AD_OCSP, u))
            .chain(self.ca_issuers.iter().map(|u| (OID_AD_CA_ISSUERS, u)));
        for (method, url) in all {
            let mut desc = Vec::with_capacity(url.len() + 16);
            tlv(tag::OID, method, &mut desc);
            tlv(TAG_URI, url.as_bytes(), &mut desc);
            tlv(tag::SEQUENCE, &desc, &mut body);
        }
        if body.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(body.len() + 4);
        tlv(tag::SEQUENCE, &body, &mut out);
        Some(out)
    }
}

fn check_url(url: &str) -> std::result::Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!(
            "a URL of {} bytes is too long (at most {MAX_URL_LEN})",
            url.len()
        ));
    }
    if !url.is_ascii() || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "{url:?} must be ASCII without spaces (percent-encode other characters)"
        ));
    }
    let rest = ["http://", "https://", "ldap://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .ok_or_else(|| format!("{url:?} must start with http://, https:// or ldap://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for good in [
            "http://ca.example/crl",
            "https://10.0.0.1:9080/ca.crt",
            "ldap://x/cn=ca",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ca.example/crl",
            "ftp://x/y",
            "http://",
            "http:///crl",
            "http://a b/",
            "http://é/",
        ] {
            assert!(check_url(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn aia_is_a_sequence_of_access_descriptions() {
        let u = Urls {
            ocsp: vec!["http://o".into()],
            ca_issuers: vec!["http://c".into()],
            ..Urls::default()
        };
        let der = u.aia_der().unwrap();
        let one = |m: &[u8]| {
            let mut d = vec![0x06, m.len() as u8];
            d.extend_from_slice(m);
            d.extend_from_slice(&[0x86, 8]);
            d
        };
        let mut a = one(OID_AD_OCSP);
        a.extend_from_slice(b"http://o");
        let mut b = one(OID_AD_CA_ISSUERS);
        b.extend_from_slice(b"http://c");
        let mut expect = vec![0x30, (a.len() + b.len() + 4) as u8, 0x30, a.len() as u8];
        expect.extend_from_slice(&a);
        expect.extend_from_slice(&[0x30, b.len() as u8]);
        expect.extend_from_slice(&b);
        assert_eq!(der, expect);
        assert!(Urls::default().aia_der().is_none());
    }
}
