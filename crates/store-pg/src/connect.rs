//! Connecting: the URL parsed by rust-postgres, the password found as libpq finds it, errors
//! named with the URL (never its password).

use std::str::FromStr;

use postgres::{Client, Config, NoTls};

/// The URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    mtls_pki::store::backend::redact(url)
}

/// A [`mtls_pki::Error::Backend`] for `url`.
pub(crate) fn backend_error(
    url: &str,
    detail: impl Into<String>,
    retryable: bool,
) -> mtls_pki::Error {
    mtls_pki::Error::Backend {
        store: redact(url),
        detail: detail.into(),
        retryable,
    }
}

/// True for errors that a later attempt may not have: the connection broke, the server is
/// shutting down or starting, or the transaction lost a serialization race.
pub(crate) fn retryable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01"
        }
        // No SQLSTATE: an I/O error before or while talking to the server.
        None => e.as_db_error().is_none(),
    }
}

/// A readable sentence for a driver error: the server's message and hint when there is one.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = db.message().to_string();
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

/// The password for `cfg` from `PGPASSWORD`, else from the password file, as libpq does.
fn password_from_env(cfg: &Config) -> Option<String> {
    if let Ok(p) = std::env::var("PGPASSWORD") {
        return Some(p);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = cfg.get_hosts().first().map(|h| match h {
        postgres::config::Host::Tcp(s) => s.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    })?;
    let port = cfg.get_ports().first().copied().unwrap_or(5432).to_string();
    let db = cfg.get_dbname().unwrap_or(cfg.get_user().unwrap_or(""));
    let user = cfg.get_user().unwrap_or("");
    pgpass_lookup(&text, [&host, &port, db, user])
}

/// The password of the first `.pgpass` line matching `want` (host, port, database, user;
/// `*` matches anything, `\:` and `\\` are escapes).
fn pgpass_lookup(text: &str, want: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => cur.extend(chars.next()),
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() == 5
            && fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w)
        {
            return fields.pop();
        }
    }
    None
}

/// `url` without its `sslrootcert=PATH` query parameter (rust-postgres knows no such option),
/// and that path.
fn take_rootcert(url: &str) -> (String, Option<std::path::PathBuf>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("sslrootcert=") {
            Some(p) => {
                root = Some(std::path::PathBuf::from(p));
                false
            }
            None => true,
        })
        .collect();
    match kept.is_empty() {
        true => (base.to_string(), root),
        false => (format!("{base}?{}", kept.join("&")), root),
    }
}

/// The parsed configuration for `url`, with the user and password libpq would use, and the
/// roots for TLS (`sslrootcert`).
pub(crate) fn config(url: &str) -> mtls_pki::Result<(Config, Option<std::path::PathBuf>)> {
    let (clean, rootcert) = take_rootcert(url);
    let mut cfg = Config::from_str(&clean).map_err(|e| {
        backend_error(
            url,
            format!("not a PostgreSQL URL ({e}); give postgres://USER@HOST[:PORT]/DATABASE[?sslmode=require&sslrootcert=CA.pem]"),
            false,
        )
    })?;
    if cfg.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "postgres".into());
        cfg.user(&user);
    }
    if cfg.get_password().is_none()
        && let Some(p) = password_from_env(&cfg)
    {
        cfg.password(p);
    }
    cfg.connect_timeout(std::time::Duration::from_secs(10));
    cfg.application_name("mtls");
    Ok((cfg, rootcert))
}

/// Connects to `url`: over verified TLS with `sslmode=require` (libpq's verify-full; the
/// roots from `sslrootcert`, else the system's), in the clear otherwise (`disable`, or
/// `prefer`, which mtls does not try: an unverified TLS connection protects nothing).
pub(crate) fn connect(url: &str) -> mtls_pki::Result<Client> {
    let (cfg, rootcert) = config(url)?;
    let fail = |e: postgres::Error| {
        backend_error(url, format!("connecting: {}", describe(&e)), retryable(&e))
    };
    if cfg.get_ssl_mode() == postgres::config::SslMode::Require {
        let tls = crate::tls::MakeRustls::new(rootcert.as_deref())
            .map_err(|e| backend_error(url, e, false))?;
        return cfg.connect(tls).map_err(fail);
    }
    if rootcert.is_some() {
        return Err(backend_error(
            url,
            "sslrootcert without sslmode=require: add sslmode=require",
            false,
        ));
    }
    cfg.connect(NoTls).map_err(fail)
}

/// A plain client for `url`, for administration (tests creating and dropping databases,
/// `migrate-store` checks).
///
/// # Errors
///
/// [`mtls_pki::Error::Backend`] naming the URL.
pub fn connect_admin(url: &str) -> mtls_pki::Result<Client> {
    connect(url)
}

#[cfg(test)]
mod tests {
    use super::{pgpass_lookup, take_rootcert};

    #[test]
    fn sslrootcert_is_taken_out_of_the_url() {
        let (u, r) = take_rootcert("postgres://h/db?sslmode=require&sslrootcert=/etc/ca.pem");
        assert_eq!(
            (u.as_str(), r.as_deref()),
            (
                "postgres://h/db?sslmode=require",
                Some(std::path::Path::new("/etc/ca.pem"))
            )
        );
        let (u, r) = take_rootcert("postgres://h/db?sslrootcert=x");
        assert_eq!((u.as_str(), r), ("postgres://h/db", Some("x".into())));
    }

    #[test]
    fn pgpass_lines_match_as_libpq_matches_them() {
        let text = "# comment\nother:5432:*:*:no\n127.0.0.1:5432:ca:mtls:s\\:cret\n*:*:*:*:any\n";
        assert_eq!(
            pgpass_lookup(text, ["127.0.0.1", "5432", "ca", "mtls"]).as_deref(),
            Some("s:cret")
        );
        assert_eq!(
            pgpass_lookup(text, ["db", "1", "x", "y"]).as_deref(),
            Some("any")
        );
        assert_eq!(pgpass_lookup("a:b", ["a", "b", "c", "d"]), None);
    }
}
