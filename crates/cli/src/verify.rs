//! `mtls verify`: path validation that lists every problem, with the error names the socket
//! layer uses.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_verify::{Purpose, RevocationMode, RevocationScope, Verifier, VerifyInput};

use crate::out;

#[derive(Args)]
pub struct VerifyArgs {
    /// The certificate to check (PEM or DER); further certificates in the file are used as
    /// untrusted intermediates.
    cert: PathBuf,
    /// Trusted CA certificates (PEM bundle or DER).
    #[arg(long)]
    ca: PathBuf,
    /// Untrusted intermediate certificates.
    #[arg(long)]
    untrusted: Option<PathBuf>,
    /// CRLs to check revocation against (repeatable); with any, the certificate's status must
    /// be known.
    #[arg(long)]
    crl: Vec<PathBuf>,
    /// Check the revocation status of every certificate of the path, not only the leaf
    /// (openssl's -crl_check_all).
    #[arg(long, requires = "crl")]
    crl_check_all: bool,
    /// The host name or IP address the certificate must be valid for.
    #[arg(long)]
    host: Option<String>,
    /// server or client: the extended key usage required.
    #[arg(long, value_parser = crate::argparse::purposes())]
    purpose: Option<String>,
    /// Also enforce the RFC 5280 profile rules for issuers that openssl checks only with
    /// -x509_strict (key identifiers, serial number form, where name constraints may appear,
    /// cRLNumber in CRLs, …).
    #[arg(long)]
    strict: bool,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

fn read(p: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

/// Returns true when the certificate verified.
pub fn run(a: VerifyArgs) -> Result<bool> {
    let certs = mtls_verify::load_certificates(&read(&a.cert)?, &a.cert.display().to_string())?;
    let roots = mtls_verify::load_certificates(&read(&a.ca)?, &a.ca.display().to_string())?;
    let mut intermediates: Vec<_> = certs[1..].to_vec();
    if let Some(u) = &a.untrusted {
        intermediates.extend(mtls_verify::load_certificates(
            &read(u)?,
            &u.display().to_string(),
        )?);
    }
    let mut crls = Vec::new();
    for c in &a.crl {
        crls.extend(mtls_verify::load_crls(&read(c)?, &c.display().to_string())?);
    }
    let purpose = match a.purpose.as_deref() {
        None | Some("any") => Purpose::Any,
        Some("server") => Purpose::ServerAuth,
        Some("client") => Purpose::ClientAuth,
        Some(other) => bail!("unknown --purpose {other:?}; use server, client or any"),
    };
    let mode = RevocationMode {
        scope: match (crls.is_empty(), a.crl_check_all) {
            (true, _) => RevocationScope::Off,
            (false, false) => RevocationScope::EndEntity,
            (false, true) => RevocationScope::Chain,
        },
        require_status: true,
        allow_expired_crls: false,
    };
    let verifier = Verifier::new(roots)?
        .crls(crls)
        .revocation(mode)
        .strict(a.strict);
    let mut input = VerifyInput::new(&certs[0])
        .intermediates(&intermediates)
        .purpose(purpose);
    if let Some(h) = &a.host {
        input = input.host(h);
    }
    let report = verifier.verify(&input);
    if a.json {
        let errors: Vec<_> = report
            .errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "kind": e.kind.to_string(),
                    "message": e.kind.message(),
                    "detail": e.detail,
                    "depth": e.cert_index,
                    "subject": e.certificate.as_ref().map(|c| c.subject.clone()),
                    "sha256": e.certificate.as_ref().map(|c| c.sha256_hex()),
                })
            })
            .collect();
        let path: Vec<_> = report.path.iter().map(|c| c.subject.clone()).collect();
        out::say!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": report.is_ok(),
                "path": path,
                "errors": errors,
            }))?
        );
    } else {
        out::say!("{report}");
    }
    Ok(report.is_ok())
}
