//! TLS to PostgreSQL: a throwaway cluster that takes only TLS connections (`hostssl`), with a
//! server certificate from a test CA. `sslmode=require&sslrootcert=CA` connects and verifies;
//! without the CA (the system roots) the certificate is refused; in the clear the server
//! refuses. Runs when `MTLS_TEST_PG` is set (scripts/test), as the other PostgreSQL tests; the
//! cluster is made with the server binaries under /usr/lib/postgresql, as the postgres user.

use std::path::{Path, PathBuf};
use std::process::Command;

use mtls_pki::store::Store;
use mtls_store_pg::PgStore;

struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(cmd: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    }
}

impl Cluster {
    fn start() -> Option<Cluster> {
        if std::env::var_os("MTLS_TEST_PG").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "MTLS_TEST_PG is unset (scripts/test sets it)"
            );
            eprintln!("\n*** SKIPPED: MTLS_TEST_PG is unset; run scripts/test ***\n");
            return None;
        }
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("the PostgreSQL server binaries under /usr/lib/postgresql (apt postgresql)")
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        bins.sort();
        let bin = bins
            .pop()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        let _ = Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status();
        let data = dir.path().join("data");
        let ok = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        // A CA, and the server's certificate for 127.0.0.1 and localhost.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "PG test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let srv = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let write_owned = |name: &str, text: String| {
            let p = data.join(name);
            std::fs::write(&p, text).unwrap();
            let _ = Command::new("chown").arg("postgres").arg(&p).status();
            let _ = Command::new("chmod").arg("600").arg(&p).status();
        };
        write_owned("server.crt", srv.pem());
        write_owned("server.key", key.serialize_pem());
        write_owned(
            "pg_hba.conf",
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n".into(),
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key",
            dir.path().display()
        );
        let ok = as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "-o", &opts, "start"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "pg_ctl start");
        Some(Cluster { bin, dir, port })
    }

    fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres{query}",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn sslmode_require_verifies_the_server_against_sslrootcert() {
    let Some(c) = Cluster::start() else { return };
    let ca = c.dir.path().join("ca.pem");
    let good = c.url(&format!("?sslmode=require&sslrootcert={}", ca.display()));
    let s = PgStore::create(&good).expect("TLS, verified against the test CA");
    assert_eq!(s.counts().unwrap(), (0, 0));
    drop(s);
    PgStore::open(&good).expect("open over TLS");
    let by_name = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=require&sslrootcert={}",
        c.port,
        ca.display()
    );
    PgStore::open(&by_name).expect("the DNS name of the certificate");
    // The system roots do not know the test CA.
    let e = PgStore::open(&c.url("?sslmode=require")).expect_err("unknown issuer");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // In the clear, the server (hostssl only) refuses; sslrootcert alone is a mistake.
    let e = PgStore::open(&c.url("?sslmode=disable")).expect_err("clear text");
    assert!(
        e.to_string().contains("pg_hba") || e.to_string().contains("no encryption"),
        "{e}"
    );
    let e =
        PgStore::open(&c.url(&format!("?sslrootcert={}", ca.display()))).expect_err("no sslmode");
    assert!(e.to_string().contains("sslmode=require"), "{e}");
}
