//! `mtls ca get`: a certificate from the store, by serial. Every issued certificate is in the
//! store before its file is written, so this also recovers a file lost to a crash or a deleted
//! output directory (as `openssl ca` keeps `newcerts/SERIAL.pem`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use mtls_pki::{Serial, fsutil, pemutil};

use crate::out;

/// `mtls ca get` options.
#[derive(Args)]
pub(super) struct GetArgs {
    /// The serial number, in hex as `mtls ca list` prints it.
    serial: String,
    /// Write to FILE (refuses to overwrite) instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Append the CA's chain (this CA up to its root).
    #[arg(long)]
    chain: bool,
}

/// Prints or writes the certificate with the given serial.
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, args: GetArgs) -> Result<()> {
    let serial: Serial = args.serial.parse()?;
    let mut ca = super::open(dir, pass_file, false)?;
    let Some(rec) = ca.store().get(&serial)? else {
        bail!(
            "no certificate with serial {} in {}; `mtls ca list` shows the serials",
            serial.hex(),
            dir.display()
        );
    };
    if rec.der.is_empty() {
        bail!(
            "serial {} ({}) was imported from openssl ca without its certificate file; only its record is kept",
            serial.hex(),
            rec.subject
        );
    }
    let mut pem = pemutil::encode("CERTIFICATE", &rec.der);
    if args.chain {
        pem.push_str(ca.chain_pem());
    }
    match &args.out {
        Some(path) => {
            out::check_new_file(path, false)?;
            fsutil::write_atomic(path, pem.as_bytes(), fsutil::Mode::Public, false)?;
            out::say!("wrote {} ({})", path.display(), rec.subject);
        }
        None => out::say!("{}", pem.trim_end()),
    }
    Ok(())
}
