//! `mtls ca init`: a new root CA, or an intermediate signed by another mtls CA.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use mtls_pki::ca::files;
use mtls_pki::{CertificateAuthority, InitOptions, KeyType, Name, Policy, time};

use crate::out;
use crate::pass::Source;

/// `mtls ca init` options.
#[derive(Args)]
pub(super) struct InitArgs {
    /// The CA's subject, e.g. /C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA.
    #[arg(long)]
    subject: String,
    /// ec-p256 (default), ec-p384, ed25519, rsa2048, rsa3072, rsa4096.
    #[arg(long, default_value = "ec-p256", value_parser = crate::argparse::key_types())]
    key_type: String,
    /// Validity in days.
    #[arg(long, default_value_t = 3650, value_parser = crate::argparse::days())]
    days: u32,
    /// match (C, ST, O must equal the CA's) or anything (only CN required).
    #[arg(long, default_value = "match", value_parser = crate::argparse::one_of(["match", "anything"]))]
    policy: String,
    /// Write ca.key unencrypted (not recommended).
    #[arg(long, conflicts_with = "passphrase_file")]
    no_passphrase: bool,
    /// Make an intermediate CA signed by (and recorded in) the CA in this directory.
    #[arg(long)]
    issuer: Option<PathBuf>,
    /// Passphrase file of the --issuer CA's key. Else $MTLS_ISSUER_PASSPHRASE, else a prompt.
    #[arg(long, requires = "issuer")]
    issuer_passphrase_file: Option<PathBuf>,
    /// Keep the records in PostgreSQL instead of ca.db: postgres://USER@HOST[:PORT]/DATABASE
    /// (an empty database; the password from PGPASSWORD or PGPASSFILE, never here). Written
    /// to ca.toml as [store] url.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

/// Refuses a `--store` URL with a password in it: argv is visible to every user (`ps`).
pub(super) fn check_store_url(url: &str) -> Result<()> {
    let redacted = mtls_pki::store::backend::redact(url);
    if redacted != url {
        anyhow::bail!(
            "--store {redacted}: a password on the command line is visible to every user of this machine; put it in PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass) and give the URL without it"
        );
    }
    Ok(())
}

/// Creates the CA in `dir` (its key encrypted with the passphrase from `pass_file`, the
/// environment or a prompt, unless `--no-passphrase`).
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, args: InitArgs) -> Result<()> {
    let InitArgs {
        subject,
        key_type,
        days,
        policy,
        no_passphrase,
        issuer,
        issuer_passphrase_file,
        store,
    } = args;
    if let Some(url) = &store {
        check_store_url(url)?;
    }
    let subject = Name::parse(&subject)?;
    let key_type: KeyType = key_type.parse()?;
    let policy = Policy::preset(&policy)?;
    if CertificateAuthority::exists(dir) {
        return Err(mtls_pki::Error::CaExists {
            dir: dir.to_path_buf(),
        }
        .into());
    }
    let mut parent = match &issuer {
        Some(p) => Some(open_parent(p, issuer_passphrase_file.as_deref())?),
        None => None,
    };
    let what = format!("the new CA key {}", dir.join(files::KEY).display());
    let pass = if no_passphrase {
        out::warn("ca.key will be written unencrypted (--no-passphrase)");
        None
    } else {
        Some(
            Source {
                file: pass_file,
                env: "MTLS_CA_PASSPHRASE",
                what: &what,
                flag: "--passphrase-file",
            }
            .get(true)
            .context("the CA key is encrypted by default (or pass --no-passphrase)")?,
        )
    };
    let (ca, notes) = CertificateAuthority::init(
        dir,
        InitOptions {
            subject,
            key_type,
            days,
            policy,
            passphrase: pass.as_ref().map(|p| p.as_slice()),
            parent: parent.as_mut(),
            store_url: store.clone(),
        },
    )?;
    for n in &notes {
        out::warn(n);
    }
    out::say!(
        "created {} CA {} in {}",
        if issuer.is_some() {
            "intermediate"
        } else {
            "root"
        },
        ca.subject(),
        dir.display()
    );
    match &store {
        Some(url) => out::say!(
            "  {}  {}  {}  (records in {})",
            files::CERT,
            files::KEY,
            files::CONFIG,
            mtls_pki::store::backend::redact(url)
        ),
        None => out::say!(
            "  {}  {}  {}  {}",
            files::CERT,
            files::KEY,
            files::CONFIG,
            files::DB
        ),
    }
    out::say!("  valid until {}", time::rfc3339(ca.not_after()));
    Ok(())
}

/// Opens the `--issuer` CA and unlocks its key.
fn open_parent(dir: &Path, pass_file: Option<&Path>) -> Result<CertificateAuthority> {
    let mut parent = CertificateAuthority::open(dir).context("opening the --issuer CA")?;
    let what = format!("the issuer CA key {}", dir.join(files::KEY).display());
    let pass = if parent.key_is_encrypted()? {
        Some(
            Source {
                file: pass_file,
                env: "MTLS_ISSUER_PASSPHRASE",
                what: &what,
                flag: "--issuer-passphrase-file",
            }
            .get(false)?,
        )
    } else {
        None
    };
    parent.unlock(pass.as_ref().map(|p| p.as_slice()))?;
    Ok(parent)
}
