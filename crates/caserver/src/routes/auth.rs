//! Who the caller is. Roles come from the store, never from what a certificate says: an
//! admin is the holder of a certificate recorded under the `admin` profile, not revoked and
//! not expired.

use mtls_pki::store::AuditEntry;
use mtls_pki::{Serial, profile};

use super::Peer;
use crate::error::ApiError;
use crate::state::{Shared, audit, with_ca};

/// The caller of a request.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// Presented no certificate, or one this CA has no record of.
    Anonymous,
    /// Holds a valid certificate of this CA.
    Holder(Serial),
    /// Holds a valid certificate of this CA under the `admin` profile.
    Admin(Serial),
}

impl Caller {
    /// The audit log's `actor`.
    pub fn actor(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::Holder(s) | Caller::Admin(s) => format!("cert:{}", s.hex()),
        }
    }
}

/// Looks the peer's certificate up in the store.
pub(crate) async fn caller(s: &Shared, peer: &Peer) -> Result<Caller, ApiError> {
    let Some(der) = peer.cert.clone() else {
        return Ok(Caller::Anonymous);
    };
    with_ca(s, move |ca| {
        let Ok(serial) = mtls_pki::inspect::cert_serial(&der, "the client certificate") else {
            return Ok(Caller::Anonymous);
        };
        let now = mtls_pki::time::now().unix_timestamp();
        Ok(match ca.store().get(&serial)? {
            Some(r) if r.der == der && r.revoked_at.is_none() && r.not_after > now => {
                match r.profile == profile::ADMIN {
                    true => Caller::Admin(serial),
                    false => Caller::Holder(serial),
                }
            }
            _ => Caller::Anonymous,
        })
    })
    .await
}

/// The caller, if an admin; else 401 (no certificate of this CA) or 403 (not an admin),
/// written to the audit log as a refused `action`.
pub(crate) async fn admin(s: &Shared, peer: &Peer, action: &str) -> Result<Serial, ApiError> {
    let caller = caller(s, peer).await?;
    let e = match caller {
        Caller::Admin(serial) => return Ok(serial),
        Caller::Holder(_) => {
            ApiError::forbidden("this needs an admin certificate (profile admin); yours is not one")
        }
        Caller::Anonymous => unauthenticated(),
    };
    refused(s, peer, &caller, action, None, &e).await;
    Err(e)
}

/// Writes a refused `action` of `caller` to the audit log.
pub(crate) async fn refused(
    s: &Shared,
    peer: &Peer,
    caller: &Caller,
    action: &str,
    target: Option<String>,
    e: &ApiError,
) {
    let mut entry = AuditEntry::new(
        mtls_pki::time::now().unix_timestamp(),
        caller.actor(),
        action,
    );
    entry.peer = Some(peer.addr.to_string());
    entry.target = target;
    entry.outcome = e.outcome();
    entry.detail = Some(e.message.clone());
    audit(s, entry).await;
}

/// 401 for a request without a usable client certificate.
pub(crate) fn unauthenticated() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "client_certificate_required",
        "present a valid client certificate of this CA (an admin's: `mtls ca issue NAME --profile admin`)",
    )
}
