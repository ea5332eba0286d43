//! A reader for the parts of `openssl.cnf` that `openssl ca` uses: the `[ ca ]` section, the
//! default CA section's paths and its policy section. Values with `$var` / `$dir` are expanded.
//!
//! `.include` follows OpenSSL 3 (config(5)): `.include FILE`, `.include = FILE`, a directory
//! (its `*.cnf` / `*.conf` files, not subdirectories), `$var` expansion in the path, relative
//! paths under `OPENSSL_CONF_INCLUDE` or `.pragma includedir`, and `.pragma abspath`. An
//! included file continues the section it was included in. A file that cannot be found is
//! skipped, as openssl skips it, and named in [`Cnf::notes`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::policy::{Policy, Rule};

/// The longest value after `$var` expansion, as in OpenSSL (`MAX_CONF_VALUE_LENGTH`).
pub const MAX_VALUE_LEN: usize = 65536;

/// How deep `.include` may nest. OpenSSL has no limit; a file including itself would loop.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// How many `.include` directives one configuration may follow in all. Nesting alone is
/// bounded by [`MAX_INCLUDE_DEPTH`]; this bounds a file that includes another many times over.
pub const MAX_INCLUDES: usize = 256;

/// What an include path names, as [`Cnf::parse_with`]'s reader finds it.
#[derive(Debug, Clone)]
pub enum Included {
    /// A file and its text.
    File(String),
    /// A directory: its `.cnf` / `.conf` files (path, text), in name order.
    Dir(Vec<(PathBuf, String)>),
    /// Nothing readable there: why.
    Missing(String),
}

/// A parsed configuration file: section name -> (key -> value), in file order.
#[derive(Debug, Default, Clone)]
pub struct Cnf {
    sections: HashMap<String, Vec<(String, String)>>,
    notes: Vec<String>,
}

/// Parser state carried across included files.
struct State<'r> {
    cnf: Cnf,
    section: String,
    abspath: bool,
    dollarid: bool,
    includedir: Option<String>,
    env_include: Option<String>,
    /// `.include` directives followed so far.
    reads: usize,
    read: &'r mut dyn FnMut(&Path) -> Included,
}

impl Cnf {
    /// Parses openssl.cnf text without following `.include` (each is named in
    /// [`Cnf::notes`]). `what` names the file in errors.
    pub fn parse(text: &str, what: &str) -> Result<Cnf> {
        Self::parse_with(text, what, None, &mut |p| {
            Included::Missing(format!("{} was not read (no include reader)", p.display()))
        })
    }

    /// Reads `path` and every file it includes from the file system. Relative include paths
    /// are taken as openssl takes them (under `OPENSSL_CONF_INCLUDE`, else the includedir
    /// pragma, else the working directory), and failing that next to `path`.
    pub fn load(path: &Path) -> Result<Cnf> {
        let text = String::from_utf8_lossy(&crate::fsutil::read(path)?).into_owned();
        let env = std::env::var("OPENSSL_CONF_INCLUDE").ok();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut read = |p: &Path| read_include(p, &base);
        Self::parse_with(&text, &path.display().to_string(), env, &mut read)
    }

    /// Parses `text`, reading included paths with `read`. `env_include` is the value of
    /// `OPENSSL_CONF_INCLUDE`, if any.
    pub fn parse_with(
        text: &str,
        what: &str,
        env_include: Option<String>,
        read: &mut dyn FnMut(&Path) -> Included,
    ) -> Result<Cnf> {
        let mut st = State {
            cnf: Cnf::default(),
            section: String::from("default"),
            abspath: false,
            dollarid: false,
            includedir: None,
            env_include,
            reads: 0,
            read,
        };
        st.parse_text(text, what, 0, false)?;
        Ok(st.cnf)
    }

    /// What the parse could not do: includes that were not found or not followed.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The value of `key` in `section` (last one wins, as in openssl).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .get(section)?
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every `key = value` of `section`, in order.
    pub fn section(&self, section: &str) -> Option<&[(String, String)]> {
        self.sections.get(section).map(|v| v.as_slice())
    }

    /// The default CA section's name (`[ ca ] default_ca`), or `CA_default`.
    pub fn default_ca(&self) -> String {
        self.get("ca", "default_ca")
            .unwrap_or("CA_default")
            .to_string()
    }

    /// The default CA's policy, converted. `None` when the config names no policy.
    pub fn policy(&self, what: &str) -> Result<Option<Policy>> {
        let ca = self.default_ca();
        let Some(name) = self.get(&ca, "policy") else {
            return Ok(None);
        };
        let fields = self.section(name).ok_or_else(|| {
            Error::decode(
                what,
                "openssl config",
                format!("policy section [{name}] is missing"),
            )
        })?;
        let mut pairs = Vec::new();
        for (k, v) in fields {
            let rule = match v.to_ascii_lowercase().as_str() {
                "match" => Rule::Match,
                "supplied" => Rule::Supplied,
                "optional" => Rule::Optional,
                other => {
                    return Err(Error::decode(
                        what,
                        "openssl config",
                        format!("[{name}] {k} = {other}: expected match, supplied or optional"),
                    ));
                }
            };
            pairs.push((k.as_str(), rule));
        }
        Policy::from_pairs(pairs).map(Some)
    }

    /// Expands `$var`, `${var}`, `$(var)` and `$section::var`; `None` when the result would
    /// exceed [`MAX_VALUE_LEN`] (each line can double the length of the last: `a = $a$a`).
    fn expand(&self, section: &str, value: &str, dollarid: bool) -> Option<String> {
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(j) => (&inner[..j], &inner[j + 1..]),
                    None => ("", after),
                }
            } else if let Some(inner) = after.strip_prefix('(') {
                match inner.find(')') {
                    Some(j) => (&inner[..j], &inner[j + 1..]),
                    None => ("", after),
                }
            } else if dollarid {
                // `.pragma dollarid:on`: `$` is part of names; only `${}` / `$()` expand.
                out.push('$');
                rest = after;
                continue;
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            let (sec, key) = name.split_once("::").unwrap_or((section, name));
            match self.get(sec, key).or_else(|| self.get("default", key)) {
                Some(v) if !name.is_empty() => {
                    if out.len() + v.len() > MAX_VALUE_LEN {
                        return None;
                    }
                    out.push_str(v)
                }
                _ => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = tail;
        }
        out.push_str(rest);
        (out.len() <= MAX_VALUE_LEN).then_some(out)
    }
}

impl State<'_> {
    fn parse_text(&mut self, text: &str, what: &str, depth: usize, from_dir: bool) -> Result<()> {
        for (n, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim().to_string();
            let bad =
                |d: String| Error::decode(what, "openssl config", format!("line {}: {d}", n + 1));
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| bad("unclosed [section".into()))?;
                self.section = name.trim().to_string();
                continue;
            }
            if let Some(arg) = directive(&line, ".include") {
                self.include(arg, what, n + 1, depth, from_dir)?;
                continue;
            }
            if let Some(arg) = directive(&line, ".pragma") {
                self.pragma(arg);
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                if line.starts_with('.') {
                    self.cnf.notes.push(format!(
                        "{what} line {}: directive {line:?} is not one openssl knows; ignored",
                        n + 1
                    ));
                    continue;
                }
                return Err(bad(format!("expected key = value, found {line:?}")));
            };
            let key = k.trim().to_string();
            let mut expanded = String::new();
            for (expand, part) in value_parts(v.trim()) {
                let part = match expand {
                    true => self.cnf.expand(&self.section, &part, self.dollarid),
                    false => Some(part),
                };
                match part {
                    Some(p) if expanded.len() + p.len() <= MAX_VALUE_LEN => expanded.push_str(&p),
                    _ => {
                        return Err(bad(format!(
                            "the value of {key} is longer than {MAX_VALUE_LEN} bytes after $-expansion"
                        )));
                    }
                }
            }
            self.cnf
                .sections
                .entry(self.section.clone())
                .or_default()
                .push((key, expanded));
        }
        Ok(())
    }

    /// `.pragma [=] name:value`: abspath, includedir and dollarid; others do not change what
    /// `openssl ca` reads.
    fn pragma(&mut self, arg: &str) {
        let Some((name, value)) = arg.split_once(':') else {
            return;
        };
        let on = matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "on");
        match name.trim() {
            "abspath" => self.abspath = on,
            "dollarid" => self.dollarid = on,
            "includedir" => self.includedir = Some(value.trim().to_string()),
            _ => {}
        }
    }

    fn include(
        &mut self,
        arg: &str,
        what: &str,
        line: usize,
        depth: usize,
        from_dir: bool,
    ) -> Result<()> {
        let bad = |d: String| Error::decode(what, "openssl config", format!("line {line}: {d}"));
        // The path is expanded in the default section, as openssl's str_copy(conf, NULL, …).
        let mut expanded = String::new();
        for (expand, part) in value_parts(arg.trim()) {
            let part = match expand {
                true => self.cnf.expand("default", &part, self.dollarid),
                false => Some(part),
            };
            match part {
                Some(p) if expanded.len() + p.len() <= MAX_VALUE_LEN => expanded.push_str(&p),
                _ => {
                    return Err(bad(format!(
                        "the .include path is longer than {MAX_VALUE_LEN} bytes"
                    )));
                }
            }
        }
        if expanded.is_empty() {
            return Err(bad(".include needs a path".into()));
        }
        let mut path = PathBuf::from(&expanded);
        if path.is_relative() {
            if self.abspath {
                return Err(bad(format!(
                    ".include {expanded}: `.pragma abspath:true` requires an absolute path"
                )));
            }
            if let Some(base) = self.env_include.as_ref().or(self.includedir.as_ref()) {
                path = Path::new(base).join(path);
            }
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(bad(format!(
                ".include {} nests deeper than {MAX_INCLUDE_DEPTH} files (does a file include itself?)",
                path.display()
            )));
        }
        self.reads += 1;
        if self.reads > MAX_INCLUDES {
            return Err(bad(format!(
                ".include {}: more than {MAX_INCLUDES} includes in one configuration",
                path.display()
            )));
        }
        match (self.read)(&path) {
            Included::File(text) => {
                self.parse_text(&text, &path.display().to_string(), depth + 1, from_dir)
            }
            Included::Dir(_) if from_dir => {
                // config(5): a directory named from a file read from a directory is ignored.
                self.cnf.notes.push(format!(
                    "{what} line {line}: .include of directory {} inside a directory include is ignored, as openssl ignores it",
                    path.display()
                ));
                Ok(())
            }
            Included::Dir(files) => {
                for (file, text) in files {
                    self.parse_text(&text, &file.display().to_string(), depth + 1, true)?;
                }
                Ok(())
            }
            Included::Missing(why) => {
                self.cnf.notes.push(format!(
                    "{what} line {line}: .include {}: {why}; skipped, as openssl skips it",
                    path.display()
                ));
                Ok(())
            }
        }
    }
}

/// The argument of `.NAME`, `.NAME arg` or `.NAME = arg` (the `=` is optional, config(5)).
fn directive<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?;
    if !(rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == '=')) {
        return None;
    }
    let rest = rest.trim_start();
    Some(rest.strip_prefix('=').unwrap_or(rest).trim())
}

/// Reads an include target from the file system; a relative path that is not found from the
/// working directory is tried next to the including configuration file.
fn read_include(path: &Path, base: &Path) -> Included {
    let candidates = if path.is_relative() && !path.exists() {
        vec![path.to_path_buf(), base.join(path)]
    } else {
        vec![path.to_path_buf()]
    };
    let Some(found) = candidates.iter().find(|p| p.exists()) else {
        return Included::Missing("no such file or directory".into());
    };
    if found.is_dir() {
        let mut files = Vec::new();
        let entries = match std::fs::read_dir(found) {
            Ok(e) => e,
            Err(e) => return Included::Missing(e.to_string()),
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                p.is_file() && (name.ends_with(".cnf") || name.ends_with(".conf"))
            })
            .collect();
        names.sort();
        for p in names {
            match crate::fsutil::read(&p) {
                Ok(b) => files.push((p, String::from_utf8_lossy(&b).into_owned())),
                Err(e) => return Included::Missing(e.to_string()),
            }
        }
        return Included::Dir(files);
    }
    match crate::fsutil::read(found) {
        Ok(b) => Included::File(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => Included::Missing(e.to_string()),
    }
}

/// An include reader over files held in memory, for [`Cnf::parse_with`]: a path names one of
/// `files`, or a directory holding some of them (its `.cnf` / `.conf` files, in name order, as
/// openssl lists a directory). Tests and fuzzing read configurations this way, without a disk.
pub fn memory_reader(files: Vec<(PathBuf, String)>) -> impl FnMut(&Path) -> Included {
    let map: HashMap<PathBuf, String> = files.into_iter().collect();
    move |p: &Path| {
        if let Some(t) = map.get(p) {
            return Included::File(t.clone());
        }
        let mut in_dir: Vec<(PathBuf, String)> = map
            .iter()
            .filter(|(k, _)| k.parent() == Some(p))
            .filter(|(k, _)| {
                k.extension().is_some_and(|e| {
                    e.eq_ignore_ascii_case("cnf") || e.eq_ignore_ascii_case("conf")
                })
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if in_dir.is_empty() {
            Included::Missing("no such file or directory".into())
        } else {
            in_dir.sort();
            Included::Dir(in_dir)
        }
    }
}

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
fn strip_comment(line: &str) -> &str {
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
fn value_parts(v: &str) -> Vec<(bool, String)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_stock_ca_section() {
        let text = "[ ca ]\ndefault_ca = CA_default # comment\n[ CA_default ]\ndir = ./demoCA\n\
                    database = $dir/index.txt\npolicy = policy_match\n[ policy_match ]\n\
                    countryName = match\nstateOrProvinceName = match\norganizationName = match\n\
                    organizationalUnitName = optional\ncommonName = supplied\nemailAddress = optional\n";
        let c = Cnf::parse(text, "t").unwrap();
        assert_eq!(c.get("CA_default", "database"), Some("./demoCA/index.txt"));
        let p = c.policy("t").unwrap().unwrap();
        assert_eq!(p.rule(&crate::name::Attr::Country), Some(Rule::Match));
        assert_eq!(p.rule(&crate::name::Attr::Locality), None);
        assert!(Cnf::parse("[oops\n", "t").is_err());
        assert!(Cnf::parse("novalue\n", "t").is_err());
    }

    fn files(map: &[(&str, &str)]) -> impl FnMut(&Path) -> Included + use<> {
        memory_reader(
            map.iter()
                .map(|(k, v)| (PathBuf::from(k), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn an_include_bomb_is_bounded() {
        // Each file includes the next eight times, 12 deep: 8^12 parses without MAX_INCLUDES.
        let texts: Vec<(String, String)> = (1..=12)
            .map(|i| {
                (
                    format!("/f/{i}.cnf"),
                    format!(".include /f/{}.cnf\n", i + 1).repeat(8),
                )
            })
            .collect();
        let map: Vec<(&str, &str)> = texts
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let mut read = files(&map);
        let e = Cnf::parse_with(&texts[0].1, "main.cnf", None, &mut read).unwrap_err();
        assert!(e.to_string().contains("more than 256 includes"), "{e}");
    }

    #[test]
    fn values_read_as_openssl_reads_them() {
        let text = "dir = /ca\n[s]\na = \"x # y\" # comment\nb = x\\#y\nc = \"$dir\" $dir/'q r'\nd = \\\"x\n";
        let c = Cnf::parse(text, "t").unwrap();
        assert_eq!(c.get("s", "a"), Some("x # y"));
        assert_eq!(c.get("s", "b"), Some("x#y"));
        assert_eq!(c.get("s", "c"), Some("$dir /ca/q r"));
        assert_eq!(c.get("s", "d"), Some("\"x"));
        for v in [
            "plain",
            "a # b",
            "$dir",
            "back\\slash",
            "say \"hi\"",
            "it's",
        ] {
            let c = Cnf::parse(&format!("[s]\nk = {}\n", quote(v)), "t").unwrap();
            assert_eq!(c.get("s", "k"), Some(v), "{v}");
        }
    }

    #[test]
    fn includes_follow_openssl_3() {
        let main = "base = /etc/ssl\n[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\n\
                    policy = policy_match\n.include $base/policy.cnf\n.include=/etc/ssl/conf.d\n\
                    .include /nowhere.cnf\n";
        let mut read = files(&[
            // Continues [ CA_default ] until it opens a section of its own.
            (
                "/etc/ssl/policy.cnf",
                "database = /db/index.txt\n[ policy_match ]\ncommonName = supplied\n",
            ),
            (
                "/etc/ssl/conf.d/a.cnf",
                "[ extra ]\nx = 1\n.include /etc/ssl/conf.d\n",
            ),
            ("/etc/ssl/conf.d/b.conf", "[ extra ]\ny = 2\n"),
        ]);
        let c = Cnf::parse_with(main, "main.cnf", None, &mut read).unwrap();
        assert_eq!(c.get("CA_default", "database"), Some("/db/index.txt"));
        assert!(c.policy("t").unwrap().is_some());
        assert_eq!(
            (c.get("extra", "x"), c.get("extra", "y")),
            (Some("1"), Some("2"))
        );
        let notes = c.notes().join("\n");
        assert!(
            notes.contains("/nowhere.cnf") && notes.contains("skipped"),
            "{notes}"
        );
        assert!(
            notes.contains("inside a directory include is ignored"),
            "{notes}"
        );

        // Relative paths: OPENSSL_CONF_INCLUDE, then the includedir pragma.
        let mut read = files(&[("/inc/p.cnf", "k = v\n")]);
        let c = Cnf::parse_with(".include p.cnf\n", "m", Some("/inc".into()), &mut read).unwrap();
        assert_eq!(c.get("default", "k"), Some("v"));
        let c = Cnf::parse_with(
            ".pragma includedir:/inc\n.include = p.cnf\n",
            "m",
            None,
            &mut read,
        )
        .unwrap();
        assert_eq!(c.get("default", "k"), Some("v"));
        let e = Cnf::parse_with(
            ".pragma = abspath:true\n.include p.cnf\n",
            "m",
            None,
            &mut read,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2") && e.contains("absolute"), "{e}");

        // A file including itself is stopped, naming the depth.
        let mut read = files(&[("/loop.cnf", ".include /loop.cnf\n")]);
        let e = Cnf::parse_with(".include /loop.cnf\n", "m", None, &mut read)
            .unwrap_err()
            .to_string();
        assert!(e.contains("deeper than 16"), "{e}");
    }

    #[test]
    fn expansion_is_bounded() {
        // Each line doubles the value: 2^40 bytes without a bound.
        let mut text = String::from("a = xxxxxxxxxxxxxxxx\n");
        for _ in 0..40 {
            text.push_str("a = $a$a\n");
        }
        let e = Cnf::parse(&text, "t").unwrap_err().to_string();
        assert!(e.contains("line 14") && e.contains("65536"), "{e}");
        let ok = "a = xxxxxxxxxxxxxxxx\n".to_string() + &"a = $a$a\n".repeat(12);
        assert_eq!(
            Cnf::parse(&ok, "t")
                .unwrap()
                .get("default", "a")
                .unwrap()
                .len(),
            65536
        );
    }
}
