//! The CRL as served: read from the CA directory's `crl.pem` whenever that file changes (the
//! server's own regeneration, or an operator's `mtls ca crl`), with the validators and cache
//! lifetime HTTP clients need.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// One published CRL.
#[derive(Debug)]
pub struct PublishedCrl {
    /// DER.
    pub der: Vec<u8>,
    /// PEM.
    pub pem: String,
    /// Its CRL number.
    pub number: Option<String>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// A strong validator: the CRL number and a digest of the DER.
    pub etag: String,
    /// The serials it lists, as [`mtls_pki::Serial::hex`] writes them.
    pub revoked: std::collections::HashSet<String>,
}

/// The current CRL, re-read when `crl.pem` changes.
#[derive(Debug)]
pub struct CrlCache {
    path: PathBuf,
    current: Mutex<Option<(SystemTime, u64, Arc<PublishedCrl>)>>,
}

impl CrlCache {
    /// A cache of the CRL at `path`.
    pub fn new(path: PathBuf) -> CrlCache {
        CrlCache {
            path,
            current: Mutex::new(None),
        }
    }

    /// The current CRL, or `None` when the CA has not published one (or `crl.pem` does not
    /// hold one). Costs a `stat` when nothing changed.
    pub fn get(&self) -> Option<Arc<PublishedCrl>> {
        let meta = std::fs::metadata(&self.path).ok()?;
        let stamp = (meta.modified().ok()?, meta.len());
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((m, l, crl)) = cur.as_ref() {
            if (*m, *l) == stamp {
                return Some(crl.clone());
            }
        }
        let text = std::fs::read_to_string(&self.path).ok()?;
        let crl = Arc::new(parse(&text)?);
        *cur = Some((stamp.0, stamp.1, crl.clone()));
        Some(crl)
    }
}

fn parse(text: &str) -> Option<PublishedCrl> {
    let block = pem::parse(text).ok()?;
    let der = block.contents().to_vec();
    let (number, this_update, next_update, revoked) = {
        let (_, c) = CertificateRevocationList::from_der(&der).ok()?;
        (
            c.crl_number().map(|n| n.to_string()),
            c.last_update().timestamp(),
            c.next_update().map(|t| t.timestamp()),
            c.iter_revoked_certificates()
                .map(|r| mtls_pki::Serial::from_bytes(r.raw_serial()).hex())
                .collect(),
        )
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let short: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let etag = format!("\"{}-{short}\"", number.as_deref().unwrap_or("0"));
    Some(PublishedCrl {
        pem: text.to_string(),
        der,
        number,
        this_update,
        next_update,
        etag,
        revoked,
    })
}
