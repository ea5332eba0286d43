//! `mtls ca list`: the issued certificates, as a table or JSON.

use std::path::Path;

use anyhow::{Result, bail};
use clap::Args;
use mtls_pki::{StatusFilter, time};

use crate::out;

/// `mtls ca list` options.
#[derive(Args)]
pub(super) struct ListArgs {
    /// valid, revoked, expired or all.
    #[arg(long, default_value = "all",
          value_parser = crate::argparse::one_of(["valid", "revoked", "expired", "all"]))]
    status: String,
    /// Only certificates expiring within DAYS.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::argparse::MAX_DAYS)))]
    expiring_within: Option<u32>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

/// Prints the CA's certificates that match the filters.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, args: ListArgs) -> Result<()> {
    let ListArgs {
        status,
        expiring_within,
        json,
    } = args;
    let filter = match status.as_str() {
        "valid" => StatusFilter::Valid,
        "revoked" => StatusFilter::Revoked,
        "expired" => StatusFilter::Expired,
        "all" => StatusFilter::All,
        other => bail!("unknown --status {other:?}; use valid, revoked, expired or all"),
    };
    let ca = super::open(dir, pass_file, false)?;
    let recs = ca.list(filter, expiring_within)?;
    let now = time::now().unix_timestamp();
    if json {
        let rows: Vec<_> = recs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "serial": r.serial.hex(),
                    "subject": r.subject,
                    "cn": r.cn,
                    "sans": r.sans,
                    "profile": r.profile,
                    // null for a record taken from openssl's index.txt alone.
                    "not_before": r.not_before.map(time::rfc3339),
                    "not_after": time::rfc3339(r.not_after),
                    "status": status_of(r, now),
                    "revoked_at": r.revoked_at.map(time::rfc3339),
                    "reason": r.reason.map(|x| x.name()),
                    "invalidity_date": r.invalidity_date.map(time::rfc3339),
                    "hold_instruction": r.hold_instruction.as_deref().map(mtls_pki::store::hold::name),
                    "from_index_only": r.from_index_only(),
                })
            })
            .collect();
        out::say!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        out::say!(
            "{:<32}  {:<8}  {:<20}  {:<14}  {:<24}  SANS",
            "SERIAL",
            "STATUS",
            "NOT AFTER",
            "PROFILE",
            "CN"
        );
        for r in &recs {
            out::say!(
                "{:<32}  {:<8}  {:<20}  {:<14}  {:<24}  {}",
                r.serial.hex(),
                status_of(r, now),
                time::rfc3339(r.not_after),
                r.profile,
                r.cn.as_deref().unwrap_or("-"),
                r.sans.join(",")
            );
        }
        eprintln!("{} certificate(s)", recs.len());
    }
    Ok(())
}

/// `revoked`, `expired` or `valid` at `now`.
fn status_of(r: &mtls_pki::CertRecord, now: i64) -> &'static str {
    if r.revoked_at.is_some() {
        "revoked"
    } else if r.not_after < now {
        "expired"
    } else {
        "valid"
    }
}
