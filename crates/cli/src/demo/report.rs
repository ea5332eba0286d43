//! What the demo prints: step headings, indented status lines, and the closing table of what
//! was expected and what was seen.

/// One expected outcome of the story and what was observed.
pub(super) struct Check {
    pub(super) what: String,
    pub(super) expected: String,
    pub(super) seen: String,
    pub(super) ok: bool,
}

/// Prints the heading of step `n`.
pub(super) fn step(n: u32, text: &str) {
    crate::out::say!("\n== {n}. {text}");
}

/// Prints an indented status line.
pub(super) fn say(text: &str) {
    crate::out::say!("   {text}");
}

/// Prints the table of checks: step, expected, result, seen.
pub(super) fn table(checks: &[Check]) {
    let w = checks
        .iter()
        .map(|c| c.what.len())
        .max()
        .unwrap_or(10)
        .max(10);
    crate::out::say!(
        "   {:<w$}  {:<34}  {:<6}  SEEN",
        "STEP",
        "EXPECTED",
        "RESULT"
    );
    for c in checks {
        crate::out::say!(
            "   {:<w$}  {:<34}  {:<6}  {}",
            c.what,
            c.expected,
            if c.ok { "ok" } else { "FAILED" },
            c.seen
        );
    }
}
