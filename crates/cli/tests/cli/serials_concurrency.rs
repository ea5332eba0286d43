//! Serials: random, 128-bit, positive, distinct over a 200-certificate batch, and what
//! `openssl x509 -serial` shows equals what `mtls ca list --json` records. Concurrency: several
//! `mtls ca issue` / `ca sign` processes at the same moment on one CA all succeed.

use std::collections::BTreeSet;

use crate::common::*;

/// Serials of every certificate in a PEM bundle, as `openssl storeutl -text` prints them
/// (colon hex, converted to uppercase hex).
fn storeutl_serials(env: &Env, bundle: &str) -> Vec<String> {
    let text = env.ssl(&["storeutl", "-noout", "-text", "-certs", bundle]);
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "Serial Number:" {
            let v = lines.next().unwrap().trim();
            out.push(v.replace(':', "").to_ascii_uppercase());
        }
    }
    out
}

#[test]
fn batch_of_200_has_distinct_random_128_bit_serials() {
    const N: usize = 200;
    let env = Env::new();
    env.root_ca();
    // One request copied N times: even identical input gets distinct serials.
    let csr = env.mtls_csr("batch", &leaf_subject("batch.example"), &[]);
    let mut names = Vec::with_capacity(N);
    for i in 0..N {
        let name = format!("req/r{i:03}.csr");
        std::fs::create_dir_all(env.path("req")).unwrap();
        std::fs::copy(env.path(&csr), env.path(&name)).unwrap();
        names.push(name);
    }
    let mut args = vec![
        "ca",
        "sign",
        "--dir",
        "ca",
        "--profile",
        "server",
        "--out-dir",
        "D",
    ];
    args.extend(names.iter().map(String::as_str));
    let o = env.ok(&args);
    assert_eq!(
        o.stdout.trim(),
        format!("signed {N} certificates into D"),
        "{}",
        o.stdout
    );
    // One note per request (the SAN copied from the CN), no other noise.
    let notes = o.stderr_lines();
    assert_eq!(notes.len(), N, "{}", o.stderr);
    assert!(notes.iter().all(|l| l.starts_with("note: ")));

    let mut files: Vec<String> = std::fs::read_dir(env.path("D"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let expected: Vec<String> = (0..N).map(|i| format!("r{i:03}.crt")).collect();
    assert_eq!(files, expected);

    // Every certificate verifies against the CA (one openssl call for all).
    let paths: Vec<String> = files.iter().map(|f| format!("D/{f}")).collect();
    let mut vargs = vec!["verify", "-CAfile", "ca/ca.crt", "-purpose", "sslserver"];
    vargs.extend(paths.iter().map(String::as_str));
    let v = env.ssl(&vargs);
    assert_eq!(v.lines().filter(|l| l.ends_with(": OK")).count(), N, "{v}");

    // Serials as openssl reads them: N distinct positive 128-bit numbers.
    let bundle: String = paths.iter().map(|p| env.read(p)).collect();
    env.write("all.pem", bundle);
    let serials = storeutl_serials(&env, "all.pem");
    assert_eq!(serials.len(), N);
    for s in &serials {
        assert!(is_serial_128(s), "not a positive 128-bit serial: {s}");
    }
    let distinct: BTreeSet<&String> = serials.iter().collect();
    assert_eq!(distinct.len(), N, "duplicate serials");
    // Not a counter: the serials are spread over the range.
    let first_digits: BTreeSet<char> = serials.iter().map(|s| s.as_bytes()[16] as char).collect();
    assert!(
        first_digits.len() > 8,
        "serials look sequential: {serials:?}"
    );

    // `ca list --json` records exactly these.
    let listed: BTreeSet<String> = env.list_serials("ca", &[]).into_iter().collect();
    let from_openssl: BTreeSet<String> = serials.iter().cloned().collect();
    assert_eq!(listed, from_openssl);

    // File by file (a sample): `openssl x509 -serial` = the list's entry, DER INTEGER of 16 bytes.
    let list = env.list("ca", &[]);
    for f in [&paths[0], &paths[N / 2], &paths[N - 1]] {
        let s = env.openssl_serial(f);
        let rec = list
            .iter()
            .find(|r| r["serial"] == s.as_str())
            .unwrap_or_else(|| panic!("{f}: serial {s} not listed"));
        assert_eq!(rec["cn"], "batch.example");
        assert_eq!(rec["profile"], "server");
        assert_eq!(rec["status"], "valid");
        let asn1 = env.ssl(&["asn1parse", "-in", f]);
        let line = asn1
            .lines()
            .find(|l| l.contains("prim: INTEGER") && l.contains(&s))
            .unwrap_or_else(|| panic!("{asn1}"));
        assert!(line.contains("l=  16 prim: INTEGER"), "{line}");
    }
}

#[test]
fn concurrent_issue_and_sign_all_succeed_with_distinct_serials() {
    const EACH: usize = 4;
    let env = Env::new();
    env.root_ca();
    let csr = env.mtls_csr("same", &leaf_subject("same.example"), &[]);
    // Start every process before waiting for any.
    let mut running = Vec::new();
    for i in 0..EACH {
        let name = format!("i{i}");
        running.push(
            env.mtls(&[
                "ca",
                "issue",
                &name,
                "--dir",
                "ca",
                "--profile",
                "client",
                "--out-dir",
                "out",
            ])
            .spawn(),
        );
        let out = format!("s{i}.crt");
        running.push(
            env.mtls(&[
                "ca",
                "sign",
                "--dir",
                "ca",
                &csr,
                "--profile",
                "server",
                "--out",
                &out,
            ])
            .spawn(),
        );
    }
    let outs: Vec<Out> = running.into_iter().map(finish).collect();
    let mut serials = BTreeSet::new();
    for o in outs {
        let o = o.success();
        let s = serial_from_output(&o.stdout);
        assert!(is_serial_128(&s), "{s}");
        assert!(serials.insert(s.clone()), "serial {s} issued twice");
    }
    assert_eq!(serials.len(), 2 * EACH);
    // The store has them all, and each file carries its recorded serial.
    let listed: BTreeSet<String> = env.list_serials("ca", &[]).into_iter().collect();
    assert_eq!(listed, serials);
    for i in 0..EACH {
        for f in [format!("out/i{i}.crt"), format!("s{i}.crt")] {
            assert!(serials.contains(&env.openssl_serial(&f)), "{f}");
            env.ssl(&["verify", "-CAfile", "ca/ca.crt", &f]);
        }
    }
    // No stray temporary or journal files in the CA directory.
    let mut ca_files: Vec<String> = std::fs::read_dir(env.path("ca"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ca_files.sort();
    assert_eq!(ca_files, ["ca.crt", "ca.db", "ca.key", "ca.toml"]);
}

#[test]
fn concurrent_revocations_and_crls_keep_numbers_monotonic() {
    let env = Env::new();
    env.root_ca();
    let serials: Vec<String> = (0..3)
        .map(|i| env.issue("ca", &format!("c{i}"), "client", &[]))
        .collect();
    let mut running = Vec::new();
    for s in &serials {
        running.push(env.mtls(&["ca", "revoke", "--dir", "ca", s]).spawn());
        running.push(env.mtls(&["ca", "crl", "--dir", "ca"]).spawn());
    }
    for o in running.into_iter().map(finish) {
        o.success();
    }
    // Three CRLs were numbered 1..=3 in some order; a fourth is number 4 and lists all three.
    let o = env.ok(&["ca", "crl", "--dir", "ca"]);
    assert!(
        o.stdout.starts_with("CRL number 4 with 3 revoked"),
        "{}",
        o.stdout
    );
    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    for s in &serials {
        assert!(text.contains(&format!("Serial Number: {s}")), "{text}");
    }
    assert_eq!(env.list_serials("ca", &["--status", "revoked"]).len(), 3);
}
