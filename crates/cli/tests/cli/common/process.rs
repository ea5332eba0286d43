//! Running processes: [`Cmd`] (a command about to run), [`Out`] (what a finished one printed,
//! with the assertions of the CLI's exit and error contract) and [`finish`] for spawned ones.

use std::ffi::OsStr;
use std::process::{Child, Command, Output, Stdio};

/// The output of one finished process.
#[derive(Debug, Clone)]
pub struct Out {
    /// What the command line was, for failure messages.
    pub what: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// The output of the finished process `what`.
    pub fn from_output(what: String, o: Output) -> Out {
        Out {
            what,
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// The command line, exit code and output, for failure messages.
    pub(super) fn dump(&self) -> String {
        format!(
            "{}\n  exit: {:?}\n  stdout:\n{}\n  stderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }

    fn assert_no_panic(&self) {
        assert!(
            !self.stdout.contains("panicked") && !self.stderr.contains("panicked"),
            "the process panicked: {}",
            self.dump()
        );
    }

    /// Asserts exit code 0 (and no panic).
    #[track_caller]
    pub fn success(self) -> Self {
        self.assert_no_panic();
        assert_eq!(self.code, Some(0), "expected success: {}", self.dump());
        self
    }

    /// Asserts exit code 1 (and no panic).
    #[track_caller]
    pub fn failure(self) -> Self {
        self.assert_no_panic();
        assert_eq!(self.code, Some(1), "expected exit code 1: {}", self.dump());
        self
    }

    /// Asserts a non-zero exit (for openssl, whose failure codes vary).
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a failure: {}",
            self.dump()
        );
        self
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Asserts the failure contract of the CLI: exit code 1, nothing on stdout, and stderr
    /// exactly one line, starting with `error:`, containing every string in `needles`.
    #[track_caller]
    pub fn one_error(self, needles: &[&str]) -> Self {
        self.with_error(&[], needles)
    }

    /// Like [`Out::one_error`] but stderr may also hold lines starting with one of `allowed`
    /// (e.g. `warning:`) before the error; exactly one `error:` line, and it is the last.
    #[track_caller]
    pub fn with_error(self, allowed: &[&str], needles: &[&str]) -> Self {
        let out = self.failure();
        assert!(
            out.stdout.trim().is_empty(),
            "a failing command printed on stdout: {}",
            out.dump()
        );
        let lines = out.stderr_lines();
        let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "expected one error line: {}", out.dump());
        assert_eq!(
            lines.last(),
            errors.first().copied(),
            "the error must be the last line: {}",
            out.dump()
        );
        for l in &lines {
            assert!(
                l.starts_with("error: ") || allowed.iter().any(|a| l.starts_with(a)),
                "unexpected stderr line {l:?}: {}",
                out.dump()
            );
        }
        let err = errors[0];
        for n in needles {
            assert!(
                err.contains(n),
                "the error line lacks {n:?}: {err:?}\n{}",
                out.dump()
            );
        }
        out
    }

    /// Asserts clap's refusal of a bad argument at parse time: exit code 2, nothing on stdout,
    /// stderr starting with `error:` and containing every string in `needles` (clap adds the
    /// allowed values or range and a usage line), no panic.
    #[track_caller]
    pub fn usage_error(self, needles: &[&str]) -> Self {
        self.assert_no_panic();
        assert_eq!(
            self.code,
            Some(2),
            "expected a usage error: {}",
            self.dump()
        );
        assert!(self.stdout.trim().is_empty(), "{}", self.dump());
        assert!(self.stderr.starts_with("error: "), "{}", self.dump());
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}: {}",
                self.dump()
            );
        }
        self
    }

    /// The single `error:` line.
    pub fn error_line(&self) -> String {
        self.stderr_lines()
            .into_iter()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_default()
            .to_string()
    }
}

/// A command about to run.
pub struct Cmd {
    pub(super) cmd: Command,
    pub(super) what: String,
}

impl Cmd {
    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, k: &str) -> Self {
        self.cmd.env_remove(k);
        self
    }

    /// Runs to completion.
    pub fn run(mut self) -> Out {
        let o = self
            .cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.what));
        Out::from_output(self.what, o)
    }

    /// Starts the process with stdout and stderr piped; see [`finish`].
    pub fn spawn(mut self) -> (String, Child) {
        let child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.what));
        (self.what, child)
    }
}

/// Waits for a spawned process.
pub fn finish((what, child): (String, Child)) -> Out {
    let o = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"));
    Out::from_output(what, o)
}

/// A [`Command`] for `program` with every `MTLS_*` variable of the surrounding environment
/// removed.
pub fn without_mtls_env(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MTLS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}
