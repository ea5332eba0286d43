//! `mtls cert show`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use mtls_pki::fsutil;

use crate::out;

#[derive(Subcommand)]
pub enum CertCmd {
    /// Show a certificate, chain, CSR or CRL (PEM or DER): names, serial, validity, key,
    /// signature, every extension, fingerprints.
    Show {
        /// The file.
        file: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: CertCmd) -> Result<()> {
    match cmd {
        CertCmd::Show { file, json } => {
            let data = fsutil::read(&file)?;
            let shown = mtls_pki::show::show(&data, &file.display().to_string())?;
            if json {
                out::say!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                let texts: Vec<String> = shown.iter().map(|s| s.to_text()).collect();
                out::say!("{}", texts.join("\n").trim_end());
            }
            Ok(())
        }
    }
}
