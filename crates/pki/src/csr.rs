//! Certificate signing requests (PKCS#10): creating them and reading them back, signature checked.

use std::path::Path;

use rcgen::CertificateParams;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::name::Name;
use crate::san::San;
use crate::{fsutil, inspect, pemutil};

/// A parsed, signature-checked request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where it came from (file name), for messages.
    pub what: String,
    /// The request's subject, values decoded whatever their string type.
    pub subject: Name,
    /// subjectAltNames requested through the extensionRequest attribute.
    pub sans: Vec<San>,
    /// The DER SubjectPublicKeyInfo to certify.
    pub spki_der: Vec<u8>,
    /// Extensions present in the request that the profile overrides (KU, EKU, basicConstraints).
    pub overridden: Vec<String>,
}

/// Creates a PEM request for `key` with `subject` and `sans`.
pub fn create(key: &PrivateKey, subject: &Name, sans: &[San]) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.to_rcgen()?;
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
    let csr = params
        .serialize_request(key.key_pair())
        .map_err(|e| Error::crypto("creating the request", e))?;
    Ok(pemutil::encode("CERTIFICATE REQUEST", csr.der()))
}

impl Request {
    /// Reads the request in a PEM or DER file.
    pub fn load(path: &Path) -> Result<Request> {
        let data = fsutil::read(path)?;
        Self::from_bytes(&data, &path.display().to_string())
    }

    /// Decodes one request from PEM or DER bytes and checks its signature.
    pub fn from_bytes(data: &[u8], what: &str) -> Result<Request> {
        let blocks = pemutil::blocks(data, what, "certificate request")?;
        let block = blocks
            .iter()
            .find(|b| b.label.is_empty() || b.label.ends_with("CERTIFICATE REQUEST"))
            .ok_or_else(|| {
                Error::decode(what, "certificate request", "no CERTIFICATE REQUEST block")
            })?;
        Self::from_der(&block.der, what)
    }

    /// Decodes a DER request and checks its signature.
    pub fn from_der(der: &[u8], what: &str) -> Result<Request> {
        let (rest, csr) = X509CertificationRequest::from_der(der)
            .map_err(|e| Error::decode(what, "certificate request", e))?;
        if !rest.is_empty() {
            return Err(Error::decode(
                what,
                "certificate request",
                format!("{} bytes of trailing data", rest.len()),
            ));
        }
        let info = &csr.certification_request_info;
        let key_desc = inspect::describe(&info.subject_pki);
        if !inspect::is_supported(&key_desc) {
            return Err(Error::UnsupportedKey {
                what: what.into(),
                detail: key_desc,
            });
        }
        // aws-lc cannot check signatures of RSA keys under 2048 bits; such requests are refused
        // for their key before their signature is looked at.
        if let Some(bits) = inspect::rsa_bits(info.subject_pki.raw)
            && bits < crate::key::MIN_RSA_BITS
        {
            return Err(Error::WeakRsaKey {
                what: what.into(),
                bits,
            });
        }
        csr.verify_signature()
            .map_err(|_| Error::BadRequestSignature { what: what.into() })?;
        let subject = Name::from_x509(&info.subject, what)?;
        // The same rules as a subject typed on the command line: no control characters (they
        // would forge log lines and break an exported index.txt), bounded lengths, a 2-letter C.
        subject.check(what)?;
        let mut sans = Vec::new();
        let mut overridden = Vec::new();
        for attr in info.iter_attributes() {
            let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() else {
                continue;
            };
            for ext in &req.extensions {
                match ext.parsed_extension() {
                    ParsedExtension::SubjectAlternativeName(san) => {
                        for g in &san.general_names {
                            let san = San::from_general_name(g, what)?;
                            // The same syntax as --san: no `*.com`, `a b.example` or
                            // `URI:javascript:…` from a requester.
                            san.check()
                                .map_err(|e| Error::invalid(what, e.to_string()))?;
                            sans.push(san);
                        }
                    }
                    ParsedExtension::KeyUsage(_) => overridden.push("keyUsage".into()),
                    ParsedExtension::ExtendedKeyUsage(_) => {
                        overridden.push("extendedKeyUsage".into())
                    }
                    ParsedExtension::BasicConstraints(_) => {
                        overridden.push("basicConstraints".into())
                    }
                    ParsedExtension::SubjectKeyIdentifier(_) => {
                        overridden.push("subjectKeyIdentifier".into())
                    }
                    other => {
                        let oid = ext.oid.to_id_string();
                        let name = x509_parser::objects::oid2sn(
                            &ext.oid,
                            x509_parser::objects::oid_registry(),
                        )
                        .map(str::to_owned)
                        .unwrap_or_else(|_| format!("{other:?}").chars().take(40).collect());
                        return Err(Error::UnsupportedExtension {
                            what: what.into(),
                            oid,
                            name,
                        });
                    }
                }
            }
        }
        Ok(Request {
            what: what.into(),
            subject,
            sans,
            spki_der: info.subject_pki.raw.to_vec(),
            overridden,
        })
    }

    /// A description of the requested key (`EC P-256`, `RSA 2048` …).
    pub fn key_description(&self) -> String {
        inspect::describe_spki(&self.spki_der)
    }
}

/// Loads many request files on every core, keeping their order.
pub fn load_many(paths: &[std::path::PathBuf]) -> Vec<Result<Request>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if paths.len() < 64 || threads < 2 {
        return paths.iter().map(|p| Request::load(p)).collect();
    }
    let per = paths.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(|p| Request::load(p)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(Error::invalid("requests", "a reader thread panicked"))]
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;

    #[test]
    fn create_and_read_back() {
        let key = PrivateKey::generate(KeyType::EcP256).unwrap();
        let subject = Name::parse("/C=CN/O=XXX, Inc./CN=host").unwrap();
        let sans = vec!["DNS:host".parse().unwrap(), "IP:127.0.0.1".parse().unwrap()];
        let pem = create(&key, &subject, &sans).unwrap();
        let req = Request::from_bytes(pem.as_bytes(), "t").unwrap();
        assert_eq!(req.subject, subject);
        assert_eq!(req.sans, sans);
        assert_eq!(req.spki_der, key.public_key_der());
    }

    #[test]
    fn tampered_request_is_refused() {
        let key = PrivateKey::generate(KeyType::EcP256).unwrap();
        let pem = create(&key, &Name::parse("CN=host").unwrap(), &[]).unwrap();
        let mut der = pemutil::blocks(pem.as_bytes(), "t", "x").unwrap()[0]
            .der
            .clone();
        // Change one byte of the CN value ("host" -> "hosu").
        let pos = der.windows(4).position(|w| w == b"host").unwrap();
        der[pos + 3] = b'u';
        assert!(matches!(
            Request::from_der(&der, "t"),
            Err(Error::BadRequestSignature { .. })
        ));
        assert!(Request::from_der(&der[..der.len() - 3], "t").is_err());
    }
}
