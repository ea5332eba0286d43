//! The CA's record of everything it issued and revoked.
//!
//! Issuance code talks to the [`Store`] trait only, so a PostgreSQL backend for several CA
//! instances can be added without touching it. The built-in backend is [`sqlite::SqliteStore`];
//! others are reached by URL through [`backend`]. [`conformance`] is the behaviour every
//! backend must show.

mod audit;
pub mod backend;
pub mod conformance;
mod schema;
pub mod sqlite;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::error::Result;
use crate::serial::Serial;
use crate::token::{TokenHash, TokenRecord};

pub use audit::AuditEntry;

/// Why a certificate was revoked (RFC 5280 CRLReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): a held certificate released. openssl's `ca -revoke -crl_reason
    /// removeFromCRL` writes it, and lists the entry in its CRLs with this reason; RFC 5280
    /// 6.3.3 (k) makes such an entry UNREVOKED for a verifier.
    RemoveFromCrl,
}

impl Reason {
    /// Every reason with its RFC 5280 / openssl name.
    pub const ALL: [(Reason, &'static str); 8] = [
        (Reason::Unspecified, "unspecified"),
        (Reason::KeyCompromise, "keyCompromise"),
        (Reason::CaCompromise, "CACompromise"),
        (Reason::AffiliationChanged, "affiliationChanged"),
        (Reason::Superseded, "superseded"),
        (Reason::CessationOfOperation, "cessationOfOperation"),
        (Reason::CertificateHold, "certificateHold"),
        (Reason::RemoveFromCrl, "removeFromCRL"),
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            Reason::Unspecified => 0,
            Reason::KeyCompromise => 1,
            Reason::CaCompromise => 2,
            Reason::AffiliationChanged => 3,
            Reason::Superseded => 4,
            Reason::CessationOfOperation => 5,
            Reason::CertificateHold => 6,
            Reason::RemoveFromCrl => 8,
        }
    }

    /// From a CRLReason code.
    pub fn from_code(c: u8) -> Option<Reason> {
        Reason::ALL.iter().map(|(r, _)| *r).find(|r| r.code() == c)
    }

    /// The openssl name (`keyCompromise` …).
    pub fn name(self) -> &'static str {
        Reason::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, n)| *n)
            .unwrap_or("unspecified")
    }

    /// Parses a name, case-insensitively.
    pub fn parse(s: &str) -> Result<Reason> {
        Reason::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(r, _)| *r)
            .ok_or_else(|| {
                crate::Error::invalid(
                    format!("revocation reason {s:?}"),
                    "unknown; use unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold or removeFromCRL",
                )
            })
    }
}

/// One issued certificate as the store keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct CertRecord {
    /// The serial number.
    #[serde(serialize_with = "ser_serial")]
    pub serial: Serial,
    /// Subject in OpenSSL one-line form.
    pub subject: String,
    /// The subject's CN, if any.
    pub cn: Option<String>,
    /// subjectAltNames in OpenSSL notation.
    pub sans: Vec<String>,
    /// The profile it was issued under (`imported` for certificates taken over from openssl).
    pub profile: String,
    /// notBefore, Unix seconds; `None` for a record imported from `index.txt` without its
    /// certificate file (index.txt keeps only the expiry).
    pub not_before: Option<i64>,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Revocation time, Unix seconds.
    pub revoked_at: Option<i64>,
    /// Revocation reason.
    pub reason: Option<Reason>,
    /// When the key is known or suspected to have been compromised (the CRL entry's
    /// invalidityDate; openssl's `-crl_compromise` / `-crl_CA_compromise`), Unix seconds.
    pub invalidity_date: Option<i64>,
    /// The hold instruction of a certificateHold (the CRL entry's holdInstructionCode), a
    /// dotted OID; see [`hold`].
    pub hold_instruction: Option<String>,
    /// The certificate, DER (may be empty for records imported without the certificate file).
    #[serde(skip)]
    pub der: Vec<u8>,
}

fn ser_serial<S: serde::Serializer>(s: &Serial, ser: S) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_str(&s.hex())
}

impl CertRecord {
    /// True when the record came from openssl's `index.txt` alone (no certificate file).
    pub fn from_index_only(&self) -> bool {
        self.der.is_empty()
    }

    /// The revocation, if revoked.
    pub fn revocation(&self) -> Option<Revocation> {
        Some(Revocation {
            at: self.revoked_at?,
            reason: self.reason.unwrap_or(Reason::Unspecified),
            invalidity_date: self.invalidity_date,
            hold_instruction: self.hold_instruction.clone(),
        })
    }
}

/// A revocation: when, why, and the CRL entry's optional details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// When, Unix seconds.
    pub at: i64,
    /// Why.
    pub reason: Reason,
    /// The invalidityDate (RFC 5280 5.3.2), Unix seconds.
    pub invalidity_date: Option<i64>,
    /// The holdInstructionCode (RFC 5280 5.3.2 in its 1999 form, kept by openssl), dotted OID.
    pub hold_instruction: Option<String>,
}

impl Revocation {
    /// A revocation now-or-`at` with only a reason.
    pub fn new(at: i64, reason: Reason) -> Revocation {
        Revocation {
            at,
            reason,
            invalidity_date: None,
            hold_instruction: None,
        }
    }
}

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The serial number.
    pub serial: Serial,
    /// The revocation.
    pub revocation: Revocation,
}

/// Hold instructions (RFC 3280 5.3.2; the `holdInstruction` arc 1.2.840.10040.2), by the names
/// openssl knows them (`openssl ca -crl_hold`).
pub mod hold {
    /// holdInstructionNone.
    pub const NONE: &str = "1.2.840.10040.2.1";
    /// holdInstructionCallIssuer.
    pub const CALL_ISSUER: &str = "1.2.840.10040.2.2";
    /// holdInstructionReject.
    pub const REJECT: &str = "1.2.840.10040.2.3";

    const NAMES: [(&str, &str, &str); 3] = [
        (NONE, "holdInstructionNone", "Hold Instruction None"),
        (
            CALL_ISSUER,
            "holdInstructionCallIssuer",
            "Hold Instruction Call Issuer",
        ),
        (REJECT, "holdInstructionReject", "Hold Instruction Reject"),
    ];

    /// The dotted OID of an openssl short or long name, or of a dotted OID (checked).
    pub fn parse(s: &str) -> Option<String> {
        if let Some((oid, _, _)) = NAMES
            .iter()
            .find(|(_, short, long)| short.eq_ignore_ascii_case(s) || long.eq_ignore_ascii_case(s))
        {
            return Some((*oid).to_string());
        }
        let arcs: Vec<&str> = s.split('.').collect();
        let valid = arcs.len() >= 2
            && arcs
                .iter()
                .all(|a| !a.is_empty() && a.len() <= 19 && a.bytes().all(|b| b.is_ascii_digit()))
            && matches!(arcs[0], "0" | "1" | "2");
        valid.then(|| s.to_string())
    }

    /// The openssl short name of a dotted OID, or the OID itself.
    pub fn name(oid: &str) -> &str {
        NAMES
            .iter()
            .find(|(o, _, _)| *o == oid)
            .map(|(_, short, _)| *short)
            .unwrap_or(oid)
    }
}

/// What [`Store::insert_guarded`] checks and records besides the certificates.
#[derive(Debug, Clone, Default)]
pub struct InsertGuard {
    /// openssl's `unique_subject`: refuse (with [`crate::Error::SubjectNotUnique`]) a record
    /// whose subject a certificate valid at this time (not revoked, not expired) already has,
    /// or another record of the same call.
    pub unique_at: Option<i64>,
    /// An enrollment token to take one use of: its hash, and the time deciding its expiry.
    pub token: Option<(TokenHash, i64)>,
    /// The certificate the (single) record renews.
    pub supersedes: Option<Serial>,
    /// An audit entry written in the same transaction when the record is inserted (its
    /// target set to the new serial): the log and the store cannot disagree, and a batch
    /// costs one fsync, not two.
    pub audit: Option<AuditEntry>,
}

/// Which records [`Store::list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Not revoked and not expired.
    Valid,
    /// Revoked.
    Revoked,
    /// Expired and not revoked.
    Expired,
    /// Everything.
    #[default]
    All,
}

/// A task only one instance of a shared store does at a time ([`Store::try_lead`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Making the CRLs every instance serves.
    CrlWriter,
    /// Pre-signing OCSP answers (the others sign theirs when first asked).
    OcspPresigner,
}

/// State of the last CRL, for staleness warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlState {
    /// The last CRL number issued.
    pub number: u64,
    /// Its thisUpdate, Unix seconds.
    pub this_update: i64,
    /// Its nextUpdate, Unix seconds.
    pub next_update: i64,
}

/// The CA's persistent record. Every method is one transaction.
pub trait Store: Send {
    /// Inserts certificates in one transaction. A serial already present makes the whole call
    /// fail with [`crate::Error::DuplicateSerial`] naming it, inserting nothing; callers retry
    /// with new serials (random 126-bit serials make this practically impossible, but it is
    /// checked).
    fn insert(&mut self, records: &[CertRecord]) -> Result<()>;
    /// The serial of a certificate with exactly this subject that is valid at `now` (not
    /// revoked, not expired), if any.
    fn valid_with_subject(&self, subject: &str, now: i64) -> Result<Option<Serial>>;
    /// True when the serial is recorded.
    fn contains(&self, serial: &Serial) -> Result<bool>;
    /// One record.
    fn get(&self, serial: &Serial) -> Result<Option<CertRecord>>;
    /// Marks a certificate revoked; unknown or already revoked serials are errors.
    fn revoke(&mut self, serial: &Serial, revocation: &Revocation) -> Result<()>;
    /// [`Store::revoke`] with `audit` written in the same transaction: a revocation is never
    /// recorded without its audit row, whatever happens to the process after.
    fn revoke_audited(
        &mut self,
        serial: &Serial,
        revocation: &Revocation,
        audit: &AuditEntry,
    ) -> Result<()>;
    /// Reserves the next CRL number and returns it with every revoked entry, atomically.
    fn begin_crl(&mut self) -> Result<(u64, Vec<RevokedEntry>)>;
    /// Publishes the CRL issued under `state.number`: runs `write` (which writes `crl.pem`) and
    /// records `state`, in one transaction that excludes other writers, unless a CRL with a
    /// higher number was published meanwhile by another process. Then nothing is written and
    /// the result is `false`: the published CRL lists every revocation this one does (its number
    /// was reserved later), and `crl.pem` never goes back to a lower number.
    fn finish_crl(
        &mut self,
        state: CrlState,
        der: &[u8],
        write: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool>;
    /// The last CRL's state, if any was issued.
    fn crl_state(&self) -> Result<Option<CrlState>>;
    /// The last CRL published through [`Store::finish_crl`] (its state and DER), for a store
    /// shared by several instances, each of which serves it; `None` for a store of one machine,
    /// whose `crl.pem` is the published CRL.
    fn published_crl(&self) -> Result<Option<(CrlState, Vec<u8>)>> {
        Ok(None)
    }
    /// Tries to become (or checks that this connection still is) the one instance that does
    /// `role` for a shared store; the role is held until the connection ends, so another
    /// instance takes over when this one dies. Always true for a store of one machine.
    fn try_lead(&mut self, role: Role) -> Result<bool> {
        let _ = role;
        Ok(true)
    }
    /// The id of the newest change in a shared store's change sequence (0 for a store of one
    /// machine, which has none): a revocation that has returned is at or before it.
    fn last_change(&self) -> Result<i64> {
        Ok(0)
    }
    /// The instances of a shared store that reported (through
    /// [`backend::ChangeFeed::report`]) within the last `live_secs` seconds of the store's
    /// clock; empty for a store of one machine.
    fn instances(&self, live_secs: i64) -> Result<Vec<backend::InstanceReport>> {
        let _ = live_secs;
        Ok(Vec::new())
    }
    /// The `ca.toml` text kept in a shared store ([`Store::set_config_text`]), which every
    /// instance uses instead of its own file (but for `[store]`); `None` for a store of one
    /// machine, whose CA reads `ca.toml` from its directory.
    fn config_text(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Keeps `text` (already validated) as the configuration every instance of a shared
    /// store uses, announcing the change to them.
    ///
    /// # Errors
    ///
    /// For a store of one machine: there, `ca.toml` in the CA directory is the configuration.
    fn set_config_text(&mut self, text: &str, at: i64) -> Result<()> {
        let _ = (text, at);
        Err(crate::Error::invalid(
            "the configuration",
            "this CA keeps it in ca.toml in its directory (SQLite store); edit that file",
        ))
    }
    /// Records matching `filter`, optionally only those expiring before `expiring_before`.
    fn list(
        &self,
        filter: StatusFilter,
        now: i64,
        expiring_before: Option<i64>,
    ) -> Result<Vec<CertRecord>>;
    /// Calls `f` for every record in serial order, streaming (for exports of millions).
    fn for_each(&self, f: &mut dyn FnMut(CertRecord) -> Result<()>) -> Result<()>;
    /// Up to `limit` serials of unrevoked certificates valid at `now`, after `after` in the
    /// store's serial order (paging: pass the last one returned), for pre-signing OCSP answers.
    fn valid_serials(&self, now: i64, after: Option<&Serial>, limit: usize) -> Result<Vec<Serial>>;
    /// True when at least one certificate is revoked (an indexed probe, not a count).
    fn any_revoked(&self) -> Result<bool>;
    /// Counts of (all, revoked) records.
    fn counts(&self) -> Result<(u64, u64)>;
    /// A number that differs from the previous call's when another process (a `mtls ca`
    /// command beside `ca serve`) has committed to the store in between: what lets a server
    /// drop answers it cached. Cheap enough to call every second.
    fn data_version(&self) -> Result<i64>;
    /// The last CRL number reserved by [`Store::begin_crl`] (or set by import); 0 when none.
    fn last_crl_number(&self) -> Result<u64>;
    /// Sets the next CRL number to at least `n` (used by import to continue numbering).
    fn set_min_crl_number(&mut self, n: u64) -> Result<()>;
    /// Records the state of a CRL published elsewhere (import: openssl's last CRL), unless a
    /// CRL with a number at least as high is recorded already.
    fn set_crl_state(&mut self, state: CrlState) -> Result<()>;
    /// Stores a new enrollment token under its hash.
    fn add_token(&mut self, hash: &TokenHash, token: &TokenRecord) -> Result<()>;
    /// The token with this hash, if any (whatever its state).
    fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>>;
    /// [`Store::token`] for each of `hashes`, in order: a batch's tokens in one round trip
    /// where the store is remote.
    fn tokens_by_hash(&self, hashes: &[TokenHash]) -> Result<Vec<Option<TokenRecord>>> {
        hashes.iter().map(|h| self.token(h)).collect()
    }
    /// Every enrollment token with its hash, whatever its state (copying a store).
    fn tokens(&self) -> Result<Vec<(TokenHash, TokenRecord)>>;
    /// Every renewal as (new serial, old serial), oldest first (copying a store).
    fn renewals(&self) -> Result<Vec<(Serial, Serial)>>;
    /// As [`Store::insert`], checking and recording what `guard` says in the same
    /// transaction: openssl's `unique_subject`, one use of an enrollment token (when the token
    /// is unknown, expired or used up, nothing is recorded and the error is
    /// [`crate::Error::TokenRefused`]), and the certificate a renewal supersedes.
    fn insert_guarded(&mut self, records: &[CertRecord], guard: &InsertGuard) -> Result<()>;
    /// Records each `(record, guard)` as [`Store::insert_guarded`] would, all in one
    /// transaction (one fsync for the batch): an item refused (its token used up, its
    /// subject taken, its serial a duplicate) is left out with its error, and the others
    /// are recorded. Only a database failure fails the call, recording nothing.
    fn insert_each(&mut self, items: &[(CertRecord, InsertGuard)]) -> Result<Vec<Result<()>>>;
    /// The serial of the certificate `serial` superseded (it was renewed from), if any.
    fn superseded_by(&self, serial: &Serial) -> Result<Option<Serial>>;
    /// The serial of the certificate that superseded `serial` (its renewal), if any.
    fn supersedes(&self, serial: &Serial) -> Result<Option<Serial>>;
    /// Appends one entry to the audit log.
    fn add_audit(&mut self, entry: &AuditEntry) -> Result<()>;
    /// Appends `entries` to the audit log in one transaction (a batch's: one fsync).
    fn add_audits(&mut self, entries: &[AuditEntry]) -> Result<()>;
    /// The audit log, newest first: at most `limit` entries older than entry `before` (all
    /// when `None`).
    fn audit(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEntry>>;
}
