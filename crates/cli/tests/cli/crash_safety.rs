//! Crash safety and concurrency of the CA store, in short (the long version is
//! `scripts/crash-safety`): `mtls ca sign` (a batch), `ca revoke` and `ca crl` killed with SIGKILL
//! at spread-out moments leave a store that passes `PRAGMA integrity_check`, holds no serial
//! twice, and holds every certificate written to disk; `crl.pem` is always a whole CRL that
//! verifies, with a number that never goes down. Four `ca sign` batches at once lose nothing.
//! `ca get` writes a lost certificate file again from the store.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::*;

const KILLS: usize = 5;

/// Uppercase hex without leading zeros, so that `ca list` and `openssl -serial` compare.
fn norm(serial: &str) -> String {
    let s = serial.trim().to_ascii_uppercase();
    let s = s.trim_start_matches('0');
    if s.is_empty() { "0".into() } else { s.into() }
}

fn store_serials(env: &Env) -> BTreeSet<String> {
    env.list_serials("ca", &[])
        .iter()
        .map(|s| norm(s))
        .collect()
}

/// Integrity, duplicates and the number of records, straight from the SQLite file.
#[track_caller]
fn check_db(env: &Env, when: &str) -> usize {
    let db = rusqlite::Connection::open(env.path("ca/ca.db")).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    let ic: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ic, "ok", "{when}: integrity_check");
    let dups: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM (SELECT serial FROM certs GROUP BY serial HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dups, 0, "{when}: a serial appears twice");
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM certs", [], |r| r.get(0))
        .unwrap();
    n as usize
}

/// The `.crt` files of `dir` (relative), sorted.
fn crt_files(env: &Env, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(env.path(dir)) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".crt") && !n.starts_with('.'))
            .map(|n| format!("{dir}/{n}"))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Every certificate file is whole (openssl reads it) and its serial is in the store.
#[track_caller]
fn check_files_in_store(env: &Env, files: &[String], when: &str) -> BTreeSet<String> {
    let store = store_serials(env);
    let mut seen = BTreeSet::new();
    for f in files {
        let s = norm(&env.openssl_serial(f));
        assert!(
            store.contains(&s),
            "{when}: {f} (serial {s}) is not in the store"
        );
        seen.insert(s);
    }
    seen
}

/// A small xorshift generator: the kill moments spread over the window, with jitter.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Kill moment `k` of `KILLS` within `window`: the k-th slice of the window, at a random point.
fn moment(rng: &mut Rng, k: usize, window: Duration) -> Duration {
    let slice = window.as_micros() as u64 / KILLS as u64;
    Duration::from_micros(slice * k as u64 + rng.below(slice))
}

/// Starts `mtls ARGS`, kills it with SIGKILL after `after`; true when it had finished by then.
fn run_and_kill(env: &Env, args: &[&str], after: Duration) -> bool {
    let (what, mut child): (String, Child) = env.mtls(args).spawn();
    std::thread::sleep(after);
    let _ = child.kill();
    let out = finish((what, child));
    out.code == Some(0)
}

#[test]
fn sigkill_during_sign_revoke_and_crl_leaves_a_consistent_store() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill-moment seed: {seed}");
    let mut rng = Rng(seed);
    // Runs killed before they finished, of KILLS each: sign, revoke, crl.
    let mut killed = [0usize; 3];
    let env = Env::new();
    env.init_ca(
        "ca",
        "/CN=Crash Root",
        &["--policy", "anything", "--no-passphrase"],
    );
    env.ssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "req.key",
    ]);
    let mut csrs = Vec::new();
    for i in 0..30 {
        let name = format!("csrs/r{i:02}.csr");
        std::fs::create_dir_all(env.path("csrs")).unwrap();
        env.ssl(&[
            "req",
            "-new",
            "-key",
            "req.key",
            "-subj",
            &format!("/CN=host{i}.example"),
            "-out",
            &name,
        ]);
        csrs.push(name);
    }
    let sign = |out: &str| -> Vec<String> {
        let mut a: Vec<String> = [
            "ca",
            "sign",
            "--dir",
            "ca",
            "--profile",
            "client",
            "--out-dir",
        ]
        .map(String::from)
        .to_vec();
        a.push(out.into());
        a.extend(csrs.iter().cloned());
        a
    };

    // Batch issuance.
    let t = Instant::now();
    let args = sign("out0");
    env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let window = t.elapsed() * 12 / 10;
    check_db(&env, "unkilled batch");
    let mut on_disk = crt_files(&env, "out0");
    for k in 0..KILLS {
        let out = format!("out{}", k + 1);
        let args = sign(&out);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        killed[0] += usize::from(!run_and_kill(&env, &args, moment(&mut rng, k, window)));
        let when = format!("sign killed #{}", k + 1);
        check_db(&env, &when);
        let files = crt_files(&env, &out);
        check_files_in_store(&env, &files, &when);
        on_disk.extend(files);
    }
    let all = check_files_in_store(&env, &on_disk, "after the sign kills");
    assert_eq!(all.len(), on_disk.len(), "two files share a serial");
    let records = check_db(&env, "after the sign kills");

    // Revocation.
    let serials: Vec<String> = env.list_serials("ca", &[]);
    let t = Instant::now();
    env.ok(&["ca", "revoke", "--dir", "ca", &serials[0]]);
    let window = t.elapsed() * 12 / 10;
    for k in 0..KILLS {
        let s = &serials[k + 1];
        killed[1] += usize::from(!run_and_kill(
            &env,
            &[
                "ca",
                "revoke",
                "--dir",
                "ca",
                s,
                "--reason",
                "keyCompromise",
            ],
            moment(&mut rng, k, window),
        ));
        let when = format!("revoke killed #{}", k + 1);
        assert_eq!(check_db(&env, &when), records, "{when}: records lost");
        // Either the killed run committed (then it is already revoked) or nothing changed.
        let again = env
            .mtls(&[
                "ca",
                "revoke",
                "--dir",
                "ca",
                s,
                "--reason",
                "keyCompromise",
            ])
            .run();
        assert!(
            again.code == Some(0) || again.stderr.contains("already revoked"),
            "{when}: {}",
            again.stderr
        );
    }
    let revoked = env.list_serials("ca", &["--status", "revoked"]).len();
    assert_eq!(revoked, KILLS + 1);

    // CRL generation.
    let crl_number = |when: &str| -> u64 {
        env.crl_verify_ok("ca/crl.pem", "ca/ca.crt");
        let o = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-crlnumber"]);
        let v = o
            .trim()
            .strip_prefix("crlNumber=")
            .unwrap_or_else(|| panic!("{when}: {o}"));
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap(),
            None => v.parse().unwrap(),
        }
    };
    let t = Instant::now();
    env.ok(&["ca", "crl", "--dir", "ca"]);
    let window = t.elapsed() * 12 / 10;
    let mut last = crl_number("first crl");
    for k in 0..KILLS {
        let when = format!("crl killed #{}", k + 1);
        killed[2] += usize::from(!run_and_kill(
            &env,
            &["ca", "crl", "--dir", "ca"],
            moment(&mut rng, k, window),
        ));
        check_db(&env, &when);
        let n = crl_number(&when);
        assert!(n >= last, "{when}: crl.pem went from number {last} to {n}");
        env.ok(&["ca", "crl", "--dir", "ca"]);
        let m = crl_number(&when);
        assert!(
            m > n,
            "{when}: the next successful CRL has number {m} after {n}"
        );
        last = m;
    }
    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert_eq!(text.matches("Serial Number:").count(), revoked);
    eprintln!(
        "killed before finishing (of {KILLS} each): sign {}, revoke {}, crl {}",
        killed[0], killed[1], killed[2]
    );
}

#[test]
fn four_processes_sign_fifty_each_at_once() {
    const PROCS: usize = 4;
    const EACH: usize = 50;
    let env = Env::new();
    env.init_ca("ca", "/CN=Busy Root", &["--policy", "anything"]);
    let csr = env.openssl_csr("one", "/CN=same.example", &[]);
    std::fs::create_dir_all(env.path("many")).unwrap();
    let mut names = Vec::new();
    for i in 0..EACH {
        let n = format!("many/m{i:02}.csr");
        std::fs::copy(env.path(&csr), env.path(&n)).unwrap();
        names.push(n);
    }
    let before = check_db(&env, "before");
    let running: Vec<_> = (0..PROCS)
        .map(|p| {
            let out = format!("conc{p}");
            let mut args = vec!["ca", "sign", "--dir", "ca", "--profile", "client"];
            args.extend(["--out-dir", out.as_str()]);
            args.extend(names.iter().map(String::as_str));
            env.mtls(&args).spawn()
        })
        .collect();
    for r in running {
        finish(r).success();
    }
    let after = check_db(&env, "after");
    assert_eq!(after - before, PROCS * EACH, "records lost");
    let files: Vec<String> = (0..PROCS)
        .flat_map(|p| crt_files(&env, &format!("conc{p}")))
        .collect();
    assert_eq!(files.len(), PROCS * EACH);
    let serials = check_files_in_store(&env, &files, "concurrent batches");
    assert_eq!(serials.len(), PROCS * EACH, "serials repeat");
}

/// The CRL numbers as the store records them: reserved (`crl_number`) and published
/// (`crl_state`).
fn crl_meta(env: &Env) -> (u64, u64) {
    let db = rusqlite::Connection::open(env.path("ca/ca.db")).unwrap();
    let get = |k: &str| -> String {
        db.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .unwrap()
    };
    let state = get("crl_state");
    (
        get("crl_number").parse().unwrap(),
        state.split(' ').next().unwrap().parse().unwrap(),
    )
}

#[test]
fn concurrent_revokes_and_crls_keep_the_newest_crl() {
    const PROCS: usize = 4;
    const EACH: usize = 4;
    let env = Env::new();
    env.init_ca(
        "ca",
        "/CN=Revoking Root",
        &["--policy", "anything", "--no-passphrase"],
    );
    let csr = env.openssl_csr("one", "/CN=r.example", &[]);
    std::fs::create_dir_all(env.path("req")).unwrap();
    let mut args = vec![
        "ca",
        "sign",
        "--dir",
        "ca",
        "--profile",
        "client",
        "--out-dir",
        "D",
    ];
    let names: Vec<String> = (0..PROCS * EACH)
        .map(|i| format!("req/r{i:02}.csr"))
        .collect();
    for n in &names {
        std::fs::copy(env.path(&csr), env.path(n)).unwrap();
    }
    args.extend(names.iter().map(String::as_str));
    env.ok(&args);
    let serials = env.list_serials("ca", &[]);
    // Each process revokes its own serials, issuing a CRL after each revocation.
    std::thread::scope(|s| {
        for p in 0..PROCS {
            let env = &env;
            let mine = &serials[p * EACH..(p + 1) * EACH];
            s.spawn(move || {
                for serial in mine {
                    env.ok(&["ca", "revoke", "--dir", "ca", serial]);
                    env.ok(&["ca", "crl", "--dir", "ca"]);
                }
            });
        }
    });
    check_db(&env, "after concurrent revokes and CRLs");
    assert_eq!(
        env.list_serials("ca", &["--status", "revoked"]).len(),
        PROCS * EACH
    );
    // crl.pem holds the highest number reserved, and lists every revocation.
    let (reserved, published) = crl_meta(&env);
    assert_eq!(reserved, (PROCS * EACH) as u64);
    assert_eq!(published, reserved);
    env.crl_verify_ok("ca/crl.pem", "ca/ca.crt");
    let n = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-crlnumber"]);
    assert_eq!(
        n.trim(),
        format!("crlNumber=0x{:02X}", reserved),
        "crl.pem is not the newest CRL"
    );
    let text = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert_eq!(text.matches("Serial Number:").count(), PROCS * EACH);
}

/// Every issued certificate is in the store before its file is written: `mtls ca get` brings a
/// lost file back, byte for byte, with or without the chain.
#[test]
fn ca_get_recovers_a_lost_certificate_file() {
    let env = Env::new();
    env.init_ca("ca", "/C=CN/O=X/CN=Get Root", &[]);
    env.ok(&[
        "ca",
        "issue",
        "dev",
        "--profile",
        "client",
        "--out-dir",
        "out",
    ]);
    let serial = env.list_serials("ca", &[])[0].clone();
    let original = env.read("out/dev.crt");
    std::fs::remove_file(env.path("out/dev.crt")).unwrap();

    assert_eq!(env.ok(&["ca", "get", &serial]).stdout, original);
    env.ok(&["ca", "get", &serial, "--out", "out/dev.crt"]);
    assert_eq!(env.read("out/dev.crt"), original);
    // Never over an existing file.
    refused(
        &env,
        &["ca", "get", &serial, "--out", "out/dev.crt"],
        &["out/dev.crt", "refusing to overwrite"],
    );
    // With the chain, openssl verifies it against the root.
    env.ok(&["ca", "get", &serial, "--chain", "--out", "chain.pem"]);
    let v = env.ssl(&["verify", "-CAfile", "ca/ca.crt", "chain.pem"]);
    assert!(v.contains("chain.pem: OK"), "{v}");
    refused(
        &env,
        &["ca", "get", "ABCDEF"],
        &["no certificate with serial ABCDEF"],
    );
}
