//! The SQLite store: the version 1 → 2 migration and openssl's `unique_subject`.

use super::sqlite::SqliteStore;
use super::{CertRecord, Reason, Revocation, Store, hold};
use crate::Error;
use crate::serial::Serial;

fn record(serial: u8, subject: &str, der: &[u8]) -> CertRecord {
    CertRecord {
        serial: Serial::from_bytes(&[serial]),
        subject: subject.into(),
        cn: None,
        sans: vec![],
        profile: "client".into(),
        not_before: Some(1_000),
        not_after: 2_000_000_000,
        revoked_at: None,
        reason: None,
        invalidity_date: None,
        hold_instruction: None,
        der: der.to_vec(),
    }
}

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

#[test]
fn unique_subject_refuses_a_second_valid_certificate_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::create(&tmp.path().join("ca.db")).unwrap();
    let now = 1_500;
    s.insert_guarded(&[record(1, "/CN=a", b"x")], &unique(now))
        .unwrap();
    let e = s
        .insert_guarded(&[record(2, "/CN=a", b"y")], &unique(now))
        .unwrap_err();
    match &e {
        Error::SubjectNotUnique { subject, serial } => {
            assert_eq!((subject.as_str(), serial.as_str()), ("/CN=a", "01"))
        }
        other => panic!("{other}"),
    }
    assert!(!s.contains(&Serial::from_bytes(&[2])).unwrap());
    // Within one batch, the second of two equal subjects is refused and nothing is written.
    let batch = [record(3, "/CN=b", b"p"), record(4, "/CN=b", b"q")];
    assert!(s.insert_guarded(&batch, &unique(now)).is_err());
    assert!(!s.contains(&Serial::from_bytes(&[3])).unwrap());
    // Revoked and expired certificates do not count; plain insert never checks.
    s.revoke(
        &Serial::from_bytes(&[1]),
        &Revocation::new(now, Reason::Superseded),
    )
    .unwrap();
    assert_eq!(s.valid_with_subject("/CN=a", now).unwrap(), None);
    s.insert_guarded(&[record(5, "/CN=a", b"z")], &unique(now))
        .unwrap();
    assert_eq!(
        s.valid_with_subject("/CN=a", now).unwrap(),
        Some(Serial::from_bytes(&[5]))
    );
    assert_eq!(s.valid_with_subject("/CN=a", 2_000_000_001).unwrap(), None);
    s.insert(&[record(6, "/CN=a", b"w")]).unwrap();
}

fn unique(now: i64) -> super::InsertGuard {
    super::InsertGuard {
        unique_at: Some(now),
        ..Default::default()
    }
}

fn guard(hash: crate::token::TokenHash, now: i64) -> super::InsertGuard {
    super::InsertGuard {
        token: Some((hash, now)),
        ..Default::default()
    }
}

#[test]
fn a_token_is_consumed_with_the_record_and_only_once_even_under_a_race() {
    use crate::token::{self, TokenRecord, TokenRefusal};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ca.db");
    let mut s = SqliteStore::create(&path).unwrap();
    let secret = token::generate().unwrap();
    let t = TokenRecord::new("dev", "client", vec![], 1_000, 60, 1).unwrap();
    s.add_token(&secret.hash(), &t).unwrap();
    assert_eq!(s.token(&secret.hash()).unwrap(), Some(t));
    let refused = |e: Error| match e {
        Error::TokenRefused { refusal } => refusal,
        other => panic!("{other}"),
    };
    // Expired: nothing recorded, the use kept.
    let e = s
        .insert_guarded(&[record(1, "/CN=a", b"x")], &guard(secret.hash(), 1_060))
        .unwrap_err();
    assert_eq!(refused(e), TokenRefusal::Expired);
    assert!(!s.contains(&Serial::from_bytes(&[1])).unwrap());
    let unknown = token::hash("nope");
    let e = s
        .insert_guarded(&[record(1, "/CN=a", b"x")], &guard(unknown, 1_001))
        .unwrap_err();
    assert_eq!(refused(e), TokenRefusal::Unknown);
    drop(s);

    // Eight writers, each with its own connection, race for the single use.
    let hash = secret.hash();
    let wins: Vec<bool> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let path = path.clone();
                sc.spawn(move || {
                    let mut s = SqliteStore::open(&path).unwrap();
                    match s.insert_guarded(&[record(10 + i, "/CN=r", b"y")], &guard(hash, 1_001)) {
                        Ok(()) => true,
                        Err(Error::TokenRefused { refusal }) => {
                            assert_eq!(refusal, TokenRefusal::Used);
                            false
                        }
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.counts().unwrap(), (1, 0));
    assert_eq!(s.token(&hash).unwrap().unwrap().uses_left, 0);
}

#[test]
fn the_audit_log_pages_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::create(&tmp.path().join("ca.db")).unwrap();
    for i in 0..5 {
        let mut e = super::AuditEntry::new(100 + i, "local", "crl");
        e.target = Some(format!("{i}"));
        s.add_audit(&e).unwrap();
    }
    let page = s.audit(2, None).unwrap();
    assert_eq!(page.iter().map(|e| e.at).collect::<Vec<_>>(), [104, 103]);
    let next = s.audit(10, Some(page[1].id)).unwrap();
    assert_eq!(
        next.iter().map(|e| e.at).collect::<Vec<_>>(),
        [102, 101, 100]
    );
}

#[test]
fn a_batch_commits_together_and_a_refused_item_holds_back_no_other() {
    use crate::token::{self, TokenRecord, TokenRefusal};
    let tmp = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::create(&tmp.path().join("ca.db")).unwrap();
    let secret = token::generate().unwrap();
    s.add_token(
        &secret.hash(),
        &TokenRecord::new("b", "client", vec![], 0, 60, 2).unwrap(),
    )
    .unwrap();
    let items: Vec<_> = (1..=3u8)
        .map(|i| (record(i, "/CN=b", b"x"), guard(secret.hash(), 1)))
        .chain([(record(1, "/CN=dup", b"y"), super::InsertGuard::default())])
        .collect();
    let r = s.insert_each(&items).unwrap();
    assert!(r[0].is_ok() && r[1].is_ok(), "{r:?}");
    assert!(
        matches!(
            r[2],
            Err(Error::TokenRefused {
                refusal: TokenRefusal::Used
            })
        ),
        "{r:?}"
    );
    assert!(matches!(r[3], Err(Error::DuplicateSerial { .. })), "{r:?}");
    assert_eq!(s.counts().unwrap(), (2, 0));
    assert_eq!(s.token(&secret.hash()).unwrap().unwrap().uses_left, 0);
}
