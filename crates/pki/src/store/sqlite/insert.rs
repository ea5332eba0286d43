//! Recording certificates: the checks of an [`InsertGuard`] (unique_subject, a token use, a
//! renewal) in the transaction that inserts, one transaction per call, or one for a whole
//! batch with a savepoint per item (group commit: one fsync for many requests).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{SqliteStore, db_err, online};
use crate::error::{Error, Result};
use crate::store::{CertRecord, InsertGuard, Reason};

pub(super) const COLUMNS: &str = "serial, subject, cn, sans, profile, not_before, not_after, revoked_at, \
                       reason, der, invalidity_date, hold_instruction";

impl SqliteStore {
    /// The insert of [`Store::insert`]; with `unique_at`, openssl's `unique_subject` check
    /// against certificates valid at that time, and with `token` (its hash and the time), one
    /// use of that token consumed, all in the same transaction.
    pub(super) fn insert_checked(
        &mut self,
        records: &[CertRecord],
        guard: &InsertGuard,
    ) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        insert_in(&tx, &path, records, guard)?;
        tx.commit().map_err(|e| db_err(&path, e))
    }

    /// [`Store::insert_each`]: one transaction, a savepoint per item.
    pub(super) fn insert_each_in_one(
        &mut self,
        items: &[(CertRecord, InsertGuard)],
    ) -> Result<Vec<Result<()>>> {
        let path = self.path.clone();
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let mut out = Vec::with_capacity(items.len());
        for (record, guard) in items {
            let sp = tx.savepoint().map_err(|e| db_err(&path, e))?;
            match insert_in(&sp, &path, std::slice::from_ref(record), guard) {
                Ok(()) => {
                    sp.commit().map_err(|e| db_err(&path, e))?;
                    out.push(Ok(()));
                }
                // A database failure fails the whole transaction; a refusal only its item.
                Err(e @ (Error::Database { .. } | Error::Store { .. })) => return Err(e),
                Err(e) => {
                    drop(sp); // rolls back to the savepoint
                    out.push(Err(e));
                }
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(out)
    }
}

/// Inserts `records` inside `tx`, checking and recording what `guard` says.
fn insert_in(
    tx: &Connection,
    path: &Path,
    records: &[CertRecord],
    guard: &InsertGuard,
) -> Result<()> {
    let unique_at = guard.unique_at;
    if let Some((hash, now)) = &guard.token {
        online::consume_token(tx, hash, *now).map_err(|e| match e {
            online::Consume::Db(e) => db_err(path, e),
            online::Consume::Refused(r) => Error::TokenRefused { refusal: r },
        })?;
    }
    {
        let mut stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO certs ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .map_err(|e| db_err(path, e))?;
        for r in records {
            if let Some(now) = unique_at {
                check_unique(tx, &r.subject, now).map_err(|e| match e {
                    Unique::Db(e) => db_err(path, e),
                    Unique::Taken(e) => e,
                })?;
            }
            let res = stmt.execute(params![
                r.serial.hex(),
                r.subject,
                r.cn,
                r.sans.join("\n"),
                r.profile,
                r.not_before,
                r.not_after,
                r.revoked_at,
                r.reason.map(Reason::code),
                r.der,
                r.invalidity_date,
                r.hold_instruction,
            ]);
            match res {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    return Err(Error::DuplicateSerial {
                        serial: r.serial.hex(),
                    });
                }
                Err(e) => return Err(db_err(path, e)),
            }
        }
    }
    if let (Some(old), [new]) = (&guard.supersedes, records) {
        online::add_supersedes(tx, &new.serial, old).map_err(|e| db_err(path, e))?;
    }
    if let (Some(entry), [new]) = (&guard.audit, records) {
        let mut entry = entry.clone();
        entry.target = Some(new.serial.hex());
        online::add_audit(tx, &entry).map_err(|e| db_err(path, e))?;
    }
    Ok(())
}

pub(super) enum Unique {
    Db(rusqlite::Error),
    Taken(Error),
}

/// Refuses `subject` when a certificate valid at `now` has it (records inserted earlier in the
/// same transaction included).
pub(super) fn check_unique(
    tx: &Connection,
    subject: &str,
    now: i64,
) -> std::result::Result<(), Unique> {
    let taken: Option<String> = tx
        .prepare_cached(
            "SELECT serial FROM certs WHERE subject = ?1 AND revoked_at IS NULL \
             AND not_after >= ?2 LIMIT 1",
        )
        .and_then(|mut st| st.query_row(params![subject, now], |r| r.get(0)).optional())
        .map_err(Unique::Db)?;
    match taken {
        Some(serial) => Err(Unique::Taken(Error::SubjectNotUnique {
            subject: subject.to_string(),
            serial,
        })),
        None => Ok(()),
    }
}
