//! `mtls ca import-openssl` and `mtls ca export-openssl`: moving a CA from and to an
//! `openssl ca` directory.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use crate::out;
use crate::pass::Source;

/// `mtls ca import-openssl` options.
#[derive(Args)]
pub(super) struct ImportArgs {
    /// The openssl CA directory (openssl's `dir`, e.g. ./demoCA).
    openssl_dir: PathBuf,
    /// openssl.cnf, to find the files and take the policy from.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// `mtls ca export-openssl` options.
#[derive(Args)]
pub(super) struct ExportArgs {
    /// The directory to create (must be new or empty).
    out_dir: PathBuf,
    /// Write index.txt but not newcerts/ (for very large CAs).
    #[arg(long)]
    index_only: bool,
}

/// Takes over the openssl CA into a new mtls CA at `dir`.
pub(super) fn import(dir: &Path, pass_file: Option<&Path>, args: ImportArgs) -> Result<()> {
    let ImportArgs {
        openssl_dir,
        config,
    } = args;
    let what = "the openssl CA key";
    let pass = Source {
        file: pass_file,
        env: "MTLS_CA_PASSPHRASE",
        what,
        flag: "--passphrase-file",
    };
    // Ask only if the key is encrypted (the import reads it to find out).
    let attempt = mtls_pki::openssl::import(&openssl_dir, config.as_deref(), dir, None);
    let (ca, report) = match attempt {
        Err(mtls_pki::Error::PassphraseRequired { .. }) => {
            let p = pass.get(false)?;
            mtls_pki::openssl::import(&openssl_dir, config.as_deref(), dir, Some(&p))?
        }
        other => other?,
    };
    for m in &report.mapped {
        out::note(&format!("carried over: {m}"));
    }
    for m in &report.not_mapped {
        out::warn(&format!("not carried over: {m}"));
    }
    for n in &report.notes {
        out::note(n);
    }
    let removed = match report.removed_from_crl {
        0 => String::new(),
        n => format!(" ({n} removeFromCRL: released holds, listed in CRLs with that reason)"),
    };
    let last = match report.last_crl {
        Some(s) => format!(
            "; openssl's last CRL: number {}, thisUpdate {}, nextUpdate {} (installed as crl.pem)",
            s.number,
            mtls_pki::time::rfc3339(s.this_update),
            mtls_pki::time::rfc3339(s.next_update)
        ),
        None => String::new(),
    };
    out::say!(
        "imported {} from {} into {}: {} valid, {} revoked{removed}, {} expired ({} with certificate files); next CRL number {}{last}",
        ca.subject(),
        openssl_dir.display(),
        dir.display(),
        report.valid,
        report.revoked,
        report.expired,
        report.with_certificate,
        report.next_crl_number
    );
    Ok(())
}

/// Writes the CA at `dir` as an openssl CA directory.
pub(super) fn export(dir: &Path, pass_file: Option<&Path>, args: ExportArgs) -> Result<()> {
    let ExportArgs {
        out_dir,
        index_only,
    } = args;
    let mut ca = super::open(dir, pass_file, false)?;
    let r = mtls_pki::openssl::export(&mut ca, &out_dir, index_only)?;
    for n in &r.notes {
        out::warn(n);
    }
    out::say!(
        "exported {} record(s), {} certificate(s) to {} (its openssl.cnf names this absolute directory; edit `dir` there if you move it); try: openssl ca -config {}/openssl.cnf -gencrl -out {}/crl.pem",
        r.records,
        r.certificates,
        r.dir.display(),
        r.dir.display(),
        r.dir.display()
    );
    Ok(())
}
