//! mtls CA directory -> `openssl ca` directory.

use std::io::Write;
use std::path::Path;

use super::{USR_CERT_FILE, index};
use crate::ca::{CertificateAuthority, files};
use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::store::CertRecord;
use crate::{fsutil, inspect, pemutil};

/// What an export wrote.
#[derive(Debug, Default, Clone)]
pub struct ExportReport {
    /// index.txt lines.
    pub records: usize,
    /// Certificates written to newcerts/.
    pub certificates: usize,
    /// The absolute directory written (the `dir` of its openssl.cnf).
    pub dir: std::path::PathBuf,
    /// What openssl's format could not carry.
    pub notes: Vec<String>,
}

/// Writes the CA as an `openssl ca` directory at `dest` (which must not exist or be empty):
/// `openssl.cnf` (with an absolute `dir`, so it works from anywhere), `cacert.pem`,
/// `private/cakey.pem` (the same encrypted PKCS#8 key), `index.txt`, `index.txt.attr`, `serial`,
/// `crlnumber`, `crl.pem` and `crl/` and, unless `index_only`, `newcerts/SERIAL.pem`.
///
/// # Errors
///
/// `dest` is not empty, the CA key is readable by others, or a write fails.
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
    // The CA key leaves only from a key file nobody else can read, into a 0700 directory.
    crate::ca::check_key_mode(&ca.dir().join(files::KEY))?;
    for d in [
        dest.to_path_buf(),
        dest.join("private"),
        dest.join("newcerts"),
        dest.join("crl"),
    ] {
        fsutil::create_private_dir(&d)?;
    }
    let abs = std::fs::canonicalize(dest).map_err(|e| Error::io(dest, e))?;
    let mut report = ExportReport {
        dir: abs.clone(),
        ..ExportReport::default()
    };
    let key = zeroize::Zeroizing::new(fsutil::read(&ca.dir().join(files::KEY))?);
    let public = |name: &str, data: &[u8]| {
        fsutil::write_atomic(&dest.join(name), data, fsutil::Mode::Public, false)
    };
    fsutil::write_atomic(
        &dest.join("private/cakey.pem"),
        &key,
        fsutil::Mode::Secret,
        false,
    )?;
    public(
        "cacert.pem",
        pemutil::encode("CERTIFICATE", ca.cert_der()).as_bytes(),
    )?;
    let crl = ca.dir().join(files::CRL);
    if crl.exists() {
        public("crl.pem", &fsutil::read(&crl)?)?;
    }
    write_index(ca, dest, index_only, &mut report)?;
    let unique = if ca.config().ca.unique_subject {
        "yes"
    } else {
        "no"
    };
    public(
        "index.txt.attr",
        format!("unique_subject = {unique}\n").as_bytes(),
    )?;
    public(
        "serial",
        format!("{}\n", Serial::random()?.hex()).as_bytes(),
    )?;
    let next_crl = ca.store().last_crl_number()? + 1;
    public("crlnumber", format!("{next_crl:02X}\n").as_bytes())?;
    let usr_cert = match ca.dir().join(USR_CERT_FILE) {
        p if p.exists() => Some(String::from_utf8_lossy(&fsutil::read(&p)?).into_owned()),
        _ => None,
    };
    public(
        "openssl.cnf",
        openssl_cnf(ca, &abs, usr_cert.as_deref()).as_bytes(),
    )?;
    fsutil::sync_dir(dest).map_err(|e| Error::io(dest, e))?;
    Ok(report)
}

/// `index.txt` (atomically, streaming) and `newcerts/`.
fn write_index(
    ca: &mut CertificateAuthority,
    dest: &Path,
    index_only: bool,
    report: &mut ExportReport,
) -> Result<()> {
    let index_path = dest.join("index.txt");
    let newcerts = dest.join("newcerts");
    let tmp = dest.join(".index.txt.tmp");
    let file = fsutil::create_file(&tmp, fsutil::Mode::Public)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let now = crate::time::now().unix_timestamp();
    let mut lost = 0usize;
    ca.store().for_each(&mut |r: CertRecord| {
        let revoked = r.revocation();
        let status = match (&revoked, r.not_after < now) {
            (Some(_), _) => 'R',
            (None, true) => 'E',
            (None, false) => 'V',
        };
        if let Some(rev) = &revoked {
            let representable = matches!(
                rev.reason,
                crate::store::Reason::KeyCompromise | crate::store::Reason::CaCompromise
            );
            if rev.invalidity_date.is_some() && !representable {
                lost += 1;
            }
        }
        let e = index::IndexEntry {
            status,
            expires: r.not_after,
            revoked,
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
    if lost > 0 {
        report.notes.push(format!(
            "{lost} revocation(s) carry an invalidity date with a reason other than keyCompromise or cACompromise; index.txt cannot hold it, so openssl's CRLs will not"
        ));
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &index_path).map_err(|e| Error::io(&index_path, e))
}

fn openssl_cnf(ca: &CertificateAuthority, dir: &Path, usr_cert: Option<&str>) -> String {
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
    let cfg = ca.config();
    let profiles = &cfg.profiles;
    // usr_cert is always written (x509_extensions names it): the imported openssl section if
    // the CA came from openssl, else the client profile (or the built-in one if ca.toml
    // redefined the profiles without it).
    let builtin = crate::profile::Profile::builtin();
    let client = profiles
        .get("client")
        .or_else(|| builtin.get("client"))
        .cloned()
        .unwrap_or_else(|| crate::profile::Profile::root(397));
    // openssl counts whole days: a shorter life rounds up to one.
    let default_days = client.lifetime().whole_days_ceil();
    // copy_extensions = none: `openssl ca` must not copy what a requester asks for (an EKU, a
    // SAN, even a critical nameConstraints). The extensions come from the profile sections;
    // subjectAltNames go in an -extfile, as with any `openssl ca`.
    let mut s = format!(
        "# Written by `mtls ca export-openssl`. `dir` is absolute, so this works from anywhere:\n\
         #   openssl ca -config {dir}/openssl.cnf -gencrl -out {dir}/crl.pem\n\
         #   openssl ca -config {dir}/openssl.cnf -extensions profile_server -extfile san.cnf -in req.csr\n\
         # If you move the directory, change `dir` below.\n\
         # Request extensions are never copied (copy_extensions = none): each profile of ca.toml\n\
         # is a section profile_NAME below; the default (usr_cert) is {}.\n\
         [ ca ]\ndefault_ca = CA_default\n\n[ CA_default ]\ndir = {dir}\n\
         database = $dir/index.txt\nnew_certs_dir = $dir/newcerts\ncertificate = $dir/cacert.pem\n\
         private_key = $dir/private/cakey.pem\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n\
         crl = $dir/crl.pem\ncrl_dir = $dir/crl\n\
         default_md = {md}\ndefault_days = {default_days}\ndefault_crl_days = {}\nunique_subject = {}\n\
         copy_extensions = none\nx509_extensions = usr_cert\npolicy = policy_mtls\n\n",
        if usr_cert.is_some() {
            "the x509_extensions section of the openssl CA this one was imported from"
        } else {
            "the client profile"
        },
        cfg.ca.crl_days,
        if cfg.ca.unique_subject { "yes" } else { "no" },
        dir = dir.display(),
    );
    match usr_cert {
        Some(text) => s.push_str(&format!("[ usr_cert ]\n{text}\n")),
        None => s.push_str(&extension_section("usr_cert", &client, &cfg.urls)),
    }
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
        s.push_str(&extension_section(&section, p, &cfg.urls));
    }
    s.push_str("[ policy_mtls ]\n");
    for (a, r) in &cfg.policy.fields {
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
/// extendedKeyUsage, key identifiers) and `[urls]` (crlDistributionPoints,
/// authorityInfoAccess).
fn extension_section(
    section: &str,
    profile: &crate::profile::Profile,
    urls: &crate::urls::Urls,
) -> String {
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
    if profile.ocsp_nocheck {
        s.push_str("noCheck = ignored\n");
    }
    if profile.must_staple {
        s.push_str("tlsfeature = status_request\n");
    }
    s.push_str(&super::urls::to_section(urls));
    s.push_str("subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n\n");
    s
}
