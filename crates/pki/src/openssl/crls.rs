//! The CRLs an `openssl ca` directory already published: where its numbering stands, and the
//! last one's dates.
//!
//! `openssl ca -gencrl` keeps the next number in `crlnumber`; the CRLs themselves go wherever
//! `-out` said, by convention the config's `crl` file (`$dir/crl.pem`) or `crl_dir`. When
//! `crlnumber` is gone, those CRLs are the only record of the numbers used: restarting at 1
//! would publish a CRL that verifiers rank below the one they hold.

use std::path::{Path, PathBuf};

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{Error, Result};
use crate::{fsutil, pemutil};

/// The largest file read as a CRL candidate (a CRL of millions of entries is tens of MiB).
const MAX_CRL_FILE: u64 = 1 << 30;

/// A CRL of this CA found on disk.
#[derive(Debug, Clone)]
pub(super) struct Found {
    /// Where.
    pub path: PathBuf,
    /// Its cRLNumber, if it has one.
    pub number: Option<u64>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds (thisUpdate when absent).
    pub next_update: i64,
    /// The DER.
    pub der: Vec<u8>,
}

/// Reads `crl_file` and every file of `crl_dir`. A CRL of another issuer, and a file of
/// `crl_dir` that holds no CRL, are skipped (and noted); a CRL of this CA whose signature fails,
/// or an unreadable `crl_file`, is an error naming the file.
pub(super) fn find(
    crl_file: &Path,
    crl_dir: &Path,
    ca_der: &[u8],
    notes: &mut Vec<String>,
) -> Result<Vec<Found>> {
    let (_, ca) = X509Certificate::from_der(ca_der)
        .map_err(|e| Error::decode("the CA certificate", "certificate", e))?;
    let mut candidates = Vec::new();
    if crl_file.is_file() {
        candidates.push((crl_file.to_path_buf(), true));
    }
    if let Ok(entries) = std::fs::read_dir(crl_dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        candidates.extend(paths.into_iter().map(|p| (p, false)));
    }
    let mut found: Vec<Found> = Vec::new();
    for (path, required) in candidates {
        let what = path.display().to_string();
        let size = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .len();
        if size > MAX_CRL_FILE {
            notes.push(format!("{what}: larger than 1 GiB, not read as a CRL"));
            continue;
        }
        let data = fsutil::read(&path)?;
        let ders = match crl_ders(&data, &what) {
            Ok(d) if !d.is_empty() => d,
            Ok(_) | Err(_) if !required => {
                notes.push(format!("{what}: not a CRL; skipped"));
                continue;
            }
            Ok(_) => return Err(Error::decode(&what, "CRL", "holds no X509 CRL")),
            Err(e) => return Err(e),
        };
        for der in ders {
            if let Some(f) = read_one(&path, der, &ca, notes)? {
                // A hash link (`crl/<hash>.r0`) and its target are the same CRL.
                if !found.iter().any(|g| g.der == f.der) {
                    found.push(f);
                }
            }
        }
    }
    Ok(found)
}

/// The DER of each CRL in `data` (PEM with `X509 CRL` blocks, or one DER CRL).
fn crl_ders(data: &[u8], what: &str) -> Result<Vec<Vec<u8>>> {
    if pemutil::is_pem(data) {
        Ok(pemutil::blocks(data, what, "CRL")?
            .into_iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| b.der.to_vec())
            .collect())
    } else {
        Ok(vec![data.to_vec()])
    }
}

fn read_one(
    path: &Path,
    der: Vec<u8>,
    ca: &X509Certificate<'_>,
    notes: &mut Vec<String>,
) -> Result<Option<Found>> {
    let what = path.display().to_string();
    let (number, this_update, next_update) = {
        let (_, crl) = CertificateRevocationList::from_der(&der)
            .map_err(|e| Error::decode(&what, "CRL", e))?;
        if crl.issuer().as_raw() != ca.subject().as_raw() {
            notes.push(format!(
                "{what}: a CRL of {}, not of this CA; skipped",
                crl.issuer()
            ));
            return Ok(None);
        }
        crl.verify_signature(ca.public_key()).map_err(|e| {
            Error::invalid(
                &what,
                format!(
                    "names this CA as its issuer but its signature does not verify with the CA key ({e}); remove or replace the file"
                ),
            )
        })?;
        let number = match crl.crl_number() {
            Some(n) => Some(biguint_to_u64(&n.to_bytes_be()).ok_or_else(|| {
                Error::decode(&what, "CRL", "its cRLNumber does not fit in 64 bits")
            })?),
            None => None,
        };
        let this_update = crl.last_update().timestamp();
        let next = crl
            .next_update()
            .map(|t| t.timestamp())
            .unwrap_or(this_update);
        (number, this_update, next)
    };
    Ok(Some(Found {
        path: path.to_path_buf(),
        number,
        this_update,
        next_update,
        der,
    }))
}

/// A big-endian unsigned integer that fits in 64 bits.
pub(super) fn biguint_to_u64(b: &[u8]) -> Option<u64> {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    let b = &b[first..];
    (b.len() <= 8).then(|| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}
