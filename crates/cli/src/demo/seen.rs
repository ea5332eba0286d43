//! [`Seen`]: the server's log records, collected so that the demo can wait for and check them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::log::Record;

/// The server's log, collected for checks.
#[derive(Clone, Default)]
pub(super) struct Seen(pub(super) Arc<Mutex<Vec<Record>>>);

impl Seen {
    /// The first record matching `f`.
    pub(super) fn find(&self, f: &dyn Fn(&Record) -> bool) -> Option<Record> {
        self.find_from(0, f)
    }

    fn find_from(&self, start: usize, f: &dyn Fn(&Record) -> bool) -> Option<Record> {
        self.0
            .lock()
            .ok()?
            .iter()
            .skip(start)
            .find(|r| f(r))
            .cloned()
    }

    /// Waits for a record matching `f` among those logged from index `start` on.
    pub(super) async fn wait(
        &self,
        start: usize,
        timeout: Duration,
        f: &dyn Fn(&Record) -> bool,
    ) -> Option<Record> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(r) = self.find_from(start, f) {
                return Some(r);
            }
            if Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many records were logged so far.
    pub(super) fn len(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
}
