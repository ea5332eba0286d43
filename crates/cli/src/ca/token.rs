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
    /// How long each certificate it enrolls is valid: 90s, 15m, 24h, 30d [default: ca.toml's
    /// [online] validity, else its days].
    #[arg(long, value_parser = argparse::validity)]
    validity: Option<mtls_pki::time::Lifetime>,
    /// How many certificates it can be traded for.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    uses: u32,
    /// Through the API (`--url` alone only fills in the `mtls enroll` command printed).
    #[command(flatten)]
    remote: crate::remote::Remote,
}

/// Prints the token alone on the first line of standard output, then the command to run.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, a: TokenArgs) -> Result<()> {
    if a.remote.is_remote() {
        return remote(dir, a);
    }
    let mut ca = super::open(dir, pass_file, false)?;
    let now = mtls_pki::time::now().unix_timestamp();
    let ttl = i64::try_from(a.ttl.as_secs()).unwrap_or(i64::MAX);
    let record =
        TokenRecord::new(&a.name, &a.profile, a.sans, now, ttl, a.uses)?.with_validity(a.validity);
    let secret = ca.create_token(&record)?;
    let mut entry = AuditEntry::new(now, "local", "token.create");
    entry.target = Some(record.name.clone());
    entry.detail = Some(record.summary());
    ca.store().add_audit(&entry)?;
    out::say!("{}", secret.expose());
    let url = a.remote.url.as_deref().unwrap_or("https://CA-HOST:9443");
    out::say!(
        "MTLS_ENROLL_TOKEN={} mtls enroll {url} --ca ca.crt --out-dir certs --name {}",
        secret.expose(),
        shell_word(&record.name)
    );
    out::note(&format!(
        "token {:?}: {}, expires {}; it is shown only now",
        record.name,
        record.summary(),
        mtls_pki::time::rfc3339(record.expires_at),
    ));
    Ok(())
}

/// `POST /v1/tokens` as an admin; prints as the local form does.
fn remote(dir: &Path, a: TokenArgs) -> Result<()> {
    let body = serde_json::json!({
        "name": a.name,
        "profile": a.profile,
        "sans": a.sans,
        "ttl": a.ttl.as_secs(),
        "uses": a.uses,
        "validity": a.validity.map(|v| v.to_string()),
    });
    let answer = a
        .remote
        .call(dir.join("ca.crt"), "POST", "/v1/tokens", &body)?;
    let v = answer.json();
    let (Some(token), Some(cmd)) = (v["token"].as_str(), v["enroll_command"].as_str()) else {
        anyhow::bail!("the server answered without a token");
    };
    out::say!("{token}");
    out::say!("{cmd}");
    out::note(&format!(
        "token {:?}: expires {}; it is shown only now",
        a.name,
        v["expires_at"].as_str().unwrap_or("?")
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
