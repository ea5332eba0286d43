//! Signed OCSP answers kept for reuse, pre-signed (`ocsp_presign`) or signed for an earlier
//! request: a request without a nonce, for one certificate, is answered from here until half
//! its validity has passed. Revocations empty their entries before the revoke call returns, and an answer signed
//! from a status read before a revocation is never stored after it (an epoch check), so no
//! stale "good" is served once a revoke has returned. Changes made by another process (a
//! `mtls ca revoke` on the CA machine) empty the whole cache within a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The most answers kept (about 300 bytes each). Beyond it new answers are signed per request.
const MAX_ENTRIES: usize = 500_000;

/// One signed answer.
pub(crate) struct Cached {
    /// The DER OCSPResponse.
    pub der: Vec<u8>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: i64,
}

impl Cached {
    /// Still worth serving at `now`: before half of its life (RFC 5019 clients may cache it
    /// until nextUpdate, so it is renewed well before).
    fn fresh(&self, now: i64) -> bool {
        now < self.this_update + (self.next_update - self.this_update) / 2
    }
}

/// The answers for one serial, one per CertID form, keyed by the CertID's DER.
type Forms = Vec<(Vec<u8>, Arc<Cached>)>;

#[derive(Default)]
struct Inner {
    /// Bumped by every invalidation.
    epoch: u64,
    /// Serial (hex) → the answers for it, one per CertID form (SHA-1, SHA-256 …), keyed by the
    /// CertID's DER.
    by_serial: HashMap<String, Forms>,
    entries: usize,
}

/// The cache; shared by every request handler.
#[derive(Default)]
pub(crate) struct Cache {
    inner: RwLock<Inner>,
}

impl Cache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The fresh answer for `cert_id` (DER) of `serial`, if any.
    pub(crate) fn get(&self, serial: &str, cert_id: &[u8], now: i64) -> Option<Arc<Cached>> {
        let g = self.read();
        g.by_serial
            .get(serial)?
            .iter()
            .find(|(k, c)| k == cert_id && c.fresh(now))
            .map(|(_, c)| c.clone())
    }

    /// The epoch to pass to [`put`](Self::put): read it before looking the status up.
    pub(crate) fn epoch(&self) -> u64 {
        self.read().epoch
    }

    /// Keeps `answer`, unless something was invalidated since `epoch` (the status it was
    /// signed from may be stale) or the cache is full.
    pub(crate) fn put(&self, epoch: u64, serial: String, cert_id: Vec<u8>, answer: Cached) {
        let mut g = self.write();
        if g.epoch != epoch || g.entries >= MAX_ENTRIES {
            return;
        }
        let list = g.by_serial.entry(serial).or_default();
        let had = list.iter().any(|(k, _)| *k == cert_id);
        list.retain(|(k, _)| *k != cert_id);
        list.push((cert_id, Arc::new(answer)));
        if !had {
            g.entries += 1;
        }
    }

    /// Drops the answers for `serial` (a revocation just committed).
    pub(crate) fn invalidate(&self, serial: &str) {
        let mut g = self.write();
        g.epoch += 1;
        if let Some(list) = g.by_serial.remove(serial) {
            g.entries -= list.len().min(g.entries);
        }
    }

    /// Drops everything (another process changed the store).
    pub(crate) fn clear(&self) {
        let mut g = self.write();
        g.epoch += 1;
        g.by_serial.clear();
        g.entries = 0;
    }

    /// True when no more answers are kept.
    pub(crate) fn full(&self) -> bool {
        self.read().entries >= MAX_ENTRIES
    }

    /// How many answers are kept.
    pub(crate) fn len(&self) -> usize {
        self.read().entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(t: i64) -> Cached {
        Cached {
            der: vec![1, 2, 3],
            this_update: t,
            next_update: t + 100,
        }
    }

    #[test]
    fn an_answer_signed_before_an_invalidation_is_not_kept() {
        let c = Cache::default();
        let e = c.epoch();
        c.put(e, "AB".into(), vec![1], answer(1000));
        assert!(c.get("AB", &[1], 1010).is_some());
        assert!(c.get("AB", &[2], 1010).is_none(), "another CertID form");
        assert!(c.get("AB", &[1], 1050).is_none(), "past half its life");
        let stale = c.epoch();
        c.invalidate("AB");
        assert!(c.get("AB", &[1], 1010).is_none());
        c.put(stale, "AB".into(), vec![1], answer(1000));
        assert!(
            c.get("AB", &[1], 1010).is_none(),
            "signed from a stale status"
        );
        c.put(c.epoch(), "AB".into(), vec![1], answer(1000));
        c.put(c.epoch(), "AB".into(), vec![1], answer(1001));
        assert_eq!(c.len(), 1);
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
