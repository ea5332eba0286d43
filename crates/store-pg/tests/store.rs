//! The PostgreSQL store against a real server: the conformance suite every backend passes (the
//! same functions SQLite passes), creation refusing a database that holds a CA, and two
//! instances opening (and migrating) one database at once.
//!
//! The server comes from `MTLS_TEST_PG`, an admin URL (`scripts/test` sets it, starting a
//! throwaway cluster when none answers on 127.0.0.1:5432). Each test makes its own database
//! and drops it. Without `MTLS_TEST_PG` the tests fail when `CI` is set and say loudly that
//! they did not run otherwise.

use mtls_pki::store::Store;
use mtls_store_pg::PgStore;

/// A database of its own for one test, dropped at the end.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    fn new(tag: &str) -> Option<TestDb> {
        let Ok(admin) = std::env::var("MTLS_TEST_PG") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "MTLS_TEST_PG is unset: the PostgreSQL tests cannot run (scripts/test sets it)"
            );
            eprintln!(
                "\n*** SKIPPED: MTLS_TEST_PG is unset; run scripts/test to test the PostgreSQL store ***\n"
            );
            return None;
        };
        let name = format!("mtls_test_{tag}_{}", std::process::id());
        let mut c = mtls_store_pg::connect_admin(&admin).expect("MTLS_TEST_PG answers");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .expect("drop");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (admin.clone(), String::new()),
        };
        let root = match base.rfind('/') {
            Some(i) if base[..i].contains("://") && !base[..i].ends_with('/') => &base[..i],
            _ => base.as_str(),
        };
        let url = format!("{root}/{name}{query}");
        Some(TestDb { admin, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = mtls_store_pg::connect_admin(&self.admin) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[test]
fn postgres_passes_the_store_conformance_suite() {
    let Some(db) = TestDb::new("conformance") else {
        return;
    };
    drop(PgStore::create(&db.url).expect("create"));
    let url = db.url.clone();
    let connect = move || -> Box<dyn Store> { Box::new(PgStore::open(&url).expect("open")) };
    mtls_pki::store::conformance::run_all(&connect);
}

#[test]
fn a_database_with_a_ca_is_not_created_over_and_an_empty_one_is_not_opened() {
    let Some(db) = TestDb::new("create") else {
        return;
    };
    let e = PgStore::open(&db.url).expect_err("no CA yet");
    assert!(e.to_string().contains("holds no mtls CA"), "{e}");
    PgStore::create(&db.url).expect("create");
    let e = PgStore::create(&db.url).expect_err("twice");
    assert!(e.to_string().contains("already holds an mtls CA"), "{e}");
    // Eight instances starting at once all open it (the migration lock serialises them).
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| PgStore::open(&db.url).expect("open"));
        }
    });
}

#[test]
fn errors_name_the_store_without_its_password() {
    let e = PgStore::open("postgres://mtls:s3cret@127.0.0.1:1/ca").expect_err("nothing listens");
    let text = e.to_string();
    assert!(
        text.contains("postgres://mtls:***@127.0.0.1:1/ca"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        matches!(
            e,
            mtls_pki::Error::Backend {
                retryable: true,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_broken_connection_fails_retryably_once_then_reconnects() {
    let Some(db) = TestDb::new("reconnect") else {
        return;
    };
    let s = PgStore::create(&db.url).expect("create");
    assert_eq!(s.counts().expect("counts"), (0, 0));
    // What a server restart or failover does to an open connection.
    let mut admin = mtls_store_pg::connect_admin(&db.admin).expect("admin");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .expect("terminate");
    let mut failed = false;
    for _ in 0..3 {
        match s.counts() {
            Ok(c) => {
                assert_eq!(c, (0, 0));
                break;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        mtls_pki::Error::Backend {
                            retryable: true,
                            ..
                        }
                    ),
                    "{e:?}"
                );
                assert!(!failed, "failed twice: {e}");
                failed = true;
            }
        }
    }
    assert!(s.counts().is_ok(), "reconnected");
}

#[test]
fn the_change_feed_sees_every_revocation_even_across_a_lost_connection() {
    use mtls_pki::store::backend::Backend;
    use mtls_pki::store::{Reason, Revocation, conformance::record};
    let Some(db) = TestDb::new("feed") else {
        return;
    };
    let mut s = PgStore::create(&db.url).expect("create");
    s.insert(&[
        record(0x0701, "/CN=f1", b"1"),
        record(0x0702, "/CN=f2", b"2"),
    ])
    .expect("insert");
    let mut feed = mtls_store_pg::BACKEND.feed(&db.url).expect("feed");
    assert!(
        feed.next(std::time::Duration::from_millis(50))
            .expect("next")
            .is_empty()
    );
    let t0 = std::time::Instant::now();
    s.revoke(
        &"0701".parse().unwrap(),
        &Revocation::new(5, Reason::KeyCompromise),
    )
    .expect("revoke");
    let got = feed.next(std::time::Duration::from_secs(5)).expect("next");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].serial, Some("0701".parse().unwrap()));
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(1),
        "woken by NOTIFY, not the timeout"
    );
    // The listener's connection dies; a revocation happens meanwhile; nothing is lost.
    let mut admin = mtls_store_pg::connect_admin(&db.admin).expect("admin");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
            &[&db.name],
        )
        .expect("terminate");
    s.revoke(
        &"0702".parse().unwrap(),
        &Revocation::new(6, Reason::Superseded),
    )
    .expect("revoke");
    let mut seen = Vec::new();
    for _ in 0..5 {
        match feed.next(std::time::Duration::from_millis(200)) {
            Ok(c) => seen.extend(c),
            Err(e) => assert!(
                matches!(
                    e,
                    mtls_pki::Error::Backend {
                        retryable: true,
                        ..
                    }
                ),
                "{e:?}"
            ),
        }
        if !seen.is_empty() {
            break;
        }
    }
    assert_eq!(
        seen.iter().map(|c| c.serial.clone()).collect::<Vec<_>>(),
        [Some("0702".parse().unwrap())]
    );
}

#[test]
fn a_version_1_database_migrates_and_instances_report_what_they_applied() {
    use mtls_pki::store::backend::{Backend, lagging};
    use mtls_pki::store::{Reason, Revocation, conformance::record};
    let Some(db) = TestDb::new("instances") else {
        return;
    };
    let mut s = PgStore::create(&db.url).expect("create");
    // What a database made by the previous release looks like.
    let mut c = mtls_store_pg::connect_admin(&db.url).expect("connect");
    c.batch_execute("DROP TABLE instances; UPDATE mtls_schema SET version = 1")
        .expect("downgrade");
    drop(PgStore::open(&db.url).expect("migrates"));
    let v: i32 = c
        .query_one("SELECT version FROM mtls_schema", &[])
        .expect("version")
        .get(0);
    assert_eq!(v, 2);

    let mut a = mtls_store_pg::BACKEND.feed(&db.url).expect("feed a");
    let mut b = mtls_store_pg::BACKEND.feed(&db.url).expect("feed b");
    s.insert(&[record(0x0801, "/CN=i1", b"1")]).expect("insert");
    s.revoke(
        &"0801".parse().unwrap(),
        &Revocation::new(5, Reason::Superseded),
    )
    .expect("revoke");
    let change = s.last_change().expect("last change");
    assert!(change > 0);
    // A has read the revocation, B not yet: B lags; and both lag a CRL neither serves.
    let got = a.next(std::time::Duration::from_secs(5)).expect("next");
    assert!(!got.is_empty());
    a.report("a", Some(3)).expect("report a");
    b.report("b", Some(3)).expect("report b");
    let live = s.instances(3).expect("instances");
    assert_eq!(live.len(), 2, "{live:?}");
    let ids = |l: Vec<&mtls_pki::store::backend::InstanceReport>| {
        l.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(lagging(&live, change, Some(3))), ["b"]);
    assert_eq!(ids(lagging(&live, change, Some(4))), ["a", "b"]);
    b.next(std::time::Duration::from_secs(5)).expect("next");
    b.report("b", Some(3)).expect("report b");
    let live = s.instances(3).expect("instances");
    assert!(lagging(&live, change, Some(3)).is_empty(), "{live:?}");
    // A stops cleanly: nobody waits for it.
    a.leave("a").expect("leave");
    let live = s.instances(3).expect("instances");
    assert_eq!(
        live.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    // A report older than the live window does not count.
    c.batch_execute("UPDATE instances SET seen_at = seen_at - 10")
        .expect("age");
    assert!(s.instances(3).expect("instances").is_empty());
}
