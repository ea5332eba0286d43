//! Passphrases come from a file, an environment variable or a terminal prompt — never argv.
//!
//! Passphrase variables (`MTLS_*_PASSPHRASE`) are taken out of the process environment as the
//! first thing `main` does ([`take_env_secrets`]), so nothing the process runs later (a library
//! reading the environment, a child process) sees them. The kernel's copy of the initial
//! environment, `/proc/PID/environ`, cannot be changed that way; the process is made
//! non-dumpable ([`no_core_dumps`]) so that neither it nor a core dump is readable by other
//! processes of the same user.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::OnceLock;

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
        if let Some(v) = env_secret(self.env) {
            return Ok(v);
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
    let from_env = env_secret("MTLS_KEY_PASSPHRASE").is_some();
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

/// The passphrase variables taken from the environment at start.
static ENV_SECRETS: OnceLock<HashMap<String, Zeroizing<Vec<u8>>>> = OnceLock::new();

/// True for the names of passphrase variables.
fn is_secret_var(name: &str) -> bool {
    (name.starts_with("MTLS_") && name.ends_with("_PASSPHRASE")) || name == "MTLS_ENROLL_TOKEN"
}

/// Moves every `MTLS_*_PASSPHRASE` variable out of the process environment into memory that
/// is wiped on exit paths the allocator reaches ([`Zeroizing`]); [`Source::get`] reads them
/// from there.
///
/// Must be called first in `main`, before any thread exists: removing a variable while another
/// thread reads the environment is undefined behaviour in C's `getenv`, which is why Rust 2024
/// makes `remove_var` unsafe. This is the only `unsafe` in mtls.
#[allow(unsafe_code)]
pub fn take_env_secrets() {
    let mut taken = HashMap::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name
            .to_str()
            .filter(|n| is_secret_var(n))
            .map(str::to_owned)
        else {
            continue;
        };
        if !value.is_empty() {
            taken.insert(name.clone(), Zeroizing::new(value.into_encoded_bytes()));
        }
        // SAFETY: called at the top of `main`, before the runtime, the signal handlers or any
        // other thread is started; no other code reads or writes the environment meanwhile.
        unsafe { std::env::remove_var(&name) };
    }
    let _ = ENV_SECRETS.set(taken);
}

/// The value `take_env_secrets` took for `name`, if any.
fn env_secret(name: &str) -> Option<Zeroizing<Vec<u8>>> {
    ENV_SECRETS.get()?.get(name).cloned()
}

/// Makes the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core dump holds a key or
/// passphrase, no process of the same (non-root) user can ptrace it or read its memory or
/// `/proc/PID/environ`. Every mtls command holds a private key or a passphrase at some point,
/// so every command does this.
pub fn no_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        // Failure only means the protection is missing; there is nothing better to do.
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
}
