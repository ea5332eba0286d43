//! Revocation and CRLs.

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, RevocationReason, RevokedCertParams,
    SerialNumber,
};

use super::{CertificateAuthority, files};
use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::store::{CertRecord, CrlState, Reason};
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
        self.store.revoke(serial, now, reason)?;
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
        // Every check before the store hands out a CRL number.
        let now = time::now();
        let next = time::after_days(now, days, "the CRL's nextUpdate")?;
        let (number, entries) = self.store.begin_crl()?;
        let revoked_certs = entries
            .iter()
            .map(|e| RevokedCertParams {
                serial_number: SerialNumber::from_slice(e.serial.as_bytes()),
                revocation_time: time::from_unix(e.revoked_at),
                // RFC 5280 5.3.1: reasonCode unspecified SHOULD be absent.
                reason_code: rcgen_reason(e.reason),
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: next,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::PreSpecified(self.key_id.clone()),
        };
        let key = self.key()?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), key.key_pair())
            .map_err(|e| Error::crypto("loading ca.crt as issuer", e))?;
        let crl = params
            .signed_by(&issuer)
            .map_err(|e| Error::crypto("signing the CRL", e))?;
        let pem = pemutil::encode("X509 CRL", crl.der());
        let path = self.dir.join(files::CRL);
        let installed = self.store.finish_crl(
            CrlState {
                number,
                this_update: now.unix_timestamp(),
                next_update: next.unix_timestamp(),
            },
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

fn rcgen_reason(r: Reason) -> Option<RevocationReason> {
    Some(match r {
        Reason::Unspecified => return None,
        Reason::KeyCompromise => RevocationReason::KeyCompromise,
        Reason::CaCompromise => RevocationReason::CaCompromise,
        Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
        Reason::Superseded => RevocationReason::Superseded,
        Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
        Reason::CertificateHold => RevocationReason::CertificateHold,
    })
}
