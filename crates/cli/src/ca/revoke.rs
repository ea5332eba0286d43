//! `mtls ca revoke` and `mtls ca crl`: revoking certificates and publishing the CRL.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use mtls_pki::ca::files;
use mtls_pki::store::Revocation;
use mtls_pki::{Reason, Serial, fsutil, time};

use crate::out;

/// `mtls ca revoke` options.
#[derive(Args)]
pub(super) struct RevokeArgs {
    /// Serial number (as `mtls ca list` prints it) or a certificate file.
    target: String,
    /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
    /// cessationOfOperation, certificateHold.
    #[arg(long, default_value = "unspecified", ignore_case = true,
          value_parser = crate::argparse::one_of(REVOKE_REASONS))]
    reason: String,
    /// When the key was compromised, for keyCompromise or cACompromise: the CRL entry's
    /// invalidityDate (openssl's -crl_compromise). RFC 3339 or YYYYMMDDHHMMSSZ.
    #[arg(long, value_parser = crate::argparse::instant)]
    compromise_time: Option<i64>,
    /// For certificateHold: holdInstructionNone, holdInstructionCallIssuer,
    /// holdInstructionReject or a dotted OID (openssl's -crl_hold).
    #[arg(long)]
    hold_instruction: Option<String>,
    /// Through the API of `mtls ca serve` (the CRL is renewed there at once).
    #[command(flatten)]
    remote: crate::remote::Remote,
}

/// Every reason but removeFromCRL, which only releases a hold (openssl's index carries it;
/// `mtls ca revoke` has nothing to release).
const REVOKE_REASONS: [&str; 7] = [
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
];

/// `mtls ca crl` options.
#[derive(Args)]
pub(super) struct CrlArgs {
    /// Also write it here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Days until nextUpdate [default: ca.toml's crl_days, 7].
    #[arg(long, value_parser = crate::argparse::days())]
    days: Option<u32>,
}

/// Says whether every instance of the CA server answers with the revocation yet.
fn report_spread(v: &serde_json::Value) {
    if v["propagated"].as_bool() == Some(false) {
        let lagging: Vec<&str> = v["lagging"]
            .as_array()
            .map(|a| a.iter().filter_map(|l| l.as_str()).collect())
            .unwrap_or_default();
        out::warn(&format!(
            "the revocation is recorded, but not every CA server instance answers with it yet: {}",
            lagging.join("; ")
        ));
    } else {
        out::say!("every CA server instance's OCSP answers and CRL now carry it");
    }
}

/// Records the revocation (published by the next `mtls ca crl`).
pub(super) fn revoke(dir: &Path, pass_file: Option<&Path>, args: RevokeArgs) -> Result<()> {
    let RevokeArgs {
        target,
        reason,
        compromise_time,
        hold_instruction,
        remote,
    } = args;
    if remote.is_remote() {
        if compromise_time.is_some() || hold_instruction.is_some() {
            bail!(
                "--compromise-time and --hold-instruction are for revocations on the CA directory"
            );
        }
        let serial = serial_of(&target)?;
        let body = serde_json::json!({"serial": serial.hex(), "reason": reason});
        let v = remote
            .call(dir.join(files::CERT), "POST", "/v1/revoke", &body)?
            .json();
        out::say!(
            "revoked {} ({}) at {}",
            serial.hex(),
            v["reason"].as_str().unwrap_or("?"),
            v["revoked_at"].as_str().unwrap_or("?")
        );
        report_spread(&v);
        return Ok(());
    }
    let reason = Reason::parse(&reason)?;
    let now = time::now().unix_timestamp();
    let mut rev = Revocation::new(now, reason);
    if let Some(t) = compromise_time {
        if !matches!(reason, Reason::KeyCompromise | Reason::CaCompromise) {
            bail!("--compromise-time goes with --reason keyCompromise or cACompromise");
        }
        if t > now {
            bail!("--compromise-time {} is in the future", time::rfc3339(t));
        }
        rev.invalidity_date = Some(t);
    }
    if let Some(h) = hold_instruction {
        if reason != Reason::CertificateHold {
            bail!("--hold-instruction goes with --reason certificateHold");
        }
        rev.hold_instruction = Some(mtls_pki::store::hold::parse(&h).ok_or_else(|| {
            anyhow::anyhow!(
                "--hold-instruction {h:?}: use holdInstructionNone, holdInstructionCallIssuer, holdInstructionReject or a dotted OID"
            )
        })?);
    }
    let serial = serial_of(&target)?;
    let mut ca = super::open(dir, pass_file, false)?;
    let rec = ca.revoke_with(&serial, &rev)?;
    out::say!(
        "revoked {} ({}) reason {}; run `mtls ca crl` to publish it",
        rec.serial,
        rec.subject,
        reason.name()
    );
    Ok(())
}

/// Issues a new CRL into the CA directory (and `--out`).
pub(super) fn crl(dir: &Path, pass_file: Option<&Path>, args: CrlArgs) -> Result<()> {
    let CrlArgs {
        out: out_file,
        days,
    } = args;
    if let Some(f) = &out_file {
        out::check_new_file(f, true)?;
    }
    let mut ca = super::open(dir, pass_file, true)?;
    let crl = ca.crl(days)?;
    if !crl.installed {
        out::warn(&format!(
            "another `mtls ca crl` published a newer CRL meanwhile; {} keeps that one",
            dir.join(files::CRL).display()
        ));
    }
    if let Some(f) = &out_file {
        fsutil::write_atomic(f, crl.pem.as_bytes(), fsutil::Mode::Public, true)?;
    }
    out::say!(
        "CRL number {} with {} revoked certificate(s), next update {} -> {}{}",
        crl.number,
        crl.entries,
        time::rfc3339(crl.next_update),
        dir.join(files::CRL).display(),
        out_file
            .map(|f| format!(", {}", f.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// A serial given directly, or read from a certificate file.
fn serial_of(target: &str) -> Result<Serial> {
    let p = Path::new(target);
    if p.is_file() {
        let data = fsutil::read(p)?;
        return Ok(mtls_pki::inspect::cert_serial(&data, target)?);
    }
    // A mistyped path should be reported as a missing file, not as a bad serial number.
    let looks_like_path = target.contains(std::path::MAIN_SEPARATOR)
        || [".pem", ".crt", ".cer", ".der"]
            .iter()
            .any(|ext| target.to_ascii_lowercase().ends_with(ext));
    if looks_like_path {
        bail!(
            "{target}: no such certificate file (give a certificate file or a serial number as `mtls ca list` prints it)"
        );
    }
    Ok(target.parse()?)
}
