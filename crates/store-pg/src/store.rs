//! [`PgStore`]: every [`Store`] method as one PostgreSQL transaction (READ COMMITTED, with the
//! row locks and advisory locks named at each method).

use std::cell::RefCell;

use mtls_pki::Serial;
use mtls_pki::store::{
    AuditEntry, CertRecord, CrlState, InsertGuard, Reason, Revocation, RevokedEntry, Role,
    StatusFilter, Store,
};
use mtls_pki::time::Lifetime;
use mtls_pki::token::{TokenHash, TokenRecord};
use mtls_pki::{Error, Result};
use postgres::{Client, GenericClient, Row, Statement};

use crate::connect::{backend_error, describe, redact, retryable};
use crate::write::{NEXT_CHANGE, Refused, add_audit, insert_in, insert_one};

/// The columns of `certs`, in [`row_to_record`]'s order.
pub(crate) const COLUMNS: &str = "serial, subject, cn, sans, profile, not_before, not_after, revoked_at, \
                       reason, der, invalidity_date, hold_instruction";

/// The CA store in one PostgreSQL database.
pub struct PgStore {
    client: RefCell<Client>,
    /// Statements prepared on this connection, by their SQL: a query is then one round trip,
    /// not two (rust-postgres prepares a `&str` query anew each time).
    stmts: Stmts,
    /// The URL as given (with any password), for reconnecting.
    full_url: String,
    /// The roles this connection holds (session advisory locks: lost with the connection).
    leading: RefCell<Vec<Role>>,
    /// The URL without its password, for messages.
    url: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.url).finish()
    }
}

/// Prepared statements of one connection.
#[derive(Default)]
pub(crate) struct Stmts(RefCell<std::collections::HashMap<String, Statement>>);

impl Stmts {
    /// The statement for `sql`, prepared on `c` the first time.
    pub(crate) fn get(
        &self,
        c: &mut impl GenericClient,
        sql: &str,
    ) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.0.borrow().get(sql) {
            return Ok(s.clone());
        }
        let st = c.prepare(sql)?;
        self.0.borrow_mut().insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

pub(crate) fn row_to_record(r: &Row) -> CertRecord {
    let serial: String = r.get(0);
    let sans: String = r.get(3);
    let reason: Option<i16> = r.get(8);
    CertRecord {
        serial: serial.parse().unwrap_or_else(|_| Serial::from_bytes(&[])),
        subject: r.get(1),
        cn: r.get(2),
        sans: sans.lines().map(str::to_string).collect(),
        profile: r.get(4),
        not_before: r.get(5),
        not_after: r.get(6),
        revoked_at: r.get(7),
        reason: reason
            .and_then(|c| u8::try_from(c).ok())
            .and_then(Reason::from_code),
        der: r.get(9),
        invalidity_date: r.get(10),
        hold_instruction: r.get(11),
    }
}

impl PgStore {
    fn with_client(client: Client, url: &str) -> PgStore {
        PgStore {
            client: RefCell::new(client),
            stmts: Stmts::default(),
            leading: RefCell::new(Vec::new()),
            full_url: url.to_string(),
            url: redact(url),
        }
    }

    /// Creates the schema of a new CA in the (empty) database at `url`.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`]: unreachable, or the database holds a CA already.
    pub fn create(url: &str) -> Result<PgStore> {
        let mut client = crate::connect::connect(url)?;
        crate::schema::create(&mut client, url)?;
        Ok(PgStore::with_client(client, url))
    }

    /// Opens the CA in the database at `url`, migrating its schema if it is older.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`]: unreachable, no CA there, or a schema of another release.
    pub fn open(url: &str) -> Result<PgStore> {
        let mut client = crate::connect::connect(url)?;
        crate::schema::migrate(&mut client, url)?;
        Ok(PgStore::with_client(client, url))
    }

    /// The connection, made anew when the old one broke (the server restarted or failed
    /// over): the call that found it broken failed retryably, the next one reconnects.
    pub(crate) fn conn(&self) -> Result<std::cell::RefMut<'_, Client>> {
        let mut c = self.client.borrow_mut();
        if c.is_closed() {
            *c = crate::connect::connect(&self.full_url)?;
            self.stmts.0.borrow_mut().clear();
            self.leading.borrow_mut().clear();
        }
        Ok(c)
    }

    /// The store's URL, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn err(&self, e: postgres::Error) -> Error {
        backend_error(&self.url, describe(&e), retryable(&e))
    }

    fn refused(&self, r: Refused) -> Error {
        match r {
            Refused::Db(e) => self.err(e),
            Refused::Pki(e) => e,
        }
    }

    pub(crate) fn corrupt(&self, s: &str) -> Error {
        backend_error(
            &self.url,
            format!("corrupt serial {s:?} in the store"),
            false,
        )
    }

    fn serial_of(&self, s: Option<String>) -> Result<Option<Serial>> {
        s.map(|s| s.parse().map_err(|_| self.corrupt(&s)))
            .transpose()
    }
}

impl Store for PgStore {
    fn insert(&mut self, records: &[CertRecord]) -> Result<()> {
        self.insert_guarded(records, &InsertGuard::default())
    }

    fn valid_with_subject(&self, subject: &str, now: i64) -> Result<Option<Serial>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT serial FROM certs WHERE subject = $1 AND revoked_at IS NULL AND not_after >= $2 LIMIT 1",
                &[&subject, &now],
            )
            .map_err(|e| self.err(e))?;
        self.serial_of(row.map(|r| r.get(0)))
    }

    fn contains(&self, serial: &Serial) -> Result<bool> {
        let row = self
            .conn()?
            .query_opt("SELECT 1 FROM certs WHERE serial = $1", &[&serial.hex()])
            .map_err(|e| self.err(e))?;
        Ok(row.is_some())
    }

    fn get(&self, serial: &Serial) -> Result<Option<CertRecord>> {
        let mut c = self.conn()?;
        let sql = format!("SELECT {COLUMNS} FROM certs WHERE serial = $1");
        let st = self.stmts.get(&mut *c, &sql).map_err(|e| self.err(e))?;
        let row = c
            .query_opt(&st, &[&serial.hex()])
            .map_err(|e| self.err(e))?;
        Ok(row.as_ref().map(row_to_record))
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
        self.pg_begin_crl()
    }

    fn finish_crl(
        &mut self,
        state: CrlState,
        der: &[u8],
        write: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool> {
        self.pg_finish_crl(state, der, write)
    }

    fn published_crl(&self) -> Result<Option<(CrlState, Vec<u8>)>> {
        self.pg_published_crl()
    }

    fn last_change(&self) -> Result<i64> {
        crate::instances::last_change(&mut *self.conn()?, &self.url)
    }

    fn instances(&self, live_secs: i64) -> Result<Vec<mtls_pki::store::backend::InstanceReport>> {
        crate::instances::live(&mut *self.conn()?, &self.url, live_secs)
    }

    fn config_text(&self) -> Result<Option<String>> {
        let row = self
            .conn()?
            .query_opt("SELECT text FROM config WHERE id = 1", &[])
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn set_config_text(&mut self, text: &str, at: i64) -> Result<()> {
        let url = self.url.clone();
        let db = |e: postgres::Error| backend_error(&url, describe(&e), retryable(&e));
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO config (id, text, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text, updated_at = EXCLUDED.updated_at",
            &[&text, &at],
        )
        .map_err(db)?;
        let id: i64 = tx
            .query_one(
                &format!("{NEXT_CHANGE} SELECT n, $1, 'config', NULL FROM c RETURNING id"),
                &[&at],
            )
            .map_err(db)?
            .get(0);
        tx.execute("SELECT pg_notify('mtls_changes', $1)", &[&id.to_string()])
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn try_lead(&mut self, role: Role) -> Result<bool> {
        let key: i64 = match role {
            // "mtlscrlw" in ASCII.
            Role::CrlWriter => 0x6d74_6c73_6372_6c77,
            // "mtlsocsp".
            Role::OcspPresigner => 0x6d74_6c73_6f63_7370,
        };
        let mut c = self.conn()?;
        if self.leading.borrow().contains(&role) {
            return Ok(true);
        }
        let got: bool = c
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .map_err(|e| self.err(e))?
            .get(0);
        if got {
            self.leading.borrow_mut().push(role);
        }
        Ok(got)
    }

    fn crl_state(&self) -> Result<Option<CrlState>> {
        self.pg_crl_state()
    }

    fn list(
        &self,
        filter: StatusFilter,
        now: i64,
        expiring_before: Option<i64>,
    ) -> Result<Vec<CertRecord>> {
        let cond = match filter {
            StatusFilter::Valid => "revoked_at IS NULL AND not_after >= $1",
            StatusFilter::Revoked => "revoked_at IS NOT NULL AND $1::BIGINT IS NOT NULL",
            StatusFilter::Expired => "revoked_at IS NULL AND not_after < $1",
            StatusFilter::All => "$1::BIGINT IS NOT NULL",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM certs WHERE {cond} AND not_after <= $2 ORDER BY not_after, serial"
        );
        let rows = self
            .conn()?
            .query(&sql, &[&now, &expiring_before.unwrap_or(i64::MAX)])
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(row_to_record).collect())
    }

    fn valid_serials(&self, now: i64, after: Option<&Serial>, limit: usize) -> Result<Vec<Serial>> {
        let after = after.map(Serial::hex).unwrap_or_default();
        let rows = self
            .conn()?
            .query(
                "SELECT serial FROM certs WHERE revoked_at IS NULL AND not_after >= $1 AND serial > $2 \
                 ORDER BY serial LIMIT $3",
                &[&now, &after, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let s: String = r.get(0);
                s.parse().map_err(|_| self.corrupt(&s))
            })
            .collect()
    }

    fn for_each(&self, f: &mut dyn FnMut(CertRecord) -> Result<()>) -> Result<()> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        let sql = format!("SELECT {COLUMNS} FROM certs ORDER BY serial");
        let portal = tx.bind(sql.as_str(), &[]).map_err(|e| self.err(e))?;
        loop {
            let rows = tx.query_portal(&portal, 1000).map_err(|e| self.err(e))?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                f(row_to_record(r))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn any_revoked(&self) -> Result<bool> {
        let row = self
            .conn()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM certs WHERE revoked_at IS NOT NULL)",
                &[],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn counts(&self) -> Result<(u64, u64)> {
        let row = self
            .conn()?
            .query_one("SELECT COUNT(*), COUNT(revoked_at) FROM certs", &[])
            .map_err(|e| self.err(e))?;
        let (all, revoked): (i64, i64) = (row.get(0), row.get(1));
        Ok((
            u64::try_from(all).unwrap_or(0),
            u64::try_from(revoked).unwrap_or(0),
        ))
    }

    fn data_version(&self) -> Result<i64> {
        let row = self
            .conn()?
            .query_one("SELECT COALESCE(MAX(id), 0) FROM changes", &[])
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn last_crl_number(&self) -> Result<u64> {
        self.pg_last_crl_number()
    }

    fn set_min_crl_number(&mut self, n: u64) -> Result<()> {
        self.pg_set_min_crl_number(n)
    }

    fn set_crl_state(&mut self, state: CrlState) -> Result<()> {
        self.pg_set_crl_state(state)
    }

    fn add_token(&mut self, hash: &TokenHash, t: &TokenRecord) -> Result<()> {
        let validity = t
            .validity
            .map(|v| i64::try_from(v.secs()).unwrap_or(i64::MAX));
        let uses = i32::try_from(t.uses_left).unwrap_or(i32::MAX);
        self.conn()?
            .execute(
                "INSERT INTO tokens (hash, name, profile, sans, created_at, expires_at, uses_left, validity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&&hash[..], &t.name, &t.profile, &t.sans.join("\n"), &t.created_at, &t.expires_at, &uses, &validity],
            )
            .map(|_| ())
            .map_err(|e| backend_error(&self.url, describe(&e), retryable(&e)))
    }

    fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        let mut c = self.conn()?;
        let sql = "SELECT name, profile, sans, created_at, expires_at, uses_left, validity \
                   FROM tokens WHERE hash = $1";
        let st = self.stmts.get(&mut *c, sql).map_err(|e| self.err(e))?;
        let row = c.query_opt(&st, &[&&hash[..]]).map_err(|e| self.err(e))?;
        Ok(row.map(|r| {
            let sans: String = r.get(2);
            let uses: i32 = r.get(5);
            let validity: Option<i64> = r.get(6);
            TokenRecord {
                name: r.get(0),
                profile: r.get(1),
                sans: sans.lines().map(str::to_string).collect(),
                created_at: r.get(3),
                expires_at: r.get(4),
                uses_left: u32::try_from(uses).unwrap_or(0),
                validity: validity.and_then(|s| Lifetime::from_secs(u64::try_from(s).ok()?)),
            }
        }))
    }

    fn tokens_by_hash(&self, hashes: &[TokenHash]) -> Result<Vec<Option<TokenRecord>>> {
        let mut c = self.conn()?;
        let sql = "SELECT hash, name, profile, sans, created_at, expires_at, uses_left, validity \
                   FROM tokens WHERE hash = ANY($1)";
        let st = self.stmts.get(&mut *c, sql).map_err(|e| self.err(e))?;
        let keys: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
        let rows = c.query(&st, &[&keys]).map_err(|e| self.err(e))?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let h: Vec<u8> = r.get(0);
            let sans: String = r.get(3);
            let uses: i32 = r.get(6);
            let validity: Option<i64> = r.get(7);
            found.insert(
                h,
                TokenRecord {
                    name: r.get(1),
                    profile: r.get(2),
                    sans: sans.lines().map(str::to_string).collect(),
                    created_at: r.get(4),
                    expires_at: r.get(5),
                    uses_left: u32::try_from(uses).unwrap_or(0),
                    validity: validity.and_then(|s| Lifetime::from_secs(u64::try_from(s).ok()?)),
                },
            );
        }
        Ok(hashes.iter().map(|h| found.get(&h[..]).cloned()).collect())
    }

    fn tokens(&self) -> Result<Vec<(TokenHash, TokenRecord)>> {
        let rows = self
            .conn()?
            .query("SELECT hash FROM tokens ORDER BY created_at, hash", &[])
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let h: Vec<u8> = r.get(0);
            let Ok(hash) = TokenHash::try_from(h.as_slice()) else {
                continue;
            };
            if let Some(t) = self.token(&hash)? {
                out.push((hash, t));
            }
        }
        Ok(out)
    }

    fn renewals(&self) -> Result<Vec<(Serial, Serial)>> {
        let rows = self
            .conn()?
            .query(
                "SELECT new_serial, old_serial FROM renewals ORDER BY id",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let (n, o): (String, String) = (r.get(0), r.get(1));
            out.push((
                n.parse().map_err(|_| self.corrupt(&n))?,
                o.parse().map_err(|_| self.corrupt(&o))?,
            ));
        }
        Ok(out)
    }

    fn insert_guarded(&mut self, records: &[CertRecord], guard: &InsertGuard) -> Result<()> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        match insert_in(&mut tx, &self.stmts, records, guard) {
            Ok(()) => tx.commit().map_err(|e| self.err(e)),
            Err(r) => Err(self.refused(r)),
        }
    }

    fn insert_each(&mut self, items: &[(CertRecord, InsertGuard)]) -> Result<Vec<Result<()>>> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(items.len());
        for (record, guard) in items {
            // A refusal of the one-statement insert changes nothing: no savepoint needed.
            if guard.unique_at.is_none() && guard.supersedes.is_none() {
                match insert_one(&mut tx, &self.stmts, record, guard) {
                    Ok(()) => out.push(Ok(())),
                    Err(Refused::Db(e)) => return Err(self.err(e)),
                    Err(Refused::Pki(e)) => out.push(Err(e)),
                }
                continue;
            }
            let mut sp = tx.savepoint("item").map_err(|e| self.err(e))?;
            match insert_in(&mut sp, &self.stmts, std::slice::from_ref(record), guard) {
                Ok(()) => {
                    sp.commit().map_err(|e| self.err(e))?;
                    out.push(Ok(()));
                }
                // A database failure fails the whole transaction; a refusal only its item.
                Err(Refused::Db(e)) => return Err(self.err(e)),
                Err(Refused::Pki(e)) => {
                    sp.rollback().map_err(|e| self.err(e))?;
                    out.push(Err(e));
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn superseded_by(&self, serial: &Serial) -> Result<Option<Serial>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT old_serial FROM renewals WHERE new_serial = $1",
                &[&serial.hex()],
            )
            .map_err(|e| self.err(e))?;
        self.serial_of(row.map(|r| r.get(0)))
    }

    fn supersedes(&self, serial: &Serial) -> Result<Option<Serial>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT new_serial FROM renewals WHERE old_serial = $1 ORDER BY id DESC LIMIT 1",
                &[&serial.hex()],
            )
            .map_err(|e| self.err(e))?;
        self.serial_of(row.map(|r| r.get(0)))
    }

    fn add_audit(&mut self, entry: &AuditEntry) -> Result<()> {
        add_audit(&mut *self.conn()?, entry)
            .map_err(|e| backend_error(&self.url, describe(&e), retryable(&e)))
    }

    fn add_audits(&mut self, entries: &[AuditEntry]) -> Result<()> {
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        for e in entries {
            add_audit(&mut tx, e).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn audit(&self, limit: usize, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        let rows = self
            .conn()?
            .query(
                "SELECT id, at, actor, action, target, peer, outcome, detail FROM audit \
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[
                    &before.unwrap_or(i64::MAX),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                target: r.get(4),
                peer: r.get(5),
                outcome: r.get(6),
                detail: r.get(7),
            })
            .collect())
    }
}
