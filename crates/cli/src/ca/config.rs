//! `mtls ca config push [FILE]` and `mtls ca config show`: the `ca.toml` a CA on PostgreSQL
//! keeps in its store, which every `ca serve` instance applies within a second, without a
//! restart or a signal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use mtls_pki::ca::files;

use crate::out;

/// `mtls ca config` subcommands.
#[derive(Subcommand)]
pub(super) enum ConfigCmd {
    /// Validate FILE (default: the CA directory's ca.toml) and keep it in the store, for every
    /// instance (PostgreSQL CAs; `[store]` stays each directory's own).
    Push {
        /// The ca.toml to push.
        file: Option<PathBuf>,
    },
    /// Print the configuration in force: the store's (PostgreSQL) or ca.toml's (SQLite).
    Show,
}

/// Runs `mtls ca config …` on the CA in `dir`.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, cmd: ConfigCmd) -> Result<()> {
    let mut ca = super::open(dir, pass_file, false)?;
    match cmd {
        ConfigCmd::Push { file } => {
            let path = file.unwrap_or_else(|| dir.join(files::CONFIG));
            let text = String::from_utf8(mtls_pki::fsutil::read(&path)?)
                .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
            ca.push_config(&text, &path)?;
            out::say!(
                "pushed {} to {}; every `mtls ca serve` on it applies it within a second",
                path.display(),
                ca.config()
                    .store
                    .url
                    .as_deref()
                    .map(mtls_pki::store::backend::redact)
                    .unwrap_or_default()
            );
        }
        ConfigCmd::Show => match ca.store().config_text()? {
            Some(text) => print!("{text}"),
            None => print!(
                "{}",
                String::from_utf8_lossy(&mtls_pki::fsutil::read(&dir.join(files::CONFIG))?)
            ),
        },
    }
    Ok(())
}
