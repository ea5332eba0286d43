//! Taking over an `openssl ca` directory, and writing one back.
//!
//! Import reads `cacert.pem`, `private/cakey.pem` (PKCS#8 or legacy `Proc-Type` encrypted),
//! `index.txt`, `serial`, `crlnumber`, `newcerts/` and, if given, the policy of `openssl.cnf`.
//! Revoked certificates stay revoked (and in the next CRL); CRL numbering continues.
//! Export writes a directory that `openssl ca -gencrl` (and `openssl ca` signing) accepts.

pub mod cnf;
pub mod index;

use std::io::Write;
use std::path::{Path, PathBuf};

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::ca::{CertificateAuthority, files};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::name::Name;
use crate::policy::Policy;
use crate::san::San;
use crate::serial::Serial;
use crate::store::CertRecord;
use crate::{fsutil, inspect, pemutil};

/// What an import found.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    /// Records imported, by index status.
    pub valid: usize,
    /// Revoked records.
    pub revoked: usize,
    /// Expired records (status E, or V past their expiry).
    pub expired: usize,
    /// Records whose certificate was found in `newcerts/`.
    pub with_certificate: usize,
    /// The CRL number the next `mtls ca crl` will use.
    pub next_crl_number: u64,
    /// Things worth telling the user.
    pub notes: Vec<String>,
}

/// Where the openssl CA's files are.
struct Layout {
    cert: PathBuf,
    key: PathBuf,
    index: PathBuf,
    crlnumber: PathBuf,
    newcerts: PathBuf,
}

fn resolve(src: &Path, configured: Option<&str>, default: &str) -> PathBuf {
    if let Some(v) = configured {
        let p = Path::new(v);
        if p.is_absolute() || p.exists() {
            return p.into();
        }
        // `dir = ./demoCA` style paths are relative to where openssl ran; try inside SRC.
        let joined = src.join(p);
        if joined.exists() {
            return joined;
        }
        let mut comps: Vec<_> = p.components().collect();
        while comps.len() > 1 {
            comps.remove(0);
            let cand = src.join(comps.iter().collect::<PathBuf>());
            if cand.exists() {
                return cand;
            }
        }
    }
    src.join(default)
}

/// Imports the openssl CA in `src` into a new mtls CA directory `dest`. The CA key is decrypted
/// with `passphrase` and re-encrypted with it as PKCS#8 PBES2 (unencrypted only if it was).
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
    let cnf = match config {
        Some(p) => {
            let text = String::from_utf8_lossy(&fsutil::read(p)?).into_owned();
            Some(cnf::Cnf::parse(&text, &p.display().to_string())?)
        }
        None => None,
    };
    let section = cnf.as_ref().map(|c| c.default_ca()).unwrap_or_default();
    let get = |k: &str| cnf.as_ref().and_then(|c| c.get(&section, k));
    let layout = Layout {
        cert: resolve(src, get("certificate"), "cacert.pem"),
        key: resolve(src, get("private_key"), "private/cakey.pem"),
        index: resolve(src, get("database"), "index.txt"),
        crlnumber: resolve(src, get("crlnumber"), "crlnumber"),
        newcerts: resolve(src, get("new_certs_dir"), "newcerts"),
    };

    // The CA certificate and key.
    let cert_what = layout.cert.display().to_string();
    let cert_blocks = pemutil::blocks(&fsutil::read(&layout.cert)?, &cert_what, "certificate")?;
    let cert_der = cert_blocks
        .iter()
        .find(|b| b.label.is_empty() || b.label == "CERTIFICATE")
        .map(|b| b.der.to_vec())
        .ok_or_else(|| Error::decode(&cert_what, "certificate", "no CERTIFICATE block"))?;
    let key_data = zeroize::Zeroizing::new(fsutil::read(&layout.key)?);
    let key_was_encrypted = PrivateKey::is_encrypted(&key_data);
    let key = PrivateKey::from_bytes(&key_data, passphrase, &layout.key.display().to_string())?;
    if !key_was_encrypted {
        report
            .notes
            .push("the openssl CA key was unencrypted; ca.key is written unencrypted too".into());
    }
    let key_type = key.key_type();

    let policy = match &cnf {
        Some(c) => match c.policy(&config.map(|p| p.display().to_string()).unwrap_or_default())? {
            Some(p) => {
                report
                    .notes
                    .push("policy taken from the openssl config".into());
                p
            }
            None => Policy::matching(),
        },
        None => Policy::matching(),
    };
    let mut config_out = Config::new(policy, key_type);
    config_out.ca.allow_weak_rsa = false;

    // The index, read fully before anything is written.
    let index_what = layout.index.display().to_string();
    let index_text = String::from_utf8_lossy(&fsutil::read(&layout.index)?).into_owned();
    let entries = index::parse_index(&index_text, &index_what)?;
    let now = crate::time::now().unix_timestamp();
    let mut records = Vec::with_capacity(entries.len());
    for e in &entries {
        let mut rec = CertRecord {
            serial: e.serial.clone(),
            subject: e.subject.clone(),
            cn: Name::parse(&e.subject)
                .ok()
                .and_then(|n| n.common_name().map(str::to_owned)),
            sans: Vec::new(),
            profile: "imported".into(),
            not_before: 0,
            not_after: e.expires,
            revoked_at: e.revoked.map(|r| r.0),
            reason: e.revoked.map(|r| r.1),
            der: Vec::new(),
        };
        let file = layout.newcerts.join(format!("{}.pem", e.serial.hex()));
        if file.exists() {
            let what = file.display().to_string();
            let blocks = pemutil::blocks(&fsutil::read(&file)?, &what, "certificate")?;
            if let Some(b) = blocks
                .iter()
                .find(|b| b.label.is_empty() || b.label == "CERTIFICATE")
            {
                let (_, c) = X509Certificate::from_der(&b.der)
                    .map_err(|err| Error::decode(&what, "certificate", err))?;
                if Serial::from_bytes(c.raw_serial()) != e.serial {
                    return Err(Error::invalid(
                        &what,
                        format!(
                            "holds serial {}, not {}",
                            Serial::from_bytes(c.raw_serial()),
                            e.serial
                        ),
                    ));
                }
                rec.not_before = c.validity().not_before.timestamp();
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
                report.with_certificate += 1;
            }
        }
        match e.status {
            'R' => report.revoked += 1,
            'E' => report.expired += 1,
            _ if e.expires < now => report.expired += 1,
            _ => report.valid += 1,
        }
        records.push(rec);
    }
    if records.len() > report.with_certificate {
        report.notes.push(format!(
            "{} record(s) have no certificate file in {}; they are kept from index.txt alone",
            records.len() - report.with_certificate,
            layout.newcerts.display()
        ));
    }
    let next_crl = if layout.crlnumber.exists() {
        let what = layout.crlnumber.display().to_string();
        let n = index::parse_hex_number(
            &String::from_utf8_lossy(&fsutil::read(&layout.crlnumber)?),
            &what,
        )?;
        serial_to_u64(&n).ok_or_else(|| Error::decode(&what, "CRL number", "too large"))?
    } else {
        1
    };
    report.next_crl_number = next_crl.max(1);

    let chain_pem = pemutil::encode("CERTIFICATE", &cert_der);
    let pass = if key_was_encrypted { passphrase } else { None };
    let mut ca = CertificateAuthority::create(dest, key, cert_der, chain_pem, config_out, pass)?;
    for chunk in records.chunks(10_000) {
        ca.record(chunk)?;
    }
    ca.store().set_min_crl_number(report.next_crl_number - 1)?;
    Ok((ca, report))
}

fn serial_to_u64(s: &Serial) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// What an export wrote.
#[derive(Debug, Default, Clone)]
pub struct ExportReport {
    /// index.txt lines.
    pub records: usize,
    /// Certificates written to newcerts/.
    pub certificates: usize,
}

/// Writes the CA as an `openssl ca` directory at `dest` (which must not exist or be empty):
/// `openssl.cnf`, `cacert.pem`, `private/cakey.pem` (the same encrypted PKCS#8 key), `index.txt`,
/// `index.txt.attr`, `serial`, `crlnumber` and, unless `index_only`, `newcerts/SERIAL.pem`.
pub fn export(
    ca: &mut CertificateAuthority,
    dest: &Path,
    index_only: bool,
) -> Result<ExportReport> {
    if dest.exists()
        && std::fs::read_dir(dest)
            .map_err(|e| Error::io(dest, e))?
            .next()
            .is_some()
    {
        return Err(Error::io(
            dest,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "is not empty; export into a new directory",
            ),
        ));
    }
    let private = dest.join("private");
    let newcerts = dest.join("newcerts");
    // The CA key leaves only from a key file nobody else can read, into a 0700 directory.
    crate::ca::check_key_mode(&ca.dir().join(files::KEY))?;
    for d in [dest, &private, &newcerts] {
        fsutil::create_private_dir(d)?;
    }
    let key = zeroize::Zeroizing::new(fsutil::read(&ca.dir().join(files::KEY))?);
    fsutil::write_atomic(
        &private.join("cakey.pem"),
        &key,
        fsutil::Mode::Secret,
        false,
    )?;
    let cert_pem = pemutil::encode("CERTIFICATE", ca.cert_der());
    fsutil::write_atomic(
        &dest.join("cacert.pem"),
        cert_pem.as_bytes(),
        fsutil::Mode::Public,
        false,
    )?;

    let index_path = dest.join("index.txt");
    let tmp = dest.join(".index.txt.tmp");
    let _ = std::fs::remove_file(&tmp);
    let file = fsutil::create_file(&tmp, fsutil::Mode::Public)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut report = ExportReport::default();
    let now = crate::time::now().unix_timestamp();
    ca.store().for_each(&mut |r: CertRecord| {
        let status = if r.revoked_at.is_some() {
            'R'
        } else if r.not_after < now {
            'E'
        } else {
            'V'
        };
        let e = index::IndexEntry {
            status,
            expires: r.not_after,
            revoked: r
                .revoked_at
                .map(|at| (at, r.reason.unwrap_or(crate::store::Reason::Unspecified))),
            serial: r.serial.clone(),
            subject: r.subject.clone(),
        };
        w.write_all(index::format_entry(&e).as_bytes())
            .map_err(|e| Error::io(&tmp, e))?;
        report.records += 1;
        if !index_only && !r.der.is_empty() {
            let pem = pemutil::encode("CERTIFICATE", &r.der);
            let path = newcerts.join(format!("{}.pem", r.serial.hex()));
            fsutil::create_file(&path, fsutil::Mode::Public)?
                .write_all(pem.as_bytes())
                .map_err(|e| Error::io(&path, e))?;
            report.certificates += 1;
        }
        Ok(())
    })?;
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &index_path).map_err(|e| Error::io(&index_path, e))?;
    fsutil::write_atomic(
        &dest.join("index.txt.attr"),
        b"unique_subject = no\n",
        fsutil::Mode::Public,
        false,
    )?;
    let next_serial = format!("{}\n", Serial::random()?.hex());
    fsutil::write_atomic(
        &dest.join("serial"),
        next_serial.as_bytes(),
        fsutil::Mode::Public,
        false,
    )?;
    let next_crl = ca.store().last_crl_number()? + 1;
    fsutil::write_atomic(
        &dest.join("crlnumber"),
        format!("{:02X}\n", next_crl).as_bytes(),
        fsutil::Mode::Public,
        false,
    )?;
    let cnf = openssl_cnf(ca);
    fsutil::write_atomic(
        &dest.join("openssl.cnf"),
        cnf.as_bytes(),
        fsutil::Mode::Public,
        false,
    )?;
    fsutil::sync_dir(dest).map_err(|e| Error::io(dest, e))?;
    Ok(report)
}

fn openssl_cnf(ca: &CertificateAuthority) -> String {
    let md = if inspect::describe_spki(
        &crate::ca::ca_cert_info(ca.cert_der(), "ca.crt")
            .map(|i| i.spki_der)
            .unwrap_or_default(),
    ) == "Ed25519"
    {
        "default"
    } else {
        "sha256"
    };
    // copy_extensions = none: `openssl ca` must not copy what a requester asks for (an EKU, a
    // SAN, even a critical nameConstraints). The extensions come from the profile sections;
    // subjectAltNames go in an -extfile, as with any `openssl ca`.
    let mut s = format!(
        "# Written by `mtls ca export-openssl`. Use from this directory:\n\
         #   openssl ca -config openssl.cnf -gencrl -out crl.pem\n\
         #   openssl ca -config openssl.cnf -extensions profile_server -extfile san.cnf -in req.csr\n\
         # Request extensions are never copied (copy_extensions = none): each profile of ca.toml\n\
         # is a section profile_NAME below; the default (usr_cert) is the client profile.\n\
         [ ca ]\ndefault_ca = CA_default\n\n[ CA_default ]\ndir = .\n\
         database = $dir/index.txt\nnew_certs_dir = $dir/newcerts\ncertificate = $dir/cacert.pem\n\
         private_key = $dir/private/cakey.pem\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n\
         default_md = {md}\ndefault_days = 397\ndefault_crl_days = {}\nunique_subject = no\n\
         copy_extensions = none\nx509_extensions = usr_cert\npolicy = policy_mtls\n\n",
        ca.config().ca.crl_days
    );
    let profiles = &ca.config().profiles;
    // usr_cert is always written (x509_extensions names it): the client profile, or the
    // built-in one if ca.toml redefined the profiles without it.
    let builtin = crate::profile::Profile::builtin();
    let client = profiles
        .get("client")
        .or_else(|| builtin.get("client"))
        .cloned()
        .unwrap_or_else(|| crate::profile::Profile::root(397));
    s.push_str(&extension_section("usr_cert", &client));
    let mut used = std::collections::HashSet::new();
    for (name, p) in profiles {
        // `a-b` and `a_b` would share a section name: the second gets a number.
        let mut section = section_name(name);
        let mut n = 2;
        while !used.insert(section.clone()) {
            section = format!("{}_{n}", section_name(name));
            n += 1;
        }
        s.push_str(&format!("# profile {name}\n"));
        s.push_str(&extension_section(&section, p));
    }
    s.push_str("[ policy_mtls ]\n");
    for (a, r) in &ca.config().policy.fields {
        let long = match a.short().as_str() {
            "C" => "countryName".to_string(),
            "ST" => "stateOrProvinceName".into(),
            "L" => "localityName".into(),
            "O" => "organizationName".into(),
            "OU" => "organizationalUnitName".into(),
            "CN" => "commonName".into(),
            other => other.to_string(),
        };
        s.push_str(&format!("{long} = {r}\n"));
    }
    s
}

/// `profile_NAME`, with anything but letters, digits and `_` made `_` (openssl.cnf section names).
fn section_name(profile: &str) -> String {
    let safe: String = profile
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("profile_{safe}")
}

/// An openssl.cnf extension section giving what `profile` gives (basicConstraints, keyUsage,
/// extendedKeyUsage, key identifiers).
fn extension_section(section: &str, profile: &crate::profile::Profile) -> String {
    let basic = match (profile.ca, profile.path_len) {
        (false, _) => "critical, CA:FALSE".to_string(),
        (true, None) => "critical, CA:TRUE".to_string(),
        (true, Some(n)) => format!("critical, CA:TRUE, pathlen:{n}"),
    };
    let mut s = format!("[ {section} ]\nbasicConstraints = {basic}\n");
    if !profile.key_usage.is_empty() {
        s.push_str(&format!(
            "keyUsage = critical, {}\n",
            profile.key_usage.join(", ")
        ));
    }
    if !profile.extended_key_usage.is_empty() {
        s.push_str(&format!(
            "extendedKeyUsage = {}\n",
            profile.extended_key_usage.join(", ")
        ));
    }
    s.push_str("subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\n");
    s
}
