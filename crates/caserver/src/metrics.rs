//! `/metrics`: Prometheus text exposition of requests, actions (issuance, renewal, revocation
//! and every refusal by its reason) and the CRL's age.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Counters, keyed by their label values.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    actions: Mutex<BTreeMap<(String, String), u64>>,
    /// Time spent parsing requests and checking their signatures, nanoseconds.
    csr_ns: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// Counts a request to `route` answered with `status`.
    pub fn request(&self, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((route.to_string(), status)).or_default() += 1;
    }

    /// Counts an audited action and its outcome (`ok`, `token_used`, `forbidden` …).
    pub fn action(&self, action: &str, outcome: &str) {
        let mut m = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((action.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// Adds the time one request took to parse and check.
    pub fn add_csr(&self, since: std::time::Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.csr_ns
            .fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
    }

    /// The time spent parsing and checking requests, nanoseconds.
    pub fn csr_ns(&self) -> u64 {
        self.csr_ns.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The exposition text; `crl` is (number, thisUpdate, nextUpdate) of the published CRL.
    pub fn render(&self, crl: Option<(u64, i64, Option<i64>)>, now: i64) -> String {
        let mut s = String::new();
        s.push_str("# HELP mtls_ca_requests_total HTTP requests by route and status.\n");
        s.push_str("# TYPE mtls_ca_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "mtls_ca_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                label(route)
            );
        }
        s.push_str(
            "# HELP mtls_ca_actions_total Audited actions by outcome (ok, or why refused).\n",
        );
        s.push_str("# TYPE mtls_ca_actions_total counter\n");
        for ((action, outcome), n) in self
            .actions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "mtls_ca_actions_total{{action=\"{}\",outcome=\"{}\"}} {n}",
                label(action),
                label(outcome)
            );
        }
        if let Some((number, this_update, next_update)) = crl {
            s.push_str("# HELP mtls_ca_crl_number The published CRL's number.\n");
            s.push_str("# TYPE mtls_ca_crl_number gauge\n");
            let _ = writeln!(s, "mtls_ca_crl_number {number}");
            s.push_str("# HELP mtls_ca_crl_age_seconds Seconds since the CRL's thisUpdate.\n");
            s.push_str("# TYPE mtls_ca_crl_age_seconds gauge\n");
            let _ = writeln!(s, "mtls_ca_crl_age_seconds {}", now - this_update);
            if let Some(n) = next_update {
                s.push_str(
                    "# HELP mtls_ca_crl_expires_in_seconds Seconds until the CRL's nextUpdate.\n",
                );
                s.push_str("# TYPE mtls_ca_crl_expires_in_seconds gauge\n");
                let _ = writeln!(s, "mtls_ca_crl_expires_in_seconds {}", n - now);
            }
        }
        s
    }
}

/// A label value escaped as the exposition format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
