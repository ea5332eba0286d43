//! The seed's whole `openssl ca` recipe, run for real (with `genrsa -des3 -traditional`), imported
//! by `mtls ca import-openssl`, continued by mtls, and exported back for `openssl ca -gencrl`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub(crate) fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    let text = format!(
        "{:?}\nstdout: {}\nstderr: {}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    out
}

pub(crate) fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{:?} failed:\n{}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

pub(crate) fn openssl(dir: &Path) -> Command {
    let mut c = Command::new("openssl");
    c.current_dir(dir);
    c
}

pub(crate) fn mtls(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mtls"));
    c.current_dir(dir)
        .env_remove("MTLS_CA_DIR")
        .env_remove("MTLS_CA_PASSPHRASE");
    c
}

/// The recipe from the seed: demoCA with a DES-EDE3 legacy-encrypted key, two signed certificates,
/// one revoked, one CRL generated.
fn seed_ca(d: &Path) {
    for sub in ["demoCA/private", "demoCA/newcerts"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    std::fs::write(d.join("demoCA/index.txt"), "").unwrap();
    std::fs::write(d.join("demoCA/serial"), "01\n").unwrap();
    std::fs::write(d.join("demoCA/crlnumber"), "01\n").unwrap();
    std::fs::copy("/usr/lib/ssl/openssl.cnf", d.join("openssl.cnf")).unwrap();
    std::fs::write(d.join("pw"), "seed pass\n").unwrap();
    ok(openssl(d).args([
        "genrsa",
        "-des3",
        "-traditional",
        "-passout",
        "file:pw",
        "-out",
        "demoCA/private/cakey.pem",
        "2048",
    ]));
    let key = std::fs::read_to_string(d.join("demoCA/private/cakey.pem")).unwrap();
    assert!(key.contains("Proc-Type: 4,ENCRYPTED") && key.contains("DES-EDE3-CBC"));
    ok(openssl(d).args([
        "req",
        "-new",
        "-x509",
        "-key",
        "demoCA/private/cakey.pem",
        "-passin",
        "file:pw",
        "-days",
        "14600",
        "-subj",
        "/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN=XXX Root CA",
        "-out",
        "demoCA/cacert.pem",
    ]));
    for (name, days) in [("server", "12775"), ("client", "365")] {
        ok(openssl(d).args(["genrsa", "-out", &format!("{name}.pem"), "2048"]));
        ok(openssl(d).args([
            "req",
            "-new",
            "-key",
            &format!("{name}.pem"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/C=CN/ST=GuangDong/L=GuangZhou/O=XXX, Inc./CN={name}"),
        ]));
        ok(openssl(d).args([
            "ca",
            "-config",
            "openssl.cnf",
            "-batch",
            "-passin",
            "file:pw",
            "-in",
            &format!("{name}.csr"),
            "-days",
            days,
            "-out",
            &format!("{name}.crt"),
        ]));
    }
    ok(openssl(d).args([
        "ca",
        "-config",
        "openssl.cnf",
        "-passin",
        "file:pw",
        "-revoke",
        "demoCA/newcerts/02.pem",
        "-crl_reason",
        "keyCompromise",
    ]));
    ok(openssl(d).args([
        "ca",
        "-config",
        "openssl.cnf",
        "-passin",
        "file:pw",
        "-gencrl",
        "-out",
        "crl.pem",
    ]));
}

#[test]
fn seed_recipe_is_imported_continued_and_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    seed_ca(d);

    // A wrong passphrase is named as such and writes nothing.
    std::fs::write(d.join("bad"), "nope\n").unwrap();
    let out = run(mtls(d).args([
        "ca",
        "--dir",
        "mca",
        "--passphrase-file",
        "bad",
        "import-openssl",
        "demoCA",
        "--config",
        "openssl.cnf",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrong passphrase") && err.contains("cakey.pem"),
        "{err}"
    );
    assert!(!d.join("mca").join("ca.toml").exists());

    let text = ok(mtls(d).args([
        "ca",
        "--dir",
        "mca",
        "--passphrase-file",
        "pw",
        "import-openssl",
        "demoCA",
        "--config",
        "openssl.cnf",
    ]));
    assert!(text.contains("1 valid, 1 revoked"), "{text}");
    assert!(text.contains("next CRL number 2"), "{text}");

    // The imported key is PKCS#8 PBES2 now, still under the same passphrase, mode 0600.
    let key = std::fs::read_to_string(d.join("mca/ca.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    ok(openssl(d).args(["pkey", "-in", "mca/ca.key", "-passin", "file:pw", "-noout"]));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("mca/ca.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    let list = ok(mtls(d).args(["ca", "--dir", "mca", "list", "--json"]));
    let rows: serde_json::Value =
        serde_json::from_str(list.split("\nwarning").next().unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let revoked: Vec<_> = rows.iter().filter(|r| r["status"] == "revoked").collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["serial"], "02");
    assert_eq!(revoked[0]["reason"], "keyCompromise");

    // Continue: a new certificate under the imported policy, a revocation, a CRL that keeps the
    // old revocation and continues the numbering.
    ok(mtls(d).args([
        "ca",
        "--dir",
        "mca",
        "--passphrase-file",
        "pw",
        "issue",
        "dev3",
        "--profile",
        "server-client",
        "--cn",
        "dev3.example",
        "--out-dir",
        "out",
    ]));
    ok(openssl(d).args([
        "verify",
        "-CAfile",
        "demoCA/cacert.pem",
        "-purpose",
        "sslserver",
        "out/dev3.crt",
    ]));
    ok(mtls(d).args([
        "ca",
        "--dir",
        "mca",
        "revoke",
        "out/dev3.crt",
        "--reason",
        "superseded",
    ]));
    ok(mtls(d).args([
        "ca",
        "--dir",
        "mca",
        "--passphrase-file",
        "pw",
        "crl",
        "--out",
        "crl2.pem",
    ]));
    ok(openssl(d).args([
        "crl",
        "-in",
        "crl2.pem",
        "-CAfile",
        "demoCA/cacert.pem",
        "-noout",
        "-verify",
    ]));
    let crl = ok(openssl(d).args(["crl", "-in", "crl2.pem", "-noout", "-text"]));
    assert!(
        crl.contains("X509v3 CRL Number: \n                2"),
        "{crl}"
    );
    assert!(crl.contains("Serial Number: 02"), "{crl}");
    assert!(
        crl.contains("Key Compromise") && crl.contains("Superseded"),
        "{crl}"
    );
    std::fs::write(
        d.join("chain.pem"),
        std::fs::read_to_string(d.join("demoCA/cacert.pem")).unwrap()
            + &std::fs::read_to_string(d.join("crl2.pem")).unwrap(),
    )
    .unwrap();
    let out = run(openssl(d).args([
        "verify",
        "-crl_check",
        "-CAfile",
        "chain.pem",
        "out/dev3.crt",
    ]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revoked")
            || String::from_utf8_lossy(&out.stderr).contains("revoked")
    );
    ok(openssl(d).args(["verify", "-crl_check", "-CAfile", "chain.pem", "server.crt"]));

    // Export back; openssl ca -gencrl accepts the directory and lists both revocations.
    ok(mtls(d).args(["ca", "--dir", "mca", "export-openssl", "exported"]));
    let e = d.join("exported");
    ok(openssl(&e).args([
        "ca",
        "-config",
        "openssl.cnf",
        "-passin",
        "file:../pw",
        "-gencrl",
        "-out",
        "crl3.pem",
    ]));
    let crl3 = ok(openssl(&e).args(["crl", "-in", "crl3.pem", "-noout", "-text"]));
    assert!(
        crl3.contains("X509v3 CRL Number: \n                3"),
        "{crl3}"
    );
    assert!(crl3.contains("Serial Number: 02"), "{crl3}");
    assert!(crl3.contains("Superseded"), "{crl3}");
    // And openssl can keep signing from it.
    ok(openssl(d).args(["genrsa", "-out", "late.pem", "2048"]));
    ok(openssl(d).args([
        "req",
        "-new",
        "-key",
        "late.pem",
        "-out",
        "late.csr",
        "-subj",
        "/C=CN/ST=GuangDong/O=XXX, Inc./CN=late",
    ]));
    ok(openssl(&e).args([
        "ca",
        "-config",
        "openssl.cnf",
        "-batch",
        "-passin",
        "file:../pw",
        "-in",
        "../late.csr",
        "-out",
        "../late.crt",
    ]));
    ok(openssl(d).args(["verify", "-CAfile", "demoCA/cacert.pem", "late.crt"]));
}
