//! Garbage, plaintext HTTP and a hand-built TLS 1.0 ClientHello.

#[allow(unused_imports)]
use super::*;

// ---- garbage, HTTP, TLS 1.0 ---------------------------------------------------------------

/// A small deterministic generator (xorshift64*), so that a failing seed can be replayed.
pub(crate) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `bytes` random bytes from `seed`.
pub fn random_bytes(bytes: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..bytes).map(|_| r.next() as u8).collect()
}

/// Sends `bytes` random bytes (seeded) and reports how the server reacted.
pub async fn garbage(t: &Target, bytes: usize, seed: u64, wait: Duration) -> Result<Value> {
    let data = random_bytes(bytes, seed);
    let mut v = raw_exchange("garbage", t, &data, wait).await?;
    v["seed"] = json!(seed);
    v["first_bytes"] = json!(hex(&data[..data.len().min(8)]));
    Ok(v)
}

/// Sends a plaintext `GET / HTTP/1.1` request.
pub async fn http(t: &Target, wait: Duration) -> Result<Value> {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: abuse/1\r\nAccept: */*\r\n\r\n",
        t.addr
    );
    raw_exchange("http", t, req.as_bytes(), wait).await
}

/// A TLS 1.0-only ClientHello record, built by hand: record and client version 3.1, no
/// supported_versions or signature_algorithms extension, TLS 1.0 CBC suites only.
pub fn tls10_client_hello() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[0x03, 0x01]); // client_version TLS 1.0
    body.extend_from_slice(&random_bytes(32, 0x1010)); // random
    body.push(0); // session_id
    let suites: [u16; 6] = [0xc00a, 0xc009, 0xc014, 0xc013, 0x0035, 0x002f];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext = Vec::new();
    // supported_groups: secp256r1, secp384r1
    ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x18]);
    // ec_point_formats: uncompressed
    ext.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    // renegotiation_info (empty)
    ext.extend_from_slice(&[0xff, 0x01, 0x00, 0x01, 0x00]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01]; // ClientHello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Sends a TLS 1.0-only ClientHello.
pub async fn tls10(t: &Target, wait: Duration) -> Result<Value> {
    raw_exchange("tls10", t, &tls10_client_hello(), wait).await
}
