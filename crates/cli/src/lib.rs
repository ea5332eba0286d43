//! The `mtls` command line: argument parsing, calls into the libraries, printing. The work lives
//! in `mtls_pki`, `mtls_verify` and `mtls_socket`; this crate is a library only so that the tests
//! can walk the command line's definition ([`command`]), as every flag must refuse bad values
//! without panicking.

// One audited `unsafe` call (pass::take_env_secrets); everything else is safe code.
#![deny(unsafe_code)]

mod argparse;
mod ca;
mod cert;
mod connect;
mod demo;
mod enroll;
mod keys;
mod log;
mod out;
mod pass;
mod peer;
mod remote;
mod renew;
mod revocation;
mod serve;
mod serve_cert;
mod serve_crl;
mod smtp;
mod tunnel;
mod tunnel_log;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// A private certificate authority and mutual-TLS toolkit.
#[derive(Parser)]
#[command(name = "mtls", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Play the whole story: CA, certificates, mTLS server and clients, revocation, rejection.
    Demo(demo::DemoArgs),
    /// Run a certificate authority: init, sign, issue, revoke, crl, list, import/export openssl.
    Ca(ca::CaArgs),
    /// Inspect certificates, chains, requests and CRLs.
    Cert {
        #[command(subcommand)]
        cmd: cert::CertCmd,
    },
    /// Check a certificate against CA certificates, CRLs, a host name and a purpose; print OK
    /// or every problem found.
    Verify(verify::VerifyArgs),
    /// Run a mutual-TLS server: log peers, heartbeat, print received lines, hot-reload CRLs.
    Serve(serve::ServeArgs),
    /// Connect to a TLS server with mutual TLS: show the chain and every SSL error, exchange
    /// messages.
    Connect(connect::ConnectArgs),
    /// Put mutual TLS in front of any TCP service (server), or reach one through it (client).
    Tunnel {
        #[command(subcommand)]
        cmd: tunnel::TunnelCmd,
    },
    /// Get a certificate from `mtls ca serve` with a one-time token; the key is made here.
    Enroll(enroll::EnrollArgs),
    /// Renew a certificate from `mtls ca serve` over mutual TLS, once or as a daemon.
    Renew(renew::RenewArgs),
    /// Private keys.
    Key {
        #[command(subcommand)]
        cmd: keys::KeyCmd,
    },
    /// Certificate signing requests.
    Csr {
        #[command(subcommand)]
        cmd: keys::CsrCmd,
    },
}

/// Shared `--out` handling.
#[derive(clap::Args, Clone)]
pub struct OutFile {
    /// Where to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// The whole command line's definition, for introspection (tests, completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs `mtls` with the process's arguments; returns its exit code.
pub fn run() -> ExitCode {
    // Before anything else, and before any thread exists (see pass::take_env_secrets).
    pass::take_env_secrets();
    pass::no_core_dumps();
    // `[store] url = "postgres://…"` in ca.toml.
    mtls_store_pg::install();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Ca(args) => ca::run(args),
        Cmd::Demo(args) => demo::run(args),
        Cmd::Cert { cmd } => cert::run(cmd),
        Cmd::Key { cmd } => keys::run_key(cmd),
        Cmd::Serve(args) => serve::run(args),
        Cmd::Enroll(args) => enroll::run(args),
        Cmd::Renew(args) => renew::run(args),
        Cmd::Connect(args) => connect::run(args),
        Cmd::Tunnel { cmd } => tunnel::run(cmd),
        Cmd::Verify(args) => match verify::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Cmd::Csr { cmd } => keys::run_csr(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out::error(&e);
            ExitCode::FAILURE
        }
    }
}
