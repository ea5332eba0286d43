//! Chains made with the `openssl` CLI (OpenSSL 3) in a temporary directory; each verdict is
//! compared with `openssl verify` on the same files.

use std::path::PathBuf;
use std::process::Command;

use mtls_verify::{
    CertificateDer, ErrorKind as K, Purpose, Report, RevocationMode, RevocationScope, Verifier,
    VerifyInput, load_certificates, load_crls, unix_time,
};
use time::{Duration, OffsetDateTime};

const CONFIG: &str = r#"
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[v3_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_notca]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:server.test, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:client.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ca]
default_ca = myca
[myca]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
certificate = ./inter.pem
private_key = ./inter.key
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_crl_days = 7
policy = pol
[pol]
commonName = supplied
"#;

struct Dir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().to_path_buf();
        std::fs::write(path.join("openssl.cnf"), CONFIG).unwrap();
        std::fs::create_dir(path.join("newcerts")).unwrap();
        std::fs::write(path.join("index.txt"), "").unwrap();
        std::fs::write(path.join("serial"), "1000\n").unwrap();
        std::fs::write(path.join("crlnumber"), "01\n").unwrap();
        Dir { _tmp: tmp, path }
    }

    fn p(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Runs openssl in the directory; panics on failure.
    fn ossl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.path)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `openssl verify` verdict (true = OK).
    fn openssl_verify(&self, args: &[&str]) -> bool {
        let out = Command::new("openssl")
            .arg("verify")
            .args(args)
            .current_dir(&self.path)
            .output()
            .expect("run openssl verify");
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains(": OK")
    }

    /// A key: "ec", "rsa" or "ed25519".
    fn key(&self, name: &str, kind: &str) {
        let key = format!("{name}.key");
        match kind {
            "rsa" => self.ossl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &key,
            ]),
            "ed25519" => self.ossl(&["genpkey", "-algorithm", "ED25519", "-out", &key]),
            _ => self.ossl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ]),
        }
    }

    fn root(&self, name: &str, cn: &str, kind: &str) {
        self.key(name, kind);
        let subj = format!("/CN={cn}");
        self.ossl(&[
            "req",
            "-x509",
            "-config",
            "openssl.cnf",
            "-extensions",
            "v3_root",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &subj,
            "-days",
            "30",
        ]);
    }

    /// Issues `name` (subject `cn`, extensions `ext`) signed by `issuer`.
    fn issue(&self, name: &str, cn: &str, kind: &str, issuer: &str, ext: &str, extra: &[&str]) {
        self.key(name, kind);
        let subj = format!("/CN={cn}");
        self.ossl(&[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &subj,
        ]);
        let mut args = vec![
            "x509".to_string(),
            "-req".into(),
            "-in".into(),
            format!("{name}.csr"),
            "-CA".into(),
            format!("{issuer}.pem"),
            "-CAkey".into(),
            format!("{issuer}.key"),
            "-CAcreateserial".into(),
            "-out".into(),
            format!("{name}.pem"),
            "-days".into(),
            "30".into(),
            "-extfile".into(),
            "openssl.cnf".into(),
            "-extensions".into(),
            ext.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ossl(&args);
    }

    fn certs(&self, name: &str) -> Vec<CertificateDer<'static>> {
        load_certificates(&std::fs::read(self.p(name)).unwrap(), name).unwrap()
    }

    /// Root → intermediate (pathlen 0) → leaf for server.test / 127.0.0.1.
    fn standard(&self, kind: &str) {
        self.root("root", "OpenSSL Root", kind);
        self.issue(
            "inter",
            "OpenSSL Intermediate",
            kind,
            "root",
            "v3_inter",
            &[],
        );
        self.issue("leaf", "server.test", kind, "inter", "v3_leaf", &[]);
    }
}

fn verify(
    dir: &Dir,
    ca: &str,
    untrusted: &[&str],
    leaf: &str,
    f: impl FnOnce(VerifyInput<'_>) -> VerifyInput<'_>,
) -> Report {
    verify_with(dir, ca, untrusted, leaf, |v| v, f)
}

fn verify_with(
    dir: &Dir,
    ca: &str,
    untrusted: &[&str],
    leaf: &str,
    configure: impl FnOnce(Verifier) -> Verifier,
    f: impl FnOnce(VerifyInput<'_>) -> VerifyInput<'_>,
) -> Report {
    let v = configure(Verifier::new(dir.certs(ca)).unwrap());
    let inters: Vec<CertificateDer<'static>> =
        untrusted.iter().flat_map(|u| dir.certs(u)).collect();
    let leaf = dir.certs(leaf).remove(0);
    let input = VerifyInput::new(&leaf)
        .intermediates(&inters)
        .purpose(Purpose::ServerAuth);
    v.verify(&f(input))
}

fn kinds(r: &Report) -> Vec<(K, usize)> {
    r.errors
        .iter()
        .map(|e| (e.kind, e.cert_index.unwrap_or(usize::MAX)))
        .collect()
}

#[test]
fn good_chains_agree_with_openssl() {
    for kind in ["ec", "rsa", "ed25519"] {
        let d = Dir::new();
        d.standard(kind);
        let r = verify(&d, "root.pem", &["inter.pem"], "leaf.pem", |i| {
            i.host("server.test")
        });
        assert!(r.is_ok(), "{kind}: {r}");
        let r = verify(&d, "root.pem", &["inter.pem"], "leaf.pem", |i| {
            i.host("127.0.0.1")
        });
        assert!(r.is_ok(), "{kind}: {r}");
        assert!(d.openssl_verify(&[
            "-CAfile",
            "root.pem",
            "-untrusted",
            "inter.pem",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "server.test",
            "leaf.pem",
        ]));
    }
}

#[test]
fn rsa_pss_chain() {
    let d = Dir::new();
    d.root("root", "PSS Root", "rsa");
    let pss = [
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
    ];
    d.issue("inter", "PSS Intermediate", "rsa", "root", "v3_inter", &pss);
    d.issue(
        "leaf",
        "server.test",
        "ec",
        "inter",
        "v3_leaf",
        &[&pss[..], &["-sha384"]].concat(),
    );
    let r = verify(&d, "root.pem", &["inter.pem"], "leaf.pem", |i| {
        i.host("server.test")
    });
    assert!(r.is_ok(), "{r}");
    assert!(d.openssl_verify(&["-CAfile", "root.pem", "-untrusted", "inter.pem", "leaf.pem"]));
}

#[test]
fn failures_agree_with_openssl() {
    let d = Dir::new();
    d.standard("ec");
    let base = [
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "-purpose",
        "sslserver",
    ];

    // Wrong host.
    let r = verify(&d, "root.pem", &["inter.pem"], "leaf.pem", |i| {
        i.host("other.test")
    });
    assert_eq!(kinds(&r), [(K::HostNameMismatch, 0)], "{r}");
    assert!(
        !d.openssl_verify(&[&base[..], &["-verify_hostname", "other.test", "leaf.pem"]].concat())
    );

    // Expired (verification time in 60 days) with the wrong host: every certificate expired,
    // and the host mismatch, all reported.
    let later = OffsetDateTime::now_utc() + Duration::days(60);
    let r = verify(&d, "root.pem", &["inter.pem"], "leaf.pem", |i| {
        i.time(unix_time(later)).host("other.test")
    });
    assert_eq!(
        kinds(&r),
        [
            (K::CertificateExpired, 0),
            (K::HostNameMismatch, 0),
            (K::CertificateExpired, 1),
            (K::CertificateExpired, 2)
        ],
        "{r}"
    );
    let attime = later.unix_timestamp().to_string();
    assert!(!d.openssl_verify(&[&base[..], &["-attime", &attime, "leaf.pem"]].concat()));

    // Missing intermediate.
    let r = verify(&d, "root.pem", &[], "leaf.pem", |i| i);
    assert_eq!(
        kinds(&r),
        [(K::UnableToGetLocalIssuerCertificate, 0)],
        "{r}"
    );
    assert!(!d.openssl_verify(&["-CAfile", "root.pem", "leaf.pem"]));

    // Untrusted root in the chain.
    d.root("other", "Other Root", "ec");
    std::fs::write(
        d.p("chain.pem"),
        [
            std::fs::read(d.p("inter.pem")).unwrap(),
            std::fs::read(d.p("root.pem")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let r = verify(&d, "other.pem", &["chain.pem"], "leaf.pem", |i| i);
    assert_eq!(kinds(&r), [(K::SelfSignedCertificateInChain, 2)], "{r}");
    assert!(!d.openssl_verify(&[
        "-CAfile",
        "other.pem",
        "-untrusted",
        "chain.pem",
        "leaf.pem"
    ]));

    // Self-signed leaf.
    let r = verify(&d, "other.pem", &[], "root.pem", |i| {
        i.purpose(Purpose::Any)
    });
    assert_eq!(kinds(&r), [(K::SelfSignedCertificate, 0)], "{r}");
    assert!(!d.openssl_verify(&["-CAfile", "other.pem", "root.pem"]));

    // Wrong purpose.
    d.issue("client", "client.test", "ec", "inter", "v3_client", &[]);
    let r = verify(&d, "root.pem", &["inter.pem"], "client.pem", |i| i);
    assert_eq!(kinds(&r), [(K::InvalidPurpose, 0)], "{r}");
    assert!(!d.openssl_verify(&[&base[..], &["client.pem"]].concat()));
    assert!(d.openssl_verify(&[
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "-purpose",
        "sslclient",
        "client.pem"
    ]));
    let r = verify(&d, "root.pem", &["inter.pem"], "client.pem", |i| {
        i.purpose(Purpose::ClientAuth)
    });
    assert!(r.is_ok(), "{r}");

    // Bad signature.
    let mut der = d.certs("leaf.pem").remove(0).to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    std::fs::write(d.p("bad.der"), &der).unwrap();
    d.ossl(&[
        "x509", "-inform", "DER", "-in", "bad.der", "-out", "bad.pem",
    ]);
    let r = verify(&d, "root.pem", &["inter.pem"], "bad.pem", |i| i);
    assert_eq!(kinds(&r), [(K::CertificateSignatureFailed, 0)], "{r}");
    assert!(!d.openssl_verify(&[&base[..], &["bad.pem"]].concat()));
}

#[test]
fn ca_rules_agree_with_openssl() {
    let d = Dir::new();
    d.standard("ec");
    // An intermediate that is not a CA.
    d.issue("notca", "Not A CA", "ec", "root", "v3_notca", &[]);
    d.issue("leaf2", "server.test", "ec", "notca", "v3_leaf", &[]);
    let r = verify(&d, "root.pem", &["notca.pem"], "leaf2.pem", |i| i);
    assert_eq!(
        kinds(&r),
        [(K::InvalidCaCertificate, 1), (K::InvalidCaCertificate, 1)],
        "{r}"
    );
    assert!(!d.openssl_verify(&[
        "-CAfile",
        "root.pem",
        "-untrusted",
        "notca.pem",
        "leaf2.pem"
    ]));

    // pathlen:0 intermediate above another CA.
    d.issue(
        "inter2",
        "OpenSSL Intermediate 2",
        "ec",
        "inter",
        "v3_ca",
        &[],
    );
    d.issue("leaf3", "server.test", "ec", "inter2", "v3_leaf", &[]);
    std::fs::write(
        d.p("two.pem"),
        [
            std::fs::read(d.p("inter.pem")).unwrap(),
            std::fs::read(d.p("inter2.pem")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let r = verify(&d, "root.pem", &["two.pem"], "leaf3.pem", |i| i);
    assert_eq!(kinds(&r), [(K::PathLengthExceeded, 2)], "{r}");
    assert!(!d.openssl_verify(&["-CAfile", "root.pem", "-untrusted", "two.pem", "leaf3.pem"]));

    // Trusting the intermediate directly is enough (like -partial_chain).
    let r = verify(&d, "inter.pem", &[], "leaf.pem", |i| i);
    assert!(r.is_ok(), "{r}");
    assert!(d.openssl_verify(&["-partial_chain", "-CAfile", "inter.pem", "leaf.pem"]));
}

#[test]
fn crls_agree_with_openssl() {
    let d = Dir::new();
    d.standard("ec");
    let leaf_only = |v: Verifier| {
        v.revocation(RevocationMode {
            scope: RevocationScope::EndEntity,
            require_status: true,
            allow_expired_crls: false,
        })
    };
    let with_crl = |file: &str| {
        let crls = load_crls(&std::fs::read(d.p(file)).unwrap(), file).unwrap();
        move |v: Verifier| leaf_only(v.crls(crls))
    };
    let crl_check = |file: &str| {
        d.openssl_verify(&[
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "inter.pem",
            "-CRLfile",
            file,
            "leaf.pem",
        ])
    };

    // A CRL listing nothing.
    d.ossl(&[
        "ca",
        "-config",
        "openssl.cnf",
        "-gencrl",
        "-out",
        "empty.crl",
    ]);
    let r = verify_with(
        &d,
        "root.pem",
        &["inter.pem"],
        "leaf.pem",
        with_crl("empty.crl"),
        |i| i,
    );
    assert!(r.is_ok(), "{r}");
    assert!(crl_check("empty.crl"));

    // Revoke the leaf.
    d.ossl(&[
        "ca",
        "-config",
        "openssl.cnf",
        "-revoke",
        "leaf.pem",
        "-crl_reason",
        "keyCompromise",
    ]);
    d.ossl(&[
        "ca",
        "-config",
        "openssl.cnf",
        "-gencrl",
        "-out",
        "revoked.crl",
    ]);
    let r = verify_with(
        &d,
        "root.pem",
        &["inter.pem"],
        "leaf.pem",
        with_crl("revoked.crl"),
        |i| i,
    );
    assert_eq!(kinds(&r), [(K::CertificateRevoked, 0)], "{r}");
    assert!(r.errors[0].detail.contains("keyCompromise"), "{r}");
    assert!(!crl_check("revoked.crl"));

    // A CRL with the intermediate's name but signed by another key is not used.
    d.key("fake", "ec");
    d.ossl(&[
        "req",
        "-x509",
        "-config",
        "openssl.cnf",
        "-extensions",
        "v3_root",
        "-key",
        "fake.key",
        "-out",
        "fake.pem",
        "-subj",
        "/CN=OpenSSL Intermediate",
    ]);
    d.ossl(&[
        "ca",
        "-config",
        "openssl.cnf",
        "-gencrl",
        "-keyfile",
        "fake.key",
        "-cert",
        "fake.pem",
        "-out",
        "fake.crl",
    ]);
    let r = verify_with(
        &d,
        "root.pem",
        &["inter.pem"],
        "leaf.pem",
        with_crl("fake.crl"),
        |i| i,
    );
    assert_eq!(kinds(&r), [(K::CertificateStatusUnknown, 0)], "{r}");
    assert!(!crl_check("fake.crl"));

    // No CRL at all while one is required.
    let r = verify_with(&d, "root.pem", &["inter.pem"], "leaf.pem", leaf_only, |i| i);
    assert_eq!(kinds(&r), [(K::CertificateStatusUnknown, 0)], "{r}");
    assert!(!d.openssl_verify(&[
        "-crl_check",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "leaf.pem"
    ]));
}
