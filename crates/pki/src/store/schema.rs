//! The SQLite schema, and the migration of older CA directories to it.
//!
//! Version 1 (mtls 0.1) kept `not_before NOT NULL` (0 for a record imported from `index.txt`
//! alone) and no CRL entry details. Version 2 allows a null `not_before`, adds the
//! invalidityDate and hold instruction of a revocation, and indexes subjects for
//! `unique_subject`. Version 3 adds the online CA's enrollment tokens, renewals (which certificate
//! superseded which) and audit log. Version 4 lets a token set the validity of the certificates
//! it enrolls.

use rusqlite::{Connection, TransactionBehavior};

/// The schema version this code writes and reads.
pub const VERSION: i64 = 4;

const CERTS: &str = "
CREATE TABLE certs (
    serial           TEXT PRIMARY KEY,
    subject          TEXT NOT NULL,
    cn               TEXT,
    sans             TEXT NOT NULL,
    profile          TEXT NOT NULL,
    not_before       INTEGER,
    not_after        INTEGER NOT NULL,
    revoked_at       INTEGER,
    reason           INTEGER,
    der              BLOB NOT NULL,
    invalidity_date  INTEGER,
    hold_instruction TEXT
);
CREATE INDEX certs_revoked ON certs(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX certs_not_after ON certs(not_after);
CREATE INDEX certs_valid_subject ON certs(subject) WHERE revoked_at IS NULL;
";

/// Version 3: tokens are kept by the SHA-256 of their secret, never the secret.
const ONLINE: &str = "
CREATE TABLE tokens (
    hash        BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    sans        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0)
);
CREATE TABLE renewals (
    new_serial  TEXT PRIMARY KEY,
    old_serial  TEXT NOT NULL
);
CREATE INDEX renewals_old ON renewals(old_serial);
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT,
    peer     TEXT,
    outcome  TEXT NOT NULL,
    detail   TEXT
);
";

/// Version 4: a token's own certificate validity, in seconds (null: `[online]`'s).
const TOKEN_VALIDITY: &str = "ALTER TABLE tokens ADD COLUMN validity INTEGER;";

/// Creates every table of a new store (inside the caller's transaction).
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")?;
    conn.execute_batch(CERTS)?;
    conn.execute_batch(ONLINE)?;
    conn.execute_batch(TOKEN_VALIDITY)
}

/// Brings a store of an older version to [`VERSION`], one step per version, all in one
/// transaction (a crash leaves the old version intact). Returns the version found.
pub fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<i64> {
    if !(1..VERSION).contains(&from) {
        return Ok(from);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated it while this one waited for the lock.
    let mut now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if now == 1 {
        to_v2(&tx)?;
        now = 2;
    }
    if now == 2 {
        tx.execute_batch(ONLINE)?;
        now = 3;
    }
    if now == 3 {
        tx.execute_batch(TOKEN_VALIDITY)?;
        now = 4;
    }
    if now == VERSION {
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?1)",
            [VERSION.to_string()],
        )?;
        tx.pragma_update(None, "user_version", VERSION)?;
    }
    tx.commit()?;
    Ok(from)
}

/// Version 1 to 2: `certs` rebuilt with a nullable `not_before` and the CRL entry details.
fn to_v2(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE certs RENAME TO certs_v1;")?;
    tx.execute_batch("DROP INDEX IF EXISTS certs_revoked; DROP INDEX IF EXISTS certs_not_after;")?;
    tx.execute_batch(CERTS)?;
    // Version 1 wrote notBefore 0 for records without a certificate.
    tx.execute_batch(
        "INSERT INTO certs (serial, subject, cn, sans, profile, not_before, not_after,
                            revoked_at, reason, der)
         SELECT serial, subject, cn, sans, profile,
                CASE WHEN length(der) = 0 AND not_before = 0 THEN NULL ELSE not_before END,
                not_after, revoked_at, reason, der
         FROM certs_v1;
         DROP TABLE certs_v1;",
    )
}
