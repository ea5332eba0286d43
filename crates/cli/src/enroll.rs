//! `mtls enroll`: trade a one-time token for a certificate from `mtls ca serve`. The key is
//! made here and never leaves this machine.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use mtls_caserver::client::Client;
use mtls_pki::{KeyType, Name, PrivateKey, fsutil};
use mtls_socket::SslConfiguration;
use serde_json::json;
use zeroize::Zeroizing;

use crate::pass::Source;
use crate::{argparse, out};

/// `mtls enroll` options.
#[derive(Args)]
pub struct EnrollArgs {
    /// The CA server, as `mtls ca serve` printed it (https://HOST:PORT).
    pub(crate) url: String,
    /// The token. Prefer --token-file or $MTLS_ENROLL_TOKEN: other users of this machine can
    /// read a command line.
    #[arg(long)]
    pub(crate) token: Option<String>,
    /// File holding the token (first line).
    #[arg(long, conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,
    /// The CA certificate the server must chain to (ca.crt, or `mtls ca bootstrap`'s output).
    #[arg(long)]
    pub(crate) ca: PathBuf,
    /// Where to write NAME.key, NAME.crt and NAME.chain.pem.
    #[arg(long)]
    pub(crate) out_dir: PathBuf,
    /// The files' base name and the certificate's CN [default: the token's name is not known
    /// here, so give one; "client" otherwise].
    #[arg(long, default_value = "client")]
    pub(crate) name: String,
    /// A subjectAltName to ask for (the token must allow it); repeatable.
    #[arg(long = "san")]
    pub(crate) sans: Vec<String>,
    /// The key to make.
    #[arg(long, default_value = "ec-p256", value_parser = argparse::key_types())]
    pub(crate) key_type: String,
    /// File holding a passphrase to encrypt NAME.key with (first line). Else
    /// $MTLS_KEY_PASSPHRASE; without either the key is written unencrypted (mode 0600).
    #[arg(long)]
    pub(crate) key_passphrase_file: Option<PathBuf>,
}

/// Makes a key and a request, enrolls, writes the three files atomically, and says so.
pub fn run(a: EnrollArgs) -> Result<()> {
    let got = enroll(&a)?;
    out::say!("enrolled: serial {} until {}", got.serial, got.not_after);
    for p in &got.paths {
        out::say!("  {}", p.display());
    }
    Ok(())
}

/// What an enrollment brought.
pub(crate) struct Enrolled {
    pub serial: String,
    pub not_after: String,
    /// NAME.crt, NAME.key, NAME.chain.pem.
    pub paths: [PathBuf; 3],
}

/// The enrollment itself, on a runtime of its own (call it off any async worker).
pub(crate) fn enroll(a: &EnrollArgs) -> Result<Enrolled> {
    if a.name.is_empty() || a.name.contains('/') || a.name.starts_with('.') {
        bail!(
            "--name {:?} must be a plain file name (no '/', not starting with '.')",
            a.name
        );
    }
    out::check_out_dir(&a.out_dir)?;
    let paths = ["crt", "key", "chain.pem"].map(|ext| a.out_dir.join(format!("{}.{ext}", a.name)));
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        bail!("{} already exists; refusing to overwrite it", p.display());
    }
    let token = token(a)?;
    let key_pass = crate::pass::for_new_key(
        a.key_passphrase_file.as_deref(),
        &paths[1].display().to_string(),
        "--key-passphrase-file",
    )?;
    let kt: KeyType = a.key_type.parse()?;
    let key = PrivateKey::generate(kt)?;
    let subject = Name::parse(&format!("/CN={}", a.name.replace('/', "\\/")))?;
    let sans = crate::keys::parse_sans(&a.sans)?;
    let csr = mtls_pki::csr::create(&key, &subject, &sans)?;
    let mut tls = SslConfiguration::new();
    tls.add_ca_certificates_file(&a.ca)
        .with_context(|| format!("--ca {}", a.ca.display()))?;
    let client = Client::new(&a.url, tls)?;
    let body = json!({"token": String::from_utf8_lossy(&token), "csr": csr});
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let answer = rt.block_on(client.request("POST", "/v1/enroll", Some(&body)))?;
    let got = answer.issued(client.url(), "the enrollment")?;
    let (cert, chain) = (got.certificate.as_str(), got.chain.as_str());
    check_fits(cert, &key)?;
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("creating {}", a.out_dir.display()))?;
    let key_pem = key.to_pem(key_pass.as_ref().map(|p| p.as_slice()))?;
    fsutil::write_many_atomic(
        &[
            (&paths[1], key_pem.as_bytes(), fsutil::Mode::Secret),
            (&paths[0], cert.as_bytes(), fsutil::Mode::Public),
            (&paths[2], chain.as_bytes(), fsutil::Mode::Public),
        ],
        false,
    )?;
    Ok(Enrolled {
        serial: got.serial,
        not_after: got.not_after,
        paths,
    })
}

fn token(a: &EnrollArgs) -> Result<Zeroizing<Vec<u8>>> {
    if let Some(t) = &a.token {
        return Ok(Zeroizing::new(t.trim().as_bytes().to_vec()));
    }
    Source {
        file: a.token_file.as_deref(),
        env: "MTLS_ENROLL_TOKEN",
        what: "the enrollment token",
        flag: "--token-file",
    }
    .get(false)
}

/// Never write a certificate that does not certify our key.
fn check_fits(cert_pem: &str, key: &PrivateKey) -> Result<()> {
    let spki = mtls_pki::inspect::cert_spki(cert_pem.as_bytes(), "the certificate received")?;
    if spki != key.public_key_der() {
        bail!("the CA answered with a certificate for another key; nothing was written");
    }
    Ok(())
}
