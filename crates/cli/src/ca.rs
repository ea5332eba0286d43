//! `mtls ca …`: the certificate authority commands.
//!
//! This module holds the command line (`--dir`, `--passphrase-file` and the subcommands) and
//! opening the CA; each subcommand's options and handler are in a submodule: `init`, `sign`,
//! `issue`, `revoke` (revoke and crl), `openssl` (import-openssl and export-openssl), `list`,
//! `get`, `serve` (the online CA), `token` and `migrate` (migrate-store).

mod audit;
mod bootstrap;
mod config;
mod get;
mod init;
mod issue;
mod list;
mod migrate;
mod openssl;
mod revoke;
mod serve;
mod sign;
mod token;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use mtls_pki::CertificateAuthority;
use mtls_pki::ca::files;

use crate::out;
use crate::pass::Source;

#[derive(Args)]
pub struct CaArgs {
    /// The CA directory [default: $MTLS_CA_DIR, else ./ca].
    #[arg(long, global = true, env = "MTLS_CA_DIR")]
    dir: Option<PathBuf>,
    /// File holding the CA key's passphrase (first line). Else $MTLS_CA_PASSPHRASE, else a prompt.
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: CaCmd,
}

#[derive(Subcommand)]
enum CaCmd {
    /// Create a CA: key, self-signed root (or intermediate with --issuer), ca.toml and store.
    Init(init::InitArgs),
    /// Sign certificate requests under a profile.
    Sign(sign::SignArgs),
    /// Make a key and a certificate in one step: DIR/NAME.key, NAME.crt, NAME.chain.pem.
    Issue(issue::IssueArgs),
    /// Revoke a certificate by serial (hex) or certificate file.
    Revoke(revoke::RevokeArgs),
    /// Issue a new CRL (also written to DIR/crl.pem).
    Crl(revoke::CrlArgs),
    /// Take over an `openssl ca` directory (cacert.pem, private/cakey.pem, index.txt, serial,
    /// crlnumber, newcerts/) into a new mtls CA at --dir. The CA key's passphrase is kept.
    ImportOpenssl(openssl::ImportArgs),
    /// Write this CA as an `openssl ca` directory (openssl.cnf, index.txt, newcerts/ …).
    ExportOpenssl(openssl::ExportArgs),
    /// List issued certificates.
    List(list::ListArgs),
    /// Print (or write with --out) an issued certificate from the store, by serial.
    Get(get::GetArgs),
    /// Run the online CA: an HTTPS API for enrollment with tokens, and the roots and CRL over
    /// plain HTTP (--http-listen); the CRL is renewed before it lapses.
    Serve(serve::ServeArgs),
    /// Make a one-time enrollment token; prints it alone on the first line, then the
    /// `mtls enroll` command to run on the client.
    Token(token::TokenArgs),
    /// Show the audit log: who enrolled, renewed, revoked or made tokens, when, from where.
    Audit(audit::AuditArgs),
    /// The configuration a CA on PostgreSQL keeps in its store for every instance (push, show).
    Config {
        #[command(subcommand)]
        cmd: config::ConfigCmd,
    },
    /// Copy this CA's records (ca.db) into PostgreSQL (--to URL, an empty database) in one
    /// checked transaction, and point ca.toml at them: for several `ca serve` instances.
    MigrateStore(migrate::MigrateArgs),
    /// Fetch the CA certificate from `mtls ca serve` and keep it only if its SHA-256
    /// fingerprint is the one given (trust on first use, checked).
    Bootstrap(bootstrap::BootstrapArgs),
}

fn ca_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("ca"))
}

/// Opens the CA, prints its warnings, and unlocks its key if `unlock`.
fn open(dir: &Path, pass_file: Option<&Path>, unlock: bool) -> Result<CertificateAuthority> {
    let mut ca = CertificateAuthority::open(dir)?;
    for w in ca.warnings()? {
        out::warn(&w);
    }
    if unlock {
        let what = format!("the CA key {}", dir.join(files::KEY).display());
        let pass = if ca.key_is_encrypted()? {
            Some(
                Source {
                    file: pass_file,
                    env: "MTLS_CA_PASSPHRASE",
                    what: &what,
                    flag: "--passphrase-file",
                }
                .get(false)?,
            )
        } else {
            None
        };
        ca.unlock(pass.as_ref().map(|p| p.as_slice()))
            .map_err(|e| match e {
                mtls_pki::Error::WrongPassphrase { .. } => {
                    anyhow::anyhow!("wrong passphrase for {}", dir.join(files::KEY).display())
                }
                other => other.into(),
            })?;
    }
    Ok(ca)
}

/// Runs `mtls ca SUBCOMMAND`.
pub fn run(args: CaArgs) -> Result<()> {
    let dir = ca_dir(args.dir);
    let pass_file = args.passphrase_file.as_deref();
    match args.cmd {
        CaCmd::Init(a) => init::run(&dir, pass_file, a),
        CaCmd::Sign(a) => sign::run(&dir, pass_file, a),
        CaCmd::Issue(a) => issue::run(&dir, pass_file, a),
        CaCmd::Revoke(a) => revoke::revoke(&dir, pass_file, a),
        CaCmd::Crl(a) => revoke::crl(&dir, pass_file, a),
        CaCmd::ImportOpenssl(a) => openssl::import(&dir, pass_file, a),
        CaCmd::ExportOpenssl(a) => openssl::export(&dir, pass_file, a),
        CaCmd::List(a) => list::run(&dir, pass_file, a),
        CaCmd::Get(a) => get::run(&dir, pass_file, a),
        CaCmd::Serve(a) => serve::run(&dir, pass_file, a),
        CaCmd::Token(a) => token::run(&dir, pass_file, a),
        CaCmd::Audit(a) => audit::run(&dir, pass_file, a),
        CaCmd::Config { cmd } => config::run(&dir, pass_file, cmd),
        CaCmd::MigrateStore(a) => migrate::run(&dir, pass_file, a),
        CaCmd::Bootstrap(a) => bootstrap::run(a),
    }
}
