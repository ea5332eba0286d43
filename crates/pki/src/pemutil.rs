//! PEM-or-DER input handling.
//!
//! Users hand us files made by openssl, step, easy-rsa or mtls, in PEM or DER. Everything that
//! reads an object goes through [`blocks`], so DER is accepted wherever PEM is.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// One decoded object: its PEM label ("" for DER input), headers and DER body.
#[derive(Debug, Clone)]
pub struct Block {
    /// PEM label such as `CERTIFICATE`; empty when the input was raw DER.
    pub label: String,
    /// PEM headers (only legacy encrypted keys have them), in order.
    pub headers: Vec<(String, String)>,
    /// The DER bytes, wiped when dropped: a block may hold a private key.
    pub der: Zeroizing<Vec<u8>>,
}

/// True when `data` looks like PEM text (after optional leading whitespace or text).
pub fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Splits `data` into its PEM blocks, or returns the whole input as one DER block.
///
/// `what` names the input in errors; `expected` says what kind of object was wanted.
pub fn blocks(data: &[u8], what: &str, expected: &'static str) -> Result<Vec<Block>> {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::decode(what, expected, "the input is empty"));
    }
    if !is_pem(data) {
        if data.first() != Some(&0x30) {
            return Err(Error::decode(
                what,
                expected,
                "neither PEM (no -----BEGIN line) nor DER (does not start with a SEQUENCE)",
            ));
        }
        return Ok(vec![Block {
            label: String::new(),
            headers: Vec::new(),
            der: Zeroizing::new(data.to_vec()),
        }]);
    }
    let pems = pem::parse_many(data).map_err(|e| Error::decode(what, expected, e))?;
    if pems.is_empty() {
        return Err(Error::decode(what, expected, "no complete PEM block found"));
    }
    Ok(pems
        .into_iter()
        .map(|p| Block {
            label: p.tag().to_string(),
            headers: p
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            der: Zeroizing::new(p.into_contents()),
        })
        .collect())
}

/// Encodes DER as PEM with `label`, LF line endings, 64-column lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_and_garbage() {
        assert_eq!(blocks(&[0x30, 0x00], "x", "certificate").unwrap().len(), 1);
        assert!(blocks(b"hello", "x", "certificate").is_err());
        assert!(blocks(b"", "x", "certificate").is_err());
        assert!(blocks(b"-----BEGIN CERTIFICATE-----\nAAAA", "x", "certificate").is_err());
    }
}
