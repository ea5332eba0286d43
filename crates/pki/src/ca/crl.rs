//! Revocation and CRLs.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::crl_der::{self, CrlFields};
use super::{CertificateAuthority, files};
use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::store::{CertRecord, CrlState, Reason, Revocation};
use crate::{fsutil, pemutil, time};

/// A CRL just made.
#[derive(Debug, Clone)]
pub struct CrlOutput {
    /// PEM text (also written to `DIR/crl.pem`).
    pub pem: String,
    /// CRL number.
    pub number: u64,
    /// How many certificates it lists.
    pub entries: usize,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
    /// False when another process published a CRL with a higher number meanwhile: that one
    /// stays in `DIR/crl.pem` (it lists every revocation this one does).
    pub installed: bool,
}

impl CertificateAuthority {
    /// Revokes `serial`. Unknown or already revoked serials are errors; nothing else changes.
    /// One indexed update: the cost does not depend on how many are revoked already.
    pub fn revoke(&mut self, serial: &Serial, reason: Reason) -> Result<CertRecord> {
        let now = time::now().unix_timestamp();
        self.revoke_with(serial, &Revocation::new(now, reason))
    }

    /// Revokes `serial` with the details of `revocation` (an invalidityDate, a hold
    /// instruction), as [`CertificateAuthority::revoke`] does.
    pub fn revoke_with(&mut self, serial: &Serial, revocation: &Revocation) -> Result<CertRecord> {
        self.revoke_recorded(serial, revocation, None)
    }

    /// [`CertificateAuthority::revoke`] with `audit` written in the revocation's own
    /// transaction (its target is set to the serial).
    pub fn revoke_audited(
        &mut self,
        serial: &Serial,
        reason: Reason,
        audit: &crate::store::AuditEntry,
    ) -> Result<CertRecord> {
        let now = time::now().unix_timestamp();
        let mut audit = audit.clone();
        audit.target = Some(serial.hex());
        self.revoke_recorded(serial, &Revocation::new(now, reason), Some(&audit))
    }

    fn revoke_recorded(
        &mut self,
        serial: &Serial,
        revocation: &Revocation,
        audit: Option<&crate::store::AuditEntry>,
    ) -> Result<CertRecord> {
        if let Some(oid) = &revocation.hold_instruction {
            if crl_der::oid_der(oid).is_none() {
                return Err(Error::invalid(
                    "the hold instruction",
                    format!("{oid:?} is not a dotted OID"),
                ));
            }
        }
        match audit {
            Some(a) => self.store.revoke_audited(serial, revocation, a)?,
            None => self.store.revoke(serial, revocation)?,
        }
        self.store.get(serial)?.ok_or_else(|| Error::UnknownSerial {
            serial: serial.hex(),
        })
    }

    /// Makes a v2 CRL of every revoked certificate, valid `days` (the `ca.toml` default when
    /// `None`), with the next CRL number, and writes it atomically to `DIR/crl.pem` — unless a
    /// concurrent run already wrote a higher-numbered one there (see [`CrlOutput::installed`]).
    pub fn crl(&mut self, days: Option<u32>) -> Result<CrlOutput> {
        let days = days.unwrap_or(self.config.ca.crl_days);
        if days == 0 {
            return Err(Error::invalid(
                "the CRL's validity",
                "must be at least 1 day",
            ));
        }
        let next = time::after_days(time::now(), days, "the CRL's nextUpdate")?;
        self.crl_until(next)
    }

    /// [`crl`](Self::crl) for a life of `secs` seconds (the online CA's
    /// `[online] crl_lifetime`, which may be shorter than a day).
    pub fn crl_for_secs(&mut self, secs: u64) -> Result<CrlOutput> {
        let now = time::now();
        let next = i64::try_from(secs)
            .ok()
            .and_then(|s| now.checked_add(::time::Duration::seconds(s.max(1))))
            .filter(|t| t.unix_timestamp() <= time::MAX_UNIX)
            .ok_or_else(|| Error::invalid("the CRL's lifetime", "ends after 9999-12-31"))?;
        self.crl_until(next)
    }

    fn crl_until(&mut self, next: ::time::OffsetDateTime) -> Result<CrlOutput> {
        // Every check before the store hands out a CRL number.
        let now = time::now();
        let (number, entries) = self.store.begin_crl()?;
        let issuer = self.crl_issuer()?;
        let fields = CrlFields {
            issuer: &issuer,
            this_update: now.unix_timestamp(),
            next_update: next.unix_timestamp(),
            number,
            key_id: &self.key_id,
        };
        let der = crl_der::signed_crl(&fields, &entries, self.key()?)?;
        let pem = pemutil::encode("X509 CRL", &der);
        let path = self.dir.join(files::CRL);
        let installed = self.store.finish_crl(
            CrlState {
                number,
                this_update: now.unix_timestamp(),
                next_update: next.unix_timestamp(),
            },
            &der,
            &mut || fsutil::write_atomic(&path, pem.as_bytes(), fsutil::Mode::Public, true),
        )?;
        Ok(CrlOutput {
            pem,
            number,
            entries: entries.len(),
            next_update: next.unix_timestamp(),
            installed,
        })
    }
}

impl CertificateAuthority {
    /// For a store shared by several instances: writes the CRL another instance published
    /// (the store's) to this directory's `crl.pem` when it differs, and returns its number;
    /// `None` when there is nothing newer (or the store is this machine's alone).
    pub fn sync_published_crl(&mut self) -> Result<Option<u64>> {
        let Some((state, der)) = self.store.published_crl()? else {
            return Ok(None);
        };
        let pem = pemutil::encode("X509 CRL", &der);
        let path = self.dir.join(files::CRL);
        if std::fs::read(&path).is_ok_and(|cur| cur == pem.as_bytes()) {
            return Ok(None);
        }
        fsutil::write_atomic(&path, pem.as_bytes(), fsutil::Mode::Public, true)?;
        Ok(Some(state.number))
    }
}

impl CertificateAuthority {
    /// The CA certificate's subject (the CRL's issuer), DER, once the certificate is checked
    /// to allow CRL signing (RFC 5280 4.2.1.3).
    fn crl_issuer(&self) -> Result<Vec<u8>> {
        let (_, cert) = X509Certificate::from_der(&self.cert_der)
            .map_err(|e| Error::decode(files::CERT, "certificate", e))?;
        if let Ok(Some(ku)) = cert.key_usage() {
            if !ku.value.crl_sign() {
                return Err(Error::invalid(
                    files::CERT,
                    "its keyUsage does not include cRLSign, so it cannot sign CRLs",
                ));
            }
        }
        Ok(cert.subject().as_raw().to_vec())
    }
}
