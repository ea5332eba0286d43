//! `mtls ca migrate-store --to postgres://…`: a SQLite CA's records copied into PostgreSQL
//! (one transaction, compared before it commits), then `ca.toml` pointed at them.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_pki::ca::files;
use mtls_pki::config::Config;

use crate::out;

/// `mtls ca migrate-store` options.
#[derive(Args)]
pub(super) struct MigrateArgs {
    /// The new store: postgres://USER@HOST[:PORT]/DATABASE, an empty database (the password
    /// from PGPASSWORD or PGPASSFILE, never here).
    #[arg(long, value_name = "URL")]
    to: String,
}

/// `ca.toml` with `[store] url` set, its other lines as they were.
fn with_store_url(text: &str, url: &str) -> String {
    let quoted = url.replace('\\', "\\\\").replace('"', "\\\"");
    let line = format!("url = \"{quoted}\"");
    let mut out = String::with_capacity(text.len() + line.len() + 16);
    let mut in_store = false;
    let mut done = false;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            in_store = t == "[store]";
            if in_store {
                out.push_str(l);
                out.push('\n');
                out.push_str(&line);
                out.push('\n');
                done = true;
                continue;
            }
        }
        if in_store && t.starts_with("url") && t[3..].trim_start().starts_with('=') {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !done {
        out.push_str(&format!("\n[store]\n{line}\n"));
    }
    out
}

/// Copies the CA in `dir` into the store at `args.to`.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, args: MigrateArgs) -> Result<()> {
    super::init::check_store_url(&args.to)?;
    let mut ca = super::open(dir, pass_file, false)?;
    if let Some(url) = &ca.config().store.url {
        bail!(
            "this CA keeps its records in {} already; migrate-store copies a CA's ca.db",
            mtls_pki::store::backend::redact(url)
        );
    }
    let total = ca.store().counts()?.0;
    let bar = if total < 1000 {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "copying {bar:40} {pos}/{len} certificates ({per_sec}, {eta} left)",
        ) {
            bar.set_style(style);
        }
        bar
    };
    let (_, copied) =
        mtls_store_pg::PgStore::create_from(&args.to, &*ca.store(), &mut |n| bar.set_position(n))?;
    bar.finish_and_clear();
    let cfg_path = dir.join(files::CONFIG);
    let text = String::from_utf8(mtls_pki::fsutil::read(&cfg_path)?)
        .with_context(|| format!("{} is not UTF-8", cfg_path.display()))?;
    let new = with_store_url(&text, &args.to);
    Config::parse(&new, &cfg_path).context("the updated ca.toml")?;
    mtls_pki::fsutil::write_atomic(
        &cfg_path,
        new.as_bytes(),
        mtls_pki::fsutil::Mode::Public,
        true,
    )?;
    let url = mtls_pki::store::backend::redact(&args.to);
    out::say!(
        "copied {} certificates ({} revoked), {} tokens, {} renewals, {} audit entries and CRL number {} into {url}",
        copied.certs,
        copied.revoked,
        copied.tokens,
        copied.renewals,
        copied.audit,
        copied.crl_number
    );
    out::say!("  counts and a digest of every record compared equal before the copy was committed");
    out::say!(
        "  {} now says [store] url = \"{url}\"; {} is kept as it was and no longer used",
        files::CONFIG,
        files::DB
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_store_url;

    #[test]
    fn the_store_url_goes_into_the_store_table_only() {
        let t =
            "[ca]\ncrl_days = 7\n\n# note\n[store]\nurl = \"old\"\n\n[profiles.x]\nca = false\n";
        let n = with_store_url(t, "postgres://h/db");
        assert_eq!(
            n,
            "[ca]\ncrl_days = 7\n\n# note\n[store]\nurl = \"postgres://h/db\"\n\n[profiles.x]\nca = false\n"
        );
        let n = with_store_url("[ca]\n", "postgres://h/db");
        assert!(n.ends_with("\n[store]\nurl = \"postgres://h/db\"\n"), "{n}");
    }
}
