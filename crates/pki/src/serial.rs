//! Certificate serial numbers: random 128-bit positive integers, printed as uppercase hex.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A certificate serial number (big-endian magnitude, no leading zero bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random serial: 16 bytes, top bit clear (positive without padding) and the next bit
    /// set (always exactly 32 hex digits), so 126 bits of entropy from the system RNG.
    pub fn random() -> Result<Serial> {
        let mut b = [0u8; 16];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::crypto("serial", "system RNG failed"))?;
        b[0] = (b[0] & 0x7f) | 0x40;
        Ok(Serial(b.to_vec()))
    }

    /// From big-endian bytes as found in a certificate (a sign byte of zero is dropped).
    pub fn from_bytes(bytes: &[u8]) -> Serial {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let mut v = bytes[start..].to_vec();
        if v.is_empty() {
            v.push(0);
        }
        Serial(v)
    }

    /// The magnitude bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Uppercase hex with an even number of digits, as in openssl's index.txt: `4F2A…`.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// Colon-separated hex, as `openssl x509 -text` prints it.
    pub fn colon_hex(&self) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl FromStr for Serial {
    type Err = Error;
    /// Accepts hex with optional `0x` prefix, colons and any case; odd lengths are zero-padded.
    fn from_str(s: &str) -> Result<Serial> {
        let bad = || {
            Error::invalid(
                format!("serial {s:?}"),
                "not a hexadecimal serial number (e.g. 4F2A9C… as `mtls ca list` prints it)",
            )
        };
        let t = s.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        let mut digits: String = t.chars().filter(|&c| c != ':').collect();
        if digits.is_empty() || digits.len() > 80 || !digits.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(bad());
        }
        if digits.len() % 2 == 1 {
            digits.insert(0, '0');
        }
        let bytes = mtls_keys::legacy::decode_hex(&digits).ok_or_else(bad)?;
        Ok(Serial::from_bytes(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_32_hex_digits_and_round_trip() {
        for _ in 0..100 {
            let s = Serial::random().unwrap();
            assert_eq!(s.hex().len(), 32);
            assert_eq!(s.hex().parse::<Serial>().unwrap(), s);
            assert_eq!(s.colon_hex().parse::<Serial>().unwrap(), s);
        }
        assert_eq!("0x1".parse::<Serial>().unwrap().hex(), "01");
        assert_eq!("00:A1".parse::<Serial>().unwrap().hex(), "A1");
        assert!("xyz".parse::<Serial>().is_err());
    }
}
