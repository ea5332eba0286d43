//! Durable, atomic file writes.
//!
//! Every file mtls writes goes through [`write_atomic`]: a temporary file in the same directory,
//! fsync, rename, fsync of the directory. A crash leaves either the old file or the new one, never
//! a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// File permissions for [`write_atomic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 0644: certificates, CRLs, configuration.
    Public,
    /// 0600: private keys.
    Secret,
}

/// Writes `data` to `path` atomically (temp file + fsync + rename + directory fsync).
///
/// With `overwrite == false` an existing file is an error and is left untouched.
pub fn write_atomic(path: &Path, data: &[u8], mode: Mode, overwrite: bool) -> Result<()> {
    if !overwrite && path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; refusing to overwrite it (remove it or choose another name)",
            ),
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(
        ".{name}.tmp{}.{}",
        std::process::id(),
        unique_suffix()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(match mode {
                Mode::Public => 0o644,
                Mode::Secret => 0o600,
            });
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// fsyncs a directory so that a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, e))
}

fn unique_suffix() -> u64 {
    let mut b = [0u8; 8];
    // A failure of the system RNG only weakens the temp-name uniqueness; create_new still guards.
    let _ = aws_lc_rs::rand::fill(&mut b);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_secret_files_0600_and_refuses_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        write_atomic(&p, b"secret", Mode::Secret, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(write_atomic(&p, b"other", Mode::Secret, false).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        write_atomic(&p, b"new", Mode::Secret, true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        // No temp files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
