//! The log of `mtls serve` (and of the demo's in-process server): one line per event, as text
//! or JSON, to stdout, optionally also handed to an observer (the demo checks outcomes with it).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::out::escape_controls;
use tokio::sync::mpsc::UnboundedSender;

/// One log record.
#[derive(Debug, Clone)]
pub struct Record {
    /// The connection, if the record is about one.
    pub conn: Option<u64>,
    /// The peer's CN, once known.
    pub cn: Option<String>,
    /// A stable machine-readable kind: `listening`, `connected`, `handshake_failed`,
    /// `ssl_error`, `encrypted`, `peer`, `received`, `state`, `closed`, `crl_reloaded`, ….
    pub kind: &'static str,
    /// The human-readable message.
    pub message: String,
    /// Extra fields for JSON.
    pub fields: Map<String, Value>,
}

/// Where records go.
#[derive(Clone, Default)]
pub struct Logger {
    json: bool,
    quiet: bool,
    observer: Option<Arc<UnboundedSender<Record>>>,
}

impl Logger {
    /// Prints text (or JSON with `json`).
    pub fn new(json: bool) -> Logger {
        Logger {
            json,
            quiet: false,
            observer: None,
        }
    }

    /// Hands every record to `tx`; prints nothing when `quiet`.
    pub fn observed(tx: UnboundedSender<Record>, quiet: bool) -> Logger {
        Logger {
            json: false,
            quiet,
            observer: Some(Arc::new(tx)),
        }
    }

    /// Logs a record.
    pub fn log(&self, r: Record) {
        if !self.quiet {
            if self.json {
                let mut m = r.fields.clone();
                m.insert(
                    "time".into(),
                    json!(mtls_pki::time::rfc3339(
                        mtls_pki::time::now().unix_timestamp()
                    )),
                );
                m.insert("event".into(), json!(r.kind));
                if let Some(c) = r.conn {
                    m.insert("conn".into(), json!(c));
                }
                if let Some(cn) = &r.cn {
                    m.insert("cn".into(), json!(cn));
                }
                m.insert("message".into(), json!(r.message));
                crate::out::say!("{}", Value::Object(m));
            } else {
                // Peers choose CNs and lines: one record is one line, whatever they hold.
                let message = escape_controls(&r.message);
                match (r.conn, &r.cn) {
                    (Some(c), Some(cn)) => {
                        crate::out::say!("[conn {c} {}] {message}", escape_controls(cn))
                    }
                    (Some(c), None) => crate::out::say!("[conn {c}] {message}"),
                    _ => crate::out::say!("{message}"),
                }
            }
        }
        if let Some(tx) = &self.observer {
            let _ = tx.send(r);
        }
    }

    /// Logs a message without extra fields.
    pub fn msg(&self, conn: Option<u64>, cn: Option<&str>, kind: &'static str, message: String) {
        self.log(Record {
            conn,
            cn: cn.map(str::to_owned),
            kind,
            message,
            fields: Map::new(),
        });
    }
}
