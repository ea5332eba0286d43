//! Copying a whole store (a SQLite CA's) into a new PostgreSQL one, in one transaction, checked
//! before it commits: the same counts on both sides and the same digest of every record, or
//! nothing is kept.

use mtls_pki::store::Store;
use mtls_pki::{Error, Result};
use postgres::Transaction;

use crate::connect::{backend_error, describe, retryable};
use crate::store::PgStore;

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Copied {
    /// Certificate records.
    pub certs: u64,
    /// Of which revoked.
    pub revoked: u64,
    /// Enrollment tokens.
    pub tokens: u64,
    /// Renewals (which certificate superseded which).
    pub renewals: u64,
    /// Audit log entries.
    pub audit: u64,
    /// The last CRL number reserved.
    pub crl_number: u64,
}

/// A running SHA-256 of the records in serial order: what the copy is compared by.
struct Digest(aws_lc_rs::digest::Context);

impl Digest {
    fn new() -> Digest {
        Digest(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    fn add(&mut self, r: &mtls_pki::CertRecord) {
        let text = format!(
            "{}|{}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{}|{}\n",
            r.serial.hex(),
            r.subject,
            r.not_before,
            r.not_after,
            r.revoked_at,
            r.reason.map(|x| x.code()),
            r.invalidity_date,
            r.hold_instruction,
            r.profile,
            r.sans.join(","),
        );
        self.0.update(text.as_bytes());
        self.0
            .update(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &r.der).as_ref());
    }

    fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

fn db(url: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| backend_error(url, describe(&e), retryable(&e))
}

fn copy_certs(
    tx: &mut Transaction<'_>,
    url: &str,
    src: &dyn Store,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, Vec<u8>)> {
    let stmt = tx
        .prepare(
            "INSERT INTO certs (serial, subject, cn, sans, profile, not_before, not_after, revoked_at, \
             reason, der, invalidity_date, hold_instruction) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .map_err(db(url))?;
    let mut n = 0u64;
    let mut digest = Digest::new();
    src.for_each(&mut |r| {
        tx.execute(&stmt, &crate::write::RecordParams::new(&r).with(&[]))
            .map_err(db(url))?;
        digest.add(&r);
        n += 1;
        if n % 1000 == 0 {
            progress(n);
        }
        Ok(())
    })?;
    progress(n);
    Ok((n, digest.finish()))
}

fn copy_rest(tx: &mut Transaction<'_>, url: &str, src: &dyn Store) -> Result<Copied> {
    let mut c = Copied::default();
    for (hash, t) in src.tokens()? {
        let validity = t
            .validity
            .map(|v| i64::try_from(v.secs()).unwrap_or(i64::MAX));
        let uses = i32::try_from(t.uses_left).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO tokens (hash, name, profile, sans, created_at, expires_at, uses_left, validity) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&&hash[..], &t.name, &t.profile, &t.sans.join("\n"), &t.created_at, &t.expires_at, &uses, &validity],
        )
        .map_err(db(url))?;
        c.tokens += 1;
    }
    for (new, old) in src.renewals()? {
        tx.execute(
            "INSERT INTO renewals (new_serial, old_serial) VALUES ($1, $2)",
            &[&new.hex(), &old.hex()],
        )
        .map_err(db(url))?;
        c.renewals += 1;
    }
    // The audit log keeps its ids (oldest first), and the sequence continues after them.
    let mut before = None;
    loop {
        let page = src.audit(1000, before)?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for e in &page {
            tx.execute(
                "INSERT INTO audit (id, at, actor, action, target, peer, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &e.id, &e.at, &e.actor, &e.action, &e.target, &e.peer, &e.outcome, &e.detail,
                ],
            )
            .map_err(db(url))?;
            c.audit += 1;
        }
    }
    tx.batch_execute("SELECT setval(pg_get_serial_sequence('audit', 'id'), GREATEST((SELECT MAX(id) FROM audit), 1))")
        .map_err(db(url))?;
    let last = i64::try_from(src.last_crl_number()?).unwrap_or(i64::MAX);
    tx.execute("UPDATE crl SET last_number = $1 WHERE id = 1", &[&last])
        .map_err(db(url))?;
    c.crl_number = u64::try_from(last).unwrap_or(0);
    if let Some(st) = src.crl_state()? {
        let n = i64::try_from(st.number).unwrap_or(i64::MAX);
        tx.execute(
            "UPDATE crl SET published_number = $1, this_update = $2, next_update = $3 WHERE id = 1",
            &[&n, &st.this_update, &st.next_update],
        )
        .map_err(db(url))?;
    }
    Ok(c)
}

/// The digest and counts of what the transaction holds now.
fn check(tx: &mut Transaction<'_>, url: &str) -> Result<(Copied, Vec<u8>)> {
    let row = tx
        .query_one(
            "SELECT (SELECT COUNT(*) FROM certs), (SELECT COUNT(revoked_at) FROM certs), \
             (SELECT COUNT(*) FROM tokens), (SELECT COUNT(*) FROM renewals), (SELECT COUNT(*) FROM audit), \
             (SELECT last_number FROM crl WHERE id = 1)",
            &[],
        )
        .map_err(db(url))?;
    let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    let counts = Copied {
        certs: n(0),
        revoked: n(1),
        tokens: n(2),
        renewals: n(3),
        audit: n(4),
        crl_number: n(5),
    };
    let mut digest = Digest::new();
    let portal = tx
        .bind(
            "SELECT serial, subject, cn, sans, profile, not_before, not_after, revoked_at, reason, der, \
             invalidity_date, hold_instruction FROM certs ORDER BY serial",
            &[],
        )
        .map_err(db(url))?;
    loop {
        let rows = tx.query_portal(&portal, 1000).map_err(db(url))?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            digest.add(&crate::store::row_to_record(r));
        }
    }
    Ok((counts, digest.finish()))
}

impl PgStore {
    /// Creates a store at `url` (an empty database) holding a copy of `src`: every record,
    /// revocation, token, renewal, audit entry and the CRL numbering, all in one transaction
    /// with the schema, telling `progress` how many certificates are copied so far. Before
    /// committing, the counts and a digest of every record are compared on both sides.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the database holds a CA already, fails, or the copy does not
    /// compare equal; then nothing at all is kept.
    pub fn create_from(
        url: &str,
        src: &dyn Store,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(PgStore, Copied)> {
        let mut client = crate::connect::connect(url)?;
        let safe = crate::connect::redact(url);
        let mut tx = client.transaction().map_err(db(&safe))?;
        crate::schema::create_in(&mut tx, &safe)?;
        let (certs, src_digest) = copy_certs(&mut tx, &safe, src, progress)?;
        let mut copied = copy_rest(&mut tx, &safe, src)?;
        copied.certs = certs;
        let (all, revoked) = src.counts()?;
        copied.revoked = revoked;
        let (found, digest) = check(&mut tx, &safe)?;
        if found != copied || all != certs || digest != src_digest {
            return Err(backend_error(
                &safe,
                format!(
                    "the copy does not compare equal (source {copied:?}, {all} records; copy {found:?}); nothing was kept"
                ),
                false,
            ));
        }
        tx.commit().map_err(db(&safe))?;
        drop(client);
        Ok((PgStore::open(url)?, copied))
    }
}
