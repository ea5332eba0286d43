//! Following a shared store (PostgreSQL): every instance applies every change, in order, on a
//! thread of its own (the feed blocks), and reports what it has applied and which CRL it
//! serves. A revocation through the API waits on those reports ([`propagated`]), so that when
//! the revoke call returns, every live instance's OCSP and CRL answers carry it.

use std::time::{Duration, Instant};

use mtls_pki::Serial;
use mtls_pki::store::backend::{Change, ChangeFeed, lagging};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::{Shared, with_ca};

/// How long the feed waits for a notification before it reports again (the heartbeat).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// An instance that has not reported for this long is taken for dead: nobody waits for it.
/// Three heartbeats, so one slow round trip does not count an instance out.
pub(crate) const LIVE_SECS: i64 = 3;

/// The longest a revoke call waits for every instance. Past it the revocation stands (it is
/// durable) and the answer names the instances that lag.
const PROPAGATION_WAIT: Duration = Duration::from_secs(5);

/// How often the waiting revoke call looks again.
const POLL: Duration = Duration::from_millis(5);

/// Starts following `feed` until `stop`.
pub(crate) fn follow(
    state: Shared,
    mut feed: Box<dyn ChangeFeed>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let spawned = std::thread::Builder::new()
        .name("mtls-store-feed".into())
        .spawn(move || {
            let mut failing = false;
            // A CRL announced but not fetched (the store was down), or published between the
            // start's CRL and the feed's first change: fetched on the next beat, so that the
            // instance does not serve (and report) an old one until the keeper looks.
            let mut crl_missed = true;
            while !*stop.borrow() {
                let step = feed.next(HEARTBEAT).and_then(|changes| {
                    crl_missed = !apply(&state, &changes, crl_missed);
                    feed.report(&state.instance, served_crl(&state))
                });
                match step {
                    Ok(()) => failing = false,
                    Err(e) => {
                        if !failing {
                            eprintln!(
                                "warning: ca serve lost the store's change feed (retrying): {e}"
                            );
                        }
                        failing = true;
                        std::thread::sleep(HEARTBEAT);
                    }
                }
            }
            // A clean stop: the others need not wait for this instance's heartbeat to lapse.
            let _ = feed.leave(&state.instance);
        });
    if let Err(e) = spawned {
        eprintln!("warning: ca serve could not start following the store's changes: {e}");
    }
}

/// Acts on `changes`, in order: a revocation drops that certificate's OCSP answers and wakes
/// the CRL writer; a published CRL (or one `missed` before) is fetched and served before the
/// report says so. False when that fetch failed.
fn apply(state: &Shared, changes: &[Change], missed: bool) -> bool {
    let mut new_crl = missed;
    for c in changes {
        match (&c.serial, c.kind.as_str()) {
            (Some(serial), "revoke") => {
                state.ocsp.cache.invalidate(&serial.hex());
                state.crl_dirty.notify_one();
            }
            // Served as it is, never answered with another CRL (that would loop).
            (_, "crl") => new_crl = true,
            (_, "config") => reload_config(state),
            _ => {}
        }
    }
    if new_crl && let Err(e) = state.ca().sync_published_crl() {
        eprintln!("warning: ca serve could not fetch the published CRL: {e}");
        return false;
    }
    true
}

/// The number of the CRL this instance serves.
fn served_crl(state: &Shared) -> Option<u64> {
    state.crl.get()?.number.as_deref()?.parse().ok()
}

/// Applies the configuration an instance pushed to the shared store (`mtls ca config push`).
fn reload_config(state: &Shared) {
    let mut ca = state.ca();
    match ca.reload_config() {
        Ok(true) => {
            let names = ca.config().profiles.keys().cloned().collect();
            *state.profiles.write().unwrap_or_else(|p| p.into_inner()) = names;
            eprintln!("ca serve: applied the configuration pushed to the store");
        }
        Ok(false) => {}
        Err(e) => eprintln!(
            "warning: ca serve keeps its configuration; the one pushed to the store does not load: {e}"
        ),
    }
}

/// How far a revocation has spread when the revoke call answers.
#[derive(Debug, Serialize)]
pub(crate) struct Propagation {
    /// True when every live instance (this one included) answers OCSP with it and serves a
    /// CRL that lists it.
    pub propagated: bool,
    /// The instances that did not within the wait, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lagging: Vec<String>,
}

/// Waits (up to [`PROPAGATION_WAIT`]) until this instance serves a CRL listing `serial` and
/// every other live instance of a shared store has acted on the revocation and serves that CRL
/// or a later one. This instance's own OCSP answers are already right: the caller dropped
/// them before.
///
/// # Cancel safety
///
/// Cancel safe: it only reads.
pub(crate) async fn propagated(state: &Shared, serial: &Serial) -> Propagation {
    let deadline = Instant::now() + PROPAGATION_WAIT;
    let hex = serial.hex();
    let change = with_ca(state, |ca| ca.store().last_change().map_err(ApiError::from))
        .await
        .unwrap_or(0);
    // The first CRL of this instance's to list it: every later one does too, so an instance
    // serving it or a later one has it. (Not the newest: under a stream of revocations that
    // target would keep moving ahead of the others.)
    let mut first = None;
    loop {
        let lag = lag(state, &hex, change, &mut first).await;
        if lag.is_empty() || Instant::now() >= deadline {
            if !lag.is_empty() {
                eprintln!(
                    "warning: the revocation of {hex} is durable, but after {} s these still lag: {}",
                    PROPAGATION_WAIT.as_secs(),
                    lag.join("; ")
                );
            }
            return Propagation {
                propagated: lag.is_empty(),
                lagging: lag,
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What still misses the revocation of `hex` (change `change`); `first` is the number of the
/// first CRL of this instance's seen to list it.
async fn lag(state: &Shared, hex: &str, change: i64, first: &mut Option<u64>) -> Vec<String> {
    if first.is_none() {
        *first = state
            .crl
            .get()
            .filter(|c| c.revoked.contains(hex))
            .and_then(|c| c.number.as_deref()?.parse::<u64>().ok());
    }
    let Some(number) = *first else {
        return vec![format!("{}: its CRL does not list it yet", state.instance)];
    };
    let reports = with_ca(state, |ca| {
        ca.store().instances(LIVE_SECS).map_err(ApiError::from)
    })
    .await;
    match reports {
        Ok(r) => lagging(&r, change, Some(number))
            .into_iter()
            .map(|r| {
                let crl = r.crl_number.map_or("none".into(), |n| n.to_string());
                format!(
                    "{}: applied change {} of {change}, serves CRL {crl} of {number}",
                    r.id, r.applied
                )
            })
            .collect(),
        Err(e) => vec![format!("the store: {}", e.message)],
    }
}
