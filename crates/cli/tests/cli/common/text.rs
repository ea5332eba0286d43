//! Reading what commands print: words of a command line, serials, `openssl -text` extension
//! values, and PEM encoding.

/// The whitespace-separated words of `s` (for command lines without spaces in arguments).
pub fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// The serial from `issued … serial X …` / `signed … serial X …` output.
pub fn serial_from_output(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "serial")
        .nth(1)
        .unwrap_or_else(|| panic!("no serial in {stdout:?}"))
        .to_string()
}

/// The value printed on the line after `header` in `openssl … -text` output (trimmed, with a
/// `keyid:` prefix removed).
#[track_caller]
pub fn ext_value(text: &str, header: &str) -> String {
    let mut lines = text.lines();
    lines
        .find(|l| l.trim_start().starts_with(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{text}"));
    let v = lines.next().unwrap_or_default().trim();
    v.strip_prefix("keyid:").unwrap_or(v).trim().to_string()
}

/// The header line itself (e.g. to see `critical`).
#[track_caller]
pub fn ext_header(text: &str, header: &str) -> String {
    text.lines()
        .find(|l| l.trim_start().starts_with(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{text}"))
        .trim()
        .to_string()
}

/// True for 32 uppercase hex digits whose first digit is below 8 (a positive 128-bit integer
/// encoded in 16 bytes).
pub fn is_serial_128(s: &str) -> bool {
    s.len() == 32
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        && s.chars()
            .next()
            .and_then(|c| c.to_digit(16))
            .is_some_and(|d| d < 8)
}

/// PEM-encodes `der` under `label` (64-column base64).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                b64.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}
