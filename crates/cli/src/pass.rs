//! Passphrases come from a file, an environment variable or a terminal prompt — never argv.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

/// Where to look for one passphrase.
pub struct Source<'a> {
    /// `--…-passphrase-file`.
    pub file: Option<&'a Path>,
    /// Environment variable consulted when no file is given.
    pub env: &'a str,
    /// What it unlocks, for the prompt and errors ("the CA key ca/ca.key").
    pub what: &'a str,
    /// The flag that names the file, for errors.
    pub flag: &'a str,
}

impl Source<'_> {
    /// Reads the passphrase; `confirm` asks twice on a terminal (for new keys).
    pub fn get(&self, confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
        if let Some(f) = self.file {
            let data = Zeroizing::new(
                std::fs::read(f)
                    .with_context(|| format!("reading passphrase file {}", f.display()))?,
            );
            // The first line, without its line ending, as openssl's `-passin file:` does.
            let line = data.split(|&b| b == b'\n').next().unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                bail!("passphrase file {} is empty", f.display());
            }
            return Ok(Zeroizing::new(line.to_vec()));
        }
        if let Ok(v) = std::env::var(self.env)
            && !v.is_empty()
        {
            return Ok(Zeroizing::new(v.into_bytes()));
        }
        if !std::io::stdin().is_terminal() {
            bail!(
                "no passphrase for {}: give {} FILE or set {} (there is no terminal to ask on)",
                self.what,
                self.flag,
                self.env
            );
        }
        let first = Zeroizing::new(
            rpassword::prompt_password(format!("Passphrase for {}: ", self.what))
                .context("reading the passphrase from the terminal")?,
        );
        if first.is_empty() {
            bail!("empty passphrase for {}", self.what);
        }
        if confirm {
            let again = Zeroizing::new(
                rpassword::prompt_password(format!("Repeat the passphrase for {}: ", self.what))
                    .context("reading the passphrase from the terminal")?,
            );
            if *first != *again {
                bail!("the two passphrases differ");
            }
        }
        Ok(Zeroizing::new(first.as_bytes().to_vec()))
    }
}

/// The passphrase of the key file `key`, asked for only when the key is encrypted: from
/// `file`, else `$MTLS_KEY_PASSPHRASE`, else a prompt.
pub fn for_key_file(key: &Path, file: Option<&Path>) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let what = key.display().to_string();
    let data = Zeroizing::new(std::fs::read(key).with_context(|| format!("reading {what}"))?);
    if !mtls_pki::PrivateKey::is_encrypted(&data) {
        return Ok(None);
    }
    Source {
        file,
        env: "MTLS_KEY_PASSPHRASE",
        what: &what,
        flag: "--key-passphrase-file",
    }
    .get(false)
    .map(Some)
}

/// The passphrase for a key about to be written, when one is given: from `file`, else
/// `$MTLS_KEY_PASSPHRASE`; `None` (the key is written unencrypted, mode 0600) when neither
/// is. Every command that writes a new key uses this, so the variable means the same
/// everywhere. `flag` names the file option in errors.
pub fn for_new_key(
    file: Option<&Path>,
    what: &str,
    flag: &str,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let from_env = std::env::var_os("MTLS_KEY_PASSPHRASE").is_some_and(|v| !v.is_empty());
    if file.is_none() && !from_env {
        return Ok(None);
    }
    Source {
        file,
        env: "MTLS_KEY_PASSPHRASE",
        what,
        flag,
    }
    .get(true)
    .map(Some)
}
