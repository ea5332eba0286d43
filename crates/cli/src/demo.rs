//! `mtls demo`: the whole story in one command — CA, certificates, an mTLS server and clients
//! exchanging the seed's messages, a pinned HostNameMismatch let through and an unpinned one
//! refused, a revocation hot-reloaded and refused on both sides, a foreign CA refused — then a
//! table of what was expected and what was seen. Exit 0 only if everything was seen.

mod client;
mod online;
mod report;
mod seen;
mod served;
mod story;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args)]
pub struct DemoArgs {
    /// Work in DIR (kept) instead of a temporary directory (removed).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// How many mutual-TLS clients (at least 1).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
    clients: u32,
    /// Play only the second act: the CA online (token enrollment, renewal by `mtls renew
    /// --daemon`, revocation through the API, `mtls serve --crl-url`).
    #[arg(long)]
    online: bool,
}

/// Plays the story in DIR (or a temporary directory) and prints the summary table; fails if an
/// expected outcome was not seen.
pub fn run(a: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let clients = a.clients.max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let checks = match a.online {
        true => rt.block_on(story::online_only(&dir))?,
        false => rt.block_on(story::story(&dir, clients))?,
    };

    crate::out::say!(
        "\n== Summary ({:.1} s, files in {})",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    report::table(&checks);
    if a.dir.is_none() {
        crate::out::say!("   (temporary directory removed; use --dir DIR to keep the files)");
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} expected outcomes were not observed",
            checks.len()
        );
    }
    crate::out::say!("   all {} expected outcomes observed", checks.len());
    Ok(())
}

/// A directory removed when dropped.
struct TempDir(PathBuf);
impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new directory `mtls-demo-…` under the system's temporary directory.
fn tempdir() -> Result<TempDir> {
    let mut b = [0u8; 8];
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&(n as u64 ^ std::process::id() as u64).to_le_bytes());
        let p = base.join(format!("mtls-demo-{:016x}", u64::from_le_bytes(b)));
        if std::fs::create_dir(&p).is_ok() {
            return Ok(TempDir(p));
        }
    }
    anyhow::bail!(
        "could not create a temporary directory in {}",
        base.display()
    )
}
