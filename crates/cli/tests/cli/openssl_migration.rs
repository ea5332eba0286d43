//! Taking over a real `openssl ca` directory (issue #19), made here by the `openssl` CLI as a
//! RHEL user makes one: `dir` absolute, certs/crl/newcerts/private, `policy_match` and the
//! usr_cert section pulled in by `.include`, `echo 00 > serial`, a `genrsa -des3 -traditional`
//! key, ten certificates (one with a UTF-8 subject, one whose file is gone), a revocation made
//! with each of openssl's options, two CRLs. Then import → `ca crl` → `openssl crl -text` →
//! export → `openssl ca -gencrl` from elsewhere → re-import, checking that nothing is lost.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::openssl_import::{mtls, ok, openssl, run};

const UTF8_CN: &str = "张三 Ärger";

/// The openssl.cnf of the RHEL layout under `t`, with its two included parts.
fn write_config(t: &Path, ca: &Path) {
    let conf = t.join("conf.d");
    std::fs::create_dir_all(conf.join("policies")).unwrap();
    let main = format!(
        "HOME = .\nincdir = {conf}\n[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\n\
         dir = {ca}\ncerts = $dir/certs\ncrl_dir = $dir/crl\ndatabase = $dir/index.txt\n\
         unique_subject = yes\nnew_certs_dir = $dir/newcerts\ncertificate = $dir/cacert.pem\n\
         serial = $dir/serial\ncrlnumber = $dir/crlnumber\ncrl = $dir/crl.pem\n\
         private_key = $dir/private/cakey.pem\nx509_extensions = usr_cert\n\
         name_opt = ca_default\ncert_opt = ca_default\ndefault_days = 365\n\
         default_crl_days = 30\ndefault_md = sha256\npreserve = no\npolicy = policy_match\n\
         .include = {conf}/policies\n.include $incdir/usr_cert.cnf\n\
         [ req ]\ndistinguished_name = req_dn\nstring_mask = utf8only\n[ req_dn ]\n\
         [ v3_ca ]\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always,issuer\n\
         basicConstraints = critical,CA:true\nkeyUsage = critical, cRLSign, keyCertSign\n",
        conf = conf.display(),
        ca = ca.display()
    );
    std::fs::write(t.join("openssl.cnf"), main).unwrap();
    std::fs::write(
        conf.join("policies/policy.cnf"),
        "[ policy_match ]\ncountryName = match\nstateOrProvinceName = match\n\
         organizationName = match\norganizationalUnitName = optional\ncommonName = supplied\n\
         emailAddress = optional\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("usr_cert.cnf"),
        "[ usr_cert ]\nbasicConstraints = CA:FALSE\nnsComment = \"OpenSSL # Generated\"\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n",
    )
    .unwrap();
}

fn req(t: &Path, name: &str, cn: &str) {
    ok(openssl(t).args([
        "req",
        "-config",
        "openssl.cnf",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &format!("{name}.key"),
        "-out",
        &format!("{name}.csr"),
        "-utf8",
        "-subj",
        &format!("/C=FI/ST=Uusimaa/O=Example Oy/CN={cn}"),
    ]));
}

fn ca_cmd(t: &Path, cnf: &Path) -> std::process::Command {
    let mut c = openssl(t);
    c.arg("ca")
        .arg("-config")
        .arg(cnf)
        .args(["-passin", "file:pw"]);
    c
}

/// Builds the openssl CA under `t`; returns its `dir`.
fn rhel_ca(t: &Path) -> PathBuf {
    let ca = t.join("pki/CA");
    for sub in ["certs", "crl", "newcerts", "private"] {
        std::fs::create_dir_all(ca.join(sub)).unwrap();
    }
    std::fs::write(ca.join("index.txt"), "").unwrap();
    std::fs::write(ca.join("serial"), "00\n").unwrap();
    std::fs::write(ca.join("crlnumber"), "00\n").unwrap();
    std::fs::write(t.join("pw"), "pass 19\n").unwrap();
    write_config(t, &ca);
    let key = ca.join("private/cakey.pem");
    ok(openssl(t)
        .args([
            "genrsa",
            "-des3",
            "-traditional",
            "-passout",
            "file:pw",
            "-out",
        ])
        .arg(&key)
        .arg("2048"));
    ok(openssl(t)
        .args([
            "req",
            "-config",
            "openssl.cnf",
            "-new",
            "-x509",
            "-extensions",
            "v3_ca",
        ])
        .args(["-passin", "file:pw", "-days", "3650", "-key"])
        .arg(&key)
        .args([
            "-subj",
            "/C=FI/ST=Uusimaa/O=Example Oy/CN=Example Root CA",
            "-out",
        ])
        .arg(ca.join("cacert.pem")));
    let cnf = t.join("openssl.cnf");
    for i in 0..10 {
        let cn = if i == 9 {
            UTF8_CN.to_string()
        } else {
            format!("host{i}")
        };
        req(t, &format!("r{i}"), &cn);
        ok(ca_cmd(t, &cnf).args([
            "-batch",
            "-utf8",
            "-in",
            &format!("r{i}.csr"),
            "-out",
            &format!("c{i}.crt"),
        ]));
    }
    let revoke = |serial: &str, how: &[&str]| {
        ok(ca_cmd(t, &cnf)
            .arg("-revoke")
            .arg(ca.join(format!("newcerts/{serial}.pem")))
            .args(how));
    };
    revoke("00", &["-crl_reason", "keyCompromise"]);
    revoke("01", &["-crl_compromise", "20261101000000Z"]);
    revoke("02", &["-crl_CA_compromise", "20261015120000Z"]);
    revoke("03", &["-crl_hold", "holdInstructionReject"]);
    ok(ca_cmd(t, &cnf)
        .arg("-gencrl")
        .arg("-out")
        .arg(ca.join("crl/crl-0.pem")));
    revoke("04", &["-crl_reason", "superseded"]);
    revoke("05", &["-crl_reason", "removeFromCRL"]);
    revoke("06", &["-crl_reason", "cessationOfOperation"]);
    ok(ca_cmd(t, &cnf)
        .arg("-gencrl")
        .arg("-out")
        .arg(ca.join("crl.pem")));
    // A record whose certificate file is gone: index.txt alone knows it.
    std::fs::remove_file(ca.join("newcerts/07.pem")).unwrap();
    ca
}

/// `mtls ca crl --out OUT` on CA `dir`, then `openssl crl -text` of it.
fn mtls_crl(t: &Path, dir: &str, out: &str) -> String {
    ok(mtls(t).args([
        "ca",
        "--dir",
        dir,
        "--passphrase-file",
        "pw",
        "crl",
        "--out",
        out,
    ]));
    ok(openssl(t).args(["crl", "-noout", "-text", "-in", out]))
}

fn import(t: &Path, from: &Path, cnf: &Path, into: &str) -> String {
    ok(mtls(t)
        .args([
            "ca",
            "--dir",
            into,
            "--passphrase-file",
            "pw",
            "import-openssl",
        ])
        .arg(from)
        .arg("--config")
        .arg(cnf))
}

/// `mtls ca list --json`, by serial.
fn list(t: &Path, dir: &str) -> Vec<Value> {
    let out = run(mtls(t).args(["ca", "--dir", dir, "list", "--json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("no CRL"), "openssl had issued CRLs: {err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], serial: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["serial"] == serial)
        .unwrap_or_else(|| panic!("serial {serial} missing from {rows:?}"))
}

/// What a round trip must keep of each record.
fn kept(r: &Value) -> Vec<Value> {
    [
        "serial",
        "status",
        "subject",
        "not_after",
        "revoked_at",
        "reason",
    ]
    .iter()
    .chain(&["invalidity_date", "hold_instruction"])
    .map(|k| r[*k].clone())
    .collect()
}

fn check_imported_records(rows: &[Value]) {
    assert_eq!(rows.len(), 10, "every index line is a record: {rows:?}");
    let reason = |s: &str| row(rows, s)["reason"].as_str().unwrap_or("-").to_string();
    assert_eq!(reason("00"), "keyCompromise");
    // Defect 1: keyTime / CAkeyTime / holdInstruction.
    assert_eq!(reason("01"), "keyCompromise");
    assert_eq!(row(rows, "01")["invalidity_date"], "2026-11-01T00:00:00Z");
    assert_eq!(reason("02"), "CACompromise");
    assert_eq!(row(rows, "02")["invalidity_date"], "2026-10-15T12:00:00Z");
    assert_eq!(reason("03"), "certificateHold");
    assert_eq!(row(rows, "03")["hold_instruction"], "holdInstructionReject");
    // Defect 2: the released hold is kept, listed as openssl lists it.
    assert_eq!(row(rows, "05")["status"], "revoked");
    assert_eq!(reason("05"), "removeFromCRL");
    assert_eq!(reason("06"), "cessationOfOperation");
    // Defect 6: openssl's \xHH escapes decoded.
    assert_eq!(row(rows, "09")["cn"], UTF8_CN);
    assert!(
        row(rows, "09")["subject"]
            .as_str()
            .unwrap()
            .ends_with(UTF8_CN)
    );
    // Defect 7: no certificate file, no notBefore, and it says so.
    assert_eq!(row(rows, "07")["not_before"], Value::Null);
    assert_eq!(row(rows, "07")["from_index_only"], true);
    assert_eq!(row(rows, "08")["from_index_only"], false);
    assert!(row(rows, "08")["not_before"].is_string());
}

fn check_crl_text(t: &Path, ca: &Path, crl: &str, number: u32) {
    ok(openssl(t)
        .args(["crl", "-noout", "-verify", "-in", crl, "-CAfile"])
        .arg(ca.join("cacert.pem")));
    let text = ok(openssl(t).args(["crl", "-noout", "-text", "-in", crl]));
    assert!(
        text.contains(&format!("X509v3 CRL Number: \n                {number}\n")),
        "{text}"
    );
    for want in [
        "Invalidity Date: \n                Nov  1 00:00:00 2026 GMT",
        "Invalidity Date: \n                Oct 15 12:00:00 2026 GMT",
        "Hold Instruction Code: \n                Hold Instruction Reject",
        "Remove From CRL",
        "CA Compromise",
        "Cessation Of Operation",
    ] {
        assert!(text.contains(want), "{want:?} missing from {text}");
    }
    assert_eq!(text.matches("Serial Number:").count(), 7, "{text}");
}

/// `openssl verify -crl_check` of certificate `c{i}.crt` against `crl`: Ok or the error text.
fn crl_check(t: &Path, ca: &Path, crl: &str, i: u32) -> Result<(), String> {
    let chain = t.join("chain.pem");
    let pem = std::fs::read_to_string(ca.join("cacert.pem")).unwrap();
    std::fs::write(&chain, pem + &std::fs::read_to_string(t.join(crl)).unwrap()).unwrap();
    let out = run(openssl(t)
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(&chain)
        .arg(format!("c{i}.crt")));
    match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr)),
    }
}

#[test]
fn a_rhel_openssl_ca_is_taken_over_and_given_back_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let ca = rhel_ca(t);
    let cnf = t.join("openssl.cnf");

    let text = import(t, &ca, &cnf, "mca");
    assert!(text.contains("3 valid, 7 revoked"), "{text}");
    assert!(text.contains("1 removeFromCRL"), "{text}");
    // Settings: the included policy is found (defect 4), days carried over.
    assert!(text.contains("policy = policy_match"), "{text}");
    assert!(
        text.contains("crl_days = 30") && text.contains("days = 365"),
        "{text}"
    );
    assert!(text.contains("unique_subject = yes"), "{text}");
    assert!(
        !text.contains("preserve"),
        "openssl's default needs no note: {text}"
    );
    // openssl's last CRL is #1; mtls goes on at 2.
    assert!(text.contains("next CRL number 2"), "{text}");
    assert!(text.contains("last CRL: number 1"), "{text}");
    let first = list(t, "mca");
    check_imported_records(&first);
    let toml = std::fs::read_to_string(t.join("mca/ca.toml")).unwrap();
    assert!(toml.contains("crl_days = 30") && toml.contains("unique_subject = true"));

    // Our CRL carries the invalidity dates, the hold code and the released hold; openssl
    // treats the removeFromCRL entry as not revoked (RFC 5280 6.3.3 (k)).
    let _ = mtls_crl(t, "mca", "crl2.pem");
    check_crl_text(t, &ca, "crl2.pem", 2);
    let shown = ok(mtls(t).args(["cert", "show", "crl2.pem"]));
    assert!(
        shown.contains("certificateHold  hold: holdInstructionReject"),
        "{shown}"
    );
    assert!(
        shown.contains("invalid since 2026-11-01T00:00:00Z"),
        "{shown}"
    );
    assert!(
        crl_check(t, &ca, "crl2.pem", 1)
            .unwrap_err()
            .contains("revoked")
    );
    assert!(
        crl_check(t, &ca, "crl2.pem", 3)
            .unwrap_err()
            .contains("revoked")
    );
    crl_check(t, &ca, "crl2.pem", 5).unwrap();
    crl_check(t, &ca, "crl2.pem", 8).unwrap();

    check_unique_subject(t);
    check_validity_days(t);

    // Export; openssl runs from another directory with the absolute config it wrote.
    let out = ok(mtls(t).args(["ca", "--dir", "mca", "export-openssl", "exported"]));
    let e = t.join("exported").canonicalize().unwrap();
    assert!(out.contains(&e.display().to_string()), "{out}");
    check_exported_config(&e);
    let elsewhere = t.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(t.join("pw"), elsewhere.join("pw")).unwrap();
    ok(ca_cmd(&elsewhere, &e.join("openssl.cnf"))
        .arg("-gencrl")
        .arg("-out")
        .arg(e.join("crl.pem")));
    check_crl_text(t, &ca, e.join("crl.pem").to_str().unwrap(), 3);
    // openssl honours the exported unique_subject = yes.
    let dup = run(ca_cmd(&elsewhere, &e.join("openssl.cnf"))
        .args(["-batch", "-in"])
        .arg(t.join("r7.csr"))
        .arg("-out")
        .arg(t.join("dup.crt")));
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("There is already a certificate"));

    // Re-import: every record, reason, date and hold kept; numbering goes on after openssl's #3.
    let text = import(t, &e, &e.join("openssl.cnf"), "mca2");
    assert!(text.contains("next CRL number 4"), "{text}");
    let second = list(t, "mca2");
    for r in &first {
        let serial = r["serial"].as_str().unwrap();
        assert_eq!(kept(r), kept(row(&second, serial)), "serial {serial}");
    }
    assert_eq!(second.len(), first.len() + 2, "the two issued by mtls");
    let crl4 = mtls_crl(t, "mca2", "crl4.pem");
    assert!(
        crl4.contains("X509v3 CRL Number: \n                4\n"),
        "{crl4}"
    );
    assert!(crl4.contains("Hold Instruction Reject") && crl4.contains("Remove From CRL"));
}

/// Defect 5: a second valid certificate for a subject is refused, naming the first.
fn check_unique_subject(t: &Path) {
    let issue = |cn: &str| {
        run(mtls(t)
            .args(["ca", "--dir", "mca", "--passphrase-file", "pw", "issue"])
            .args([cn, "--profile", "client", "--cn", cn, "--out-dir", "out"]))
    };
    let out = issue("host8");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("serial 08") && err.contains("unique_subject"),
        "{err}"
    );
    req(t, "dup9", UTF8_CN);
    let out = run(mtls(t)
        .args([
            "ca",
            "--dir",
            "mca",
            "--passphrase-file",
            "pw",
            "sign",
            "dup9.csr",
        ])
        .args(["--profile", "client", "--out", "dup9.crt"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("serial 09"), "{err}");
    // The index-only record counts too; a revoked subject may be reissued.
    assert!(!issue("host7").status.success());
    let out = issue("host0");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// default_days = 365 became the default validity of what mtls issues (it was 397).
fn check_validity_days(t: &Path) {
    ok(mtls(t)
        .args([
            "ca",
            "--dir",
            "mca",
            "--passphrase-file",
            "pw",
            "issue",
            "fresh",
        ])
        .args([
            "--profile",
            "server",
            "--cn",
            "fresh.example",
            "--out-dir",
            "out",
        ]));
    let checkend = |days: u32| {
        run(openssl(t)
            .args(["x509", "-noout", "-in", "out/fresh.crt", "-checkend"])
            .arg((days * 86_400).to_string()))
        .status
        .success()
    };
    assert!(checkend(364), "expires within 364 days");
    assert!(!checkend(366), "lives longer than 366 days");
}

fn check_exported_config(e: &Path) {
    let cnf = std::fs::read_to_string(e.join("openssl.cnf")).unwrap();
    assert!(cnf.contains(&format!("dir = {}\n", e.display())), "{cnf}");
    assert!(cnf.contains("unique_subject = yes") && cnf.contains("default_crl_days = 30"));
    assert!(cnf.contains("default_days = 365"), "{cnf}");
    assert!(!cnf.contains("copy_extensions = copy"), "{cnf}");
    // The source's usr_cert, its quoted value intact.
    assert!(cnf.contains("nsComment = \"OpenSSL # Generated\""), "{cnf}");
    let attr = std::fs::read_to_string(e.join("index.txt.attr")).unwrap();
    assert_eq!(attr.trim(), "unique_subject = yes");
    let index = std::fs::read_to_string(e.join("index.txt")).unwrap();
    for form in [
        ",keyTime,20261101000000Z\t01\t",
        ",CAkeyTime,20261015120000Z\t02\t",
        ",holdInstruction,holdInstructionReject\t03\t",
        ",removeFromCRL\t05\t",
        "\\xE5\\xBC\\xA0\\xE4\\xB8\\x89 \\xC3\\x84rger",
    ] {
        assert!(index.contains(form), "{form:?} missing from {index}");
    }
}

/// Defect 3: without `crlnumber`, numbering continues from the CRLs at `crl` / `crl_dir`; a CRL
/// there without a number makes the import refuse, naming the file.
#[test]
fn a_missing_crlnumber_is_taken_from_the_crls_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let ca = rhel_ca(t);
    let cnf = t.join("openssl.cnf");
    std::fs::remove_file(ca.join("crlnumber")).unwrap();
    let text = import(t, &ca, &cnf, "mca");
    assert!(text.contains("next CRL number 2"), "{text}");
    let crl = mtls_crl(t, "mca", "c2.pem");
    assert!(
        crl.contains("X509v3 CRL Number: \n                2\n"),
        "{crl}"
    );

    // A config without `crlnumber` makes openssl write CRLs with no number; such a CRL in
    // crl_dir leaves the numbering unknown.
    let text = std::fs::read_to_string(&cnf).unwrap();
    let no_number = t.join("no-number.cnf");
    std::fs::write(&no_number, text.replace("crlnumber = $dir/crlnumber\n", "")).unwrap();
    ok(ca_cmd(t, &no_number)
        .arg("-gencrl")
        .arg("-out")
        .arg(ca.join("crl/nonumber.pem")));
    let out = run(mtls(t)
        .args([
            "ca",
            "--dir",
            "mca-b",
            "--passphrase-file",
            "pw",
            "import-openssl",
        ])
        .arg(&ca)
        .arg("--config")
        .arg(&cnf));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nonumber.pem") && err.contains("crlnumber"),
        "{err}"
    );
    assert!(!t.join("mca-b/ca.toml").exists());
}
