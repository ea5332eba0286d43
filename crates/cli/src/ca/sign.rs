//! `mtls ca sign`: certificates for requests, under a profile, one file each.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_pki::{SignRequest, fsutil, time};

use crate::keys::parse_sans;
use crate::out;

/// `mtls ca sign` options.
#[derive(Args)]
pub(super) struct SignArgs {
    /// Request files (PEM or DER).
    #[arg(required = true)]
    csr: Vec<PathBuf>,
    /// server, client, server-client, intermediate, or a profile of ca.toml.
    #[arg(long)]
    profile: String,
    /// Validity in days [default: the profile's].
    #[arg(long, value_parser = crate::argparse::days())]
    days: Option<u32>,
    /// Validity as a duration, for lives under a day: 90s, 15m, 24h, 30d.
    #[arg(long, value_parser = crate::argparse::validity, conflicts_with = "days")]
    validity: Option<mtls_pki::time::Lifetime>,
    /// Extra subjectAltName (repeatable): DNS:host, IP:addr, email:x, URI:x.
    #[arg(long)]
    san: Vec<String>,
    /// Output file (one request only).
    #[arg(long, conflicts_with = "out_dir", required_unless_present = "out_dir")]
    out: Option<PathBuf>,
    /// Output directory: REQUEST_NAME.crt for each request.
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

/// Signs every request, then writes the certificates (all or none).
pub(super) fn run(dir: &Path, pass_file: Option<&Path>, args: SignArgs) -> Result<()> {
    let SignArgs {
        csr,
        profile,
        days,
        validity,
        san,
        out: out_file,
        out_dir,
    } = args;
    if out_file.is_some() && csr.len() > 1 {
        bail!(
            "--out takes one request; use --out-dir for {} requests",
            csr.len()
        );
    }
    let extra = parse_sans(&san)?;
    let lifetime = crate::argparse::lifetime_of(days, validity);
    let mut ca = super::open(dir, pass_file, true)?;
    let mut requests = Vec::with_capacity(csr.len());
    for r in mtls_pki::csr::load_many(&csr) {
        requests.push(SignRequest::from_request(r?, &profile, lifetime, &extra));
    }
    let targets: Vec<PathBuf> = match (&out_file, &out_dir) {
        (Some(f), _) => {
            out::check_new_file(f, false)?;
            vec![f.clone()]
        }
        (None, Some(d)) => {
            out::check_out_dir(d)?;
            csr.iter()
                .map(|c| out_name(d, c))
                .collect::<Result<Vec<_>>>()?
        }
        (None, None) => bail!("give --out FILE or --out-dir DIR"),
    };
    if let Some(t) = targets.iter().find(|t| t.exists()) {
        bail!("{} already exists; refusing to overwrite it", t.display());
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(t) = targets.iter().find(|t| !seen.insert(t.as_path())) {
        bail!(
            "two requests would both be written to {}; give them different file names",
            t.display()
        );
    }
    let bar = progress(requests.len());
    let issued = ca.sign(requests, &|n| bar.set_position(n as u64))?;
    bar.finish_and_clear();
    for cert in &issued {
        for n in &cert.notes {
            out::note(&format!("{}: {n}", cert.what));
        }
        for w in &cert.warnings {
            out::warn(&format!("{}: {w}", cert.what));
        }
    }
    if let Some(d) = &out_dir {
        std::fs::create_dir_all(d).with_context(|| {
            format!(
                "creating {} (the certificates are recorded in the CA)",
                d.display()
            )
        })?;
    }
    let files: Vec<(&Path, &[u8], fsutil::Mode)> = targets
        .iter()
        .zip(&issued)
        .map(|(t, c)| (t.as_path(), c.pem.as_bytes(), fsutil::Mode::Public))
        .collect();
    fsutil::write_many_atomic(&files, false)?;
    if let [one] = issued.as_slice() {
        out::say!(
            "signed {} serial {} until {} -> {} (subjectAltNames: {})",
            one.subject,
            one.serial,
            time::rfc3339(one.not_after),
            targets[0].display(),
            sans_text(&one.sans)
        );
    } else {
        out::say!(
            "signed {} certificates into {}",
            issued.len(),
            out_dir.unwrap_or_default().display()
        );
    }
    Ok(())
}

/// `DIR/STEM.crt` for the request file `csr` (`host.example.csr` gives `host.example.crt`).
/// A stem that is empty, `.` or `..`, or holds a path separator, would write outside DIR or
/// over a directory: refused, naming the request.
fn out_name(dir: &Path, csr: &Path) -> Result<PathBuf> {
    let stem = csr.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem.is_empty()
        || stem == "."
        || stem == ".."
        || stem.contains(['/', '\\'])
        || stem.starts_with('.')
    {
        bail!(
            "{}: cannot name a certificate after this request file (its name without the \
             extension is {stem:?}); rename it, or sign it alone with --out FILE",
            csr.display()
        );
    }
    Ok(dir.join(format!("{stem}.crt")))
}

/// `DNS:a, IP:b`, or `none`.
pub(super) fn sans_text(sans: &[mtls_pki::San]) -> String {
    if sans.is_empty() {
        return "none".into();
    }
    sans.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A progress bar for `n` requests (hidden for fewer than 50).
fn progress(n: usize) -> indicatif::ProgressBar {
    if n < 50 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "signing {bar:40} {pos}/{len} ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}
