//! The log lines of `mtls tunnel`: one per event, text or JSON (`--json-log`), through the
//! same logger as `mtls serve`.

use mtls_socket::access::{Denied, Rule};
use mtls_tunnel::{Event, Peer};
use serde_json::{Map, Value, json};

use crate::log::{Logger, Record};
use crate::peer::describe_error;

/// Which tunnel logs: its identity rules are `--allow-*` flags on the server and `--verify-*`
/// on the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `mtls tunnel server`.
    Server,
    /// `mtls tunnel client`.
    Client,
}

/// A rule as the flag that made it.
fn flag(side: Side, r: &Rule) -> String {
    let pre = match side {
        Side::Server => "--allow",
        Side::Client => "--verify",
    };
    let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    match r {
        Rule::Cn(g) => format!("{pre}-cn {g}"),
        Rule::Ou(g) => format!("{pre}-ou {g}"),
        Rule::San(g) => format!("{pre}-san {g}"),
        Rule::Dns(g) => format!("{pre}-dns {g}"),
        Rule::Uri(g) => format!("{pre}-uri {g}"),
        Rule::Spki(h) => format!("{pre}-spki {}", hex(h)),
    }
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn who_fields(w: &Peer) -> Value {
    json!({"cn": w.cn, "sha256": w.sha256, "serial": w.serial})
}

/// Why a peer was refused, naming the rules it missed.
fn refusal(side: Side, denied: &Denied, rules: &[Rule]) -> String {
    let missed: Vec<String> = rules.iter().map(|r| flag(side, r)).collect();
    let missed = missed.join(", ");
    match denied {
        Denied::NoMatch { .. } => format!("refused: {denied}; it missed every rule: {missed}"),
        _ => format!("refused: {denied} ({missed})"),
    }
}

/// Logs one tunnel event.
pub fn log(log: &Logger, side: Side, e: Event) {
    let rec = |conn, cn: Option<String>, kind, message, f: Value| Record {
        conn,
        cn,
        kind,
        message,
        fields: fields(f),
    };
    let r = match e {
        Event::Listening { addr } => rec(
            None,
            None,
            "listening",
            format!("listening on {addr}"),
            json!({"addr": addr.to_string()}),
        ),
        Event::Accepted { id, peer } => rec(
            Some(id),
            None,
            "connected",
            format!("connection from {peer}"),
            json!({"peer": peer.to_string()}),
        ),
        Event::LimitReached { peer, limit } => rec(
            None,
            None,
            "refused",
            format!("refused {peer}: {limit} connections are open (--max-conns)"),
            json!({"peer": peer.to_string()}),
        ),
        Event::AcceptFailed(e) => rec(
            None,
            None,
            "accept_failed",
            format!("accept failed: {e}"),
            json!({}),
        ),
        Event::HandshakeFailed { id, peer, error } => {
            let kinds: Vec<String> = error
                .ssl_errors()
                .iter()
                .map(|x| x.kind.to_string())
                .collect();
            let detail: Vec<String> = error.ssl_errors().iter().map(describe_error).collect();
            let msg = match detail.is_empty() {
                true => format!("handshake with {peer} failed: {error}"),
                false => format!("handshake with {peer} failed: {}", detail.join("; ")),
            };
            rec(
                Some(id),
                None,
                "handshake_failed",
                msg,
                json!({"kinds": kinds, "peer": peer.to_string()}),
            )
        }
        Event::Refused {
            id,
            who,
            denied,
            rules,
        } => {
            let msg = refusal(side, &denied, &rules);
            rec(
                Some(id),
                who.cn.clone(),
                "not_allowed",
                msg,
                who_fields(&who),
            )
        }
        Event::ConnectFailed { id, target, error } => rec(
            Some(id),
            None,
            "target_failed",
            format!("cannot reach the target {target}: {error}; closing the client's connection"),
            json!({"target": target}),
        ),
        Event::Opened { id, who, tls } => {
            let peer = who
                .cn
                .as_deref()
                .map_or("no certificate".to_string(), |cn| format!("CN {cn}"));
            rec(
                Some(id),
                who.cn.clone(),
                "opened",
                format!("open: {peer}, {tls}"),
                who_fields(&who),
            )
        }
        Event::Closed {
            id,
            who,
            duration,
            bytes_in,
            bytes_out,
            reason,
        } => rec(
            Some(id),
            who.cn.clone(),
            "closed",
            format!(
                "closed after {:.3}s, {bytes_in} bytes in, {bytes_out} bytes out: {reason}",
                duration.as_secs_f64()
            ),
            json!({"duration_secs": duration.as_secs_f64(), "bytes_in": bytes_in,
                "bytes_out": bytes_out, "reason": reason.to_string(), "cn": who.cn, "sha256": who.sha256}),
        ),
        Event::Stopping { open } => rec(
            None,
            None,
            "stopping",
            format!("stopping: {open} connection(s) open, draining (--shutdown-timeout)"),
            json!({}),
        ),
        Event::Stopped => rec(None, None, "stopped", "stopped".into(), json!({})),
    };
    log.log(r);
}
