//! Reloading under load: the certificate, key and CA bundle are replaced (by file change and by
//! SIGHUP) while a download runs through the tunnel pair; a bad bundle is refused and the old one
//! kept; no byte of the running transfer is lost.

use super::{client, start};
use crate::common::Env;
use crate::net::{Proc, WAIT, cmd_in, pki};

fn replace(env: &Env, from: &str, to: &str) {
    std::fs::copy(env.path(from), env.path(&format!("{to}.new"))).expect("copy");
    std::fs::rename(env.path(&format!("{to}.new")), env.path(to)).expect("rename");
}

#[test]
fn certificate_and_ca_reload_mid_transfer_lose_no_byte_and_a_bad_bundle_is_refused() {
    let env = Env::new();
    pki(&env);
    env.issue("ca", "server2", "server", &["--san", "DNS:localhost"]);
    for (from, to) in [
        ("out/server.crt", "srv.crt"),
        ("out/server.key", "srv.key"),
        ("ca/ca.crt", "trust.pem"),
    ] {
        replace(&env, from, to);
    }
    std::fs::create_dir_all(env.path("www")).expect("www");
    let o = cmd_in(
        &env,
        "sh",
        &[
            "-c",
            "head -c 67108864 /dev/urandom > www/f.bin && echo small > www/s.txt",
        ],
    )
    .output()
    .expect("head");
    assert!(o.status.success());
    let (_http, port) = super::http_server(&env, "www");
    let args = [
        "tunnel",
        "server",
        "--listen",
        "127.0.0.1:0",
        "--target",
        &format!("127.0.0.1:{port}"),
        "--cert",
        "srv.crt",
        "--key",
        "srv.key",
        "--ca",
        "trust.pem",
        "--allow-cn",
        "client1",
    ];
    let srv = start(&env, args.iter().map(|s| s.to_string()).collect());
    let c = client(&env, &srv.addr, "client1", &["--servername", "localhost"]);
    let get = |file: &str, out: &str, rate: &str| {
        cmd_in(
            &env,
            "curl",
            &[
                "-sS",
                "--fail",
                "--limit-rate",
                rate,
                "-o",
                out,
                &format!("http://127.0.0.1:{}/{file}", c.port()),
            ],
        )
    };
    // 64 MiB at 16 MiB/s: about four seconds in flight while everything is swapped.
    let mut slow = Proc::spawn("curl (slow)", get("f.bin", "got.bin", "16M"));
    srv.proc.wait_for("open: CN client1");

    std::fs::write(env.path("trust.pem.new"), "not a certificate\n").expect("write");
    std::fs::rename(env.path("trust.pem.new"), env.path("trust.pem")).expect("rename");
    let line = srv.proc.wait_for("CA bundle reload failed");
    assert!(
        line.contains("keeping the current one") && line.contains("trust.pem"),
        "{line}"
    );
    assert!(
        get("s.txt", "s1.txt", "100M")
            .output()
            .expect("curl")
            .status
            .success(),
        "after the bad bundle"
    );

    replace(&env, "ca/ca.crt", "trust.pem");
    srv.proc.wait_for("CA bundle reloaded");
    replace(&env, "out/server2.crt", "srv.crt");
    replace(&env, "out/server2.key", "srv.key");
    let line = srv.proc.wait_for("certificate reloaded");
    assert!(line.contains("server2"), "{line}");
    let mark = srv.proc.mark();
    srv.proc.signal("HUP");
    srv.proc.wait_for_after(mark, "CA bundle reloaded", WAIT);
    srv.proc.wait_for_after(mark, "certificate reloaded", WAIT);
    assert!(
        get("s.txt", "s2.txt", "100M")
            .output()
            .expect("curl")
            .status
            .success(),
        "after the reloads"
    );

    assert!(
        slow.wait_exit(std::time::Duration::from_secs(20)).success(),
        "{}",
        slow.dump()
    );
    assert_eq!(
        super::sha256(&env, "got.bin"),
        super::sha256(&env, "www/f.bin"),
        "bytes lost in the reload"
    );
    // New connections got the new certificate.
    let o = env.openssl(&[
        "s_client",
        "-connect",
        &srv.addr,
        "-CAfile",
        "ca/ca.crt",
        "-cert",
        "out/client1.crt",
        "-key",
        "out/client1.key",
        "-servername",
        "localhost",
    ]);
    assert!(o.all().contains("server2"), "{}", o.all());
    // The new bundle is what new handshakes trust: another root's clients only.
    let mark = srv.proc.mark();
    replace(&env, "ca2/ca.crt", "trust.pem");
    srv.proc.wait_for_after(mark, "CA bundle reloaded", WAIT);
    assert!(
        !get("s.txt", "s3.txt", "100M")
            .output()
            .expect("curl")
            .status
            .success(),
        "client1 after its CA was dropped"
    );
    let line = srv.proc.wait_for_after(mark, "handshake with", WAIT);
    assert!(line.contains("failed"), "{line}");
}
