//! The objects the `show` tests read, made by the openssl CLI once per test binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mtls_pki::show::{ExtValue, Extension, Shown, show};

const EXT_CNF: &str = r#"
[v3_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:ca@example.com,dirName:dir_sect,RID:1.2.3.4
certificatePolicies = ia5org,@pol
[dir_sect]
C = CN
O = Dir Example
CN = dir
[pol]
policyIdentifier = 1.3.6.1.4.1.99999.2.1
CPS.1 = "https://example.com/cps"
userNotice.1 = @notice
[notice]
explicitText = "Test notice"
[v3_leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth,1.3.6.1.4.1.99999.1
subjectAltName = DNS:www.example.com,DNS:*.example.com,IP:10.0.0.1,IP:2001:db8::1,email:admin@example.com,URI:spiffe://example.com/svc
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
tlsfeature = status_request
[req]
prompt = no
distinguished_name = dn
attributes = attrs
req_extensions = reqext
[dn]
C = CN
O = Example
CN = www.example.com
[attrs]
challengePassword = s3cret-pass
unstructuredName = Example Unit
[reqext]
subjectAltName = DNS:www.example.com,IP:192.0.2.1
extendedKeyUsage = clientAuth
"#;

/// Everything made once per test run: an RSA root, an EC P-384 CA, an EC intermediate under the
/// root, a leaf under the intermediate, the leaf's request, and a CRL of the intermediate that
/// revokes the leaf.
pub struct Pki {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Pki {
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.file(name)).unwrap()
    }
    pub fn openssl(&self, args: &[&str]) -> String {
        openssl(&self.path, args)
    }
    /// `openssl x509 -in NAME OPTION -noout`, the part after `=`.
    pub fn x509_value(&self, name: &str, option: &[&str]) -> String {
        let mut args = vec!["x509", "-in", name, "-noout"];
        args.extend_from_slice(option);
        let out = self.openssl(&args);
        out.trim().split_once('=').unwrap().1.to_string()
    }
}

pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let p = Pki { _dir: dir, path };
        std::fs::write(p.file("ext.cnf"), EXT_CNF).unwrap();
        p.openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out",
            "root.crt", "-days", "3650", "-subj", "/C=CN/ST=GuangDong/O=Example/CN=Example RSA Root",
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
            "-addext", "crlDistributionPoints=URI:http://crl.example/root.crl",
            "-addext", "authorityInfoAccess=OCSP;URI:http://ocsp.example/,caIssuers;URI:http://ca.example/root.crt",
            "-addext", "certificatePolicies=2.5.29.32.0,1.2.3.4",
            "-addext", "nameConstraints=permitted;DNS:example.com,permitted;IP:10.0.0.0/255.0.0.0,excluded;email:bad.example",
        ]);
        p.openssl(&[
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
            "-keyout", "ec.key", "-out", "ec.crt", "-days", "365", "-subj", "/O=Example/CN=Example EC CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectAltName=email:ca@example.com",
            "-addext", "nsComment=made by the test",
            "-addext", "1.2.3.4.5=critical,DER:01:02:03",
            "-addext", "freshestCRL=URI:http://crl.example/delta.crl",
        ]);
        p.openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "int.key"]);
        p.openssl(&["req", "-new", "-key", "int.key", "-subj", "/C=CN/O=Example/CN=Example Intermediate", "-out", "int.csr"]);
        p.openssl(&[
            "x509", "-req", "-in", "int.csr", "-CA", "root.crt", "-CAkey", "root.key", "-days", "1825",
            "-extfile", "ext.cnf", "-extensions", "v3_int", "-set_serial", "0x1001", "-out", "int.crt",
        ]);
        p.openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "leaf.key"]);
        p.openssl(&["req", "-new", "-key", "leaf.key", "-config", "ext.cnf", "-out", "leaf.csr"]);
        p.openssl(&[
            "x509", "-req", "-in", "leaf.csr", "-CA", "int.crt", "-CAkey", "int.key", "-days", "30",
            "-extfile", "ext.cnf", "-extensions", "v3_leaf", "-set_serial", "0x0ABCDEF012", "-out", "leaf.crt",
        ]);
        let chain = [p.read("leaf.crt"), p.read("int.crt"), p.read("root.crt")].concat();
        std::fs::write(p.file("chain.pem"), chain).unwrap();
        let ca_cnf = format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = {dir}\ncertificate = int.crt\n\
             private_key = int.key\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n\
             crl_extensions = crl_ext\n[crl_ext]\nauthorityKeyIdentifier = keyid:always\n\
             2.5.29.27 = critical,DER:02:02:0F:FF\nfreshestCRL = URI:http://crl.example/delta.crl\n\
             issuingDistributionPoint = critical,@idp\n[idp]\nfullname = URI:http://crl.example/int.crl\nonlyuser = TRUE\n",
            dir = p.path.display()
        );
        std::fs::write(p.file("ca.cnf"), ca_cnf).unwrap();
        std::fs::write(p.file("index.txt"), "").unwrap();
        std::fs::write(p.file("crlnumber"), "1000\n").unwrap();
        p.openssl(&["ca", "-config", "ca.cnf", "-revoke", "leaf.crt", "-crl_compromise", "20200101000000Z"]);
        p.openssl(&["ca", "-config", "ca.cnf", "-gencrl", "-out", "int.crl"]);
        p
    })
}

pub fn one(data: &[u8]) -> Shown {
    let mut v = show(data, "test input").unwrap();
    assert_eq!(v.len(), 1, "{v:#?}");
    v.remove(0)
}

pub fn ext<'a>(s: &'a Shown, name: &str) -> &'a Extension {
    s.extensions
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:#?}", s.extensions))
}

pub fn names(e: &Extension) -> Vec<String> {
    match &e.value {
        ExtValue::GeneralNames { names } => names.clone(),
        other => panic!("not general names: {other:?}"),
    }
}
