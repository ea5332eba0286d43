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

mod lex;
pub(crate) use lex::quote;
use lex::{strip_comment, value_parts};

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

#[cfg(test)]
mod tests;
