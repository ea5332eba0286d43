//! The behaviour every [`Store`] backend must show, as functions a backend's tests call with a
//! way to connect to one fresh, empty store (each call a new connection to the same store, so
//! that races between writers are real). pki runs them on SQLite; `mtls-store-pg` on
//! PostgreSQL. They panic, naming what broke, as tests do.

use super::{
    AuditEntry, CertRecord, CrlState, InsertGuard, Reason, Revocation, StatusFilter, Store,
};
use crate::Error;
use crate::serial::Serial;
use crate::token::{self, TokenRecord, TokenRefusal};

/// Connects to the store under test.
pub type Connect<'a> = &'a (dyn Fn() -> Box<dyn Store> + Sync);

/// Every check below, in turn.
pub fn run_all(connect: Connect<'_>) {
    records_revocations_and_listing(connect);
    unique_subject(connect);
    token_single_use_under_a_race(connect);
    batches(connect);
    crl_numbers(connect);
    audit_paging(connect);
    renewals_and_changes(connect);
}

/// A record with a one-byte serial (plus `base`, to keep the checks apart in one store).
pub fn record(serial: u16, subject: &str, der: &[u8]) -> CertRecord {
    CertRecord {
        serial: Serial::from_bytes(&serial.to_be_bytes()),
        subject: subject.into(),
        cn: subject.strip_prefix("/CN=").map(str::to_string),
        sans: vec!["DNS:a.example".into(), "IP:10.0.0.1".into()],
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

fn serial(n: u16) -> Serial {
    Serial::from_bytes(&n.to_be_bytes())
}

/// Insert, get, duplicate serials, revoke (and its refusals), list filters, counts, paging of
/// valid serials.
pub fn records_revocations_and_listing(connect: Connect<'_>) {
    let mut s = connect();
    let mut expired = record(0x0102, "/CN=old", b"o");
    expired.not_after = 1_500;
    s.insert(&[record(0x0101, "/CN=r1", b"\x30\x00"), expired])
        .expect("insert");
    let got = s.get(&serial(0x0101)).expect("get").expect("recorded");
    assert_eq!(got.subject, "/CN=r1");
    assert_eq!(got.cn.as_deref(), Some("r1"));
    assert_eq!(got.sans, ["DNS:a.example", "IP:10.0.0.1"]);
    assert_eq!(
        (got.not_before, got.der.as_slice()),
        (Some(1_000), &b"\x30\x00"[..])
    );
    assert!(s.contains(&serial(0x0102)).expect("contains"));
    assert!(s.get(&serial(0x01ff)).expect("get").is_none());
    // A duplicate serial inserts nothing of its call.
    let e = s
        .insert(&[
            record(0x0103, "/CN=r3", b"x"),
            record(0x0101, "/CN=dup", b"y"),
        ])
        .expect_err("duplicate serial");
    assert!(matches!(e, Error::DuplicateSerial { .. }), "{e}");
    assert!(!s.contains(&serial(0x0103)).expect("contains"));

    let mut rev = Revocation::new(1_600, Reason::CertificateHold);
    rev.hold_instruction = Some(super::hold::REJECT.into());
    rev.invalidity_date = Some(1_550);
    s.revoke(&serial(0x0101), &rev).expect("revoke");
    let got = s.get(&serial(0x0101)).expect("get").expect("recorded");
    assert_eq!(got.revocation(), Some(rev.clone()));
    let again = s.revoke(&serial(0x0101), &rev).expect_err("twice");
    assert!(matches!(again, Error::AlreadyRevoked { .. }), "{again}");
    let unknown = s.revoke(&serial(0x01fe), &rev).expect_err("unknown");
    assert!(matches!(unknown, Error::UnknownSerial { .. }), "{unknown}");
    assert!(s.any_revoked().expect("any_revoked"));

    s.insert(&[record(0x0104, "/CN=r4", b"v")]).expect("insert");
    let now = 1_700;
    let names = |f| -> Vec<String> {
        s.list(f, now, None)
            .expect("list")
            .into_iter()
            .map(|r| r.subject)
            .collect()
    };
    assert_eq!(names(StatusFilter::Valid), ["/CN=r4"]);
    assert_eq!(names(StatusFilter::Revoked), ["/CN=r1"]);
    assert_eq!(names(StatusFilter::Expired), ["/CN=old"]);
    assert_eq!(names(StatusFilter::All).len(), 3);
    assert_eq!(s.counts().expect("counts"), (3, 1));
    let mut more: Vec<CertRecord> = (0..5).map(|i| record(0x0110 + i, "/CN=v", b"v")).collect();
    more.push(record(0x0120, "/CN=v", b"v"));
    s.insert(&more).expect("insert");
    let first = s.valid_serials(now, None, 4).expect("page");
    let rest = s.valid_serials(now, first.last(), 100).expect("page");
    assert_eq!((first.len(), rest.len()), (4, 3), "{first:?} {rest:?}");
    assert!(!first.contains(&serial(0x0101)) && !rest.contains(&serial(0x0102)));
}

fn unique(now: i64) -> InsertGuard {
    InsertGuard {
        unique_at: Some(now),
        ..Default::default()
    }
}

fn guard(hash: token::TokenHash, now: i64) -> InsertGuard {
    InsertGuard {
        token: Some((hash, now)),
        ..Default::default()
    }
}

/// openssl's `unique_subject`: against valid certificates and within one call.
pub fn unique_subject(connect: Connect<'_>) {
    let mut s = connect();
    let now = 1_500;
    s.insert_guarded(&[record(0x0201, "/CN=u", b"x")], &unique(now))
        .expect("first");
    match s.insert_guarded(&[record(0x0202, "/CN=u", b"y")], &unique(now)) {
        Err(Error::SubjectNotUnique { subject, serial }) => {
            assert_eq!((subject.as_str(), serial.as_str()), ("/CN=u", "0201"))
        }
        other => panic!("a second valid /CN=u: {other:?}"),
    }
    let batch = [
        record(0x0203, "/CN=ub", b"p"),
        record(0x0204, "/CN=ub", b"q"),
    ];
    assert!(s.insert_guarded(&batch, &unique(now)).is_err());
    assert!(!s.contains(&serial(0x0203)).expect("contains"));
    s.revoke(&serial(0x0201), &Revocation::new(now, Reason::Superseded))
        .expect("revoke");
    assert_eq!(s.valid_with_subject("/CN=u", now).expect("lookup"), None);
    s.insert_guarded(&[record(0x0205, "/CN=u", b"z")], &unique(now))
        .expect("after the revocation");
    assert_eq!(
        s.valid_with_subject("/CN=u", now).expect("lookup"),
        Some(serial(0x0205))
    );
    assert_eq!(
        s.valid_with_subject("/CN=u", 2_000_000_001)
            .expect("lookup"),
        None
    );
}

/// A token is consumed with the record, refused when expired or unknown, and used once only by
/// eight writers racing on their own connections.
pub fn token_single_use_under_a_race(connect: Connect<'_>) {
    let mut s = connect();
    let secret = token::generate().expect("token");
    let t = TokenRecord::new("dev", "client", vec!["DNS:*.example".into()], 1_000, 60, 1)
        .expect("token record");
    s.add_token(&secret.hash(), &t).expect("add_token");
    assert_eq!(s.token(&secret.hash()).expect("token"), Some(t.clone()));
    let both = s
        .tokens_by_hash(&[token::hash("nope"), secret.hash()])
        .expect("tokens_by_hash");
    assert_eq!(both, vec![None, Some(t)]);
    let refusal = |e: Error| match e {
        Error::TokenRefused { refusal } => refusal,
        other => panic!("{other}"),
    };
    let late = s.insert_guarded(
        &[record(0x0301, "/CN=t", b"x")],
        &guard(secret.hash(), 1_060),
    );
    assert_eq!(refusal(late.expect_err("expired")), TokenRefusal::Expired);
    let e = s.insert_guarded(
        &[record(0x0301, "/CN=t", b"x")],
        &guard(token::hash("nope"), 1_001),
    );
    assert_eq!(refusal(e.expect_err("unknown")), TokenRefusal::Unknown);
    assert!(!s.contains(&serial(0x0301)).expect("contains"));
    drop(s);
    let hash = secret.hash();
    let wins: Vec<bool> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8u16)
            .map(|i| {
                sc.spawn(move || {
                    let mut s = connect();
                    let r = [record(0x0310 + i, "/CN=race", b"y")];
                    match s.insert_guarded(&r, &guard(hash, 1_001)) {
                        Ok(()) => true,
                        Err(Error::TokenRefused { refusal }) => {
                            assert_eq!(refusal, TokenRefusal::Used);
                            false
                        }
                        Err(e) => panic!("writer {i}: {e}"),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let s = connect();
    assert_eq!(s.token(&hash).expect("token").expect("kept").uses_left, 0);
}

/// `insert_each`: one transaction, a refused item holds back no other.
pub fn batches(connect: Connect<'_>) {
    let mut s = connect();
    let secret = token::generate().expect("token");
    s.add_token(
        &secret.hash(),
        &TokenRecord::new("b", "client", vec![], 0, 60, 2).expect("token record"),
    )
    .expect("add_token");
    s.insert(&[record(0x0400, "/CN=taken", b"t")])
        .expect("insert");
    let mut audited = guard(secret.hash(), 1);
    audited.audit = Some(AuditEntry::new(5, "token:b", "enroll"));
    let items: Vec<_> = [(record(0x0401, "/CN=b", b"x"), audited)]
        .into_iter()
        .chain((2..=3u16).map(|i| (record(0x0400 + i, "/CN=b", b"x"), guard(secret.hash(), 1))))
        .chain([(record(0x0400, "/CN=dup", b"y"), InsertGuard::default())])
        .collect();
    let r = s.insert_each(&items).expect("insert_each");
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
    assert!(s.contains(&serial(0x0402)).expect("contains"));
    assert!(!s.contains(&serial(0x0403)).expect("contains"));
    let log = s.audit(10, None).expect("audit");
    assert!(
        log.iter()
            .any(|e| e.action == "enroll" && e.target.as_deref() == Some("0401")),
        "the audit row goes in with its record: {log:?}"
    );
}

/// CRL numbers: reserved in order, each with every revocation; a lower number never
/// overwrites a higher one's publication.
pub fn crl_numbers(connect: Connect<'_>) {
    let mut s = connect();
    let base = s.last_crl_number().expect("last");
    s.insert(&[record(0x0501, "/CN=c", b"c")]).expect("insert");
    s.revoke(
        &serial(0x0501),
        &Revocation::new(1_234, Reason::KeyCompromise),
    )
    .expect("revoke");
    let (a, entries) = s.begin_crl().expect("begin");
    let (b, _) = s.begin_crl().expect("begin");
    assert_eq!((a, b), (base + 1, base + 2));
    assert!(entries.iter().any(|e| e.serial == serial(0x0501)
        && e.revocation.reason == Reason::KeyCompromise
        && e.revocation.at == 1_234));
    let state = |number| CrlState {
        number,
        this_update: 10,
        next_update: 20,
    };
    let mut wrote = 0;
    assert!(
        s.finish_crl(state(b), b"crl b", &mut || {
            wrote += 1;
            Ok(())
        })
        .expect("finish")
    );
    assert!(
        !s.finish_crl(state(a), b"crl a", &mut || {
            wrote += 1;
            Ok(())
        })
        .expect("finish")
    );
    assert_eq!(
        wrote, 1,
        "the lower number is not published after the higher"
    );
    assert_eq!(s.crl_state().expect("state"), Some(state(b)));
    if let Some((st, der)) = s.published_crl().expect("published") {
        assert_eq!(
            (st, der.as_slice()),
            (state(b), &b"crl b"[..]),
            "a shared store keeps the published CRL"
        );
    }
    assert!(
        s.try_lead(super::Role::CrlWriter).expect("lead"),
        "a lone connection leads"
    );
    s.set_min_crl_number(base + 100).expect("min");
    assert_eq!(s.begin_crl().expect("begin").0, base + 101);
    // Concurrent reservations never hand out a number twice.
    let numbers: Vec<u64> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6)
            .map(|_| sc.spawn(|| connect().begin_crl().expect("begin").0))
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 6, "{numbers:?}");
}

/// The audit log pages newest first; a batch of entries goes in together.
pub fn audit_paging(connect: Connect<'_>) {
    let mut s = connect();
    let before = s.audit(1, None).expect("audit").first().map(|e| e.id);
    for i in 0..3 {
        let mut e = AuditEntry::new(100 + i, "local", "crl");
        e.target = Some(format!("{i}"));
        s.add_audit(&e).expect("add_audit");
    }
    let many: Vec<AuditEntry> = (3..5)
        .map(|i| AuditEntry::new(100 + i, "local", "crl"))
        .collect();
    s.add_audits(&many).expect("add_audits");
    let page = s.audit(2, None).expect("audit");
    assert_eq!(page.iter().map(|e| e.at).collect::<Vec<_>>(), [104, 103]);
    let next = s.audit(3, Some(page[1].id)).expect("audit");
    assert_eq!(
        next.iter().map(|e| e.at).collect::<Vec<_>>(),
        [102, 101, 100]
    );
    if let Some(id) = before {
        assert!(page[1].id > id);
    }
}

/// Renewals are kept both ways; another connection's commit changes `data_version`.
pub fn renewals_and_changes(connect: Connect<'_>) {
    let mut s = connect();
    s.insert(&[record(0x0601, "/CN=n", b"1")]).expect("insert");
    let renewal = InsertGuard {
        supersedes: Some(serial(0x0601)),
        ..Default::default()
    };
    s.insert_guarded(&[record(0x0602, "/CN=n", b"2")], &renewal)
        .expect("renewal");
    assert_eq!(
        s.superseded_by(&serial(0x0602)).expect("q"),
        Some(serial(0x0601))
    );
    assert_eq!(
        s.supersedes(&serial(0x0601)).expect("q"),
        Some(serial(0x0602))
    );
    assert_eq!(s.supersedes(&serial(0x0602)).expect("q"), None);
    assert!(
        s.renewals()
            .expect("renewals")
            .contains(&(serial(0x0602), serial(0x0601)))
    );
    assert!(
        !s.tokens().expect("tokens").is_empty(),
        "the tokens of the checks before"
    );
    let mut entry = AuditEntry::new(2_001, "cert:AA", "revoke");
    entry.target = Some("0601".into());
    s.revoke_audited(
        &serial(0x0601),
        &Revocation::new(2_001, Reason::Superseded),
        &entry,
    )
    .expect("revoke_audited");
    assert!(
        s.audit(5, None)
            .expect("audit")
            .iter()
            .any(|e| e.action == "revoke" && e.target.as_deref() == Some("0601")),
        "the audit row goes in with the revocation"
    );
    let v1 = s.data_version().expect("data_version");
    connect()
        .revoke(&serial(0x0602), &Revocation::new(2_000, Reason::Superseded))
        .expect("revoke elsewhere");
    assert_ne!(s.data_version().expect("data_version"), v1);
}
