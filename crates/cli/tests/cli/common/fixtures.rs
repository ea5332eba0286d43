//! Ready-made starting points: a CA with a request to sign, and an `openssl ca` directory.

use super::{Env, leaf_subject};

/// A root CA in `ca` and a good request `good.csr` (+ `good.key`).
pub fn setup() -> Env {
    let env = Env::new();
    env.root_ca();
    env.openssl_csr("good", &leaf_subject("good.example"), &[]);
    env
}

/// A minimal `openssl ca` directory `demoCA` whose key is encrypted with `pass` (in `pw_file`).
pub fn openssl_ca_dir(env: &Env, pass: &str, pw_file: &str) {
    for d in ["demoCA/private", "demoCA/newcerts"] {
        std::fs::create_dir_all(env.path(d)).unwrap();
    }
    env.write("demoCA/index.txt", "");
    env.write("demoCA/serial", "01\n");
    env.write("demoCA/crlnumber", "01\n");
    env.write(pw_file, format!("{pass}\n"));
    let pass_arg = format!("file:{pw_file}");
    env.ssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes256",
        "-pass",
        &pass_arg,
        "-out",
        "demoCA/private/cakey.pem",
    ]);
    env.ssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "demoCA/private/cakey.pem",
        "-passin",
        &pass_arg,
        "-days",
        "3650",
        "-subj",
        "/C=CN/O=XXX, Inc./CN=Imported Root",
        "-out",
        "demoCA/cacert.pem",
    ]);
}
