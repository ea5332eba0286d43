//! Refusals: a command that must fail with one `error:` line and leave every file (the CA's
//! included) exactly as it was.

use super::{Cmd, Env, Out, assert_same, words};

/// Runs `cmd`, which must be refused: exit code 1, nothing on stdout, exactly one stderr line
/// starting with `error: ` containing every string in `needles` (lines starting with one of
/// `allowed` may precede it), no panic, no file under the test directory created, changed or
/// removed (the CA directory included, byte for byte), and `mtls ca list --json` unchanged.
#[track_caller]
pub fn refused_cmd(env: &Env, cmd: Cmd, allowed: &[&str], needles: &[&str]) -> Out {
    let list = env.list("ca", &[]);
    let before = env.snapshot();
    let out = cmd.run().with_error(allowed, needles);
    assert_same(&before, &env.snapshot());
    assert_eq!(list, env.list("ca", &[]), "ca list changed");
    out
}

/// `mtls ARGS`, refused (see [`refused_cmd`]).
#[track_caller]
pub fn refused(env: &Env, args: &[&str], needles: &[&str]) -> Out {
    refused_cmd(env, env.mtls(args), &[], needles)
}

/// `mtls ca sign --dir ca CSR --profile server --out out.crt`, refused.
#[track_caller]
pub fn sign_refused(env: &Env, csr: &str, needles: &[&str]) -> Out {
    let cmd = format!("ca sign --dir ca {csr} --profile server --out out.crt");
    refused(env, &words(&cmd), needles)
}
