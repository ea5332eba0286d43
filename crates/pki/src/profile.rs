//! Certificate profiles: the extensions each kind of certificate gets.
//!
//! Profiles are data (`[profiles.NAME]` in `ca.toml`), with four built in: `server`, `client`,
//! `server-client` and `intermediate`. Leaves get `CA:FALSE`, SKI and AKI like openssl's
//! `usr_cert`; intermediates `CA:TRUE, pathlen:0`.

use std::collections::BTreeMap;

use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::Lifetime;

/// The built-in profile of the online CA's administrators (`mtls ca serve`).
pub const ADMIN: &str = "admin";

/// The built-in profile of the online CA's delegated OCSP responder.
pub const OCSP: &str = "ocsp";

/// One profile's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Default validity in whole days (`days = 397`); or give `validity` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Default validity as a duration (`validity = "15m"`, `"24h"`, `"30d"`), for lives
    /// shorter than a day; instead of `days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<Lifetime>,
    /// keyUsage bits (RFC 5280 names: digitalSignature, keyEncipherment, keyCertSign, cRLSign …).
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes: serverAuth, clientAuth, codeSigning, emailProtection,
    /// timeStamping, OCSPSigning.
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    /// True for a CA certificate (basicConstraints CA:TRUE).
    #[serde(default)]
    pub ca: bool,
    /// pathLenConstraint for a CA profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_len: Option<u8>,
    /// Refuse to issue without a subjectAltName (a hostname-like CN is copied into one).
    #[serde(default)]
    pub require_san: bool,
    /// The subjectAltNames this profile may certify (see [`crate::san_policy`]); empty: any
    /// valid name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub san_allow: Vec<String>,
    /// Adds id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1): clients need not check the revocation
    /// of this certificate, an OCSP responder's (built-in profile `ocsp`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ocsp_nocheck: bool,
    /// Adds the TLS Feature status_request ("must-staple", RFC 7633): clients that honour it
    /// refuse a server that staples no OCSP response (`mtls serve --ocsp-staple auto`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub must_staple: bool,
}

impl Profile {
    fn leaf(days: u32, eku: &[&str], require_san: bool) -> Profile {
        Profile {
            days: Some(days),
            validity: None,
            key_usage: vec!["digitalSignature".into()],
            extended_key_usage: eku.iter().map(|s| s.to_string()).collect(),
            ca: false,
            path_len: None,
            require_san,
            san_allow: Vec::new(),
            ocsp_nocheck: false,
            must_staple: false,
        }
    }

    /// The built-in profiles.
    pub fn builtin() -> BTreeMap<String, Profile> {
        let mut m = BTreeMap::new();
        m.insert("server".into(), Profile::leaf(397, &["serverAuth"], true));
        m.insert("client".into(), Profile::leaf(397, &["clientAuth"], false));
        m.insert(
            "server-client".into(),
            Profile::leaf(397, &["serverAuth", "clientAuth"], true),
        );
        // The online CA's administrators: a client certificate whose store record has this
        // profile (not the certificate's contents) grants the admin role.
        m.insert(ADMIN.into(), Profile::leaf(90, &["clientAuth"], false));
        // The online CA's delegated OCSP responder: a day's life, renewed by the server.
        let mut ocsp = Profile::leaf(1, &["OCSPSigning"], false);
        ocsp.ocsp_nocheck = true;
        m.insert(OCSP.into(), ocsp);
        m.insert(
            "intermediate".into(),
            Profile {
                days: Some(1825),
                validity: None,
                key_usage: vec![
                    "digitalSignature".into(),
                    "keyCertSign".into(),
                    "cRLSign".into(),
                ],
                extended_key_usage: vec![],
                ca: true,
                path_len: Some(0),
                require_san: false,
                san_allow: Vec::new(),
                ocsp_nocheck: false,
                must_staple: false,
            },
        );
        m
    }

    /// The root CA's own extensions.
    pub fn root(days: u32) -> Profile {
        Profile {
            days: Some(days),
            validity: None,
            key_usage: vec!["keyCertSign".into(), "cRLSign".into()],
            extended_key_usage: vec![],
            ca: true,
            path_len: None,
            require_san: false,
            san_allow: Vec::new(),
            ocsp_nocheck: false,
            must_staple: false,
        }
    }

    /// Checks that every name in the profile is known; `name` labels errors.
    pub fn validate(&self, name: &str) -> Result<()> {
        for ku in &self.key_usage {
            key_usage(ku, name)?;
        }
        for eku in &self.extended_key_usage {
            ext_key_usage(eku, name)?;
        }
        match (self.days, self.validity) {
            (Some(0), _) => {
                return Err(Error::invalid(
                    format!("profile {name}"),
                    "days must be at least 1",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    format!("profile {name}"),
                    "give days or validity, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid(
                    format!("profile {name}"),
                    "give its default validity: days = 397, or validity = \"15m\"",
                ));
            }
            _ => {}
        }
        crate::san_policy::parse_list(&self.san_allow, name)?;
        if !self.ca && self.path_len.is_some() {
            return Err(Error::invalid(
                format!("profile {name}"),
                "path_len is only meaningful with ca = true",
            ));
        }
        Ok(())
    }

    /// Its default validity (`validity`, else `days`; one day if neither was given, which
    /// [`validate`](Self::validate) refuses).
    pub fn lifetime(&self) -> Lifetime {
        self.validity
            .unwrap_or_else(|| Lifetime::days(self.days.unwrap_or(1)))
    }

    /// Sets its default validity, in the form that reads best in `ca.toml`.
    pub fn set_lifetime(&mut self, life: Lifetime) {
        if life.secs() % 86_400 == 0 {
            self.days = u32::try_from(life.secs() / 86_400).ok();
        } else {
            self.days = None;
        }
        self.validity = if self.days.is_some() {
            None
        } else {
            Some(life)
        };
    }

    /// Sets the profile's extensions on `params` (SKI always, AKI always).
    pub fn apply(&self, params: &mut CertificateParams, name: &str) -> Result<()> {
        params.is_ca = if self.ca {
            IsCa::Ca(match self.path_len {
                Some(n) => BasicConstraints::Constrained(n),
                None => BasicConstraints::Unconstrained,
            })
        } else {
            IsCa::ExplicitNoCa
        };
        params.key_usages = self
            .key_usage
            .iter()
            .map(|k| key_usage(k, name))
            .collect::<Result<_>>()?;
        params.extended_key_usages = self
            .extended_key_usage
            .iter()
            .map(|k| ext_key_usage(k, name))
            .collect::<Result<_>>()?;
        params.use_authority_key_identifier_extension = true;
        if self.ocsp_nocheck {
            // id-pkix-ocsp-nocheck (1.3.6.1.5.5.7.48.1.5), value NULL.
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5],
                    vec![0x05, 0x00],
                ));
        }
        if self.must_staple {
            // id-pe-tlsfeature (1.3.6.1.5.5.7.1.24): SEQUENCE { INTEGER 5 (status_request) },
            // not critical (RFC 7633 4.2.1).
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 24],
                    vec![0x30, 0x03, 0x02, 0x01, 0x05],
                ));
        }
        Ok(())
    }
}

fn key_usage(s: &str, profile: &str) -> Result<KeyUsagePurpose> {
    Ok(match s {
        "digitalSignature" => KeyUsagePurpose::DigitalSignature,
        "nonRepudiation" | "contentCommitment" => KeyUsagePurpose::ContentCommitment,
        "keyEncipherment" => KeyUsagePurpose::KeyEncipherment,
        "dataEncipherment" => KeyUsagePurpose::DataEncipherment,
        "keyAgreement" => KeyUsagePurpose::KeyAgreement,
        "keyCertSign" => KeyUsagePurpose::KeyCertSign,
        "cRLSign" => KeyUsagePurpose::CrlSign,
        "encipherOnly" => KeyUsagePurpose::EncipherOnly,
        "decipherOnly" => KeyUsagePurpose::DecipherOnly,
        other => {
            return Err(Error::invalid(
                format!("profile {profile}"),
                format!(
                    "unknown key_usage {other:?}; use digitalSignature, keyEncipherment, keyAgreement, keyCertSign, cRLSign …"
                ),
            ));
        }
    })
}

fn ext_key_usage(s: &str, profile: &str) -> Result<ExtendedKeyUsagePurpose> {
    Ok(match s {
        "serverAuth" => ExtendedKeyUsagePurpose::ServerAuth,
        "clientAuth" => ExtendedKeyUsagePurpose::ClientAuth,
        "codeSigning" => ExtendedKeyUsagePurpose::CodeSigning,
        "emailProtection" => ExtendedKeyUsagePurpose::EmailProtection,
        "timeStamping" => ExtendedKeyUsagePurpose::TimeStamping,
        "OCSPSigning" => ExtendedKeyUsagePurpose::OcspSigning,
        other => {
            return Err(Error::invalid(
                format!("profile {profile}"),
                format!(
                    "unknown extended_key_usage {other:?}; use serverAuth, clientAuth, codeSigning, emailProtection, timeStamping or OCSPSigning"
                ),
            ));
        }
    })
}
