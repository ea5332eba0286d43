//! The CRL's state in PostgreSQL: numbers from one row locked in the CRL's own transaction,
//! the published CRL every instance serves, and the change that tells them of it.

use mtls_pki::Result;
use mtls_pki::store::{CrlState, Reason, Revocation, RevokedEntry};

use crate::connect::{backend_error, describe, retryable};
use crate::store::PgStore;
use crate::write::NEXT_CHANGE;

impl PgStore {
    /// [`Store::begin_crl`](mtls_pki::store::Store::begin_crl).
    pub(crate) fn pg_begin_crl(&mut self) -> Result<(u64, Vec<RevokedEntry>)> {
        let url = self.url().to_string();
        let db = |e: postgres::Error| backend_error(&url, describe(&e), retryable(&e));
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db)?;
        // The row lock orders concurrent reservations: each gets the next number.
        let n: i64 = tx
            .query_one(
                "UPDATE crl SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number",
                &[],
            )
            .map_err(db)?
            .get(0);
        let rows = tx
            .query(
                "SELECT serial, revoked_at, reason, invalidity_date, hold_instruction FROM certs \
                 WHERE revoked_at IS NOT NULL",
                &[],
            )
            .map_err(db)?;
        tx.commit().map_err(db)?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            let s: String = r.get(0);
            let reason: Option<i16> = r.get(2);
            entries.push(RevokedEntry {
                serial: s.parse().map_err(|_| self.corrupt(&s))?,
                revocation: Revocation {
                    at: r.get(1),
                    reason: reason
                        .and_then(|c| u8::try_from(c).ok())
                        .and_then(Reason::from_code)
                        .unwrap_or(Reason::Unspecified),
                    invalidity_date: r.get(3),
                    hold_instruction: r.get(4),
                },
            });
        }
        Ok((u64::try_from(n).unwrap_or(0), entries))
    }

    /// [`Store::finish_crl`](mtls_pki::store::Store::finish_crl).
    pub(crate) fn pg_finish_crl(
        &mut self,
        state: CrlState,
        der: &[u8],
        write: &mut dyn FnMut() -> Result<()>,
    ) -> Result<bool> {
        let url = self.url().to_string();
        let db = |e: postgres::Error| backend_error(&url, describe(&e), retryable(&e));
        let mut client = self.conn()?;
        let mut tx = client.transaction().map_err(db)?;
        // Held from the check to the commit: the published CRL never goes back a number.
        let published: Option<i64> = tx
            .query_one(
                "SELECT published_number FROM crl WHERE id = 1 FOR UPDATE",
                &[],
            )
            .map_err(db)?
            .get(0);
        let number = i64::try_from(state.number).unwrap_or(i64::MAX);
        if published.is_some_and(|p| p >= number) {
            return Ok(false);
        }
        write()?;
        tx.execute(
            "UPDATE crl SET published_number = $1, this_update = $2, next_update = $3, der = $4 \
             WHERE id = 1",
            &[&number, &state.this_update, &state.next_update, &der],
        )
        .map_err(db)?;
        // Every instance serves the new CRL: told through the change sequence.
        let id: i64 = tx
            .query_one(
                &format!("{NEXT_CHANGE} SELECT n, $1, 'crl', NULL FROM c RETURNING id"),
                &[&state.this_update],
            )
            .map_err(db)?
            .get(0);
        tx.execute("SELECT pg_notify('mtls_changes', $1)", &[&id.to_string()])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    /// [`Store::published_crl`](mtls_pki::store::Store::published_crl).
    pub(crate) fn pg_published_crl(&self) -> Result<Option<(CrlState, Vec<u8>)>> {
        let row = self
            .conn()?
            .query_one(
                "SELECT published_number, this_update, next_update, der FROM crl WHERE id = 1",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let (n, t, u, d): (Option<i64>, Option<i64>, Option<i64>, Option<Vec<u8>>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        Ok(match (n, t, u, d) {
            (Some(n), Some(t), Some(u), Some(d)) => Some((
                CrlState {
                    number: u64::try_from(n).unwrap_or(0),
                    this_update: t,
                    next_update: u,
                },
                d,
            )),
            _ => None,
        })
    }

    /// [`Store::crl_state`](mtls_pki::store::Store::crl_state).
    pub(crate) fn pg_crl_state(&self) -> Result<Option<CrlState>> {
        let row = self
            .conn()?
            .query_one(
                "SELECT published_number, this_update, next_update FROM crl WHERE id = 1",
                &[],
            )
            .map_err(|e| self.err(e))?;
        let (n, t, u): (Option<i64>, Option<i64>, Option<i64>) =
            (row.get(0), row.get(1), row.get(2));
        Ok(match (n, t, u) {
            (Some(n), Some(t), Some(u)) => Some(CrlState {
                number: u64::try_from(n).unwrap_or(0),
                this_update: t,
                next_update: u,
            }),
            _ => None,
        })
    }

    /// [`Store::last_crl_number`](mtls_pki::store::Store::last_crl_number).
    pub(crate) fn pg_last_crl_number(&self) -> Result<u64> {
        let row = self
            .conn()?
            .query_one("SELECT last_number FROM crl WHERE id = 1", &[])
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// [`Store::set_min_crl_number`](mtls_pki::store::Store::set_min_crl_number).
    pub(crate) fn pg_set_min_crl_number(&mut self, n: u64) -> Result<()> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.conn()?
            .execute(
                "UPDATE crl SET last_number = GREATEST(last_number, $1) WHERE id = 1",
                &[&n],
            )
            .map(|_| ())
            .map_err(|e| backend_error(self.url(), describe(&e), retryable(&e)))
    }

    /// [`Store::set_crl_state`](mtls_pki::store::Store::set_crl_state).
    pub(crate) fn pg_set_crl_state(&mut self, state: CrlState) -> Result<()> {
        let n = i64::try_from(state.number).unwrap_or(i64::MAX);
        self.conn()?
            .execute(
                "UPDATE crl SET published_number = $1, this_update = $2, next_update = $3, \
                 last_number = GREATEST(last_number, $1) \
                 WHERE id = 1 AND (published_number IS NULL OR published_number < $1)",
                &[&n, &state.this_update, &state.next_update],
            )
            .map(|_| ())
            .map_err(|e| backend_error(self.url(), describe(&e), retryable(&e)))
    }
}
