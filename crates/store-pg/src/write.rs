//! Writes that check as they go: inserting certificates (with the token use, uniqueness check
//! and audit row of the same transaction) and revoking one (with the change every instance
//! follows).

use mtls_pki::Serial;
use mtls_pki::store::{AuditEntry, CertRecord, InsertGuard, Reason, Revocation};
use mtls_pki::token::{TokenHash, TokenRefusal};
use mtls_pki::{Error, Result};
use postgres::GenericClient;

use crate::connect::{backend_error, describe, retryable};
use crate::store::{COLUMNS, PgStore, Stmts};

/// The start of an insert into `changes`: the id comes from one counter row, locked until the
/// transaction ends, so ids are handed out in commit order. (A sequence hands them out at
/// insert time: a reader could see 101 committed before 100, move past 100 and miss it.)
pub(crate) const NEXT_CHANGE: &str = "WITH c AS (UPDATE change_counter SET n = n + 1 WHERE id = 1 RETURNING n) \
                           INSERT INTO changes (id, at, kind, serial)";

/// The twelve `certs` columns of a record as query parameters ($1..$12, in [`COLUMNS`] order).
pub(crate) struct RecordParams<'a> {
    r: &'a CertRecord,
    serial: String,
    sans: String,
    reason: Option<i16>,
}

impl<'a> RecordParams<'a> {
    pub(crate) fn new(r: &'a CertRecord) -> RecordParams<'a> {
        RecordParams {
            r,
            serial: r.serial.hex(),
            sans: r.sans.join("\n"),
            reason: r.reason.map(|x| i16::from(x.code())),
        }
    }

    /// The parameters, followed by `extra`.
    pub(crate) fn with<'b>(
        &'b self,
        extra: &[&'b (dyn postgres::types::ToSql + Sync)],
    ) -> Vec<&'b (dyn postgres::types::ToSql + Sync)> {
        let r = self.r;
        let mut v: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![
            &self.serial,
            &r.subject,
            &r.cn,
            &self.sans,
            &r.profile,
            &r.not_before,
            &r.not_after,
            &r.revoked_at,
            &self.reason,
            &r.der,
            &r.invalidity_date,
            &r.hold_instruction,
        ];
        v.extend_from_slice(extra);
        v
    }
}

/// Why a guarded insert did not happen: the database failed, or the guard refused.
pub(crate) enum Refused {
    Db(postgres::Error),
    Pki(Error),
}

impl From<postgres::Error> for Refused {
    fn from(e: postgres::Error) -> Self {
        Refused::Db(e)
    }
}

impl PgStore {
    /// [`Store::revoke`](mtls_pki::store::Store::revoke), with `audit` in the same transaction when given.
    pub(crate) fn revoke_tx(
        &mut self,
        serial: &Serial,
        rev: &Revocation,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        let url = self.url().to_string();
        let mut client = self.conn()?;
        let db = |e: postgres::Error| backend_error(&url, describe(&e), retryable(&e));
        let mut tx = client.transaction().map_err(db)?;
        let cur = tx
            .query_opt(
                "SELECT revoked_at, reason FROM certs WHERE serial = $1 FOR UPDATE",
                &[&serial.hex()],
            )
            .map_err(db)?;
        let Some(cur) = cur else {
            return Err(Error::UnknownSerial {
                serial: serial.hex(),
            });
        };
        if let Some(when) = cur.get::<_, Option<i64>>(0) {
            let reason: Option<i16> = cur.get(1);
            return Err(Error::AlreadyRevoked {
                serial: serial.hex(),
                revoked_at: mtls_pki::time::rfc3339(when),
                reason: reason
                    .and_then(|c| u8::try_from(c).ok())
                    .and_then(Reason::from_code)
                    .unwrap_or(Reason::Unspecified)
                    .name()
                    .into(),
            });
        }
        tx.execute(
            "UPDATE certs SET revoked_at = $2, reason = $3, invalidity_date = $4, hold_instruction = $5 \
             WHERE serial = $1",
            &[&serial.hex(), &rev.at, &i16::from(rev.reason.code()), &rev.invalidity_date, &rev.hold_instruction],
        )
        .map_err(db)?;
        // The change every instance follows (and is told of on commit).
        let id: i64 = tx
            .query_one(
                &format!("{NEXT_CHANGE} SELECT n, $1, 'revoke', $2::TEXT FROM c RETURNING id"),
                &[&rev.at, &serial.hex()],
            )
            .map_err(db)?
            .get(0);
        tx.execute("SELECT pg_notify('mtls_changes', $1)", &[&id.to_string()])
            .map_err(db)?;
        if let Some(a) = audit {
            add_audit(&mut tx, a).map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}

/// Takes one use of the token (a conditional UPDATE: two racing writers cannot both pass, the
/// second re-reads the row after the first commits), or says why not.
fn consume_token(
    c: &mut impl GenericClient,
    hash: &TokenHash,
    now: i64,
) -> std::result::Result<(), Refused> {
    let taken = c.query_opt(
        "UPDATE tokens SET uses_left = uses_left - 1 \
         WHERE hash = $1 AND expires_at > $2 AND uses_left > 0 RETURNING uses_left",
        &[&&hash[..], &now],
    )?;
    if taken.is_some() {
        return Ok(());
    }
    Err(token_refusal(c, hash, now)?)
}

/// Why the token cannot be used now (read only).
fn token_refusal(
    c: &mut impl GenericClient,
    hash: &TokenHash,
    now: i64,
) -> std::result::Result<Refused, postgres::Error> {
    let row = c.query_opt(
        "SELECT expires_at, uses_left FROM tokens WHERE hash = $1",
        &[&&hash[..]],
    )?;
    let refusal = match row {
        None => TokenRefusal::Unknown,
        Some(r) if now >= r.get::<_, i64>(0) => TokenRefusal::Expired,
        Some(_) => TokenRefusal::Used,
    };
    Ok(Refused::Pki(Error::TokenRefused { refusal }))
}

/// Refuses `subject` when a certificate valid at `now` has it, under a transaction-scoped
/// advisory lock on the subject: two instances checking the same subject at once take turns.
fn check_unique(
    c: &mut impl GenericClient,
    subject: &str,
    now: i64,
) -> std::result::Result<(), Refused> {
    c.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        &[&subject],
    )?;
    let taken = c.query_opt(
        "SELECT serial FROM certs WHERE subject = $1 AND revoked_at IS NULL AND not_after >= $2 LIMIT 1",
        &[&subject, &now],
    )?;
    match taken {
        Some(r) => Err(Refused::Pki(Error::SubjectNotUnique {
            subject: subject.to_string(),
            serial: r.get(0),
        })),
        None => Ok(()),
    }
}

pub(crate) fn add_audit(
    c: &mut impl GenericClient,
    e: &AuditEntry,
) -> std::result::Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO audit (at, actor, action, target, peer, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&e.at, &e.actor, &e.action, &e.target, &e.peer, &e.outcome, &e.detail],
    )
    .map(|_| ())
}

/// The insert of one certificate: the token's use, the record and its audit entry in one
/// statement (one round trip, no savepoint): the token row is locked first, the record goes
/// in only if the token is usable, and the use is taken (and the audit row written) only if
/// the record went in, so a refused item changes nothing. Returns (token usable, inserted).
const FAST_INSERT: &str = "
WITH t AS (
    SELECT hash FROM tokens WHERE hash = $13 AND expires_at > $14 AND uses_left > 0 FOR UPDATE
), ins AS (
    INSERT INTO certs (serial, subject, cn, sans, profile, not_before, not_after, revoked_at, reason,
                       der, invalidity_date, hold_instruction)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE $13::BYTEA IS NULL OR EXISTS (SELECT 1 FROM t)
    ON CONFLICT (serial) DO NOTHING RETURNING serial
), used AS (
    UPDATE tokens SET uses_left = uses_left - 1 WHERE hash = $13 AND EXISTS (SELECT 1 FROM ins) RETURNING 1
), aud AS (
    INSERT INTO audit (at, actor, action, target, peer, outcome, detail)
    SELECT $15, $16, $17, serial, $18, $19, $20 FROM ins WHERE $16::TEXT IS NOT NULL RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM t), EXISTS (SELECT 1 FROM ins), (SELECT COUNT(*) FROM used), (SELECT COUNT(*) FROM aud)";

/// Inserts `records` in the caller's transaction, checking and recording what `guard` says.
pub(crate) fn insert_in(
    c: &mut impl GenericClient,
    stmts: &Stmts,
    records: &[CertRecord],
    guard: &InsertGuard,
) -> std::result::Result<(), Refused> {
    if let ([r], None, None) = (records, guard.unique_at, &guard.supersedes) {
        return insert_one(c, stmts, r, guard);
    }
    if let Some((hash, now)) = &guard.token {
        consume_token(c, hash, *now)?;
    }
    let sql = format!(
        "INSERT INTO certs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (serial) DO NOTHING"
    );
    let insert = stmts.get(c, &sql)?;
    for r in records {
        if let Some(now) = guard.unique_at {
            check_unique(c, &r.subject, now)?;
        }
        let n = c.execute(&insert, &RecordParams::new(r).with(&[]))?;
        if n == 0 {
            return Err(Refused::Pki(Error::DuplicateSerial {
                serial: r.serial.hex(),
            }));
        }
    }
    if let (Some(old), [new]) = (&guard.supersedes, records) {
        c.execute(
            "INSERT INTO renewals (new_serial, old_serial) VALUES ($1, $2)",
            &[&new.serial.hex(), &old.hex()],
        )?;
    }
    if let (Some(entry), [new]) = (&guard.audit, records) {
        let mut entry = entry.clone();
        entry.target = Some(new.serial.hex());
        add_audit(c, &entry)?;
    }
    Ok(())
}

/// One record with at most a token and an audit entry: [`FAST_INSERT`].
pub(crate) fn insert_one(
    c: &mut impl GenericClient,
    stmts: &Stmts,
    r: &CertRecord,
    guard: &InsertGuard,
) -> std::result::Result<(), Refused> {
    let st = stmts.get(c, FAST_INSERT)?;
    let hash = guard.token.as_ref().map(|(h, _)| h.to_vec());
    let now = guard.token.as_ref().map(|(_, t)| *t);
    let a = guard.audit.as_ref();
    let (at, actor, action) = (
        a.map(|e| e.at),
        a.map(|e| e.actor.as_str()),
        a.map(|e| e.action.as_str()),
    );
    let (peer, outcome, detail) = (
        a.and_then(|e| e.peer.as_deref()),
        a.map(|e| e.outcome.as_str()),
        a.and_then(|e| e.detail.as_deref()),
    );
    let p = RecordParams::new(r);
    let row = c.query_one(
        &st,
        &p.with(&[&hash, &now, &at, &actor, &action, &peer, &outcome, &detail]),
    )?;
    let (usable, inserted): (bool, bool) = (row.get(0), row.get(1));
    if let (Some((hash, now)), false) = (&guard.token, usable) {
        return Err(token_refusal(c, hash, *now)?);
    }
    if !inserted {
        return Err(Refused::Pki(Error::DuplicateSerial {
            serial: r.serial.hex(),
        }));
    }
    Ok(())
}
