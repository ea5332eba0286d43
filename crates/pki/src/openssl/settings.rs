//! The `openssl ca` settings an import carries over into `ca.toml`, and the ones it cannot.

use super::cnf::Cnf;
use crate::config::Config;
use crate::error::{Error, Result};

/// The leaf profiles `default_days` sets: what `openssl ca` without `-days` would have issued.
const LEAF_PROFILES: [&str; 3] = ["server", "client", "server-client"];

/// The longest validity an imported setting may ask for: 100 years, as the CLI's `--days`.
const MAX_DAYS: u32 = 36_500;

/// Settings read from the default CA section and `index.txt.attr`.
#[derive(Debug, Default)]
pub(super) struct Settings {
    /// `unique_subject`, and where it came from.
    pub unique_subject: (bool, &'static str),
    /// The `x509_extensions` section: its name and its lines, kept for export.
    pub usr_cert: Option<(String, String)>,
}

/// What the import says about each setting: carried over, or not and why.
pub(super) struct Said<'a> {
    /// Settings carried over.
    pub mapped: &'a mut Vec<String>,
    /// Settings not carried over, and why.
    pub not_mapped: &'a mut Vec<String>,
}

/// Applies the CA section's settings to `config`, saying in `said` what it did.
pub(super) fn apply(
    cnf: Option<&Cnf>,
    attr: Option<&str>,
    config: &mut Config,
    mut said: Said<'_>,
) -> Result<Settings> {
    let section = cnf.map(|c| c.default_ca()).unwrap_or_default();
    let get = |k: &str| cnf.and_then(|c| c.get(&section, k));
    let mut out = Settings {
        unique_subject: unique_subject(attr, get("unique_subject")),
        usr_cert: None,
    };
    config.ca.unique_subject = out.unique_subject.0;
    said.mapped.push(format!(
        "unique_subject = {} (from {}) -> unique_subject = {}",
        if out.unique_subject.0 { "yes" } else { "no" },
        out.unique_subject.1,
        out.unique_subject.0
    ));
    let Some(cnf) = cnf else {
        return Ok(out);
    };
    if let Some(v) = get("default_days") {
        let days = number(v, "default_days", &section)?.max(1);
        for name in LEAF_PROFILES {
            if let Some(p) = config.profiles.get_mut(name) {
                p.set_lifetime(crate::time::Lifetime::days(days));
            }
        }
        said.mapped.push(format!(
            "default_days = {days} -> days = {days} for the profiles {}",
            LEAF_PROFILES.join(", ")
        ));
    }
    crl_days(
        get("default_crl_days"),
        get("default_crl_hours"),
        &section,
        config,
        &mut said,
    )?;
    if let Some(name) = get("x509_extensions") {
        out.usr_cert = usr_cert(cnf, name, &mut said);
        if let Some(lines) = cnf.section(name) {
            urls(lines, name, config, &mut said);
        }
    }
    not_carried(&get, said.not_mapped);
    Ok(out)
}

/// openssl's rule: `index.txt.attr` wins over the config, and the default is yes.
fn unique_subject(attr: Option<&str>, cnf: Option<&str>) -> (bool, &'static str) {
    match (attr.and_then(|t| attr_value(t, "unique_subject")), cnf) {
        (Some(v), _) => (yes(&v), "index.txt.attr"),
        (None, Some(v)) => (yes(v), "openssl.cnf"),
        (None, None) => (
            true,
            "openssl's default (neither index.txt.attr nor openssl.cnf sets it)",
        ),
    }
}

/// The `x509_extensions` section, as openssl.cnf text, kept for export.
fn usr_cert(cnf: &Cnf, name: &str, said: &mut Said<'_>) -> Option<(String, String)> {
    let Some(lines) = cnf.section(name) else {
        said.not_mapped.push(format!(
            "x509_extensions = {name}: the section [{name}] is missing; not kept"
        ));
        return None;
    };
    let text: String = lines
        .iter()
        .map(|(k, v)| format!("{k} = {}\n", super::cnf::quote(v)))
        .collect();
    said.mapped.push(format!(
        "x509_extensions = {name}: kept for `export-openssl` (mtls issues with its own profiles)"
    ));
    Some((name.to_string(), text))
}

/// The section's CRL distribution points and authorityInfoAccess, as `[urls]`: mtls puts them
/// into every certificate it issues, as the section did.
fn urls(lines: &[(String, String)], section: &str, config: &mut Config, said: &mut Said<'_>) {
    let (urls, skipped) = super::urls::from_section(lines);
    for s in skipped {
        said.not_mapped.push(format!(
            "[{section}] {s}: [urls] takes URI: entries only; not carried over"
        ));
    }
    if urls.is_empty() {
        return;
    }
    match urls.validate() {
        Ok(()) => {
            said.mapped.push(format!(
                "[{section}] crlDistributionPoints/authorityInfoAccess -> [urls] {}",
                super::urls::to_section(&urls).trim().replace('\n', "; ")
            ));
            config.urls = urls;
        }
        Err(e) => said
            .not_mapped
            .push(format!("[{section}] {e}; [urls] left empty")),
    }
}

/// Settings mtls has no equivalent for, unless they hold openssl's default.
fn not_carried<'c>(get: &dyn Fn(&str) -> Option<&'c str>, not_mapped: &mut Vec<String>) {
    if let Some(md) = get("default_md") {
        if !matches!(md.to_ascii_lowercase().as_str(), "sha256" | "default") {
            not_mapped.push(format!(
                "default_md = {md}: mtls signs with the digest of its key type (SHA-256; SHA-384 for P-384)"
            ));
        }
    }
    // (key, openssl's default value, which needs no note, and what mtls does instead)
    for (key, default, instead) in [
        (
            "copy_extensions",
            Some("none"),
            "mtls never copies request extensions; a request's subjectAltNames are kept only where the profile's san_allow allows them",
        ),
        (
            "crl_extensions",
            None,
            "mtls writes its own CRL extensions (authorityKeyIdentifier, cRLNumber)",
        ),
        (
            "default_startdate",
            None,
            "mtls starts validity at issuance",
        ),
        (
            "default_enddate",
            None,
            "mtls ends validity after the profile's days",
        ),
        (
            "email_in_dn",
            Some("yes"),
            "mtls keeps emailAddress in the subject when the policy lists it",
        ),
        (
            "preserve",
            Some("no"),
            "mtls orders the subject as the policy lists its fields (openssl's preserve = no)",
        ),
    ] {
        if let Some(v) = get(key) {
            if !default.is_some_and(|d| v.eq_ignore_ascii_case(d)) {
                not_mapped.push(format!("{key} = {v}: {instead}"));
            }
        }
    }
}

/// `default_crl_days` and `default_crl_hours` add up in openssl; mtls counts whole days.
fn crl_days(
    days: Option<&str>,
    hours: Option<&str>,
    section: &str,
    config: &mut Config,
    said: &mut Said<'_>,
) -> Result<()> {
    if days.is_none() && hours.is_none() {
        return Ok(());
    }
    let d = days
        .map(|v| number(v, "default_crl_days", section))
        .transpose()?
        .unwrap_or(0);
    let h = hours
        .map(|v| number(v, "default_crl_hours", section))
        .transpose()?
        .unwrap_or(0);
    let total = u64::from(d) * 24 + u64::from(h);
    let whole = u32::try_from(total.div_ceil(24)).unwrap_or(u32::MAX).max(1);
    config.ca.crl_days = whole;
    if total % 24 == 0 && total > 0 {
        said.mapped
            .push(format!("default_crl_days = {d} -> crl_days = {whole}"));
    } else {
        said.not_mapped.push(format!(
            "default_crl_days = {d}, default_crl_hours = {h}: mtls counts whole days; crl_days = {whole}"
        ));
    }
    Ok(())
}

fn number(v: &str, key: &str, section: &str) -> Result<u32> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|&n| n <= MAX_DAYS)
        .ok_or_else(|| {
            Error::invalid(
                format!("[{section}] {key}"),
                format!("{v:?} is not a number of days from 0 to {}", MAX_DAYS),
            )
        })
}

/// openssl's `parse_yes_or_no`: y/Y/t/T/1 and "on" are yes.
fn yes(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    matches!(v.chars().next(), Some('y' | 't' | '1')) || v == "on"
}

/// A `key = value` of `index.txt.attr`.
fn attr_value(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}
