//! The audit log: who did what to the CA, when, and from where.

use serde::Serialize;

/// One action on the CA, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Its position in the log (0 for an entry not yet written).
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: `token:NAME`, `cert:SERIAL` (an mTLS client), `local` (a command on the CA
    /// machine) or `anonymous`.
    pub actor: String,
    /// What: `enroll`, `renew`, `revoke`, `token.create`, `crl` …
    pub action: String,
    /// What it was done to (a serial, a token name), if anything.
    pub target: Option<String>,
    /// The client's address, for actions over the network.
    pub peer: Option<String>,
    /// `ok`, or why it was refused (`token_expired`, `forbidden` …).
    pub outcome: String,
    /// Anything else worth keeping (the profile, the reason of a revocation …).
    pub detail: Option<String>,
}

impl AuditEntry {
    /// A new entry at `at`, outcome `ok`, with no target, peer or detail.
    pub fn new(at: i64, actor: impl Into<String>, action: impl Into<String>) -> AuditEntry {
        AuditEntry {
            id: 0,
            at,
            actor: actor.into(),
            action: action.into(),
            target: None,
            peer: None,
            outcome: "ok".into(),
            detail: None,
        }
    }
}
