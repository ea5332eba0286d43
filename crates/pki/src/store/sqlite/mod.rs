//! SQLite backend: WAL, `synchronous=FULL`, every change in an `IMMEDIATE` transaction, a busy
//! timeout so that concurrent `mtls` processes queue instead of failing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    AuditEntry, CertRecord, CrlState, InsertGuard, Reason, Revocation, RevokedEntry, StatusFilter,
    Store,
};
use crate::error::{Error, Result};
use crate::serial::Serial;
use crate::token::{TokenHash, TokenRecord};

mod insert;
use insert::{COLUMNS, Unique, check_unique};
mod online;

/// The schema version this code writes and reads.
pub const SCHEMA_VERSION: i64 = super::schema::VERSION;

/// The SQLite store of one CA.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Creates a new store at `path`; fails if one exists.
    pub fn create(path: &Path) -> Result<SqliteStore> {
        if path.exists() {
            return Err(Error::Store {
                path: path.into(),
                detail: "already exists".into(),
            });
        }
        let mut s = Self::connect(path)?;
        let tx = s
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(path, e))?;
        super::schema::create(&tx).map_err(|e| db_err(path, e))?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?1), ('crl_number', '0')",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| db_err(path, e))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(|e| db_err(path, e))?;
        tx.commit().map_err(|e| db_err(path, e))?;
        Ok(s)
    }

    /// Opens an existing store, checking its schema version.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if !path.exists() {
            return Err(Error::Store {
                path: path.into(),
                detail: "missing (is this a CA directory?)".into(),
            });
        }
        let mut s = Self::connect(path)?;
        let mut v: i64 = s
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| s.err(e))?;
        if v < SCHEMA_VERSION {
            super::schema::migrate(&mut s.conn, v).map_err(|e| db_err(path, e))?;
            v = s
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(|e| db_err(path, e))?;
        }
        if v != SCHEMA_VERSION {
            return Err(Error::Store {
                path: path.into(),
                detail: format!(
                    "schema version {v}, this mtls reads version {SCHEMA_VERSION}; use a matching mtls release"
                ),
            });
        }
        Ok(s)
    }

    fn connect(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| db_err(path, e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| db_err(path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(SqliteStore {
            conn,
            path: path.into(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    /// Runs `PRAGMA integrity_check`, returning its first line (`ok` when sound).
    pub fn integrity_check(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn meta_u64(conn: &Connection, key: &str) -> rusqlite::Result<Option<u64>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .map(|v| v.and_then(|s| s.parse().ok()))
    }
}

impl SqliteStore {
    /// [`Store::revoke`], with `audit` in the same transaction when given.
    fn revoke_tx(
        &mut self,
        serial: &Serial,
        rev: &Revocation,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let cur: Option<(Option<i64>, Option<u8>)> = tx
            .query_row(
                "SELECT revoked_at, reason FROM certs WHERE serial = ?1",
                [serial.hex()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| db_err(&path, e))?;
        match cur {
            None => {
                return Err(Error::UnknownSerial {
                    serial: serial.hex(),
                });
            }
            Some((Some(when), reason)) => {
                return Err(Error::AlreadyRevoked {
                    serial: serial.hex(),
                    revoked_at: crate::time::rfc3339(when),
                    reason: reason
                        .and_then(Reason::from_code)
                        .unwrap_or(Reason::Unspecified)
                        .name()
                        .into(),
                });
            }
            Some((None, _)) => {}
        }
        tx.execute(
            "UPDATE certs SET revoked_at = ?2, reason = ?3, invalidity_date = ?4, \
             hold_instruction = ?5 WHERE serial = ?1",
            params![
                serial.hex(),
                rev.at,
                rev.reason.code(),
                rev.invalidity_date,
                rev.hold_instruction
            ],
        )
        .map_err(|e| db_err(&path, e))?;
        if let Some(a) = audit {
            online::add_audit(&tx, a).map_err(|e| db_err(&path, e))?;
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }
}

fn db_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Database {
        path: path.into(),
        source: e,
    }
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<CertRecord> {
    let serial: String = r.get(0)?;
    let sans: String = r.get(3)?;
    let reason: Option<u8> = r.get(8)?;
    Ok(CertRecord {
        invalidity_date: r.get(10)?,
        hold_instruction: r.get(11)?,
        serial: serial.parse().unwrap_or_else(|_| Serial::from_bytes(&[])),
        subject: r.get(1)?,
        cn: r.get(2)?,
        sans: if sans.is_empty() {
            Vec::new()
        } else {
            sans.split('\n').map(str::to_owned).collect()
        },
        profile: r.get(4)?,
        not_before: r.get(5)?,
        not_after: r.get(6)?,
        revoked_at: r.get(7)?,
        reason: reason.and_then(Reason::from_code),
        der: r.get(9)?,
    })
}

impl Store for SqliteStore {
    fn insert(&mut self, records: &[CertRecord]) -> Result<()> {
        self.insert_checked(records, &InsertGuard::default())
    }

    fn valid_with_subject(&self, subject: &str, now: i64) -> Result<Option<Serial>> {
        match check_unique(&self.conn, subject, now) {
            Ok(()) => Ok(None),
            Err(Unique::Db(e)) => Err(self.err(e)),
            Err(Unique::Taken(Error::SubjectNotUnique { serial, .. })) => {
                serial.parse().map(Some).map_err(|_| Error::Store {
                    path: self.path.clone(),
                    detail: format!("corrupt serial {serial:?} in the store"),
                })
            }
            Err(Unique::Taken(e)) => Err(e),
        }
    }

    fn contains(&self, serial: &Serial) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM certs WHERE serial = ?1",
                [serial.hex()],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    fn get(&self, serial: &Serial) -> Result<Option<CertRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM certs WHERE serial = ?1"),
                [serial.hex()],
                row_to_record,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn revoke(&mut self, serial: &Serial, rev: &Revocation) -> Result<()> {
        self.revoke_tx(serial, rev, None)
    }

    fn revoke_audited(
        &mut self,
        serial: &Serial,
        rev: &Revocation,
        audit: &AuditEntry,
    ) -> Result<()> {
        self.revoke_tx(serial, rev, Some(audit))
    }

    fn begin_crl(&mut self) -> Result<(u64, Vec<RevokedEntry>)> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let n = Self::meta_u64(&tx, "crl_number")
            .map_err(|e| db_err(&path, e))?
            .unwrap_or(0)
            + 1;
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('crl_number', ?1)",
            [n.to_string()],
        )
        .map_err(|e| db_err(&path, e))?;
        let mut entries = Vec::new();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT serial, revoked_at, reason, invalidity_date, hold_instruction \
                     FROM certs WHERE revoked_at IS NOT NULL",
                )
                .map_err(|e| db_err(&path, e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        Revocation {
                            at: r.get(1)?,
                            reason: r
                                .get::<_, Option<u8>>(2)?
                                .and_then(Reason::from_code)
                                .unwrap_or(Reason::Unspecified),
                            invalidity_date: r.get(3)?,
                            hold_instruction: r.get(4)?,
                        },
                    ))
                })
                .map_err(|e| db_err(&path, e))?;
            for row in rows {
                let (s, revocation) = row.map_err(|e| db_err(&path, e))?;
                let serial = s.parse().map_err(|_| Error::Store {
                    path: path.clone(),
                    detail: format!("corrupt serial {s:?} in the store"),
                })?;
                entries.push(RevokedEntry { serial, revocation });
            }
        }
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok((n, entries))
    }

    fn finish_crl(
        &mut self,
        state: CrlState,
        _der: &[u8],
        write: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool> {
        let path = self.path.clone();
        // IMMEDIATE: concurrent `mtls ca crl` runs reserve numbers in one order but may finish in
        // another; holding the write lock from the check to the commit keeps crl.pem and
        // crl_state at the highest number. A kill after the file is written leaves crl_state
        // behind crl.pem, which is harmless: the next number is already reserved past it.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        let published: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'crl_state'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| db_err(&path, e))?;
        let published = published
            .and_then(|v| v.split(' ').next().and_then(|n| n.parse::<u64>().ok()))
            .unwrap_or(0);
        if published >= state.number {
            return Ok(false);
        }
        write()?;
        let value = format!(
            "{} {} {}",
            state.number, state.this_update, state.next_update
        );
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('crl_state', ?1)",
            [value],
        )
        .map_err(|e| db_err(&path, e))?;
        tx.commit().map_err(|e| db_err(&path, e))?;
        Ok(true)
    }

    fn crl_state(&self) -> Result<Option<CrlState>> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'crl_state'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(v.and_then(|v| {
            let mut it = v.split(' ').map(|p| p.parse::<i64>().ok());
            Some(CrlState {
                number: u64::try_from(it.next()??).ok()?,
                this_update: it.next()??,
                next_update: it.next()??,
            })
        }))
    }

    fn list(
        &self,
        filter: StatusFilter,
        now: i64,
        expiring_before: Option<i64>,
    ) -> Result<Vec<CertRecord>> {
        let cond = match filter {
            StatusFilter::Valid => "revoked_at IS NULL AND not_after >= ?1",
            StatusFilter::Revoked => "revoked_at IS NOT NULL AND ?1 = ?1",
            StatusFilter::Expired => "revoked_at IS NULL AND not_after < ?1",
            StatusFilter::All => "?1 = ?1",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM certs WHERE {cond} AND not_after <= ?2 ORDER BY not_after, serial"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![now, expiring_before.unwrap_or(i64::MAX)],
                row_to_record,
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    fn for_each(&self, f: &mut dyn FnMut(CertRecord) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM certs ORDER BY serial"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], row_to_record).map_err(|e| self.err(e))?;
        for row in rows {
            f(row.map_err(|e| self.err(e))?)?;
        }
        Ok(())
    }

    fn valid_serials(&self, now: i64, after: Option<&Serial>, limit: usize) -> Result<Vec<Serial>> {
        online::valid_serials(&self.conn, now, after, limit).map_err(|e| self.err(e))
    }

    fn any_revoked(&self) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM certs WHERE revoked_at IS NOT NULL)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    fn counts(&self) -> Result<(u64, u64)> {
        self.conn
            .query_row("SELECT COUNT(*), COUNT(revoked_at) FROM certs", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .map_err(|e| self.err(e))
    }

    fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn last_crl_number(&self) -> Result<u64> {
        Ok(Self::meta_u64(&self.conn, "crl_number")
            .map_err(|e| self.err(e))?
            .unwrap_or(0))
    }

    fn set_min_crl_number(&mut self, n: u64) -> Result<()> {
        let cur = Self::meta_u64(&self.conn, "crl_number")
            .map_err(|e| self.err(e))?
            .unwrap_or(0);
        if n > cur {
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('crl_number', ?1)",
                    [n.to_string()],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn set_crl_state(&mut self, state: CrlState) -> Result<()> {
        let published = self.crl_state()?.map(|s| s.number).unwrap_or(0);
        if state.number > published {
            let value = format!(
                "{} {} {}",
                state.number, state.this_update, state.next_update
            );
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('crl_state', ?1)",
                    [value],
                )
                .map_err(|e| self.err(e))?;
        }
        self.set_min_crl_number(state.number)
    }

    fn add_token(&mut self, hash: &TokenHash, token: &TokenRecord) -> Result<()> {
        online::add_token(&self.conn, hash, token).map_err(|e| self.err(e))
    }

    fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        online::token(&self.conn, hash).map_err(|e| self.err(e))
    }

    fn tokens(&self) -> Result<Vec<(TokenHash, TokenRecord)>> {
        online::tokens(&self.conn).map_err(|e| self.err(e))
    }

    fn renewals(&self) -> Result<Vec<(Serial, Serial)>> {
        online::renewals(&self.conn).map_err(|e| self.err(e))
    }

    fn insert_guarded(&mut self, records: &[CertRecord], guard: &InsertGuard) -> Result<()> {
        self.insert_checked(records, guard)
    }

    fn insert_each(&mut self, items: &[(CertRecord, InsertGuard)]) -> Result<Vec<Result<()>>> {
        self.insert_each_in_one(items)
    }

    fn superseded_by(&self, serial: &Serial) -> Result<Option<Serial>> {
        online::supersedes_query(&self.conn, "new", serial).map_err(|e| self.err(e))
    }

    fn supersedes(&self, serial: &Serial) -> Result<Option<Serial>> {
        online::supersedes_query(&self.conn, "old", serial).map_err(|e| self.err(e))
    }

    fn add_audit(&mut self, entry: &AuditEntry) -> Result<()> {
        online::add_audit(&self.conn, entry).map_err(|e| self.err(e))
    }

    fn add_audits(&mut self, entries: &[AuditEntry]) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_err(&path, e))?;
        for e in entries {
            online::add_audit(&tx, e).map_err(|e| db_err(&path, e))?;
        }
        tx.commit().map_err(|e| db_err(&path, e))
    }

    fn audit(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        online::audit(&self.conn, limit, before).map_err(|e| self.err(e))
    }
}
