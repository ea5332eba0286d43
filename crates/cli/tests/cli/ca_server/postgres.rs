//! The CA store on a real PostgreSQL (`ca init --store postgres://…`): the offline commands
//! (`issue`, `list`, `revoke`, `crl`, judged by `openssl crl`), and two `ca serve` instances on
//! one database, each with its own copy of the CA directory: a certificate enrolled through
//! one is answered `good` by the other's OCSP responder, and a revocation through one is
//! `revoked` in the other's next answers within seconds, with no signal and no restart.
//!
//! The server comes from `MTLS_TEST_PG` (an admin URL; `scripts/test` sets it). Each test makes
//! its own database and drops it.

use super::*;

/// A database of its own, dropped at the end (with `WITH (FORCE)`: servers may still be
/// connected when a test fails).
pub(crate) struct PgDb {
    admin: String,
    name: String,
    /// The test database's URL.
    pub url: String,
}

impl PgDb {
    /// `None` (and a loud line) when `MTLS_TEST_PG` is unset outside CI; a failure in CI.
    pub fn new(tag: &str) -> Option<PgDb> {
        let Ok(admin) = std::env::var("MTLS_TEST_PG") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "MTLS_TEST_PG is unset: the PostgreSQL tests cannot run (scripts/test sets it)"
            );
            eprintln!(
                "\n*** SKIPPED: MTLS_TEST_PG is unset; scripts/test runs the PostgreSQL tests ***\n"
            );
            return None;
        };
        let name = format!("mtls_cli_{tag}_{}", std::process::id());
        psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"));
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let root = admin.rsplit_once('/').map_or(admin.as_str(), |(r, _)| r);
        let url = format!("{root}/{name}");
        Some(PgDb { admin, name, url })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                &self.admin,
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// Runs one statement with `psql`.
fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-qtAc", sql])
        .output()
        .expect("psql (postgresql-client) is installed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `ca serve --dir DIR` on loopback: (process, API URL, HTTP URL).
fn serve_dir(env: &Env, dir: &str) -> (Proc, String, String) {
    let s = CaServer::start_in(env, dir);
    (s.proc, s.api, s.http)
}

#[test]
fn offline_commands_keep_their_records_in_postgres() {
    let Some(db) = PgDb::new("offline") else {
        return;
    };
    let env = Env::new();
    let e = env
        .mtls(&[
            "ca",
            "init",
            "--dir",
            "ca",
            "--subject",
            "/CN=PG Root",
            "--store",
            "postgres://mtls:pw@127.0.0.1/x",
        ])
        .run()
        .failure();
    assert!(
        e.stderr.contains("PGPASSWORD") && !e.stderr.contains(":pw@"),
        "{}",
        e.stderr
    );
    env.init_ca(
        "ca",
        "/O=Fleet/CN=PG Root",
        &["--policy", "anything", "--store", &db.url],
    );
    assert!(
        !env.path("ca/ca.db").exists(),
        "no SQLite store beside a PostgreSQL one"
    );
    assert!(
        env.read("ca/ca.toml")
            .contains(&format!("url = \"{}\"", db.url))
    );
    let serial = env.issue("ca", "one", "client", &[]);
    env.issue("ca", "two", "client", &[]);
    env.ok(&["ca", "revoke", "out/one.crt", "--reason", "keyCompromise"]);
    env.ok(&["ca", "crl"]);
    let crl = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert!(
        crl.contains(&serial) && crl.contains("Key Compromise"),
        "{crl}"
    );
    let list = env.ok(&["ca", "list", "--json"]).stdout;
    assert_eq!(list.matches("\"serial\"").count(), 2, "{list}");
    assert_eq!(psql(&db.url, "SELECT COUNT(*) FROM certs"), "2");
    assert_eq!(
        psql(
            &db.url,
            "SELECT COUNT(*) FROM changes WHERE kind = 'revoke'"
        ),
        "1"
    );
}

/// True when the CRL served at `http` lists `serial`.
fn crl_lists(env: &Env, http: &str, serial: &str) -> bool {
    let (_, _, pem) = curl(env, &[&format!("{http}/crl.pem")]);
    env.write("listed.crl", &pem);
    env.openssl(&["crl", "-in", "listed.crl", "-noout", "-text"])
        .all()
        .contains(serial)
}

#[test]
fn two_servers_on_one_database_see_each_others_enrollments_and_revocations() {
    let Some(db) = PgDb::new("two") else { return };
    let env = Env::new();
    env.init_ca(
        "ca",
        "/O=Fleet/CN=PG Root",
        &["--policy", "anything", "--store", &db.url],
    );
    env.issue("ca", "admin1", "admin", &[]);
    // The second instance: the same key, certificate and ca.toml, in a directory of its own.
    for f in ["ca.crt", "ca.key", "ca.toml"] {
        std::fs::create_dir_all(env.path("ca2")).unwrap();
        std::fs::copy(env.path(&format!("ca/{f}")), env.path(&format!("ca2/{f}"))).unwrap();
    }
    let (mut a, api_a, http_a) = serve_dir(&env, "ca");
    let (mut b, api_b, http_b) = serve_dir(&env, "ca2");

    // One of the two pre-signs OCSP answers (an advisory lock), the other signs on request.
    a.wait_for("ca serve: ");
    let said = |p: &Proc| {
        let t = p.text();
        (
            t.contains("OCSP answers pre-signed for"),
            t.contains("another instance pre-signs"),
        )
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !(matches!(said(&a), (true, _) | (_, true)) && matches!(said(&b), (true, _) | (_, true)))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}\n{}",
            a.dump(),
            b.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        said(&a).0 != said(&b).0,
        "exactly one pre-signs: {:?} {:?}",
        said(&a),
        said(&b)
    );

    let tok = token(&env, "dev1", &[]);
    enroll(&env, &api_a, &tok, "dev1", &[]).run().success();
    let url_b = format!("{http_b}/ocsp");
    let ask_b = |cert: &str| {
        env.openssl(&[
            "ocsp",
            "-issuer",
            "ca/ca.crt",
            "-CAfile",
            "ca/ca.crt",
            "-cert",
            cert,
            "-no_nonce",
            "-url",
            &url_b,
        ])
        .all()
    };
    let text = ask_b("certs/dev1.crt");
    assert!(
        text.contains("certs/dev1.crt: good"),
        "enrolled on A, known to B: {text}"
    );

    // Revoked through A's API: when the call returns, B's OCSP and B's CRL both carry it, with
    // no waiting on our side (A waited for B's report).
    let serial = env.openssl_serial("certs/dev1.crt");
    let v = admin_revoke_at(&env, &api_a, "certs/dev1.crt", "keyCompromise");
    assert_eq!(v["propagated"], true, "{v}");
    let text = ask_b("certs/dev1.crt");
    assert!(
        text.contains("certs/dev1.crt: revoked"),
        "B, right after the call: {text}"
    );
    assert!(
        crl_lists(&env, &http_b, &serial),
        "B's CRL, right after the call"
    );
    // One instance writes the CRLs (an advisory lock); both serve the same one.
    let (_, _, from_a) = curl(&env, &[&format!("{http_a}/crl.pem")]);
    let (_, _, from_b) = curl(&env, &[&format!("{http_b}/crl.pem")]);
    assert_eq!(from_a, from_b, "A and B serve different CRLs");

    // Quiet again: no new CRL without a revocation (a published CRL must not trigger the next).
    let number = || {
        let (_, _, pem) = curl(&env, &[&format!("{http_a}/crl.pem")]);
        env.write("n.crl", &pem);
        env.ssl(&["crl", "-in", "n.crl", "-noout", "-crlnumber"])
    };
    let first = number();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(number(), first, "CRLs made with nothing revoked in between");

    // Revoked by `mtls ca revoke` on any machine with the CA directory: both hear of it.
    let tok = token(&env, "dev2", &[]);
    enroll(&env, &api_a, &tok, "dev2", &[]).run().success();
    env.ok(&["ca", "revoke", "--dir", "ca2", "certs/dev2.crt"]);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = ask_b("certs/dev2.crt");
        if text.contains("certs/dev2.crt: revoked") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B still answers: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The CRL writer (A, the first to start) dies: B takes the role over within seconds.
    a.signal("KILL");
    let _ = a.wait_exit(WAIT);
    let tok = token(&env, "dev3", &[]);
    enroll(&env, &api_b, &tok, "dev3", &[]).run().success();
    let serial = env.openssl_serial("certs/dev3.crt");
    let t0 = std::time::Instant::now();
    let v = admin_revoke_at(&env, &api_b, "certs/dev3.crt", "superseded");
    // A dead instance is waited for only until its heartbeat lapses (3 s), never the full 5 s.
    assert_eq!(v["propagated"], true, "{v}");
    assert!(
        crl_lists(&env, &http_b, &serial),
        "B never took over the CRL"
    );
    eprintln!("B wrote the CRL {:?} after A died", t0.elapsed());
    b.signal("TERM");
    assert!(b.wait_exit(WAIT).success(), "{}", b.dump());
    assert_eq!(
        psql(
            &db.url,
            "SELECT COUNT(*) FROM audit WHERE action = 'enroll' AND outcome = 'ok'"
        ),
        "3"
    );
}

#[test]
fn migrate_store_copies_a_sqlite_ca_whole_and_refuses_a_non_empty_database() {
    let Some(db) = PgDb::new("migrate") else {
        return;
    };
    let env = Env::new();
    ca(&env);
    for n in ["m1", "m2", "m3"] {
        env.issue("ca", n, "client", &[]);
    }
    env.issue("ca", "admin1", "admin", &[]);
    env.ok(&["ca", "revoke", "out/m2.crt", "--reason", "superseded"]);
    env.ok(&["ca", "crl"]);
    env.ok(&["ca", "crl"]);
    token(&env, "later", &[]);
    let before = env.ok(&["ca", "list", "--json"]).stdout;
    let audit_before = env.ok(&["ca", "audit"]).stdout;

    let e = env
        .mtls(&[
            "ca",
            "migrate-store",
            "--to",
            "postgres://u:secret@127.0.0.1/x",
        ])
        .run()
        .failure();
    assert!(!e.stderr.contains("secret"), "{}", e.stderr);
    let out = env.ok(&["ca", "migrate-store", "--to", &db.url]).stdout;
    assert!(
        out.contains("copied 4 certificates (1 revoked), 1 tokens")
            && out.contains("CRL number 2")
            && out.contains("compared equal"),
        "{out}"
    );
    assert!(
        env.read("ca/ca.toml")
            .contains(&format!("url = \"{}\"", db.url))
    );
    // The same CA, now from PostgreSQL: the same list, the audit log, the next CRL number.
    assert_eq!(env.ok(&["ca", "list", "--json"]).stdout, before);
    let audit_after = env.ok(&["ca", "audit"]).stdout;
    assert!(
        audit_after.starts_with(audit_before.trim_end()),
        "{audit_before}\n---\n{audit_after}"
    );
    env.ok(&["ca", "crl"]);
    let crl = env.ssl(&["crl", "-in", "ca/crl.pem", "-noout", "-text"]);
    assert!(
        crl.contains("X509v3 CRL Number: \n                3"),
        "{crl}"
    );
    // Into a database that holds a CA: refused, and that CA is untouched.
    let again = env
        .mtls(&["ca", "migrate-store", "--to", &db.url])
        .run()
        .failure();
    assert!(again.stderr.contains("already"), "{}", again.stderr);
    assert_eq!(psql(&db.url, "SELECT COUNT(*) FROM certs"), "4");
}

#[test]
fn a_pushed_configuration_reaches_every_instance_without_a_restart() {
    let Some(db) = PgDb::new("config") else {
        return;
    };
    let env = Env::new();
    env.init_ca(
        "ca",
        "/O=Fleet/CN=PG Root",
        &["--policy", "anything", "--store", &db.url],
    );
    std::fs::create_dir_all(env.path("ca2")).unwrap();
    for f in ["ca.crt", "ca.key", "ca.toml"] {
        std::fs::copy(env.path(&format!("ca/{f}")), env.path(&format!("ca2/{f}"))).unwrap();
    }
    let (mut a, api_a, _) = serve_dir(&env, "ca");
    let (mut b, api_b, _) = serve_dir(&env, "ca2");
    let sensor = |api: &str| curl(&env, &[&format!("{api}/.well-known/est/sensor/cacerts")]).0;
    assert_eq!((sensor(&api_a), sensor(&api_b)), (404, 404));

    // A bad file is refused, naming it; a SQLite CA has no store to push to.
    env.write(
        "bad.toml",
        env.read("ca/ca.toml") + "\n[profiles.x]\nbogus = 1\n",
    );
    let e = env
        .mtls(&["ca", "config", "push", "bad.toml"])
        .run()
        .failure();
    assert!(
        e.stderr.contains("bad.toml") && e.stderr.contains("bogus"),
        "{}",
        e.stderr
    );
    env.init_ca("lone", "/CN=Lone", &[]);
    let e = env
        .mtls(&["ca", "--dir", "lone", "config", "push"])
        .run()
        .failure();
    assert!(e.stderr.contains("edit that file"), "{}", e.stderr);

    env.write(
        "ca/ca.toml",
        env.read("ca/ca.toml")
            + "\n[profiles.sensor]\ndays = 7\nkey_usage = [\"digitalSignature\"]\n\
               extended_key_usage = [\"clientAuth\"]\n",
    );
    let out = env.ok(&["ca", "config", "push"]).stdout;
    assert!(out.contains("pushed"), "{out}");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = (sensor(&api_a), sensor(&api_b));
        if got == (200, 200) {
            break;
        }
        // Both logs: it failed once in CI with B saying it had applied the push.
        assert!(
            std::time::Instant::now() < deadline,
            "not applied (EST sensor label on A, B: {got:?}): {}\n{}",
            a.dump(),
            b.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    b.wait_for("applied the configuration pushed to the store");
    // Every machine with the CA directory sees it, and its own ca.toml is not needed for it.
    let shown = env.ok(&["ca", "--dir", "ca2", "config", "show"]).stdout;
    assert!(shown.contains("[profiles.sensor]"), "{shown}");
    let tok = token(&env, "s1", &["--dir", "ca2", "--profile", "sensor"]);
    enroll(&env, &api_b, &tok, "s1", &[]).run().success();
    for p in [&mut a, &mut b] {
        p.signal("TERM");
        assert!(p.wait_exit(WAIT).success(), "{}", p.dump());
    }
}

/// The short version of `scripts/ha-chaos` (which also restarts PostgreSQL itself): three
/// instances, eight clients enrolling, renewing and revoking, two instances SIGKILLed and
/// restarted and every connection to the database terminated meanwhile; then no duplicate
/// serial, no token used twice, every 201 stored, every revocation in every instance's CRL and
/// OCSP answers, CRL numbers that never go back, audit rows matching.
#[test]
fn three_instances_keep_every_invariant_under_chaos() {
    let Some(db) = PgDb::new("chaos") else { return };
    drop(db); // the script makes (and drops) a database of its own
    let admin = std::env::var("MTLS_TEST_PG").unwrap_or_default();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/ha_chaos.py");
    let out = std::process::Command::new("python3")
        .args([
            script,
            "--mtls",
            env!("CARGO_BIN_EXE_mtls"),
            "--pg",
            &admin,
            "--seconds",
            "6",
            "--kills",
            "2",
            "--pg-restart",
            "terminate",
        ])
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success() && !text.contains("FAIL"), "{text}");
    assert!(text.contains("figures:"), "{text}");
}
