//! `openssl ca` directory -> mtls CA directory.

use std::path::Path;

use x509_parser::prelude::{FromDer, X509Certificate};

use super::{ImportReport, Layout, USR_CERT_FILE, cnf, crls, index, resolve, settings};
use crate::ca::{CertificateAuthority, files};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::name::Name;
use crate::policy::Policy;
use crate::san::San;
use crate::serial::Serial;
use crate::store::{CertRecord, CrlState, Reason};
use crate::{fsutil, pemutil};

/// Imports the openssl CA in `src` into a new mtls CA directory `dest`. The CA key is decrypted
/// with `passphrase` and re-encrypted with it as PKCS#8 PBES2 (unencrypted only if it was).
/// Everything is read and checked before anything is written.
///
/// # Errors
///
/// Any index line openssl would not write (naming the line), a certificate file that does not
/// match its index line, a CRL of this CA whose signature fails, an unreadable `crl` file when
/// `crlnumber` is missing, or a policy section that is missing (after `.include`s).
pub fn import(
    src: &Path,
    config: Option<&Path>,
    dest: &Path,
    passphrase: Option<&[u8]>,
) -> Result<(CertificateAuthority, ImportReport)> {
    if !src.is_dir() {
        return Err(Error::io(
            src,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    if CertificateAuthority::exists(dest) {
        return Err(Error::CaExists { dir: dest.into() });
    }
    let mut report = ImportReport::default();
    let cnf = config.map(cnf::Cnf::load).transpose()?;
    if let Some(c) = &cnf {
        report.notes.extend(c.notes().iter().cloned());
    }
    let layout = layout(src, cnf.as_ref());

    let cert_der = read_ca_cert(&layout.cert)?;
    let key_data = zeroize::Zeroizing::new(fsutil::read(&layout.key)?);
    let key_was_encrypted = PrivateKey::is_encrypted(&key_data);
    let key = PrivateKey::from_bytes(&key_data, passphrase, &layout.key.display().to_string())?;
    if !key_was_encrypted {
        report
            .notes
            .push("the openssl CA key was unencrypted; ca.key is written unencrypted too".into());
    }

    let policy = read_policy(cnf.as_ref(), config, &mut report)?;
    let mut config_out = Config::new(policy, key.key_type());
    config_out.ca.allow_weak_rsa = false;
    let attr_path = attr_path(&layout.index);
    let attr = match attr_path.exists() {
        true => Some(String::from_utf8_lossy(&fsutil::read(&attr_path)?).into_owned()),
        false => None,
    };
    let said = settings::Said {
        mapped: &mut report.mapped,
        not_mapped: &mut report.not_mapped,
    };
    let settings = settings::apply(cnf.as_ref(), attr.as_deref(), &mut config_out, said)?;

    let records = read_records(&layout, &mut report)?;
    let last_crl = crl_numbering(&layout, &cert_der, &mut report)?;

    let chain_pem = pemutil::encode("CERTIFICATE", &cert_der);
    let pass = if key_was_encrypted { passphrase } else { None };
    let mut ca = CertificateAuthority::create(dest, key, cert_der, chain_pem, config_out, pass)?;
    for chunk in records.chunks(10_000) {
        ca.record(chunk)?;
    }
    ca.store().set_min_crl_number(report.next_crl_number - 1)?;
    if let Some(found) = last_crl {
        if let Some(state) = report.last_crl {
            ca.store().set_crl_state(state)?;
        }
        let pem = pemutil::encode("X509 CRL", &found.der);
        let crl = dest.join(files::CRL);
        fsutil::write_atomic(&crl, pem.as_bytes(), fsutil::Mode::Public, true)?;
    }
    if let Some((_, text)) = settings.usr_cert {
        let usr_cert = dest.join(USR_CERT_FILE);
        fsutil::write_atomic(&usr_cert, text.as_bytes(), fsutil::Mode::Public, true)?;
    }
    Ok((ca, report))
}

/// The config's policy section, or openssl's stock `policy_match` rules without a config.
fn read_policy(
    cnf: Option<&cnf::Cnf>,
    path: Option<&Path>,
    report: &mut ImportReport,
) -> Result<Policy> {
    let Some(c) = cnf else {
        return Ok(Policy::matching());
    };
    match c.policy(&path.map(|p| p.display().to_string()).unwrap_or_default())? {
        Some(p) => {
            report
                .mapped
                .push(format!("policy = {} -> [policy]", policy_name(c)));
            Ok(p)
        }
        None => Ok(Policy::matching()),
    }
}

fn layout(src: &Path, cnf: Option<&cnf::Cnf>) -> Layout {
    let section = cnf.map(|c| c.default_ca()).unwrap_or_default();
    let get = |k: &str| cnf.and_then(|c| c.get(&section, k));
    Layout {
        cert: resolve(src, get("certificate"), "cacert.pem"),
        key: resolve(src, get("private_key"), "private/cakey.pem"),
        index: resolve(src, get("database"), "index.txt"),
        crlnumber: resolve(src, get("crlnumber"), "crlnumber"),
        newcerts: resolve(src, get("new_certs_dir"), "newcerts"),
        crl: resolve(src, get("crl"), "crl.pem"),
        crl_dir: resolve(src, get("crl_dir"), "crl"),
    }
}

fn policy_name(c: &cnf::Cnf) -> String {
    c.get(&c.default_ca(), "policy").unwrap_or("?").to_string()
}

/// openssl keeps the database attributes next to it: `index.txt.attr`.
fn attr_path(index: &Path) -> std::path::PathBuf {
    let mut s = index.as_os_str().to_owned();
    s.push(".attr");
    s.into()
}

fn read_ca_cert(path: &Path) -> Result<Vec<u8>> {
    let what = path.display().to_string();
    pemutil::blocks(&fsutil::read(path)?, &what, "certificate")?
        .iter()
        .find(|b| b.label.is_empty() || b.label == "CERTIFICATE")
        .map(|b| b.der.to_vec())
        .ok_or_else(|| Error::decode(&what, "certificate", "no CERTIFICATE block"))
}

/// Every index line as a record, with its certificate from `newcerts/` where there is one.
fn read_records(layout: &Layout, report: &mut ImportReport) -> Result<Vec<CertRecord>> {
    let index_what = layout.index.display().to_string();
    let index_text = String::from_utf8_lossy(&fsutil::read(&layout.index)?).into_owned();
    let entries = index::parse_index(&index_text, &index_what)?;
    let now = crate::time::now().unix_timestamp();
    let mut records = Vec::with_capacity(entries.len());
    for e in entries {
        let rev = e.revoked.clone();
        let mut rec = CertRecord {
            serial: e.serial.clone(),
            cn: Name::parse(&e.subject)
                .ok()
                .and_then(|n| n.common_name().map(str::to_owned)),
            subject: e.subject.clone(),
            sans: Vec::new(),
            profile: "imported".into(),
            not_before: None,
            not_after: e.expires,
            revoked_at: rev.as_ref().map(|r| r.at),
            reason: rev.as_ref().map(|r| r.reason),
            invalidity_date: rev.as_ref().and_then(|r| r.invalidity_date),
            hold_instruction: rev.and_then(|r| r.hold_instruction),
            der: Vec::new(),
        };
        let file = layout.newcerts.join(format!("{}.pem", e.serial.hex()));
        if file.exists() && add_certificate(&mut rec, &file)? {
            report.with_certificate += 1;
        }
        match e.status {
            'R' => {
                report.revoked += 1;
                if rec.reason == Some(Reason::RemoveFromCrl) {
                    report.removed_from_crl += 1;
                }
            }
            'E' => report.expired += 1,
            _ if e.expires < now => report.expired += 1,
            _ => report.valid += 1,
        }
        records.push(rec);
    }
    if records.len() > report.with_certificate {
        report.notes.push(format!(
            "{} record(s) have no certificate file in {}; they are kept from index.txt alone (no notBefore, no subjectAltNames)",
            records.len() - report.with_certificate,
            layout.newcerts.display()
        ));
    }
    Ok(records)
}

/// Fills `rec` from the certificate file: its DER, notBefore, subjectAltNames and subject (the
/// file's subject is exact; the index holds openssl's escaped one-line form). False when the
/// file holds no certificate.
fn add_certificate(rec: &mut CertRecord, file: &Path) -> Result<bool> {
    let what = file.display().to_string();
    let blocks = pemutil::blocks(&fsutil::read(file)?, &what, "certificate")?;
    let Some(b) = blocks
        .iter()
        .find(|b| b.label.is_empty() || b.label == "CERTIFICATE")
    else {
        return Ok(false);
    };
    let (_, c) = X509Certificate::from_der(&b.der)
        .map_err(|err| Error::decode(&what, "certificate", err))?;
    let serial = Serial::from_bytes(c.raw_serial());
    if serial != rec.serial {
        return Err(Error::invalid(
            &what,
            format!("holds serial {serial}, not {}", rec.serial),
        ));
    }
    rec.not_before = Some(c.validity().not_before.timestamp());
    if let Ok(name) = Name::from_x509(c.subject(), &what) {
        rec.cn = name.common_name().map(str::to_owned).or(rec.cn.take());
        rec.subject = name.to_string();
    }
    if let Ok(Some(san)) = c.subject_alternative_name() {
        rec.sans = san
            .value
            .general_names
            .iter()
            .filter_map(|g| San::from_general_name(g, &what).ok())
            .map(|s| s.to_string())
            .collect();
    }
    rec.der = b.der.to_vec();
    Ok(true)
}

/// Sets the next CRL number from `crlnumber` and the CRLs found, and `report.last_crl` from the
/// highest-numbered CRL. Returns that CRL, to be installed as `crl.pem`.
fn crl_numbering(
    layout: &Layout,
    cert_der: &[u8],
    report: &mut ImportReport,
) -> Result<Option<crls::Found>> {
    let found = crls::find(&layout.crl, &layout.crl_dir, cert_der, &mut report.notes)?;
    let from_file = if layout.crlnumber.exists() {
        let what = layout.crlnumber.display().to_string();
        let n = index::parse_hex_number(
            &String::from_utf8_lossy(&fsutil::read(&layout.crlnumber)?),
            &what,
        )?;
        Some(
            crls::biguint_to_u64(n.as_bytes())
                .ok_or_else(|| Error::decode(&what, "CRL number", "too large"))?,
        )
    } else {
        None
    };
    if from_file.is_none() {
        if let Some(f) = found.iter().find(|f| f.number.is_none()) {
            return Err(Error::invalid(
                f.path.display().to_string(),
                format!(
                    "{} is missing, and this CRL of the CA has no cRLNumber to continue from; write the next CRL number (hex) into {}",
                    layout.crlnumber.display(),
                    layout.crlnumber.display()
                ),
            ));
        }
    }
    let last = found
        .iter()
        .filter(|f| f.number.is_some())
        .max_by_key(|f| f.number)
        .cloned();
    let highest = last.as_ref().and_then(|f| f.number);
    report.next_crl_number = match (from_file, highest) {
        (Some(n), Some(h)) if h >= n => {
            report.notes.push(format!(
                "{} says the next CRL is number {n}, but {} is number {h} already; continuing at {}",
                layout.crlnumber.display(),
                last.as_ref().map(|f| f.path.display().to_string()).unwrap_or_default(),
                h + 1
            ));
            h + 1
        }
        (Some(n), _) => n,
        (None, Some(h)) => {
            report.notes.push(format!(
                "{} is missing; CRL numbering continues after {} (number {h})",
                layout.crlnumber.display(),
                last.as_ref().map(|f| f.path.display().to_string()).unwrap_or_default()
            ));
            h + 1
        }
        (None, None) => {
            report.notes.push(format!(
                "no {} and no CRL at {} or in {}: openssl never issued a CRL here; numbering starts at 1",
                layout.crlnumber.display(),
                layout.crl.display(),
                layout.crl_dir.display()
            ));
            1
        }
    }
    .max(1);
    report.last_crl = last.as_ref().and_then(|f| {
        Some(CrlState {
            number: f.number?,
            this_update: f.this_update,
            next_update: f.next_update,
        })
    });
    Ok(last)
}
