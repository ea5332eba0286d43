//! The work one verification may do, in one place.
//!
//! A peer's certificate chain is attacker-controlled input that arrives before any
//! authentication, so every costly step of a verification draws from a [`Budget`] through one
//! method, and a verification that runs out stops with
//! [`ErrorKind::VerificationBudgetExceeded`](crate::ErrorKind::VerificationBudgetExceeded)
//! instead of spending the server's CPU. Each default says why it was chosen.

use std::time::{Duration, Instant};

/// Search steps (issuer candidates visited). A legitimate chain needs one per certificate;
/// 2,000 lets a search walk through a thicket of cross-signed CAs of one name and still ends
/// in well under a millisecond of bookkeeping.
pub(crate) const MAX_STEPS: usize = 2_000;

/// Candidate paths evaluated in full. Each evaluation runs every check on the path, so this is
/// what bounds the work when many paths exist.
pub(crate) const MAX_PATHS: usize = 128;

/// Signature verifications, of certificates and of CRLs together, in units of one P-256
/// verification (slower keys count for more, see `sig::verify_cost`). rustls-webpki allows 100
/// checks (taken from the remedy for Go's CVE-2018-16875); mtls tries every candidate issuer's
/// key to rank candidates and checks CRL signatures too, so it allows twice that. A P-256 check
/// costs about 50 µs here: 200 units bound a hostile chain's signature work near 10 ms, whatever
/// keys it uses.
pub(crate) const MAX_SIGNATURES: usize = 200;

/// Bytes of CRL hashed for CRL signature checks in one verification. A CRL's signature check
/// hashes its whole body (50 MB for a million entries), so it is costly, but only keys of CAs
/// on an anchored path whose signatures all verify are ever tried (never a key the peer chose),
/// results are kept across handshakes and reloads, and a reloader checks new CRLs before
/// publishing them. This bound (1 GiB, 8 CAs deep of 128 MB CRLs) only stops a runaway; it
/// must not refuse a legitimate large CRL.
pub(crate) const MAX_CRL_BYTES: usize = 1 << 30;

/// Name-constraint comparisons, as rustls-webpki (taken from Go crypto/x509's default).
pub(crate) const MAX_NC_COMPARISONS: usize = 250_000;

/// Wall-clock time for one verification, as a backstop behind the counters above: they bound
/// the work, this bounds the damage of anything they miss. A normal verification takes well
/// under a millisecond; the first check of a 1M-entry CRL's signature about 25 ms.
pub(crate) const MAX_TIME: Duration = Duration::from_secs(1);

/// Which limit a verification ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// [`MAX_STEPS`].
    Steps,
    /// [`MAX_PATHS`].
    Paths,
    /// [`MAX_SIGNATURES`].
    Signatures,
    /// [`MAX_CRL_BYTES`].
    CrlBytes,
    /// [`MAX_NC_COMPARISONS`].
    NameConstraints,
    /// [`MAX_TIME`].
    Time,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Steps => write!(f, "more than {MAX_STEPS} path-building steps"),
            Exceeded::Paths => write!(f, "more than {MAX_PATHS} candidate paths"),
            Exceeded::Signatures => write!(f, "more than {MAX_SIGNATURES} signature checks"),
            Exceeded::CrlBytes => write!(
                f,
                "more than {} MiB of CRLs hashed for signature checks",
                MAX_CRL_BYTES >> 20
            ),
            Exceeded::NameConstraints => {
                write!(
                    f,
                    "more than {MAX_NC_COMPARISONS} name-constraint comparisons"
                )
            }
            Exceeded::Time => write!(f, "more than {} ms", MAX_TIME.as_millis()),
        }
    }
}

/// What is left of one verification's allowance.
#[derive(Debug)]
pub(crate) struct Budget {
    steps: usize,
    paths: usize,
    signatures: usize,
    crl_bytes: usize,
    /// Name-constraint comparisons left (drawn by `nc::check` directly, per comparison).
    pub nc_comparisons: usize,
    deadline: Instant,
    /// The first limit reached, if any: the verification reports it once.
    pub exceeded: Option<Exceeded>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            steps: MAX_STEPS,
            paths: MAX_PATHS,
            signatures: MAX_SIGNATURES,
            crl_bytes: MAX_CRL_BYTES,
            nc_comparisons: MAX_NC_COMPARISONS,
            deadline: Instant::now() + MAX_TIME,
            exceeded: None,
        }
    }
}

impl Budget {
    fn take(counter: &mut usize, n: usize) -> bool {
        match counter.checked_sub(n) {
            Some(left) => {
                *counter = left;
                true
            }
            None => false,
        }
    }

    fn refuse(&mut self, why: Exceeded) -> Result<(), Exceeded> {
        self.exceeded.get_or_insert(why);
        Err(why)
    }

    /// The wall clock, checked at every costly step.
    fn in_time(&mut self) -> Result<(), Exceeded> {
        if Instant::now() > self.deadline {
            return self.refuse(Exceeded::Time);
        }
        Ok(())
    }

    /// One search step.
    pub fn consume_step(&mut self) -> Result<(), Exceeded> {
        if !Self::take(&mut self.steps, 1) {
            return self.refuse(Exceeded::Steps);
        }
        self.in_time()
    }

    /// One evaluated path.
    pub fn consume_path(&mut self) -> Result<(), Exceeded> {
        if !Self::take(&mut self.paths, 1) {
            return self.refuse(Exceeded::Paths);
        }
        self.in_time()
    }

    /// One certificate signature check costing `cost` P-256 verifications (see
    /// `sig::verify_cost`: the peer chooses the keys, so a slow key counts for more).
    pub fn consume_signature(&mut self, cost: usize) -> Result<(), Exceeded> {
        if !Self::take(&mut self.signatures, cost) {
            return self.refuse(Exceeded::Signatures);
        }
        self.in_time()
    }

    /// One CRL signature check over `bytes` of signed data.
    pub fn consume_crl_signature(&mut self, bytes: usize) -> Result<(), Exceeded> {
        if !Self::take(&mut self.signatures, 1) {
            return self.refuse(Exceeded::Signatures);
        }
        if !Self::take(&mut self.crl_bytes, bytes) {
            return self.refuse(Exceeded::CrlBytes);
        }
        self.in_time()
    }

    /// Records that name-constraint comparisons ran out.
    pub fn name_constraints_exhausted(&mut self) {
        self.exceeded.get_or_insert(Exceeded::NameConstraints);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_refuses_once_spent_and_is_remembered() {
        let mut b = Budget::default();
        for _ in 0..MAX_SIGNATURES / 8 {
            b.consume_signature(8).unwrap();
        }
        assert_eq!(b.consume_signature(1), Err(Exceeded::Signatures));
        assert_eq!(b.exceeded, Some(Exceeded::Signatures));

        let mut b = Budget::default();
        b.consume_crl_signature(MAX_CRL_BYTES).unwrap();
        assert_eq!(b.consume_crl_signature(1), Err(Exceeded::CrlBytes));

        let mut b = Budget {
            deadline: Instant::now() - Duration::from_millis(1),
            ..Budget::default()
        };
        assert_eq!(b.consume_step(), Err(Exceeded::Time));
        // The first limit reached is the one reported.
        let _ = b.consume_path();
        assert_eq!(b.exceeded, Some(Exceeded::Time));
    }
}
