//! `mtls ca token`: a one-time enrollment token, made on the CA machine.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use mtls_pki::store::AuditEntry;
use mtls_pki::token::TokenRecord;

use crate::{argparse, out};

/// `mtls ca token` options.
#[derive(Args)]
pub(super) struct TokenArgs {
    /// Who or what the token is for (shown in the audit log; the default certificate name).
    name: String,
    /// The profile the certificate is issued under.
    #[arg(long, default_value = "client")]
    profile: String,
    /// A subjectAltName (or san_allow pattern, e.g. DNS:*.dev.example) the request may ask
    /// for; repeatable. Without any, the certificate gets none.
    #[arg(long = "san")]
    sans: Vec<String>,
    /// How long the token can be used: 90s, 15m, 24h … (at most 30d).
    #[arg(long, default_value = "15m", value_parser = argparse::lifetime)]
    ttl: Duration,
    /// How many certificates it can be traded for.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    uses: u32,
    /// The CA server's URL, for the `mtls enroll` command printed.
    #[arg(long)]
    url: Option<String>,
}

/// Prints the token alone on the first line of standard output, then the command to run.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, a: TokenArgs) -> Result<()> {
    let mut ca = super::open(dir, pass_file, false)?;
    let now = mtls_pki::time::now().unix_timestamp();
    let ttl = i64::try_from(a.ttl.as_secs()).unwrap_or(i64::MAX);
    let record = TokenRecord::new(&a.name, &a.profile, a.sans, now, ttl, a.uses)?;
    let secret = ca.create_token(&record)?;
    let mut entry = AuditEntry::new(now, "local", "token.create");
    entry.target = Some(record.name.clone());
    entry.detail = Some(format!(
        "profile {}, {} use(s)",
        record.profile, record.uses_left
    ));
    ca.store().add_audit(&entry)?;
    out::say!("{}", secret.expose());
    let url = a.url.as_deref().unwrap_or("https://CA-HOST:9443");
    out::say!(
        "MTLS_ENROLL_TOKEN={} mtls enroll {url} --ca ca.crt --out-dir certs --name {}",
        secret.expose(),
        shell_word(&record.name)
    );
    out::note(&format!(
        "token {:?}: profile {}, {} use(s), expires {}; it is shown only now",
        record.name,
        record.profile,
        record.uses_left,
        mtls_pki::time::rfc3339(record.expires_at),
    ));
    Ok(())
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
