//! `mtls ca issue`: a key and a certificate in one step, with the chain beside them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_pki::{Name, fsutil, time};

use crate::keys::parse_sans;
use crate::out;

/// `mtls ca issue` options.
#[derive(Args)]
pub(super) struct IssueArgs {
    /// Base name of the files.
    name: String,
    /// server, client, server-client, or a profile of ca.toml.
    #[arg(long)]
    profile: String,
    /// Full subject; fields the policy says must match are filled from the CA.
    #[arg(long, conflicts_with = "cn")]
    subject: Option<String>,
    /// Just the CN [default: NAME].
    #[arg(long)]
    cn: Option<String>,
    /// subjectAltName (repeatable).
    #[arg(long)]
    san: Vec<String>,
    /// Key type [default: ca.toml's key_type].
    #[arg(long, value_parser = crate::argparse::key_types())]
    key_type: Option<String>,
    /// Validity in days [default: the profile's].
    #[arg(long, value_parser = crate::argparse::days())]
    days: Option<u32>,
    /// Validity as a duration, for lives under a day: 90s, 15m, 24h, 30d.
    #[arg(long, value_parser = crate::argparse::validity, conflicts_with = "days")]
    validity: Option<mtls_pki::time::Lifetime>,
    /// Output directory.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// Encrypt NAME.key with the passphrase in this file (first line). Or set
    /// MTLS_KEY_PASSPHRASE. Without either, NAME.key is written unencrypted (mode 0600).
    #[arg(long)]
    key_passphrase_file: Option<PathBuf>,
}

/// Makes the key, has the CA certify it, and writes `NAME.crt`, `NAME.key` and
/// `NAME.chain.pem` into the output directory.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, args: IssueArgs) -> Result<()> {
    let IssueArgs {
        name,
        profile,
        subject,
        cn,
        san,
        key_type,
        days,
        validity,
        out_dir,
        key_passphrase_file,
    } = args;
    let subject = match (subject, cn) {
        (Some(s), _) => Name::parse(&s)?,
        (None, Some(cn)) => Name::parse(&format!("/CN={}", cn.replace('/', "\\/")))?,
        (None, None) => Name::parse(&format!("/CN={}", name.replace('/', "\\/")))?,
    };
    let sans = parse_sans(&san)?;
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        bail!("NAME {name:?} must be a plain file name (no '/', not starting with '.')");
    }
    out::check_out_dir(&out_dir)?;
    let paths = ["crt", "key", "chain.pem"].map(|ext| out_dir.join(format!("{name}.{ext}")));
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        bail!("{} already exists; refusing to overwrite it", p.display());
    }
    let key_pass = crate::pass::for_new_key(
        key_passphrase_file.as_deref(),
        &paths[1].display().to_string(),
        "--key-passphrase-file",
    )?;
    let mut ca = super::open(dir, pass_file, true)?;
    let kt = match key_type {
        Some(k) => k.parse()?,
        None => ca.config().ca.key_type,
    };
    let (key, issued) = ca.issue(
        &name,
        subject,
        sans,
        &profile,
        crate::argparse::lifetime_of(days, validity),
        kt,
    )?;
    for n in &issued.notes {
        out::note(&format!("{name}: {n}"));
    }
    for w in &issued.warnings {
        out::warn(&format!("{name}: {w}"));
    }
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // All three or none: of several `ca issue NAME` at once, exactly one writes the files (the
    // others' certificates stay recorded in the store; `ca get SERIAL` writes one out).
    let key_pem = key.to_pem(key_pass.as_ref().map(|p| p.as_slice()))?;
    let chain = format!("{}{}", issued.pem, ca.chain_pem());
    fsutil::write_many_atomic(
        &[
            (&paths[1], key_pem.as_bytes(), fsutil::Mode::Secret),
            (&paths[0], issued.pem.as_bytes(), fsutil::Mode::Public),
            (&paths[2], chain.as_bytes(), fsutil::Mode::Public),
        ],
        false,
    )
    .with_context(|| {
        format!(
            "serial {} is recorded in the CA; its certificate can be written again with `mtls ca get {}`",
            issued.serial, issued.serial
        )
    })?;
    out::say!(
        "issued {} serial {} ({}, {}) until {} (subjectAltNames: {})",
        issued.subject,
        issued.serial,
        profile,
        key.description(),
        time::rfc3339(issued.not_after),
        super::sign::sans_text(&issued.sans)
    );
    out::say!("  {}", paths[0].display());
    out::say!(
        "  {} ({}, mode 0600)",
        paths[1].display(),
        if key_pass.is_some() {
            "encrypted"
        } else {
            "unencrypted: give --key-passphrase-file or set MTLS_KEY_PASSPHRASE to encrypt it"
        }
    );
    out::say!("  {}", paths[2].display());
    Ok(())
}
