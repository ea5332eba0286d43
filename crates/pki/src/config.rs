//! `ca.toml`: the CA's policy, profiles and defaults, written with comments at `init`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::key::KeyType;
use crate::policy::{Policy, Rule};
use crate::profile::Profile;
use crate::time::Lifetime;
use crate::urls::Urls;

/// The `[ca]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSection {
    /// Validity of each CRL, in days.
    #[serde(default = "default_crl_days")]
    pub crl_days: u32,
    /// Key type `mtls ca issue` generates by default.
    #[serde(default)]
    pub key_type: KeyType,
    /// Accept RSA keys below 2048 bits in requests (migration only).
    #[serde(default)]
    pub allow_weak_rsa: bool,
    /// Refuse a certificate whose subject a valid certificate already has (openssl's
    /// `unique_subject = yes`; carried over by import, written back by export).
    #[serde(default)]
    pub unique_subject: bool,
}

fn default_crl_days() -> u32 {
    7
}

/// The `[online]` table: what `mtls ca serve` issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineSection {
    /// Validity of certificates issued through enrollment, in days. Short lives make
    /// revocation matter less; `mtls renew --daemon` keeps them fresh.
    #[serde(default = "default_online_days")]
    pub days: u32,
    /// The same as a duration (`"15m"`, `"24h"`), for lives shorter than a day; it takes
    /// precedence over `days`. A token may set its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<Lifetime>,
    /// The life of each CRL the online CA makes (`90s`, `6h`, `7d`); `[ca] crl_days` when
    /// unset. The server renews its CRL at 2/3 of that life, so it never lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_lifetime: Option<Lifetime>,
    /// Sign OCSP answers with a delegated responder certificate (profile `ocsp`) that the
    /// server issues itself and renews, instead of with the CA key.
    #[serde(default)]
    pub ocsp_delegated: bool,
    /// How long each OCSP answer is good for (its nextUpdate; `1h` when unset). Answers are
    /// cached, by the server and by clients that staple them, until half that life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsp_validity: Option<Lifetime>,
}

fn default_online_days() -> u32 {
    30
}

impl OnlineSection {
    /// `crl_lifetime` in seconds, if set.
    pub fn crl_lifetime_secs(&self) -> Option<u64> {
        self.crl_lifetime.map(Lifetime::secs)
    }

    /// The nextUpdate of OCSP answers, in seconds after thisUpdate (an hour when unset).
    pub fn ocsp_validity_secs(&self) -> u64 {
        self.ocsp_validity.map_or(3600, Lifetime::secs)
    }

    /// The validity of an enrolled certificate: `validity`, else `days`.
    pub fn lifetime(&self) -> Lifetime {
        self.validity.unwrap_or(Lifetime::days(self.days))
    }
}

impl Default for OnlineSection {
    fn default() -> Self {
        OnlineSection {
            days: default_online_days(),
            validity: None,
            crl_lifetime: None,
            ocsp_delegated: false,
            ocsp_validity: None,
        }
    }
}

/// The `[store]` table: where the CA's records live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// A store reached by URL (`postgres://user@host/db`), for several `mtls ca serve`
    /// instances on one database; unset: `ca.db`, SQLite, in the CA directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[ca]`.
    pub ca: CaSection,
    /// `[policy]`.
    pub policy: Policy,
    /// `[profiles.*]`.
    pub profiles: BTreeMap<String, Profile>,
    /// `[online]`.
    pub online: OnlineSection,
    /// `[urls]`.
    pub urls: Urls,
    /// `[store]`.
    pub store: StoreSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    ca: CaSection,
    policy: BTreeMap<String, Rule>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    online: OnlineSection,
    #[serde(default)]
    urls: Urls,
    #[serde(default)]
    store: StoreSection,
}

impl Config {
    /// A fresh configuration with `policy`.
    pub fn new(policy: Policy, key_type: KeyType) -> Config {
        Config {
            ca: CaSection {
                crl_days: default_crl_days(),
                key_type,
                allow_weak_rsa: false,
                unique_subject: false,
            },
            policy,
            profiles: Profile::builtin(),
            online: OnlineSection::default(),
            urls: Urls::default(),
            store: StoreSection::default(),
        }
    }

    /// Parses `ca.toml` text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let raw: Raw = toml::from_str(text).map_err(|e| Error::Config {
            path: path.into(),
            detail: e.to_string().replace('\n', " ").trim().to_string(),
        })?;
        let policy =
            Policy::from_pairs(raw.policy.iter().map(|(k, r)| (k.as_str(), *r))).map_err(|e| {
                Error::Config {
                    path: path.into(),
                    detail: e.to_string(),
                }
            })?;
        if policy.rule(&crate::name::Attr::CommonName).is_none() {
            return Err(Error::Config {
                path: path.into(),
                detail: "[policy] must list CN (usually CN = \"supplied\")".into(),
            });
        }
        // Built-in profiles stay available unless overridden.
        let mut profiles = Profile::builtin();
        profiles.extend(raw.profiles);
        for (name, p) in &profiles {
            p.validate(name).map_err(|e| Error::Config {
                path: path.into(),
                detail: e.to_string(),
            })?;
        }
        if raw.online.days == 0 {
            return Err(Error::Config {
                path: path.into(),
                detail: "[online] days must be at least 1".into(),
            });
        }
        raw.urls.validate().map_err(|e| Error::Config {
            path: path.into(),
            detail: e.to_string(),
        })?;
        if let Some(url) = &raw.store.url
            && !url.contains("://")
        {
            return Err(Error::Config {
                path: path.into(),
                detail: format!(
                    "[store] url {:?} is not a URL; give postgres://USER@HOST[:PORT]/DATABASE, or leave it unset for ca.db",
                    crate::store::backend::redact(url)
                ),
            });
        }
        Ok(Config {
            ca: raw.ca,
            policy,
            profiles,
            online: raw.online,
            urls: raw.urls,
            store: raw.store,
        })
    }

    /// Reads and parses `ca.toml`.
    pub fn load(path: &Path) -> Result<Config> {
        let data = crate::fsutil::read(path)?;
        let text = String::from_utf8(data).map_err(|_| Error::Config {
            path: path.into(),
            detail: "not UTF-8 text".into(),
        })?;
        Self::parse(&text, path)
    }

    /// The commented TOML text written at `init`.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "# mtls CA configuration. Every `mtls ca` command reads this file; edit it with care.\n\
             # The CA certificate is ca.crt, its private key ca.key (PKCS#8, encrypted, mode 0600),\n\
             # the record of issued and revoked certificates ca.db (SQLite; use `mtls ca list`).\n\n\
             [ca]\n\
             # Days each CRL made by `mtls ca crl` stays valid (its nextUpdate). Every `mtls ca`\n\
             # command warns when the current CRL is past 75% of that time.\n",
        );
        s.push_str(&format!("crl_days = {}\n", self.ca.crl_days));
        s.push_str(
            "# Key type `mtls ca issue` generates: ec-p256, ec-p384, ed25519, rsa2048, rsa3072, rsa4096.\n",
        );
        s.push_str(&format!("key_type = \"{}\"\n", self.ca.key_type));
        s.push_str(
            "# Accept requests with RSA keys under 2048 bits. Leave false unless migrating old devices.\n",
        );
        s.push_str(&format!("allow_weak_rsa = {}\n", self.ca.allow_weak_rsa));
        s.push_str(
            "# Refuse to issue a certificate whose subject a valid (unrevoked, unexpired) one already\n\
             # has, naming its serial: openssl's unique_subject = yes. Renewing then means revoking first.\n",
        );
        s.push_str(&format!("unique_subject = {}\n\n", self.ca.unique_subject));
        s.push_str(
            "# Subject policy, as openssl's policy section: \"match\" = must equal the CA's value\n\
             # (values are compared as text, whatever their ASN.1 string type), \"supplied\" = must be\n\
             # present, \"optional\" = may be present. Fields not listed are dropped, and mtls says so.\n\
             # Field names: C ST L street O OU CN emailAddress serialNumber DC title GN SN UID.\n\
             [policy]\n",
        );
        for (a, r) in &self.policy.fields {
            s.push_str(&format!("{} = \"{}\"\n", toml_key(&a.short()), r));
        }
        s.push_str(
            "\n# The online CA (`mtls ca serve`): days each certificate issued through enrollment\n\
             # stays valid, whatever its profile says. Keep it short; `mtls renew --daemon` renews.\n\
             [online]\n",
        );
        s.push_str(&format!("days = {}\n", self.online.days));
        s.push_str("# The same as a duration, for lives under a day (takes precedence): validity = \"15m\"\n");
        if let Some(l) = self.online.validity {
            s.push_str(&format!("validity = \"{l}\"\n"));
        }
        s.push_str(
            "# The life of each CRL `mtls ca serve` makes, e.g. crl_lifetime = \"1h\" (default: crl_days).\n\
             # It renews the CRL at 2/3 of that life and after every revocation.\n",
        );
        if let Some(l) = &self.online.crl_lifetime {
            s.push_str(&format!("crl_lifetime = \"{l}\"\n"));
        }
        s.push_str(
            "# OCSP answers are signed by the CA key; true: by a responder certificate (profile ocsp,\n\
             # a day's life) that `mtls ca serve` issues itself and renews.\n",
        );
        s.push_str(&format!(
            "ocsp_delegated = {}\n",
            self.online.ocsp_delegated
        ));
        s.push_str("# How long each OCSP answer is good for (its nextUpdate), e.g. ocsp_validity = \"1h\" (the default).\n");
        if let Some(l) = &self.online.ocsp_validity {
            s.push_str(&format!("ocsp_validity = \"{l}\"\n"));
        }
        s.push_str(
            "\n# Where relying parties find the CRL, the OCSP responder and this CA's certificate (DER):\n\
             # put into every certificate issued, as cRLDistributionPoints and authorityInfoAccess.\n\
             # Each is one URL or a list. `mtls ca serve --http-listen` fills the unset ones in.\n\
             # crl = \"http://ca.example:9080/crl\"\n\
             # ocsp = \"http://ca.example:9080/ocsp\"\n\
             # ca_issuers = \"http://ca.example:9080/ca.crt\"\n\
             [urls]\n",
        );
        for (k, list) in [
            ("crl", &self.urls.crl),
            ("ocsp", &self.urls.ocsp),
            ("ca_issuers", &self.urls.ca_issuers),
        ] {
            if !list.is_empty() {
                s.push_str(&format!("{k} = {}\n", toml_list(list)));
            }
        }
        s.push_str(
            "\n# Where the CA's records live. Unset: ca.db (SQLite) in this directory. A URL such as\n\
             # url = \"postgres://mtls@db.example/ca\" keeps them in PostgreSQL, shared by several\n\
             # `mtls ca serve` instances (the password from PGPASSFILE or PGPASSWORD, not from here).\n\
             [store]\n",
        );
        if let Some(u) = &self.store.url {
            s.push_str(&format!("url = {}\n", toml_string(u)));
        }
        s.push_str(
            "\n# Profiles: the extensions and default validity of each kind of certificate (days = N,\n\
             # or validity = \"15m\" / \"24h\" for lives under a day), chosen with --profile.\n\
             # Leaves also get basicConstraints CA:FALSE, subjectKeyIdentifier\n\
             # and authorityKeyIdentifier. require_san: refuse to issue without a subjectAltName\n\
             # (a hostname-like CN is copied into one). san_allow: the subjectAltNames the profile\n\
             # may certify, e.g. san_allow = [\"DNS:*.internal.example\", \"IP:10.0.0.0/8\"] (names of\n\
             # other types, or outside the patterns, are dropped from requests and refused on the\n\
             # command line); without it any valid name. Add your own [profiles.NAME] tables.\n",
        );
        for (name, p) in &self.profiles {
            s.push_str(&format!("[profiles.{}]\n", toml_key(name)));
            match (p.days, p.validity) {
                (_, Some(v)) => s.push_str(&format!("validity = \"{v}\"\n")),
                (Some(d), None) => s.push_str(&format!("days = {d}\n")),
                (None, None) => {}
            }
            s.push_str(&format!("key_usage = {}\n", toml_list(&p.key_usage)));
            s.push_str(&format!(
                "extended_key_usage = {}\n",
                toml_list(&p.extended_key_usage)
            ));
            s.push_str(&format!("ca = {}\n", p.ca));
            if let Some(n) = p.path_len {
                s.push_str(&format!("path_len = {n}\n"));
            }
            s.push_str(&format!("require_san = {}\n", p.require_san));
            if !p.san_allow.is_empty() {
                s.push_str(&format!("san_allow = {}\n", toml_list(&p.san_allow)));
            }
            if p.ocsp_nocheck {
                s.push_str("ocsp_nocheck = true\n");
            }
            if p.must_staple {
                s.push_str("must_staple = true\n");
            }
            s.push('\n');
        }
        s
    }
}

fn toml_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.into()
    } else {
        format!("\"{k}\"")
    }
}

/// A TOML basic string (quotes, backslashes and control characters escaped).
fn toml_string(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn toml_list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_config_parses_back() {
        let c = Config::new(Policy::matching(), KeyType::EcP384);
        let text = c.to_toml();
        let back = Config::parse(&text, Path::new("ca.toml")).unwrap();
        assert_eq!(back.policy, c.policy);
        assert_eq!(back.profiles, c.profiles);
        assert_eq!(back.ca, c.ca);
    }

    #[test]
    fn bad_config_names_the_problem() {
        let e = Config::parse("[ca]\n[policy]\nCN = \"sometimes\"\n", Path::new("ca.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ca.toml"), "{e}");
        let e = Config::parse("[ca]\n[policy]\nO = \"match\"\n", Path::new("ca.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CN"), "{e}");
    }
}
