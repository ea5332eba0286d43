//! Every numeric and enumerated flag of every subcommand, found by walking clap's definition
//! of the command line (so a new flag is covered without editing this file), given each value
//! of a list of hostile ones: the binary must refuse with clap's usage error (exit 2) or one
//! clean `error:` line (exit 1), and never panic.

use std::any::TypeId;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// The values every such flag gets (issue 9).
const VALUES: [&str; 9] = [
    "inf",
    "-inf",
    "NaN",
    "-1",
    "0",
    "1e300",
    "18446744073709551616",
    "",
    "abc",
];

/// (subcommand path, --flag) of every flag that takes a number, a duration or one of a set of
/// names.
fn swept_flags() -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    walk(&mtls_cli::command(), &mut Vec::new(), &mut out);
    out
}

fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    let numeric = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i64>(),
        TypeId::of::<f64>(),
        TypeId::of::<Duration>(),
    ];
    for arg in cmd.get_arguments() {
        let (Some(long), true) = (arg.get_long(), arg.get_action().takes_values()) else {
            continue;
        };
        let ty = arg.get_value_parser().type_id();
        let enumerated = !arg.get_possible_values().is_empty();
        if enumerated || numeric.iter().any(|t| ty == *t) {
            out.push((path.clone(), format!("--{long}")));
        }
    }
    for sub in cmd.get_subcommands() {
        path.push(sub.get_name().to_string());
        walk(sub, path, out);
        path.pop();
    }
}

/// Runs `mtls ARGS` in `env` with a deadline; returns (exit code, stdout + stderr).
fn run(env: &Env, args: &[String]) -> (Option<i32>, String) {
    let mut cmd = without_mtls_env(env!("CARGO_BIN_EXE_mtls"));
    cmd.current_dir(env.root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("mtls");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (
                None,
                format!("still running after 20 s: mtls {}", args.join(" ")),
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

#[test]
fn every_numeric_and_enumerated_flag_refuses_hostile_values_without_panicking() {
    let flags = swept_flags();
    // The walk must find the flags the issue names, or it is not walking at all.
    for (path, flag) in [
        ("connect", "--handshake-timeout"),
        ("connect", "--interval"),
        ("serve", "--heartbeat"),
        ("serve", "--verify"),
        ("serve", "--tls-min"),
        ("ca sign", "--days"),
        ("ca crl", "--days"),
        ("ca init", "--key-type"),
    ] {
        assert!(
            flags.iter().any(|(p, f)| p.join(" ") == path && f == flag),
            "{path} {flag} not found among {flags:?}"
        );
    }
    let cases: Vec<Vec<String>> = flags
        .iter()
        .flat_map(|(path, flag)| {
            VALUES.iter().map(move |v| {
                let mut a = path.clone();
                a.push(format!("{flag}={v}"));
                a
            })
        })
        .collect();
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for part in cases.chunks(cases.len().div_ceil(4)) {
            let failures = &failures;
            s.spawn(move || {
                let env = Env::new();
                for args in part {
                    let (code, text) = run(&env, args);
                    let clean = match code {
                        Some(2) => text.contains("error:"),
                        Some(1) => text.lines().any(|l| l.starts_with("error: ")),
                        _ => false,
                    };
                    if !clean || text.contains("panicked") {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("mtls {} -> {code:?}\n{text}", args.join(" ")));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} flags x {} values refused cleanly",
        flags.len(),
        VALUES.len()
    );
}

/// The panics the issue reported, each now refused at parse time naming the flag and range.
#[test]
fn durations_that_panicked_are_refused_naming_the_flag() {
    let env = Env::new();
    for (args, flag) in [
        (
            vec![
                "connect",
                "127.0.0.1:1",
                "--ca",
                "x",
                "--handshake-timeout",
                "inf",
            ],
            "--handshake-timeout",
        ),
        (
            vec!["connect", "127.0.0.1:1", "--ca", "x", "--interval", "inf"],
            "--interval",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cert",
                "c",
                "--key",
                "k",
                "--ca",
                "x",
                "--heartbeat",
                "1e20",
            ],
            "--heartbeat",
        ),
    ] {
        let o = env.mtls(&args).run();
        assert_eq!(o.code, Some(2), "{o:#?}");
        assert!(
            o.stderr.contains(flag) && o.stderr.contains("out of range"),
            "{}",
            o.stderr
        );
        assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    }
}
