//! Times loading a CRL file into the socket layer's `CrlHandle` (parse, signature fields, the
//! revoked-serial index): `crlload FILE` prints `{"seconds": …, "entries": …}`.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: crlload FILE"))?;
    let handle = mtls_socket::CrlHandle::default();
    let t0 = Instant::now();
    let summary = handle.add_file(path.as_ref())?;
    let secs = t0.elapsed().as_secs_f64();
    println!("{{\"seconds\":{secs:.3},\"entries\":{}}}", summary.entries);
    Ok(())
}
