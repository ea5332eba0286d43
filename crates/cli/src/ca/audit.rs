//! `mtls ca audit`: the audit log of the online CA (and of `mtls ca token`).

use std::path::Path;

use anyhow::Result;
use clap::Args;

use crate::out;

/// `mtls ca audit` options.
#[derive(Args)]
pub(super) struct AuditArgs {
    /// JSON output (an array, newest first).
    #[arg(long)]
    json: bool,
    /// The newest N entries.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    limit: u32,
}

/// Prints the newest entries.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, a: AuditArgs) -> Result<()> {
    let mut ca = super::open(dir, pass_file, false)?;
    let rows = ca.store().audit(a.limit as usize, None)?;
    if a.json {
        out::say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    out::say!(
        "{:<6} {:<20}  {:<40} {:<13} {:<34} {:<22} {}",
        "ID",
        "AT",
        "ACTOR",
        "ACTION",
        "TARGET",
        "PEER",
        "OUTCOME"
    );
    for e in &rows {
        out::say!(
            "{:<6} {:<20}  {:<40} {:<13} {:<34} {:<22} {}{}",
            e.id,
            mtls_pki::time::rfc3339(e.at),
            out::escape_controls(&e.actor),
            e.action,
            out::escape_controls(e.target.as_deref().unwrap_or("-")),
            e.peer.as_deref().unwrap_or("-"),
            e.outcome,
            e.detail
                .as_deref()
                .map(|d| format!(" ({})", out::escape_controls(d)))
                .unwrap_or_default()
        );
    }
    out::note(&format!(
        "{} entr{}",
        rows.len(),
        if rows.len() == 1 { "y" } else { "ies" }
    ));
    Ok(())
}
