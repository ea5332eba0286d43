//! The PostgreSQL schema, versioned in `mtls_schema` and migrated under an advisory lock (two
//! instances starting together: one migrates, the other waits and finds it done).

use postgres::Client;

use crate::connect::{backend_error, describe, retryable};

/// The schema version this code writes and reads.
pub(crate) const VERSION: i32 = 2;

/// The advisory lock key of migrations and creation ("mtlsmigr" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d74_6c73_6d69_6772;

/// Version 1: the SQLite schema's tables (version 4 there), with a typed CRL row and the
/// change sequence.
const V1: &str = "
CREATE TABLE mtls_schema (version INTEGER NOT NULL);
CREATE TABLE certs (
    serial           TEXT COLLATE \"C\" PRIMARY KEY,
    subject          TEXT NOT NULL,
    cn               TEXT,
    sans             TEXT NOT NULL,
    profile          TEXT NOT NULL,
    not_before       BIGINT,
    not_after        BIGINT NOT NULL,
    revoked_at       BIGINT,
    reason           SMALLINT,
    der              BYTEA NOT NULL,
    invalidity_date  BIGINT,
    hold_instruction TEXT
);
CREATE INDEX certs_revoked ON certs(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX certs_not_after ON certs(not_after);
CREATE INDEX certs_valid_subject ON certs(subject) WHERE revoked_at IS NULL;
CREATE TABLE tokens (
    hash        BYTEA PRIMARY KEY,
    name        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    sans        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
    validity    BIGINT
);
CREATE TABLE renewals (
    new_serial  TEXT PRIMARY KEY,
    old_serial  TEXT NOT NULL,
    id          BIGSERIAL
);
CREATE INDEX renewals_old ON renewals(old_serial);
CREATE TABLE audit (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT,
    peer     TEXT,
    outcome  TEXT NOT NULL,
    detail   TEXT
);
CREATE TABLE crl (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    last_number       BIGINT NOT NULL CHECK (last_number >= 0),
    published_number  BIGINT,
    this_update       BIGINT,
    next_update       BIGINT,
    der               BYTEA
);
INSERT INTO crl (id, last_number) VALUES (1, 0);
CREATE TABLE config (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    text        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE change_counter (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   BIGINT NOT NULL
);
INSERT INTO change_counter (id, n) VALUES (1, 0);
CREATE TABLE changes (
    id      BIGINT PRIMARY KEY,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    serial  TEXT
);
";

/// Version 2: what each instance has acted on, so a revocation can wait until every live
/// instance answers with it (`seen_at` is the database's clock, the one all instances share).
const V2: &str = "
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    applied     BIGINT NOT NULL,
    crl_number  BIGINT,
    seen_at     DOUBLE PRECISION NOT NULL
);
";

fn db(url: &str, e: postgres::Error) -> mtls_pki::Error {
    backend_error(url, describe(&e), retryable(&e))
}

/// The version recorded in the database, `None` when it holds no mtls CA.
fn found_version(tx: &mut postgres::Transaction<'_>, url: &str) -> mtls_pki::Result<Option<i32>> {
    let exists: bool = tx
        .query_one("SELECT to_regclass('mtls_schema') IS NOT NULL", &[])
        .map_err(|e| db(url, e))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = tx
        .query_opt("SELECT version FROM mtls_schema", &[])
        .map_err(|e| db(url, e))?;
    Ok(row.map(|r| r.get(0)))
}

/// Creates the schema in an empty database; refuses one that holds a CA (or anything named
/// like our tables).
pub(crate) fn create(client: &mut Client, url: &str) -> mtls_pki::Result<()> {
    let mut tx = client.transaction().map_err(|e| db(url, e))?;
    create_in(&mut tx, url)?;
    tx.commit().map_err(|e| db(url, e))
}

/// [`create`] inside the caller's transaction (a copy creates and fills in one).
pub(crate) fn create_in(tx: &mut postgres::Transaction<'_>, url: &str) -> mtls_pki::Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| db(url, e))?;
    if let Some(v) = found_version(tx, url)? {
        return Err(backend_error(
            url,
            format!(
                "the database already holds an mtls CA (schema version {v}); give an empty database, or open that CA"
            ),
            false,
        ));
    }
    tx.batch_execute(V1).map_err(|e| db(url, e))?;
    tx.batch_execute(V2).map_err(|e| db(url, e))?;
    tx.execute("INSERT INTO mtls_schema (version) VALUES ($1)", &[&VERSION])
        .map_err(|e| db(url, e))?;
    Ok(())
}

/// Checks (and, for older versions, migrates) the schema of an existing CA.
pub(crate) fn migrate(client: &mut Client, url: &str) -> mtls_pki::Result<()> {
    let mut tx = client.transaction().map_err(|e| db(url, e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| db(url, e))?;
    match found_version(&mut tx, url)? {
        None => Err(backend_error(
            url,
            "the database holds no mtls CA; make one with `mtls ca init --store URL` or copy one with `mtls ca migrate-store`",
            false,
        )),
        Some(VERSION) => tx.commit().map_err(|e| db(url, e)),
        Some(1) => {
            tx.batch_execute(V2).map_err(|e| db(url, e))?;
            tx.execute("UPDATE mtls_schema SET version = $1", &[&VERSION])
                .map_err(|e| db(url, e))?;
            tx.commit().map_err(|e| db(url, e))
        }
        Some(v) => Err(backend_error(
            url,
            format!(
                "schema version {v}, this mtls reads version {VERSION}; use a matching mtls release"
            ),
            false,
        )),
    }
}
