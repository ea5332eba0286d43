//! How the binary talks: results on stdout, notes/warnings/errors on stderr, one line each.

/// Prints an error as one line: the chain of causes joined by ": ".
pub fn error(e: &anyhow::Error) {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    eprintln!("error: {s}");
}

/// Prints a warning.
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
}

/// Prints a note.
pub fn note(msg: &str) {
    eprintln!("note: {msg}");
}
