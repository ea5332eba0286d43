//! The change feed: `LISTEN mtls_changes` on a connection of its own, and after each
//! notification (or each timeout) the rows of `changes` past the last one seen. A notification
//! only wakes the feed early; the rows are the truth, so a lost notification or a reconnection
//! loses nothing.

use std::time::Duration;

use mtls_pki::Result;
use mtls_pki::store::backend::{Change, ChangeFeed};
use postgres::Client;
use postgres::fallible_iterator::FallibleIterator;

use crate::connect::{backend_error, connect, describe, redact, retryable};

/// The most changes returned by one call (the next call returns the rest).
const BATCH: i64 = 10_000;

/// The changes of one PostgreSQL store.
pub(crate) struct PgFeed {
    client: Option<Client>,
    full_url: String,
    url: String,
    last: i64,
}

impl PgFeed {
    /// A feed starting after the newest change now.
    pub(crate) fn new(url: &str) -> Result<PgFeed> {
        let mut feed = PgFeed {
            client: None,
            full_url: url.to_string(),
            url: redact(url),
            last: 0,
        };
        let client = feed.listening()?;
        let last: i64 = client
            .query_one("SELECT COALESCE(MAX(id), 0) FROM changes", &[])
            .map_err(|e| backend_error(&feed.url, describe(&e), retryable(&e)))?
            .get(0);
        feed.last = last;
        Ok(feed)
    }

    /// The listening connection, made (and LISTENing) anew when it broke.
    fn listening(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let mut c = connect(&self.full_url)?;
            c.batch_execute("LISTEN mtls_changes")
                .map_err(|e| backend_error(&self.url, describe(&e), retryable(&e)))?;
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| backend_error(&self.url, "no connection", true))
    }
}

impl ChangeFeed for PgFeed {
    fn next(&mut self, timeout: Duration) -> Result<Vec<Change>> {
        let url = self.url.clone();
        let db = |e: postgres::Error| backend_error(&url, describe(&e), retryable(&e));
        let last = self.last;
        let client = self.listening()?;
        {
            let mut n = client.notifications();
            // Woken by the first notification, or not; then whatever else is queued.
            let _ = n.timeout_iter(timeout).next().map_err(db)?;
            while n.iter().next().map_err(db)?.is_some() {}
        }
        let rows = client
            .query(
                "SELECT id, at, kind, serial FROM changes WHERE id > $1 ORDER BY id LIMIT $2",
                &[&last, &BATCH],
            )
            .map_err(db)?;
        let changes: Vec<Change> = rows
            .iter()
            .map(|r| Change {
                id: r.get(0),
                at: r.get(1),
                kind: r.get(2),
                serial: r.get::<_, Option<String>>(3).and_then(|s| s.parse().ok()),
            })
            .collect();
        if let Some(c) = changes.last() {
            self.last = c.id;
        }
        Ok(changes)
    }

    fn report(&mut self, instance: &str, crl_number: Option<u64>) -> Result<()> {
        let (url, last) = (self.url.clone(), self.last);
        crate::instances::report(self.listening()?, &url, instance, last, crl_number)
    }

    fn leave(&mut self, instance: &str) -> Result<()> {
        let url = self.url.clone();
        crate::instances::leave(self.listening()?, &url, instance)
    }
}
