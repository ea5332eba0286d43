//! OCSP answers signed before anyone asks (what cfssl's `ocsprefresh` does): every unrevoked,
//! unexpired certificate gets a signed "good" for the CertID form clients send by default
//! (SHA-1, RFC 5019 2.1.1), so that a request is a cache lookup, not a signature. The sweep is
//! repeated at 40% of an answer's life, before the answers of the last one reach half of it
//! (where the cache stops serving them): they are never stale.
//!
//! On a store shared by several instances one of them pre-signs (`Role::OcspPresigner`, an
//! advisory lock), into its own cache; the others sign on a first request and cache that.
//!
//! Revocations need nothing from here: they empty their entries before they return, and a page
//! signed from statuses read before a revocation is not stored after it (the cache's epoch).

use std::time::Duration;

use mtls_ocsp::{HashAlg, Query, Signer, Status};
use mtls_pki::Serial;
use rcgen::SigningKey as _;
use tokio::sync::watch;

use crate::ocsp_cache::Cached;
use crate::state::{Shared, with_ca};

/// Serials read, then signed, at a time: a short hold of the CA lock each, and a few
/// milliseconds of signing on the blocking pool.
const PAGE: usize = 512;

/// Signs a good answer for each of `serials` (its SHA-1 CertID, no nonce) at `now`.
fn sign_page(s: &Shared, serials: &[Serial], now: i64) -> Vec<(String, Vec<u8>, Cached)> {
    let r = &s.ocsp;
    let key = r.key();
    let sign = |m: &[u8]| key.key.key_pair().sign(m).map_err(|e| e.to_string());
    let signer = Signer {
        algorithm_der: &key.algorithm_der,
        sign: &sign,
        delegate: key.delegate.as_ref(),
    };
    let next = now + r.life;
    let mut out = Vec::with_capacity(serials.len());
    for serial in serials {
        let Ok(id) = r.issuer.cert_id(serial.as_bytes(), HashAlg::Sha1) else {
            continue;
        };
        let Ok(id_der) = der::Encode::to_der(&id) else {
            continue;
        };
        let query = Query::for_id(id);
        if let Ok(der) = r
            .issuer
            .respond(&query, &mut |_| Status::Good, now, next, &signer)
        {
            let cached = Cached {
                der,
                this_update: now,
                next_update: next,
            };
            out.push((serial.hex(), id_der, cached));
        }
    }
    out
}

/// One sweep over the store; returns how many answers were signed.
async fn sweep(s: &Shared, stop: &watch::Receiver<bool>) -> usize {
    let mut after: Option<Serial> = None;
    let mut signed = 0;
    while !*stop.borrow() && !s.ocsp.cache.full() {
        let now = mtls_pki::time::now().unix_timestamp();
        // Read before the statuses: a revocation after this point voids the page.
        let epoch = s.ocsp.cache.epoch();
        let from = after.clone();
        let page = with_ca(s, move |ca| {
            ca.store()
                .valid_serials(now, from.as_ref(), PAGE)
                .map_err(crate::error::ApiError::from)
        })
        .await;
        let Ok(page) = page else {
            break;
        };
        let Some(last) = page.last().cloned() else {
            break;
        };
        let state = s.clone();
        let Ok(answers) = tokio::task::spawn_blocking(move || sign_page(&state, &page, now)).await
        else {
            break;
        };
        signed += answers.len();
        for (serial, id, cached) in answers {
            s.ocsp.cache.put(epoch, serial, id, cached);
        }
        after = Some(last);
    }
    signed
}

/// True when this instance pre-signs (always, for a store of one machine; one instance at a
/// time of a shared store, the others signing their answers when first asked).
async fn leading(s: &Shared) -> bool {
    with_ca(s, |ca| {
        ca.store()
            .try_lead(mtls_pki::store::Role::OcspPresigner)
            .map_err(crate::error::ApiError::from)
    })
    .await
    .unwrap_or(false)
}

/// Sweeps at start and then every 40% of an answer's life, until `stop`. An instance that does
/// not pre-sign looks every 5 s whether the one that does is gone.
pub(crate) async fn presign(s: Shared, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(u64::try_from(s.ocsp.life * 2 / 5).unwrap_or(1).max(1));
    let mut said = false;
    loop {
        let started = tokio::time::Instant::now();
        let lead = leading(&s).await;
        if lead {
            let n = sweep(&s, &stop).await;
            if !said {
                eprintln!(
                    "ca serve: OCSP answers pre-signed for {n} certificate(s) in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                said = true;
            }
        } else if !said {
            eprintln!(
                "ca serve: another instance pre-signs OCSP answers; this one signs them when first asked"
            );
            said = true;
        }
        let wait = if lead {
            every
        } else {
            every.min(Duration::from_secs(5))
        };
        tokio::select! {
            _ = tokio::time::sleep_until(started + wait) => {}
            _ = stop.changed() => return,
        }
    }
}
