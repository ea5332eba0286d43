//! Failed token attempts, limited per client address, so that guessing tokens over the
//! network is hopeless even beyond their 256 bits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per address within [`WINDOW`] before it must wait.
pub const MAX_FAILURES: u32 = 10;

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Addresses tracked at most; the oldest windows are forgotten beyond it, so a flood of
/// addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 65_536;

/// Failure counts per address.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl FailureLimiter {
    /// `Err(seconds to wait)` when `ip` has used up its failures in the current window.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&ip) {
            Some((n, start)) if *n >= MAX_FAILURES && start.elapsed() < WINDOW => {
                Err(WINDOW.saturating_sub(start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure of `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, (_, start)| start.elapsed() < WINDOW);
        }
        if seen.len() >= MAX_TRACKED {
            return;
        }
        let e = seen.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 = e.0.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_after_its_failures_and_others_do_not() {
        let l = FailureLimiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.check(a).is_ok());
            l.fail(a);
        }
        let wait = l.check(a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check(b).is_ok());
    }
}
