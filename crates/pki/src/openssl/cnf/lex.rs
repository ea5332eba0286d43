//! The lexical rules of openssl.cnf values (OpenSSL's `conf_def.c`): comments, quotes and
//! escapes, and the quoting that writes a value back.

/// A value as openssl.cnf must spell it to read it back unchanged: in double quotes, with `\`
/// and `"` escaped, when it holds a character the parser would otherwise take as a comment
/// (`#`), an expansion (`$`), an escape or a quote.
pub(crate) fn quote(v: &str) -> String {
    if !v.contains(['#', '$', '\\', '"', '\'']) {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The line up to its comment: a `#` outside quotes that no `\` escapes (openssl's
/// `clear_comments`).
pub(super) fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                chars.next();
            }
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A value cut as openssl's `str_copy` reads it: quoted parts and `\`-escaped characters are
/// literal (`false`), the rest is subject to `$` expansion (`true`).
pub(super) fn value_parts(v: &str) -> Vec<(bool, String)> {
    let mut parts: Vec<(bool, String)> = Vec::new();
    let mut push = |expand: bool, c: char| match parts.last_mut() {
        Some((e, s)) if *e == expand => s.push(c),
        _ => parts.push((expand, c.to_string())),
    };
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let q = c;
                while let Some(c) = chars.next() {
                    match c {
                        c if c == q => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                push(false, e);
                            }
                        }
                        c => push(false, c),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('n') => push(false, '\n'),
                Some('r') => push(false, '\r'),
                Some('t') => push(false, '\t'),
                Some('b') => push(false, '\u{8}'),
                Some(e) => push(false, e),
                None => {}
            },
            c => push(true, c),
        }
    }
    parts
}
