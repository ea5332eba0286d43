//! The SQLite store: the version 1 → 2 migration, and the conformance suite every backend
//! passes.

use super::sqlite::SqliteStore;
use super::{Reason, Revocation, Store, hold};

/// A store as mtls 0.1 wrote it: schema version 1, `not_before` 0 for index-only records.
fn v1_store(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE certs (serial TEXT PRIMARY KEY, subject TEXT NOT NULL, cn TEXT,
             sans TEXT NOT NULL, profile TEXT NOT NULL, not_before INTEGER NOT NULL,
             not_after INTEGER NOT NULL, revoked_at INTEGER, reason INTEGER, der BLOB NOT NULL);
         CREATE INDEX certs_revoked ON certs(revoked_at) WHERE revoked_at IS NOT NULL;
         CREATE INDEX certs_not_after ON certs(not_after);
         INSERT INTO meta VALUES ('schema_version', '1'), ('crl_number', '7');
         INSERT INTO certs VALUES ('01', '/CN=a', 'a', '', 'client', 1000, 2000000000, NULL,
             NULL, x'3000');
         INSERT INTO certs VALUES ('02', '/CN=b', 'b', '', 'imported', 0, 2000000000, 1500, 1,
             x'');
         PRAGMA user_version = 1;",
    )
    .unwrap();
}

#[test]
fn a_version_1_store_is_migrated_keeping_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ca.db");
    v1_store(&path);
    let mut s = SqliteStore::open(&path).unwrap();
    let a = s.get(&"01".parse().unwrap()).unwrap().unwrap();
    assert_eq!(
        (a.not_before, a.der.as_slice()),
        (Some(1000), &[0x30, 0][..])
    );
    let b = s.get(&"02".parse().unwrap()).unwrap().unwrap();
    assert_eq!(b.not_before, None, "an index-only record has no notBefore");
    assert!(b.from_index_only());
    assert_eq!(
        (b.revoked_at, b.reason),
        (Some(1500), Some(Reason::KeyCompromise))
    );
    assert_eq!(s.last_crl_number().unwrap(), 7);
    // The new columns work, and reopening does not migrate again.
    let mut rev = Revocation::new(1600, Reason::CertificateHold);
    rev.hold_instruction = Some(hold::REJECT.into());
    s.revoke(&"01".parse().unwrap(), &rev).unwrap();
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    let a = s.get(&"01".parse().unwrap()).unwrap().unwrap();
    assert_eq!(a.hold_instruction.as_deref(), Some(hold::REJECT));
    assert_eq!(s.counts().unwrap(), (2, 2));
}

/// The behaviour every backend shares (`conformance`), on SQLite: each connect a new
/// connection to one fresh store file.
#[test]
fn sqlite_passes_the_store_conformance_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ca.db");
    drop(SqliteStore::create(&path).unwrap());
    let connect = || -> Box<dyn Store> { Box::new(SqliteStore::open(&path).unwrap()) };
    super::conformance::run_all(&connect);
}
