//! A tunnel's counters, rendered in the Prometheus text format for a status endpoint.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters shared by every connection of a tunnel.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Tunnelled connections open now.
    pub open: AtomicU64,
    /// Tunnelled connections opened since start.
    pub total: AtomicU64,
    /// Bytes from the accepting side to the far side.
    pub bytes_in: AtomicU64,
    /// Bytes from the far side to the accepting side.
    pub bytes_out: AtomicU64,
    /// Peers refused by the identity rules.
    pub refused: AtomicU64,
    /// Handshakes by outcome: `ok`, or the failure's name.
    handshakes: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts a handshake that ended as `outcome` (`ok`, or an error name such as
    /// `CertificateRevoked`).
    pub fn handshake(&self, outcome: &str) {
        let mut h = self.handshakes.lock().unwrap_or_else(|p| p.into_inner());
        *h.entry(outcome.to_string()).or_default() += 1;
    }

    /// The handshakes counted, by outcome.
    pub fn handshakes(&self) -> Vec<(String, u64)> {
        let h = self.handshakes.lock().unwrap_or_else(|p| p.into_inner());
        h.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The counters in the Prometheus text format, each line prefixed `mtls_tunnel_`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut gauge = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                s,
                "# HELP mtls_tunnel_{name} {help}\n# TYPE mtls_tunnel_{name} {kind}\nmtls_tunnel_{name} {v}"
            );
        };
        gauge(
            "connections_open",
            "gauge",
            "Tunnelled connections open.",
            self.open.load(Relaxed),
        );
        gauge(
            "connections_total",
            "counter",
            "Tunnelled connections opened.",
            self.total.load(Relaxed),
        );
        gauge(
            "bytes_in_total",
            "counter",
            "Bytes from clients to the target.",
            self.bytes_in.load(Relaxed),
        );
        gauge(
            "bytes_out_total",
            "counter",
            "Bytes from the target to clients.",
            self.bytes_out.load(Relaxed),
        );
        gauge(
            "refused_total",
            "counter",
            "Peers refused by the identity rules.",
            self.refused.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP mtls_tunnel_handshakes_total TLS handshakes by outcome.\n# TYPE mtls_tunnel_handshakes_total counter"
        );
        for (k, v) in self.handshakes() {
            let _ = writeln!(s, "mtls_tunnel_handshakes_total{{outcome=\"{k}\"}} {v}");
        }
        s
    }
}
