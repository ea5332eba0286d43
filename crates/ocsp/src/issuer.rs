//! [`Issuer`]: the CA whose certificates a responder speaks for, with its CertID hashes.

use der::Decode;
use der::asn1::ObjectIdentifier;
use x509_cert::Certificate;
use x509_ocsp::CertId;

use crate::error::{Error, Refusal};

/// A hash a CertID may be made with (RFC 6960 4.1.1 allows any; clients use SHA-1, RFC 5019
/// requires it, and newer ones SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// id-sha1 (1.3.14.3.2.26).
    Sha1,
    /// id-sha256 (2.16.840.1.101.3.4.2.1).
    Sha256,
    /// id-sha384.
    Sha384,
    /// id-sha512.
    Sha512,
}

impl HashAlg {
    const ALL: [HashAlg; 4] = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    pub(crate) fn oid(self) -> ObjectIdentifier {
        use const_oid::db::rfc5912;
        match self {
            HashAlg::Sha1 => rfc5912::ID_SHA_1,
            HashAlg::Sha256 => rfc5912::ID_SHA_256,
            HashAlg::Sha384 => rfc5912::ID_SHA_384,
            HashAlg::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let alg = match self {
            HashAlg::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
            HashAlg::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// A delegated responder (RFC 6960 4.2.2.2): a certificate the CA issued for OCSP signing
/// (extendedKeyUsage id-kp-OCSPSigning), sent along with each response so that clients can
/// check it.
#[derive(Debug, Clone)]
pub struct Delegate {
    pub(crate) cert: Certificate,
    pub(crate) key_sha1: Vec<u8>,
}

impl Delegate {
    /// From the responder certificate's DER.
    ///
    /// # Errors
    ///
    /// [`Error::Issuer`] when it does not parse.
    pub fn from_cert_der(der: &[u8]) -> Result<Delegate, Error> {
        let cert = Certificate::from_der(der).map_err(|e| Error::Issuer(e.to_string()))?;
        let key_sha1 = HashAlg::Sha1.digest(
            cert.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        );
        Ok(Delegate { cert, key_sha1 })
    }
}

/// The issuing CA: its certificate and, per hash, the issuerNameHash (of the DER subject) and
/// issuerKeyHash (of the subjectPublicKey BIT STRING's contents) a CertID must carry.
#[derive(Debug, Clone)]
pub struct Issuer {
    hashes: Vec<(ObjectIdentifier, Vec<u8>, Vec<u8>)>,
    /// SHA-1 of the key: the responder's byKey id (RFC 6960 4.2.1).
    pub(crate) key_sha1: Vec<u8>,
    /// The CA's SubjectPublicKeyInfo, DER: what checks a response's signature.
    pub(crate) spki_der: Vec<u8>,
    /// The CA's subject: the responder's byName id, and a delegate's issuer.
    pub(crate) subject: x509_cert::name::Name,
}

impl Issuer {
    /// From the CA certificate's DER.
    ///
    /// # Errors
    ///
    /// [`Error::Issuer`] when it does not parse.
    pub fn from_cert_der(der: &[u8]) -> Result<Issuer, Error> {
        let cert = Certificate::from_der(der).map_err(|e| Error::Issuer(e.to_string()))?;
        let name = der::Encode::to_der(&cert.tbs_certificate.subject)
            .map_err(|e| Error::Issuer(e.to_string()))?;
        let key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let hashes = HashAlg::ALL
            .iter()
            .map(|h| (h.oid(), h.digest(&name), h.digest(&key)))
            .collect();
        let spki_der = der::Encode::to_der(&cert.tbs_certificate.subject_public_key_info)
            .map_err(|e| Error::Issuer(e.to_string()))?;
        Ok(Issuer {
            key_sha1: HashAlg::Sha1.digest(&key),
            hashes,
            spki_der,
            subject: cert.tbs_certificate.subject,
        })
    }

    /// The issuerNameHash and issuerKeyHash of a CertID made with `alg`.
    pub(crate) fn hashes(&self, alg: HashAlg) -> Option<(&[u8], &[u8])> {
        let oid = alg.oid();
        self.hashes
            .iter()
            .find(|(o, _, _)| *o == oid)
            .map(|(_, n, k)| (n.as_slice(), k.as_slice()))
    }

    /// Checks that `id` names this issuer.
    ///
    /// # Errors
    ///
    /// [`Refusal::Unauthorized`] for another issuer or an unknown hash algorithm.
    pub fn check(&self, id: &CertId) -> Result<(), Refusal> {
        let alg = id.hash_algorithm.oid;
        let (_, name, key) = self
            .hashes
            .iter()
            .find(|(oid, _, _)| *oid == alg)
            .ok_or_else(|| {
                Refusal::Unauthorized(format!(
                    "CertID hash algorithm {alg} is not supported; use SHA-1 or SHA-256"
                ))
            })?;
        if id.issuer_name_hash.as_bytes() != name.as_slice()
            || id.issuer_key_hash.as_bytes() != key.as_slice()
        {
            return Err(Refusal::Unauthorized(
                "the CertID names another issuer than this CA".into(),
            ));
        }
        Ok(())
    }
}
