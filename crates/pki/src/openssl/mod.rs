//! Taking over an `openssl ca` directory, and writing one back.
//!
//! Import reads `cacert.pem`, `private/cakey.pem` (PKCS#8 or legacy `Proc-Type` encrypted),
//! `index.txt` (every line, in every form openssl writes), `index.txt.attr`, `crlnumber`, the
//! CRLs at the config's `crl` / `crl_dir`, `newcerts/` and, if given, `openssl.cnf` (with its
//! `.include`s): the policy, `default_days`, `default_crl_days`, `unique_subject` and the
//! `x509_extensions` section. Revoked certificates stay revoked (and in the next CRL, with their
//! invalidity date and hold instruction); CRL numbering continues.
//!
//! Export writes a directory that `openssl ca -gencrl` (and `openssl ca` signing) accepts from
//! anywhere: its `dir` is absolute.

pub mod cnf;
mod crls;
mod export;
mod import;
pub mod index;
mod settings;
mod urls;

use std::path::{Path, PathBuf};

pub use export::{ExportReport, export};
pub use import::import;

use crate::store::CrlState;

/// The file in an imported CA directory that keeps the openssl `x509_extensions` section, so
/// that `export-openssl` writes back the source's `usr_cert`.
pub const USR_CERT_FILE: &str = "openssl-usr_cert.cnf";

/// What an import found.
#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    /// Records imported: valid ones.
    pub valid: usize,
    /// Revoked records (removeFromCRL ones included, as openssl counts status R).
    pub revoked: usize,
    /// Of those, removeFromCRL: released holds that CRLs list with that reason.
    pub removed_from_crl: usize,
    /// Expired records (status E, or V past their expiry).
    pub expired: usize,
    /// Records whose certificate was found in `newcerts/`.
    pub with_certificate: usize,
    /// The CRL number the next `mtls ca crl` will use.
    pub next_crl_number: u64,
    /// The last CRL openssl published, if one was found: its number and dates.
    pub last_crl: Option<CrlState>,
    /// openssl settings carried over, each as `openssl setting -> mtls setting`.
    pub mapped: Vec<String>,
    /// openssl settings that were not carried over, and why.
    pub not_mapped: Vec<String>,
    /// Other things worth telling the user.
    pub notes: Vec<String>,
}

/// Where the openssl CA's files are.
struct Layout {
    cert: PathBuf,
    key: PathBuf,
    index: PathBuf,
    crlnumber: PathBuf,
    newcerts: PathBuf,
    crl: PathBuf,
    crl_dir: PathBuf,
}

/// Finds a configured path: as written, then inside `src` with leading components dropped (a
/// `dir = ./demoCA` path is relative to where openssl ran; `dir = /etc/pki/CA` may have been
/// copied to `src`).
fn resolve(src: &Path, configured: Option<&str>, default: &str) -> PathBuf {
    if let Some(v) = configured {
        let p = Path::new(v);
        if p.exists() {
            return p.into();
        }
        let mut comps: Vec<_> = p
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        comps.insert(0, std::path::Component::CurDir);
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
