//! Validity as a duration (`--validity 90s`, a profile's `validity = "15m"`) and `[urls]`
//! (cRLDistributionPoints, authorityInfoAccess), judged by openssl and Python's
//! `cryptography`.

use crate::common::Env;

/// What a Python `cryptography` script printed about `cert` (its first argument), line by line.
fn python_on(env: &Env, script: &str, cert: &str) -> Vec<String> {
    let script = format!(
        "import sys\nfrom cryptography import x509\n\
         c = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())\n{script}"
    );
    let out = std::process::Command::new("python3")
        .current_dir(env.root())
        .args(["-c", &script, cert])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// notAfter − notBefore of `cert`, in seconds, as Python's `cryptography` reads them.
pub fn life_secs(env: &Env, cert: &str) -> i64 {
    let script = "print(int((c.not_valid_after_utc - c.not_valid_before_utc).total_seconds()))\n";
    python_on(env, script, cert)[0].parse().expect("seconds")
}

/// The authorityInfoAccess (method, URL) and cRLDistributionPoints (`crl`, URL) of `cert`.
fn aia(env: &Env, cert: &str) -> Vec<String> {
    let script = "e = c.extensions.get_extension_for_class(x509.AuthorityInformationAccess)\n\
        for d in e.value: print(d.access_method._name, d.access_location.value)\n\
        e = c.extensions.get_extension_for_class(x509.CRLDistributionPoints)\n\
        for p in e.value:\n    for n in p.full_name: print('crl', n.value)\n";
    python_on(env, script, cert)
}

fn edit_toml(env: &Env, from: &str, to: &str) {
    let toml = env.read("ca/ca.toml");
    assert!(toml.contains(from), "{toml}");
    env.write("ca/ca.toml", toml.replacen(from, to, 1));
}

#[test]
fn certificates_can_live_seconds_minutes_or_days() {
    let env = Env::new();
    env.root_ca();
    env.issue("ca", "brief", "client", &["--validity", "90s"]);
    assert_eq!(life_secs(&env, "out/brief.crt"), 90 + 60);
    env.issue("ca", "two", "client", &["--days", "2"]);
    assert_eq!(life_secs(&env, "out/two.crt"), 2 * 86_400 + 60);
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "out/brief.crt"]);

    // Both at once, or a bad duration: clap refuses, naming the flag.
    let out = env
        .mtls(&[
            "ca",
            "issue",
            "x",
            "--profile",
            "client",
            "--days",
            "1",
            "--validity",
            "1h",
        ])
        .run()
        .fails();
    assert_eq!(out.code, Some(2), "{}", out.all());
    for bad in ["0", "1w", "-1m", "1.5h", "inf"] {
        let flag = format!("--validity={bad}");
        let out = env
            .mtls(&["ca", "issue", "x", "--profile", "client", &flag])
            .run()
            .fails();
        assert!(out.stderr.contains("--validity"), "{bad}: {}", out.stderr);
    }

    // A profile whose default is a duration; `ca sign` takes --validity too.
    edit_toml(
        &env,
        "[profiles.client]",
        "[profiles.ephemeral]\nvalidity = \"15m\"\nkey_usage = [\"digitalSignature\"]\n\
         extended_key_usage = [\"clientAuth\"]\n\n[profiles.client]",
    );
    env.issue("ca", "eph", "ephemeral", &[]);
    assert_eq!(life_secs(&env, "out/eph.crt"), 15 * 60 + 60);
    let csr = env.openssl_csr("req1", &crate::common::leaf_subject("req1"), &[]);
    env.ok(&[
        "ca",
        "sign",
        &csr,
        "--profile",
        "client",
        "--validity",
        "36h",
        "--out",
        "out/req1.crt",
    ]);
    assert_eq!(life_secs(&env, "out/req1.crt"), 36 * 3600 + 60);

    // days and validity together in a profile: refused, naming the profile and the file.
    let eph = "[profiles.ephemeral]\nvalidity = \"15m\"\n";
    edit_toml(&env, eph, &format!("{eph}days = 3\n"));
    let out = env
        .mtls(&["ca", "issue", "z", "--profile", "client"])
        .run()
        .failure();
    assert!(
        out.stderr.contains("ephemeral")
            && out.stderr.contains("not both")
            && out.stderr.contains("ca.toml"),
        "{}",
        out.stderr
    );
    edit_toml(
        &env,
        &format!("{eph}days = 3\n"),
        "[profiles.ephemeral]\nvalidity = \"15 minutes\"\n",
    );
    let out = env
        .mtls(&["ca", "issue", "z", "--profile", "client"])
        .run()
        .failure();
    assert!(
        out.stderr.contains("15 minutes") && out.stderr.contains("ca.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn urls_in_ca_toml_go_into_every_issued_certificate() {
    let env = Env::new();
    env.root_ca();
    edit_toml(
        &env,
        "\n[urls]\n",
        "\n[urls]\ncrl = \"http://ca.example:9080/crl\"\nocsp = \"http://ocsp.example/\"\n\
         ca_issuers = [\"http://ca.example:9080/ca.crt\", \"ldap://ldap.example/cn=Root\"]\n",
    );
    env.issue("ca", "web", "server", &["--san", "DNS:web.example"]);
    let text = env.cert_text("out/web.crt");
    for want in [
        "X509v3 CRL Distribution Points",
        "URI:http://ca.example:9080/crl",
        "OCSP - URI:http://ocsp.example/",
        "CA Issuers - URI:http://ca.example:9080/ca.crt",
        "CA Issuers - URI:ldap://ldap.example/cn=Root",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert_eq!(
        aia(&env, "out/web.crt"),
        [
            "OCSP http://ocsp.example/",
            "caIssuers http://ca.example:9080/ca.crt",
            "caIssuers ldap://ldap.example/cn=Root",
            "crl http://ca.example:9080/crl",
        ]
    );
    env.ssl(&["verify", "-CAfile", "ca/ca.crt", "out/web.crt"]);

    // A URL that is not one: every command refuses, naming the entry and the file.
    for bad in [
        "ca.example/crl",
        "http://a b/crl",
        "ftp://ca.example/crl",
        "http://",
    ] {
        let toml = env.read("ca/ca.toml");
        let start = toml.find("\ncrl = \"").unwrap() + 1;
        let end = start + toml[start..].find('\n').unwrap();
        env.write(
            "ca/ca.toml",
            format!("{}crl = \"{bad}\"{}", &toml[..start], &toml[end..]),
        );
        let out = env
            .mtls(&["ca", "issue", "z", "--profile", "client"])
            .run()
            .failure();
        assert!(
            out.stderr.contains("urls.crl") && out.stderr.contains("ca.toml"),
            "{bad}: {}",
            out.stderr
        );
    }
}

#[test]
fn openssl_urls_are_imported_into_urls_and_exported_back() {
    let env = Env::new();
    crate::common::openssl_ca_dir(&env, crate::common::PASS, "pw");
    env.write(
        "demoCA/openssl.cnf",
        "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndir = ./demoCA\n\
         database = $dir/index.txt\nnew_certs_dir = $dir/newcerts\ncertificate = $dir/cacert.pem\n\
         private_key = $dir/private/cakey.pem\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n\
         default_md = sha256\ndefault_days = 365\npolicy = policy_any\nx509_extensions = usr_cert\n\
         [ policy_any ]\ncommonName = supplied\n\
         [ usr_cert ]\nbasicConstraints = CA:FALSE\n\
         crlDistributionPoints = URI:http://crl.example/root.crl, @more_points\n\
         authorityInfoAccess = OCSP;URI:http://ocsp.example/, caIssuers;URI:http://crl.example/root.crt\n",
    );
    let out = env.ok(&[
        "ca",
        "import-openssl",
        "demoCA",
        "--config",
        "demoCA/openssl.cnf",
        "--dir",
        "ca",
    ]);
    let said = out.all();
    assert!(
        said.contains("[urls]") && said.contains("@more_points"),
        "{said}"
    );
    let toml = env.read("ca/ca.toml");
    assert!(
        toml.contains("crl = [\"http://crl.example/root.crl\"]"),
        "{toml}"
    );

    // mtls issues with them ...
    env.issue("ca", "dev", "client", &[]);
    let text = env.cert_text("out/dev.crt");
    assert!(
        text.contains("URI:http://crl.example/root.crl")
            && text.contains("OCSP - URI:http://ocsp.example/")
            && text.contains("CA Issuers - URI:http://crl.example/root.crt"),
        "{text}"
    );
    // ... and so does `openssl ca` with the exported configuration.
    env.ok(&["ca", "export-openssl", "--dir", "ca", "exported"]);
    let csr = env.openssl_csr("req", "/CN=req", &[]);
    env.write("exp.pass", format!("{}\n", crate::common::PASS));
    env.ssl(&[
        "ca",
        "-batch",
        "-config",
        "exported/openssl.cnf",
        "-extensions",
        "profile_client",
        "-passin",
        "file:exp.pass",
        "-in",
        &csr,
        "-out",
        "req.crt",
    ]);
    let text = env.cert_text("req.crt");
    assert!(
        text.contains("URI:http://crl.example/root.crl")
            && text.contains("CA Issuers - URI:http://crl.example/root.crt"),
        "{text}"
    );
}
