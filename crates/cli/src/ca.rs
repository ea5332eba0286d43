//! `mtls ca …`: the certificate authority commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mtls_pki::ca::files;
use mtls_pki::{
    CertificateAuthority, InitOptions, KeyType, Name, Policy, Reason, Serial, SignRequest,
    StatusFilter, fsutil, time,
};

use crate::keys::parse_sans;
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
    Init {
        /// The CA's subject, e.g. /C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA.
        #[arg(long)]
        subject: String,
        /// ec-p256 (default), ec-p384, ed25519, rsa2048, rsa3072, rsa4096.
        #[arg(long, default_value = "ec-p256")]
        key_type: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// match (C, ST, O must equal the CA's) or anything (only CN required).
        #[arg(long, default_value = "match")]
        policy: String,
        /// Write ca.key unencrypted (not recommended).
        #[arg(long, conflicts_with = "passphrase_file")]
        no_passphrase: bool,
        /// Make an intermediate CA signed by (and recorded in) the CA in this directory.
        #[arg(long)]
        issuer: Option<PathBuf>,
        /// Passphrase file of the --issuer CA's key. Else $MTLS_ISSUER_PASSPHRASE, else a prompt.
        #[arg(long, requires = "issuer")]
        issuer_passphrase_file: Option<PathBuf>,
    },
    /// Sign certificate requests under a profile.
    Sign {
        /// Request files (PEM or DER).
        #[arg(required = true)]
        csr: Vec<PathBuf>,
        /// server, client, server-client, intermediate, or a profile of ca.toml.
        #[arg(long)]
        profile: String,
        /// Validity in days [default: the profile's].
        #[arg(long)]
        days: Option<u32>,
        /// Extra subjectAltName (repeatable): DNS:host, IP:addr, email:x, URI:x.
        #[arg(long)]
        san: Vec<String>,
        /// Output file (one request only).
        #[arg(long, conflicts_with = "out_dir", required_unless_present = "out_dir")]
        out: Option<PathBuf>,
        /// Output directory: REQUEST_NAME.crt for each request.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Make a key and a certificate in one step: DIR/NAME.key, NAME.crt, NAME.chain.pem.
    Issue {
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
        #[arg(long)]
        key_type: Option<String>,
        /// Validity in days [default: the profile's].
        #[arg(long)]
        days: Option<u32>,
        /// Output directory.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// Encrypt NAME.key with the passphrase in this file.
        #[arg(long)]
        key_passphrase_file: Option<PathBuf>,
    },
    /// Revoke a certificate by serial (hex) or certificate file.
    Revoke {
        /// Serial number (as `mtls ca list` prints it) or a certificate file.
        target: String,
        /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, certificateHold.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Issue a new CRL (also written to DIR/crl.pem).
    Crl {
        /// Also write it here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Days until nextUpdate [default: ca.toml's crl_days, 7].
        #[arg(long)]
        days: Option<u32>,
    },
    /// Take over an `openssl ca` directory (cacert.pem, private/cakey.pem, index.txt, serial,
    /// crlnumber, newcerts/) into a new mtls CA at --dir. The CA key's passphrase is kept.
    ImportOpenssl {
        /// The openssl CA directory (openssl's `dir`, e.g. ./demoCA).
        openssl_dir: PathBuf,
        /// openssl.cnf, to find the files and take the policy from.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write this CA as an `openssl ca` directory (openssl.cnf, index.txt, newcerts/ …).
    ExportOpenssl {
        /// The directory to create (must be new or empty).
        out_dir: PathBuf,
        /// Write index.txt but not newcerts/ (for very large CAs).
        #[arg(long)]
        index_only: bool,
    },
    /// List issued certificates.
    List {
        /// valid, revoked, expired or all.
        #[arg(long, default_value = "all")]
        status: String,
        /// Only certificates expiring within DAYS.
        #[arg(long)]
        expiring_within: Option<u32>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
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

pub fn run(args: CaArgs) -> Result<()> {
    let dir = ca_dir(args.dir);
    let pass_file = args.passphrase_file.as_deref();
    match args.cmd {
        CaCmd::Init {
            subject,
            key_type,
            days,
            policy,
            no_passphrase,
            issuer,
            issuer_passphrase_file,
        } => {
            let subject = Name::parse(&subject)?;
            let key_type: KeyType = key_type.parse()?;
            let policy = Policy::preset(&policy)?;
            if CertificateAuthority::exists(&dir) {
                return Err(mtls_pki::Error::CaExists { dir }.into());
            }
            let mut parent = match &issuer {
                Some(p) => Some(open_parent(p, issuer_passphrase_file.as_deref())?),
                None => None,
            };
            let what = format!("the new CA key {}", dir.join(files::KEY).display());
            let pass = if no_passphrase {
                out::warn("ca.key will be written unencrypted (--no-passphrase)");
                None
            } else {
                Some(
                    Source {
                        file: pass_file,
                        env: "MTLS_CA_PASSPHRASE",
                        what: &what,
                        flag: "--passphrase-file",
                    }
                    .get(true)
                    .context("the CA key is encrypted by default (or pass --no-passphrase)")?,
                )
            };
            let (ca, notes) = CertificateAuthority::init(
                &dir,
                InitOptions {
                    subject,
                    key_type,
                    days,
                    policy,
                    passphrase: pass.as_ref().map(|p| p.as_slice()),
                    parent: parent.as_mut(),
                },
            )?;
            for n in &notes {
                out::warn(n);
            }
            out::say!(
                "created {} CA {} in {}",
                if issuer.is_some() {
                    "intermediate"
                } else {
                    "root"
                },
                ca.subject(),
                dir.display()
            );
            out::say!(
                "  {}  {}  {}  {}",
                files::CERT,
                files::KEY,
                files::CONFIG,
                files::DB
            );
            out::say!("  valid until {}", time::rfc3339(ca.not_after()));
            Ok(())
        }
        CaCmd::Sign {
            csr,
            profile,
            days,
            san,
            out: out_file,
            out_dir,
        } => {
            if out_file.is_some() && csr.len() > 1 {
                bail!(
                    "--out takes one request; use --out-dir for {} requests",
                    csr.len()
                );
            }
            let extra = parse_sans(&san)?;
            let mut ca = open(&dir, pass_file, true)?;
            let mut requests = Vec::with_capacity(csr.len());
            for r in mtls_pki::csr::load_many(&csr) {
                requests.push(SignRequest::from_request(r?, &profile, days, &extra));
            }
            let targets: Vec<PathBuf> = match (&out_file, &out_dir) {
                (Some(f), _) => {
                    out::check_new_file(f, false)?;
                    vec![f.clone()]
                }
                (None, Some(d)) => {
                    out::check_out_dir(d)?;
                    csr.iter()
                        .map(|c| {
                            let stem = c.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
                            d.join(stem).with_extension("crt")
                        })
                        .collect()
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
            let files: Vec<(&Path, &[u8])> = targets
                .iter()
                .zip(&issued)
                .map(|(t, c)| (t.as_path(), c.pem.as_bytes()))
                .collect();
            fsutil::write_many_atomic(&files, fsutil::Mode::Public, false)?;
            if let [one] = issued.as_slice() {
                out::say!(
                    "signed {} serial {} until {} -> {}",
                    one.subject,
                    one.serial,
                    time::rfc3339(one.not_after),
                    targets[0].display()
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
        CaCmd::Issue {
            name,
            profile,
            subject,
            cn,
            san,
            key_type,
            days,
            out_dir,
            key_passphrase_file,
        } => {
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
            let paths =
                ["crt", "key", "chain.pem"].map(|ext| out_dir.join(format!("{name}.{ext}")));
            if let Some(p) = paths.iter().find(|p| p.exists()) {
                bail!("{} already exists; refusing to overwrite it", p.display());
            }
            let key_pass = match &key_passphrase_file {
                Some(f) => Some(
                    Source {
                        file: Some(f),
                        env: "MTLS_KEY_PASSPHRASE",
                        what: &name,
                        flag: "--key-passphrase-file",
                    }
                    .get(false)?,
                ),
                None => None,
            };
            let mut ca = open(&dir, pass_file, true)?;
            let kt = match key_type {
                Some(k) => k.parse()?,
                None => ca.config().ca.key_type,
            };
            let (key, issued) = ca.issue(&name, subject, sans, &profile, days, kt)?;
            for n in &issued.notes {
                out::note(&format!("{name}: {n}"));
            }
            for w in &issued.warnings {
                out::warn(&format!("{name}: {w}"));
            }
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            fsutil::write_atomic(
                &paths[0],
                issued.pem.as_bytes(),
                fsutil::Mode::Public,
                false,
            )?;
            key.write(&paths[1], key_pass.as_ref().map(|p| p.as_slice()), false)?;
            let chain = format!("{}{}", issued.pem, ca.chain_pem());
            fsutil::write_atomic(&paths[2], chain.as_bytes(), fsutil::Mode::Public, false)?;
            out::say!(
                "issued {} serial {} ({}, {}) until {}",
                issued.subject,
                issued.serial,
                profile,
                key.description(),
                time::rfc3339(issued.not_after)
            );
            for p in &paths {
                out::say!("  {}", p.display());
            }
            Ok(())
        }
        CaCmd::Revoke { target, reason } => {
            let reason = Reason::parse(&reason)?;
            let serial = serial_of(&target)?;
            let mut ca = open(&dir, pass_file, false)?;
            let rec = ca.revoke(&serial, reason)?;
            out::say!(
                "revoked {} ({}) reason {}; run `mtls ca crl` to publish it",
                rec.serial,
                rec.subject,
                reason.name()
            );
            Ok(())
        }
        CaCmd::Crl {
            out: out_file,
            days,
        } => {
            if let Some(f) = &out_file {
                out::check_new_file(f, true)?;
            }
            let mut ca = open(&dir, pass_file, true)?;
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
        CaCmd::ImportOpenssl {
            openssl_dir,
            config,
        } => {
            let what = "the openssl CA key";
            let pass = Source {
                file: pass_file,
                env: "MTLS_CA_PASSPHRASE",
                what,
                flag: "--passphrase-file",
            };
            // Ask only if the key is encrypted (the import reads it to find out).
            let attempt = mtls_pki::openssl::import(&openssl_dir, config.as_deref(), &dir, None);
            let (ca, report) = match attempt {
                Err(mtls_pki::Error::PassphraseRequired { .. }) => {
                    let p = pass.get(false)?;
                    mtls_pki::openssl::import(&openssl_dir, config.as_deref(), &dir, Some(&p))?
                }
                other => other?,
            };
            for n in &report.notes {
                out::note(n);
            }
            out::say!(
                "imported {} from {} into {}: {} valid, {} revoked, {} expired ({} with certificate files); next CRL number {}",
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
        CaCmd::ExportOpenssl {
            out_dir,
            index_only,
        } => {
            let mut ca = open(&dir, pass_file, false)?;
            let r = mtls_pki::openssl::export(&mut ca, &out_dir, index_only)?;
            out::say!(
                "exported {} record(s), {} certificate(s) to {}; try: cd {} && openssl ca -config openssl.cnf -gencrl -out crl.pem",
                r.records,
                r.certificates,
                out_dir.display(),
                out_dir.display()
            );
            Ok(())
        }
        CaCmd::List {
            status,
            expiring_within,
            json,
        } => {
            let filter = match status.as_str() {
                "valid" => StatusFilter::Valid,
                "revoked" => StatusFilter::Revoked,
                "expired" => StatusFilter::Expired,
                "all" => StatusFilter::All,
                other => bail!("unknown --status {other:?}; use valid, revoked, expired or all"),
            };
            let ca = open(&dir, pass_file, false)?;
            let recs = ca.list(filter, expiring_within)?;
            let now = time::now().unix_timestamp();
            if json {
                let rows: Vec<_> = recs
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "serial": r.serial.hex(),
                            "subject": r.subject,
                            "cn": r.cn,
                            "sans": r.sans,
                            "profile": r.profile,
                            "not_before": time::rfc3339(r.not_before),
                            "not_after": time::rfc3339(r.not_after),
                            "status": status_of(r, now),
                            "revoked_at": r.revoked_at.map(time::rfc3339),
                            "reason": r.reason.map(|x| x.name()),
                        })
                    })
                    .collect();
                out::say!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                out::say!(
                    "{:<32}  {:<8}  {:<20}  {:<14}  {:<24}  SANS",
                    "SERIAL",
                    "STATUS",
                    "NOT AFTER",
                    "PROFILE",
                    "CN"
                );
                for r in &recs {
                    out::say!(
                        "{:<32}  {:<8}  {:<20}  {:<14}  {:<24}  {}",
                        r.serial.hex(),
                        status_of(r, now),
                        time::rfc3339(r.not_after),
                        r.profile,
                        r.cn.as_deref().unwrap_or("-"),
                        r.sans.join(",")
                    );
                }
                eprintln!("{} certificate(s)", recs.len());
            }
            Ok(())
        }
    }
}

fn status_of(r: &mtls_pki::CertRecord, now: i64) -> &'static str {
    if r.revoked_at.is_some() {
        "revoked"
    } else if r.not_after < now {
        "expired"
    } else {
        "valid"
    }
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

fn open_parent(dir: &Path, pass_file: Option<&Path>) -> Result<CertificateAuthority> {
    let mut parent = CertificateAuthority::open(dir).context("opening the --issuer CA")?;
    let what = format!("the issuer CA key {}", dir.join(files::KEY).display());
    let pass = if parent.key_is_encrypted()? {
        Some(
            Source {
                file: pass_file,
                env: "MTLS_ISSUER_PASSPHRASE",
                what: &what,
                flag: "--issuer-passphrase-file",
            }
            .get(false)?,
        )
    } else {
        None
    };
    parent.unlock(pass.as_ref().map(|p| p.as_slice()))?;
    Ok(parent)
}

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
