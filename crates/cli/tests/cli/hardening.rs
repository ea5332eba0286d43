//! Issue 9's smaller defects, through the binary: a failed name lookup reports the resolver's
//! own error.

use crate::common::*;

/// `mtls connect` to a name that does not resolve says what the resolver said, not a bare
/// "not found".
#[test]
fn a_failed_lookup_reports_the_resolvers_error() {
    let env = Env::new();
    env.root_ca();
    let o = env
        .mtls(&["connect", "no-such-host.invalid:8443", "--ca", "ca/ca.crt"])
        .run();
    assert_eq!(o.code, Some(1), "{o:#?}");
    let line = o.error_line();
    assert!(
        line.contains("host lookup of no-such-host.invalid"),
        "{line}"
    );
    assert!(!line.ends_with(": not found"), "{line}");
    assert!(
        line.contains("lookup") || line.contains("resolve") || line.contains("known"),
        "{line}"
    );
}

/// One key loader: `mtls serve` reads a legacy `Proc-Type: 4,ENCRYPTED` key (from
/// `openssl genrsa -des3 -traditional`), which the socket layer used to refuse, and says a
/// wrong passphrase is wrong.
#[test]
fn serve_reads_a_legacy_encrypted_key() {
    let env = Env::new();
    env.root_ca();
    env.write("kp.txt", "legacy secret\n");
    env.ssl(&[
        "genrsa",
        "-des3",
        "-traditional",
        "-passout",
        "pass:legacy secret",
        "-out",
        "legacy.key",
        "2048",
    ]);
    assert!(env.read("legacy.key").contains("Proc-Type: 4,ENCRYPTED"));
    env.ssl(&[
        "req",
        "-new",
        "-key",
        "legacy.key",
        "-passin",
        "pass:legacy secret",
        "-subj",
        &leaf_subject("legacy.example"),
        "-out",
        "legacy.csr",
    ]);
    env.ok(&[
        "ca",
        "sign",
        "--dir",
        "ca",
        "legacy.csr",
        "--profile",
        "server",
        "--san",
        "IP:127.0.0.1",
        "--out",
        "legacy.crt",
    ]);
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cert",
        "legacy.crt",
        "--key",
        "legacy.key",
        "--ca",
        "ca/ca.crt",
        "--key-passphrase-file",
        "kp.txt",
    ];
    let srv = crate::net::Proc::spawn("mtls serve (legacy key)", env.mtls_command(&args));
    srv.wait_for("listening on ");
    drop(srv);
    env.write("bad.txt", "not it\n");
    let mut bad = args.to_vec();
    let last = bad.len() - 1;
    bad[last] = "bad.txt";
    env.mtls(&bad)
        .run()
        .one_error(&["wrong passphrase", "legacy.key"]);
}
