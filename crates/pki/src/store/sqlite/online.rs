//! The online CA's tables: enrollment tokens and the audit log.

use rusqlite::{Connection, OptionalExtension, params};

use crate::serial::Serial;
use crate::store::AuditEntry;
use crate::time::Lifetime;
use crate::token::{TokenHash, TokenRecord, TokenRefusal};

pub(super) fn add_token(
    conn: &Connection,
    hash: &TokenHash,
    t: &TokenRecord,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO tokens (hash, name, profile, sans, created_at, expires_at, uses_left, validity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            &hash[..],
            t.name,
            t.profile,
            t.sans.join("\n"),
            t.created_at,
            t.expires_at,
            t.uses_left,
            t.validity.map(|v| v.secs() as i64)
        ],
    )
    .map(|_| ())
}

pub(super) fn token(conn: &Connection, hash: &TokenHash) -> rusqlite::Result<Option<TokenRecord>> {
    conn.prepare_cached(
        "SELECT name, profile, sans, created_at, expires_at, uses_left, validity
         FROM tokens WHERE hash = ?1",
    )?
    .query_row([&hash[..]], |r| {
        let sans: String = r.get(2)?;
        Ok(TokenRecord {
            name: r.get(0)?,
            profile: r.get(1)?,
            sans: sans.lines().map(str::to_string).collect(),
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
            uses_left: r.get(5)?,
            validity: r
                .get::<_, Option<i64>>(6)?
                .and_then(|s| Lifetime::from_secs(u64::try_from(s).ok()?)),
        })
    })
    .optional()
}

/// Why a token use was not consumed.
pub(super) enum Consume {
    Db(rusqlite::Error),
    Refused(TokenRefusal),
}

/// Takes one use of the token, inside the caller's (IMMEDIATE) transaction: the check and the
/// decrement cannot interleave with another writer's.
pub(super) fn consume_token(tx: &Connection, hash: &TokenHash, now: i64) -> Result<(), Consume> {
    let row: Option<(i64, i64)> = tx
        .prepare_cached("SELECT expires_at, uses_left FROM tokens WHERE hash = ?1")
        .and_then(|mut st| {
            st.query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(Consume::Db)?;
    match row {
        None => Err(Consume::Refused(TokenRefusal::Unknown)),
        Some((expires_at, _)) if now >= expires_at => Err(Consume::Refused(TokenRefusal::Expired)),
        Some((_, uses)) if uses <= 0 => Err(Consume::Refused(TokenRefusal::Used)),
        Some(_) => tx
            .execute(
                "UPDATE tokens SET uses_left = uses_left - 1 WHERE hash = ?1",
                [&hash[..]],
            )
            .map(|_| ())
            .map_err(Consume::Db),
    }
}

pub(super) fn add_audit(conn: &Connection, e: &AuditEntry) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (at, actor, action, target, peer, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        e.at, e.actor, e.action, e.target, e.peer, e.outcome, e.detail
    ])
    .map(|_| ())
}

pub(super) fn audit(
    conn: &Connection,
    limit: usize,
    before: Option<i64>,
) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut st = conn.prepare_cached(
        "SELECT id, at, actor, action, target, peer, outcome, detail FROM audit
         WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st.query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
        Ok(AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            peer: r.get(5)?,
            outcome: r.get(6)?,
            detail: r.get(7)?,
        })
    })?;
    rows.collect()
}

pub(super) fn add_supersedes(tx: &Connection, new: &Serial, old: &Serial) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO renewals (new_serial, old_serial) VALUES (?1, ?2)",
        params![new.hex(), old.hex()],
    )
    .map(|_| ())
}

/// `given = "new"`: the serial the renewal `serial` superseded; `"old"`: the renewal of it.
pub(super) fn supersedes_query(
    conn: &Connection,
    given: &str,
    serial: &Serial,
) -> rusqlite::Result<Option<Serial>> {
    let sql = match given {
        "new" => "SELECT old_serial FROM renewals WHERE new_serial = ?1",
        _ => "SELECT new_serial FROM renewals WHERE old_serial = ?1 ORDER BY rowid DESC LIMIT 1",
    };
    let hex: Option<String> = conn
        .prepare_cached(sql)?
        .query_row([serial.hex()], |r| r.get(0))
        .optional()?;
    Ok(hex.and_then(|h| h.parse().ok()))
}

pub(super) fn valid_serials(
    conn: &Connection,
    now: i64,
    after: Option<&Serial>,
    limit: usize,
) -> rusqlite::Result<Vec<Serial>> {
    let after = after.map(Serial::hex).unwrap_or_default();
    let mut stmt = conn.prepare_cached(
        "SELECT serial FROM certs WHERE revoked_at IS NULL AND not_after >= ?1 AND serial > ?2
         ORDER BY serial LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![now, after, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| r.get::<_, String>(0),
    )?;
    let mut out = Vec::new();
    for s in rows {
        if let Ok(serial) = s?.parse() {
            out.push(serial);
        }
    }
    Ok(out)
}

pub(super) fn tokens(conn: &Connection) -> rusqlite::Result<Vec<(TokenHash, TokenRecord)>> {
    let mut st = conn.prepare("SELECT hash FROM tokens ORDER BY created_at, hash")?;
    let hashes: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(hashes.len());
    for h in hashes {
        let Ok(hash) = TokenHash::try_from(h.as_slice()) else {
            continue;
        };
        if let Some(t) = token(conn, &hash)? {
            out.push((hash, t));
        }
    }
    Ok(out)
}

pub(super) fn renewals(conn: &Connection) -> rusqlite::Result<Vec<(Serial, Serial)>> {
    let mut st = conn.prepare("SELECT new_serial, old_serial FROM renewals ORDER BY rowid")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (n, o) = row?;
        if let (Ok(n), Ok(o)) = (n.parse(), o.parse()) {
            out.push((n, o));
        }
    }
    Ok(out)
}
