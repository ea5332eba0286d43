//! The CRL keeper: a CRL that never lapses. It makes a new CRL when there is none, when 2/3 of
//! the current one's life has passed, and right after a revocation through the API. On a
//! store shared by several instances one of them (`Role::CrlWriter`, an advisory lock) makes
//! the CRLs and the others serve the one it published; when it dies another takes over within
//! [`FOLLOW_EVERY`].

use std::time::Duration;

use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::{Shared, with_ca};

/// The longest the keeper sleeps between checks: the CRL may also be replaced by hand
/// (`mtls ca crl`), and the clock may jump.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// After a failure (a full disk), the next attempt comes this much later.
const RETRY: Duration = Duration::from_secs(30);

/// How often an instance that does not write the CRLs of a shared store tries to take the
/// role over (the writer died) and checks for a CRL it missed.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);

/// True when this instance writes the CRLs (always, for a store of one machine). Another
/// instance of a shared store writes them otherwise; this one serves theirs.
async fn leading(state: &Shared) -> bool {
    with_ca(state, |ca| {
        ca.store()
            .try_lead(mtls_pki::store::Role::CrlWriter)
            .map_err(ApiError::from)
    })
    .await
    .unwrap_or(false)
}

/// Serves the CRL the writing instance published, when it is new.
async fn follow(state: &Shared) {
    match with_ca(state, |ca| ca.sync_published_crl().map_err(ApiError::from)).await {
        Ok(_) => {}
        Err(e) => eprintln!(
            "warning: ca serve could not fetch the published CRL: {}",
            e.message
        ),
    }
}

/// Runs until `stop`.
pub(crate) async fn keep_crl(state: Shared, mut stop: watch::Receiver<bool>) {
    // A revocation heard while another instance wrote the CRLs: if that writer dies before it
    // published one, this instance, taking over, must not miss it.
    let mut missed = false;
    loop {
        if !leading(&state).await {
            follow(&state).await;
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                _ = state.crl_dirty.notified() => missed = true,
                _ = stop.changed() => return,
            }
            continue;
        }
        let missed_one = std::mem::take(&mut missed);
        let wait = match due_in(&state).await {
            Ok(Some(wait)) if !missed_one => wait,
            Ok(_) => match regenerate(&state).await {
                Ok(()) => continue,
                Err(e) => {
                    eprintln!("warning: ca serve could not renew the CRL: {}", e.message);
                    RETRY
                }
            },
            Err(e) => {
                eprintln!(
                    "warning: ca serve could not read the CRL state: {}",
                    e.message
                );
                RETRY
            }
        };
        tokio::select! {
            // Not past FOLLOW_EVERY: the role is checked again (a lost connection loses it).
            _ = tokio::time::sleep(wait.min(MAX_SLEEP).min(FOLLOW_EVERY)) => {}
            _ = state.crl_dirty.notified() => {
                if let Err(e) = regenerate(&state).await {
                    eprintln!("warning: ca serve could not renew the CRL: {}", e.message);
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// How long until the CRL is due for renewal; `None` when it is due now.
async fn due_in(state: &Shared) -> Result<Option<Duration>, ApiError> {
    let crl = with_ca(state, |ca| ca.store().crl_state().map_err(ApiError::from)).await?;
    let now = mtls_pki::time::now().unix_timestamp();
    Ok(crl.and_then(|c| {
        let due = c.this_update + (c.next_update - c.this_update) * 2 / 3;
        (due > now).then(|| Duration::from_secs((due - now) as u64))
    }))
}

async fn regenerate(state: &Shared) -> Result<(), ApiError> {
    with_ca(state, |ca| {
        let made = match ca.config().online.crl_lifetime_secs() {
            Some(secs) => ca.crl_for_secs(secs),
            None => ca.crl(None),
        };
        made.map(|_| ()).map_err(ApiError::from)
    })
    .await
}
