//! `mtls key …` and `mtls csr …`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use mtls_pki::{KeyType, Name, PrivateKey, San, fsutil};

use crate::out;

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Generate a private key (PKCS#8, mode 0600; encrypted when a passphrase is given).
    New {
        /// ec-p256 (default), ec-p384, ed25519, rsa2048, rsa3072, rsa4096.
        #[arg(long = "type", default_value = "ec-p256", value_parser = crate::argparse::key_types())]
        key_type: String,
        /// The key file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Encrypt with the passphrase in this file (first line). Or set MTLS_KEY_PASSPHRASE.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum CsrCmd {
    /// Make a certificate signing request.
    New {
        /// The private key (PEM or DER; encrypted keys ask for their passphrase).
        #[arg(long)]
        key: PathBuf,
        /// Subject: /C=CN/ST=GuangDong/O=XXX, Inc./CN=host or CN=host,O=XXX\, Inc.,C=CN.
        #[arg(long)]
        subject: String,
        /// subjectAltName: DNS:host, IP:10.0.0.1, email:a@b.example, URI:spiffe://x (repeatable).
        #[arg(long)]
        san: Vec<String>,
        /// The request file to create.
        #[arg(long)]
        out: PathBuf,
        /// Passphrase file for an encrypted key. Or set MTLS_KEY_PASSPHRASE.
        #[arg(long)]
        key_passphrase_file: Option<PathBuf>,
    },
}

pub fn parse_sans(sans: &[String]) -> Result<Vec<San>> {
    Ok(sans
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<San>, _>>()?)
}

/// Loads a key, asking for its passphrase only when it is encrypted.
pub fn load_key(path: &std::path::Path, pass_file: Option<&std::path::Path>) -> Result<PrivateKey> {
    let data = zeroize::Zeroizing::new(fsutil::read(path)?);
    let pass = crate::pass::for_key_file(path, pass_file)?;
    Ok(PrivateKey::from_bytes(
        &data,
        pass.as_ref().map(|p| p.as_slice()),
        &path.display().to_string(),
    )?)
}

pub fn run_key(cmd: KeyCmd) -> Result<()> {
    match cmd {
        KeyCmd::New {
            key_type,
            out,
            passphrase_file,
        } => {
            let kt: KeyType = key_type.parse()?;
            let what = out.display().to_string();
            let pass =
                crate::pass::for_new_key(passphrase_file.as_deref(), &what, "--passphrase-file")?;
            let key = PrivateKey::generate(kt)?;
            key.write(&out, pass.as_ref().map(|p| p.as_slice()), false)?;
            out::say!(
                "wrote {} ({}, {}, mode 0600)",
                out.display(),
                key.description(),
                if pass.is_some() {
                    "encrypted"
                } else {
                    "unencrypted"
                }
            );
            Ok(())
        }
    }
}

pub fn run_csr(cmd: CsrCmd) -> Result<()> {
    match cmd {
        CsrCmd::New {
            key,
            subject,
            san,
            out: out_path,
            key_passphrase_file,
        } => {
            let k = load_key(&key, key_passphrase_file.as_deref())?;
            k.check_strength(&key.display().to_string(), false)?;
            let name = Name::parse(&subject)?;
            let sans = parse_sans(&san)?;
            let pem = mtls_pki::csr::create(&k, &name, &sans)?;
            fsutil::write_atomic(&out_path, pem.as_bytes(), fsutil::Mode::Public, false)?;
            if sans.is_empty() && name.common_name().is_some() {
                out::note(
                    "no --san given; `mtls ca sign --profile server` copies a hostname CN into a DNS SAN",
                );
            }
            out::say!("wrote {} for {name}", out_path.display());
            Ok(())
        }
    }
}
