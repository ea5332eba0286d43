//! The certificate authority: a directory holding `ca.toml`, `ca.crt`, `ca.key`, `ca.db` and
//! `crl.pem`, and the operations on it (init, sign, issue, revoke, CRL, list).

mod batch;
mod crl;
pub(crate) mod crl_der;
mod enroll;
mod issue;
mod limits;
mod prepare;

pub use crl::CrlOutput;
pub use enroll::EnrollJob;
pub use issue::{Issued, SignRequest};

use std::path::{Path, PathBuf};

use rcgen::CertificateParams;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::key::{KeyType, PrivateKey};
use crate::name::Name;
use crate::policy::Policy;
use crate::profile::Profile;
use crate::serial::Serial;
use crate::store::sqlite::SqliteStore;
use crate::store::{CertRecord, StatusFilter, Store};
use crate::{fsutil, pemutil, time};

/// File names inside a CA directory.
pub mod files {
    /// Configuration.
    pub const CONFIG: &str = "ca.toml";
    /// The CA certificate.
    pub const CERT: &str = "ca.crt";
    /// The CA certificate followed by its issuers (for an intermediate).
    pub const CHAIN: &str = "ca-chain.pem";
    /// The CA private key.
    pub const KEY: &str = "ca.key";
    /// The store.
    pub const DB: &str = "ca.db";
    /// The current CRL.
    pub const CRL: &str = "crl.pem";
}

/// Settings for [`CertificateAuthority::init`].
pub struct InitOptions<'a> {
    /// The CA's subject.
    pub subject: Name,
    /// The CA key's type.
    pub key_type: KeyType,
    /// Validity in days.
    pub days: u32,
    /// The DN policy for requests.
    pub policy: Policy,
    /// Passphrase to encrypt `ca.key` with; `None` writes it unencrypted.
    pub passphrase: Option<&'a [u8]>,
    /// For an intermediate CA: the unlocked parent that signs it.
    pub parent: Option<&'a mut CertificateAuthority>,
    /// Keep the records in the store at this URL (`[store] url`) instead of `ca.db`.
    pub store_url: Option<String>,
}

/// An opened CA directory.
pub struct CertificateAuthority {
    dir: PathBuf,
    config: Config,
    cert_der: Vec<u8>,
    chain_pem: String,
    subject: Name,
    not_after: i64,
    key_id: Vec<u8>,
    key: Option<PrivateKey>,
    store: Box<dyn Store>,
    /// Where enrollment batches spend their time.
    timings: Timings,
}

/// Wall time spent in each phase of online enrollment (`enroll_many`), cumulative since the CA
/// was opened: what `/metrics` reports so that a benchmark can say where the time goes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Token lookups and checks, one store round trip each.
    pub tokens_ns: u64,
    /// Building and signing the certificates (CPU).
    pub sign_ns: u64,
    /// Recording them: the batch's statements and its commit (the database's fsync).
    pub record_ns: u64,
    /// Certificates recorded through `enroll_many`.
    pub enrolled: u64,
}

fn ns(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CertificateAuthority({}, {})",
            self.dir.display(),
            self.subject
        )
    }
}

/// Facts read from a CA certificate.
pub(crate) struct CaCertInfo {
    pub subject: Name,
    pub not_after: i64,
    pub key_id: Vec<u8>,
    pub spki_der: Vec<u8>,
}

pub(crate) fn ca_cert_info(der: &[u8], what: &str) -> Result<CaCertInfo> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| Error::decode(what, "certificate", e))?;
    let subject = Name::from_x509(cert.subject(), what)?;
    let spki_der = cert.public_key().raw.to_vec();
    // RFC 5280 AKI must equal the CA's SKI; without an SKI use openssl's method (SHA-1 of the key).
    let key_id = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap_or_else(|| {
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &cert.public_key().subject_public_key.data,
            )
            .as_ref()
            .to_vec()
        });
    Ok(CaCertInfo {
        subject,
        not_after: cert.validity().not_after.timestamp(),
        key_id,
        spki_der,
    })
}

impl CertificateAuthority {
    /// True when `dir` already holds any CA file.
    pub fn exists(dir: &Path) -> bool {
        [files::CONFIG, files::CERT, files::KEY, files::DB]
            .iter()
            .any(|f| dir.join(f).exists())
    }

    /// Refuses a directory holding any file `init` would write. Checked before anything is
    /// written (or a parent CA signs anything): a failed init must never remove a file it did
    /// not create.
    fn check_targets(dir: &Path) -> Result<()> {
        match Self::init_targets(dir).iter().find(|p| p.exists()) {
            Some(p) => Err(Error::invalid(
                p.display().to_string(),
                "already exists; a new CA needs a directory without CA files (move it away or choose another directory)",
            )),
            None => Ok(()),
        }
    }

    /// Every file `init` may write in `dir`, the store's journal files included.
    fn init_targets(dir: &Path) -> Vec<PathBuf> {
        let db = dir.join(files::DB);
        vec![
            dir.join(files::CONFIG),
            dir.join(files::CERT),
            dir.join(files::CHAIN),
            dir.join(files::KEY),
            dir.join(files::CRL),
            db.with_extension("db-wal"),
            db.with_extension("db-shm"),
            db,
        ]
    }

    /// Creates a CA in `dir` (created if missing). Refuses to touch an existing CA.
    ///
    /// Everything is prepared in memory first; if a write fails, files already written are
    /// removed, so a failed init leaves no half-made CA behind.
    ///
    /// Returns the CA and notes for the user (for an intermediate: what the parent's signing
    /// changed, such as a validity capped at the parent's own expiry).
    pub fn init(dir: &Path, opts: InitOptions<'_>) -> Result<(CertificateAuthority, Vec<String>)> {
        if Self::exists(dir) {
            return Err(Error::CaExists { dir: dir.into() });
        }
        if opts.days == 0 {
            return Err(Error::invalid(
                "the CA's validity",
                "must be at least 1 day",
            ));
        }
        // Checked before any key is made or any parent records anything.
        time::after_days(time::now(), opts.days, "the CA certificate")?;
        Self::check_targets(dir)?;
        let key = PrivateKey::generate(opts.key_type)?;
        let mut config = Config::new(opts.policy, opts.key_type);
        config.store.url = opts.store_url.clone();
        let mut notes = Vec::new();
        let (cert_der, chain_pem) = match opts.parent {
            None => {
                let mut params = CertificateParams::default();
                params.distinguished_name = opts.subject.to_rcgen()?;
                params.serial_number = Some(rcgen::SerialNumber::from_slice(
                    Serial::random()?.as_bytes(),
                ));
                let now = time::now();
                params.not_before = now - ::time::Duration::seconds(issue::BACKDATE_SECS);
                params.not_after = time::after_days(now, opts.days, "the CA certificate")?;
                Profile::root(opts.days).apply(&mut params, "root")?;
                if let Some(id) = crate::inspect::key_id(&key.public_key_der()) {
                    params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(id);
                }
                let cert = params
                    .self_signed(key.key_pair())
                    .map_err(|e| Error::crypto("signing the CA certificate", e))?;
                let der = cert.der().to_vec();
                let pem = pemutil::encode("CERTIFICATE", &der);
                (der, pem)
            }
            Some(parent) => {
                let req = SignRequest::new(
                    format!("intermediate CA {}", opts.subject),
                    opts.subject.clone(),
                    Vec::new(),
                    key.public_key_der(),
                    "intermediate",
                    Some(time::Lifetime::days(opts.days)),
                );
                let issued = parent.sign(vec![req], &|_| {})?;
                let issued = issued.into_iter().next().ok_or_else(|| {
                    Error::invalid("intermediate CA", "the parent CA issued nothing")
                })?;
                let pem = format!("{}{}", issued.pem, parent.chain_pem);
                notes.extend(issued.notes);
                notes.extend(issued.warnings);
                (issued.der, pem)
            }
        };
        config.ca.key_type = opts.key_type;
        let ca = Self::create(dir, key, cert_der, chain_pem, config, opts.passphrase)?;
        Ok((ca, notes))
    }

    /// Writes a new CA directory from its parts (used by `init` and by openssl import).
    ///
    /// If a write fails, files already written are removed, so no half-made CA is left behind.
    pub(crate) fn create(
        dir: &Path,
        key: PrivateKey,
        cert_der: Vec<u8>,
        chain_pem: String,
        config: Config,
        passphrase: Option<&[u8]>,
    ) -> Result<CertificateAuthority> {
        if Self::exists(dir) {
            return Err(Error::CaExists { dir: dir.into() });
        }
        let info = ca_cert_info(&cert_der, "the CA certificate")?;
        if key.public_key_der() != info.spki_der {
            return Err(Error::invalid(
                "CA key",
                "does not belong to the CA certificate (the public keys differ)",
            ));
        }
        Self::check_targets(dir)?;
        fsutil::create_private_dir(dir)?;
        // Only what this run wrote, so only that is removed on failure.
        let mut written: Vec<PathBuf> = Vec::new();
        let result = Self::write_new(
            dir,
            &key,
            &cert_der,
            &chain_pem,
            &config,
            passphrase,
            &mut written,
        );
        let store = match result {
            Ok(s) => s,
            Err(e) => {
                for p in &written {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
        };
        Ok(CertificateAuthority {
            dir: dir.into(),
            config,
            cert_der,
            chain_pem,
            subject: info.subject,
            not_after: info.not_after,
            key_id: info.key_id,
            key: Some(key),
            store,
            timings: Timings::default(),
        })
    }

    /// Writes the files of a new CA, recording in `written` each one this call created.
    fn write_new(
        dir: &Path,
        key: &PrivateKey,
        cert_der: &[u8],
        chain_pem: &str,
        config: &Config,
        passphrase: Option<&[u8]>,
        written: &mut Vec<PathBuf>,
    ) -> Result<Box<dyn Store>> {
        if let Some(url) = &config.store.url {
            let store = crate::store::backend::create(url)?;
            Self::write_files(dir, key, cert_der, chain_pem, config, passphrase, written)?;
            return Ok(store);
        }
        let db = dir.join(files::DB);
        let made = SqliteStore::create(&db);
        // The store's journal files exist only because this call made the store.
        for p in [
            db.with_extension("db-wal"),
            db.with_extension("db-shm"),
            db.clone(),
        ] {
            if p.exists() {
                written.push(p);
            }
        }
        let store = made?;
        Self::write_files(dir, key, cert_der, chain_pem, config, passphrase, written)?;
        Ok(Box::new(store))
    }

    /// The key, certificate, chain and `ca.toml` of a new CA.
    fn write_files(
        dir: &Path,
        key: &PrivateKey,
        cert_der: &[u8],
        chain_pem: &str,
        config: &Config,
        passphrase: Option<&[u8]>,
        written: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let key_path = dir.join(files::KEY);
        key.write(&key_path, passphrase, false)?;
        written.push(key_path);
        let cert_path = dir.join(files::CERT);
        let cert_pem = pemutil::encode("CERTIFICATE", cert_der);
        fsutil::write_atomic(&cert_path, cert_pem.as_bytes(), fsutil::Mode::Public, false)?;
        written.push(cert_path);
        if chain_pem != cert_pem {
            let chain_path = dir.join(files::CHAIN);
            fsutil::write_atomic(
                &chain_path,
                chain_pem.as_bytes(),
                fsutil::Mode::Public,
                false,
            )?;
            written.push(chain_path);
        }
        let cfg_path = dir.join(files::CONFIG);
        fsutil::write_atomic(
            &cfg_path,
            config.to_toml().as_bytes(),
            fsutil::Mode::Public,
            false,
        )?;
        written.push(cfg_path);
        Ok(())
    }

    /// Opens the CA in `dir` without unlocking its key.
    pub fn open(dir: &Path) -> Result<CertificateAuthority> {
        if !dir.join(files::CONFIG).exists() || !dir.join(files::CERT).exists() {
            return Err(Error::CaMissing { dir: dir.into() });
        }
        let config = Config::load(&dir.join(files::CONFIG))?;
        let cert_path = dir.join(files::CERT);
        let what = cert_path.display().to_string();
        let pem = fsutil::read(&cert_path)?;
        let block = pemutil::blocks(&pem, &what, "certificate")?
            .into_iter()
            .next()
            .ok_or_else(|| Error::decode(&what, "certificate", "empty"))?;
        let info = ca_cert_info(&block.der, &what)?;
        let chain_path = dir.join(files::CHAIN);
        let chain_pem = if chain_path.exists() {
            String::from_utf8_lossy(&fsutil::read(&chain_path)?).into_owned()
        } else {
            pemutil::encode("CERTIFICATE", &block.der)
        };
        let store: Box<dyn Store> = match &config.store.url {
            Some(url) => crate::store::backend::open(url)?,
            None => Box::new(SqliteStore::open(&dir.join(files::DB))?),
        };
        let config = Self::effective_config(config, store.as_ref())?;
        Ok(CertificateAuthority {
            dir: dir.into(),
            config,
            cert_der: block.der.to_vec(),
            chain_pem,
            subject: info.subject,
            not_after: info.not_after,
            key_id: info.key_id,
            key: None,
            store,
            timings: Timings::default(),
        })
    }

    /// The feed of changes other instances make to a shared store (`[store] url`); `None`
    /// for the SQLite store of one machine (watch [`crate::store::Store::data_version`]).
    pub fn change_feed(&self) -> Option<Result<Box<dyn crate::store::backend::ChangeFeed>>> {
        self.config
            .store
            .url
            .as_deref()
            .map(crate::store::backend::feed)
    }

    /// True when `ca.key` is encrypted (a passphrase is needed to [`unlock`](Self::unlock)).
    pub fn key_is_encrypted(&self) -> Result<bool> {
        let data = zeroize::Zeroizing::new(fsutil::read(&self.dir.join(files::KEY))?);
        Ok(PrivateKey::is_encrypted(&data))
    }

    /// Loads and decrypts `ca.key`. Refuses a key file readable by group or others.
    pub fn unlock(&mut self, passphrase: Option<&[u8]>) -> Result<()> {
        let path = self.dir.join(files::KEY);
        check_key_mode(&path)?;
        let key = PrivateKey::load(&path, passphrase)?;
        let info = ca_cert_info(&self.cert_der, "ca.crt")?;
        if key.public_key_der() != info.spki_der {
            return Err(Error::invalid(
                path.display().to_string(),
                "does not belong to ca.crt (the public keys differ)",
            ));
        }
        self.key = Some(key);
        Ok(())
    }

    pub(crate) fn key(&self) -> Result<&PrivateKey> {
        self.key
            .as_ref()
            .ok_or_else(|| Error::invalid("CA key", "not unlocked (internal error)"))
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration a shared store keeps (`mtls ca config push`), with `[store]` from
    /// this directory's `ca.toml`; `local` itself when the store keeps none.
    fn effective_config(local: Config, store: &dyn Store) -> Result<Config> {
        let Some(text) = store.config_text()? else {
            return Ok(local);
        };
        let mut shared = Config::parse(&text, Path::new("the ca.toml kept in the store"))?;
        shared.store = local.store;
        Ok(shared)
    }

    /// Reads the configuration again from a shared store (another instance pushed one), keeping
    /// `[store]` and the `[urls]` this process filled in. Returns true when it changed.
    pub fn reload_config(&mut self) -> Result<bool> {
        let mut next = Self::effective_config(self.config.clone(), self.store.as_ref())?;
        for (new, cur) in [
            (&mut next.urls.crl, &self.config.urls.crl),
            (&mut next.urls.ocsp, &self.config.urls.ocsp),
            (&mut next.urls.ca_issuers, &self.config.urls.ca_issuers),
        ] {
            if new.is_empty() {
                new.clone_from(cur);
            }
        }
        let changed = next.to_toml() != self.config.to_toml();
        self.config = next;
        Ok(changed)
    }

    /// Validates `text` as `ca.toml` and keeps it in this CA's shared store, where every
    /// instance reads it (`[store]` stays each directory's own).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming what is wrong with it; an error for a SQLite CA, whose
    /// configuration is its directory's `ca.toml`.
    pub fn push_config(&mut self, text: &str, what: &Path) -> Result<()> {
        Config::parse(text, what)?;
        if self.config.store.url.is_none() {
            return Err(Error::invalid(
                "the configuration",
                "this CA keeps it in ca.toml in its directory (SQLite store); edit that file",
            ));
        }
        self.store
            .set_config_text(text, time::now().unix_timestamp())?;
        self.reload_config().map(|_| ())
    }

    /// Where enrollment batches have spent their time so far.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    pub(super) fn add_timing(&mut self, f: impl FnOnce(&mut Timings)) {
        f(&mut self.timings)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the `[urls]` that `ca.toml` left unset (for this process only; `ca.toml` is not
    /// written). Returns what was filled in, for the log.
    pub fn fill_urls(&mut self, defaults: crate::urls::Urls) -> Vec<String> {
        let mut said = Vec::new();
        let u = &mut self.config.urls;
        for (name, have, default) in [
            ("crl", &mut u.crl, defaults.crl),
            ("ocsp", &mut u.ocsp, defaults.ocsp),
            ("ca_issuers", &mut u.ca_issuers, defaults.ca_issuers),
        ] {
            if have.is_empty() && !default.is_empty() {
                said.push(format!("{name} = {}", default.join(", ")));
                *have = default;
            }
        }
        said
    }

    /// A copy of the unlocked CA key, with the DER AlgorithmIdentifier of its signatures, for a
    /// signer that runs beside the CA (the online CA's OCSP responder) without its lock.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the key is locked or of a type that cannot sign here.
    pub fn signing_key(&self) -> Result<(PrivateKey, Vec<u8>)> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::invalid("CA key", "not unlocked"))?;
        let pem = key.to_pem(None)?;
        let copy = PrivateKey::from_bytes(pem.as_bytes(), None, "the CA key")?;
        let alg = crl_der::algorithm_identifier(&copy)?;
        Ok((copy, alg))
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate followed by its issuers, PEM.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The CA's subject.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The CA certificate's notAfter (Unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The store.
    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// Records `records` (used by import and by intermediates' parents).
    pub fn record(&mut self, records: &[CertRecord]) -> Result<()> {
        self.store.insert(records)
    }

    /// Lists issued certificates.
    pub fn list(
        &self,
        filter: StatusFilter,
        expiring_within_days: Option<u32>,
    ) -> Result<Vec<CertRecord>> {
        let now = time::now().unix_timestamp();
        let before = expiring_within_days.map(|d| now + i64::from(d) * 86_400);
        self.store.list(filter, now, before)
    }

    /// Warnings every `mtls ca` command prints: CRL past 75% of its life or expired, revoked
    /// certificates with no CRL, CA certificate close to expiry.
    pub fn warnings(&self) -> Result<Vec<String>> {
        let now = time::now().unix_timestamp();
        let mut w = Vec::new();
        match self.store.crl_state()? {
            Some(s) if now >= s.next_update => w.push(format!(
                "the CRL (number {}) expired at {}: peers that check revocation will reject every certificate; run `mtls ca crl` now",
                s.number,
                time::rfc3339(s.next_update)
            )),
            Some(s) if (now - s.this_update) * 4 >= (s.next_update - s.this_update) * 3 => {
                w.push(format!(
                    "the CRL (number {}) is past 75% of its life and expires at {}; run `mtls ca crl`",
                    s.number,
                    time::rfc3339(s.next_update)
                ))
            }
            Some(_) => {}
            None => {
                if self.store.any_revoked()? {
                    w.push(
                        "certificates are revoked but no CRL was issued yet; run `mtls ca crl`".into(),
                    );
                }
            }
        }
        if now >= self.not_after {
            w.push(format!(
                "the CA certificate expired at {}",
                time::rfc3339(self.not_after)
            ));
        } else if self.not_after - now < 30 * 86_400 {
            w.push(format!(
                "the CA certificate expires soon, at {}",
                time::rfc3339(self.not_after)
            ));
        }
        Ok(w)
    }
}

/// Refuses a private key readable by group or others, saying how to fix it.
pub fn check_key_mode(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::invalid(
                path.display().to_string(),
                format!(
                    "the CA key is readable by others (mode {mode:03o}); refusing to use it — run `chmod 600 {}`",
                    path.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
