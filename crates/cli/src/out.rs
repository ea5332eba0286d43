//! How the binary talks: results on stdout, notes/warnings/errors on stderr, one line each.

/// Prints an error as one line: the chain of causes joined by ": ", then the command-line
/// remedy for the libraries' typed errors (libraries do not know our flags).
pub fn error(e: &anyhow::Error) {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    if let Some(r) = remedy(e) {
        s.push_str(" — ");
        s.push_str(r);
    }
    eprintln!("error: {s}");
}

/// What to type instead, for errors whose fix is a flag.
fn remedy(e: &anyhow::Error) -> Option<&'static str> {
    let pki = e
        .chain()
        .find_map(|c| c.downcast_ref::<mtls_pki::Error>())?;
    Some(match pki {
        mtls_pki::Error::SanRequired { .. } => "give --san DNS:<host> or --san IP:<address>",
        mtls_pki::Error::LifetimeOutOfRange { .. } => "give a smaller --days or --validity",
        mtls_pki::Error::CaExists { .. } => "give another --dir",
        mtls_pki::Error::CaMissing { .. } => {
            "create one with `mtls ca init --dir DIR`, or give --dir DIR / set MTLS_CA_DIR"
        }
        _ => return None,
    })
}

/// `text` with every control character escaped (`\n`, `\r`, `\t`, `\x1b`, `\u{85}`), the
/// Unicode bidirectional controls and line separators too, and `\` as `\\`, for text that came
/// from a peer or a certificate and is printed as one log line: a CN or a received line must not
/// be able to start a forged line, overprint one (`\r`, ANSI escapes) or reorder it on screen.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    // Bidirectional overrides and isolates, and the line and paragraph separators (which some
    // viewers break lines at).
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}');
    if !text.chars().any(|c| c.is_control() || bidi(c) || c == '\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // A peer's literal backslash must not read as one of our escapes.
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || bidi(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Prints a warning.
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

/// Prints a note.
pub fn note(msg: &str) {
    eprintln!("note: {msg}");
}

/// Writes one line to stdout. A closed pipe (`mtls ca list | head -1`) ends the program quietly
/// with status 0 instead of panicking; any other write error ends it with status 1.
pub fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` for results: see [`line`].
macro_rules! say {
    ($($arg:tt)*) => { $crate::out::line(format_args!($($arg)*)) };
}
pub(crate) use say;

/// Refuses before any work is done when `path` cannot be created: it exists (unless
/// `overwrite`), or its directory does not.
pub fn check_new_file(path: &std::path::Path, overwrite: bool) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{} is a directory; give a file name", path.display());
    }
    if !overwrite && path.exists() {
        anyhow::bail!(
            "{} already exists; refusing to overwrite it",
            path.display()
        );
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "{}: the directory {} does not exist; create it first",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Refuses before any work is done when `dir` is not a directory and cannot be made one
/// (its parent must exist; `dir` itself is created only once there is something to write).
pub fn check_out_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            anyhow::bail!("{} is not a directory", dir.display());
        }
        return Ok(());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "{}: the directory {} does not exist; create it first",
            dir.display(),
            parent.display()
        );
    }
    Ok(())
}
