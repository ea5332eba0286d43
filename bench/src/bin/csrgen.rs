//! Makes N certificate requests (EC P-256, one key shared, distinct CNs) for the issuance
//! benchmark, quickly: `csrgen N DIR "/C=CN/ST=GuangDong/O=XXX, Inc."`.

use anyhow::{Context, Result};
use mtls_pki::{KeyType, Name, PrivateKey};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [n, dir, base] = args.as_slice() else {
        anyhow::bail!("usage: csrgen N DIR SUBJECT_PREFIX");
    };
    let n: usize = n.parse().context("N")?;
    std::fs::create_dir_all(dir)?;
    let key = PrivateKey::generate(KeyType::EcP256)?;
    for i in 0..n {
        let subject = Name::parse(&format!("{base}/CN=device{i}.example"))?;
        let pem = mtls_pki::csr::create(&key, &subject, &[])?;
        std::fs::write(format!("{dir}/device{i}.csr"), pem)?;
    }
    Ok(())
}
