//! The data model of [`super::Shown`], serialized as documented in [`super`].

use serde::Serialize;

use super::Extension;

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An X.509 certificate.
    Certificate,
    /// A PKCS#10 certificate signing request.
    Request,
    /// A certificate revocation list.
    Crl,
}

/// Everything decoded from one certificate, request or CRL.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// What the object is.
    pub kind: Kind,
    /// Its position among the objects shown from the input, from 1.
    pub index: usize,
    /// How many objects the input held.
    pub count: usize,
    /// Where it came from: `PEM <label>` or `DER`.
    pub source: String,
    /// The version as openssl prints it (1-based: 3 for an X.509v3 certificate).
    pub version: u32,
    /// The serial number (certificates only).
    pub serial: Option<Serial>,
    /// The subject (certificates and requests).
    pub subject: Option<DnInfo>,
    /// The issuer (certificates and CRLs).
    pub issuer: Option<DnInfo>,
    /// The validity period (certificates only).
    pub validity: Option<Validity>,
    /// The public key (certificates and requests).
    pub public_key: Option<KeyInfo>,
    /// The algorithm the object is signed with.
    pub signature_algorithm: AlgInfo,
    /// Whether the signature verifies: a request's self-signature, or a certificate's or CRL's
    /// signature when its issuer is in the same input (itself, if self-signed). `None` when it
    /// could not be checked.
    pub signature_valid: Option<bool>,
    /// Which key the signature was checked with (`its own key`, `certificate 2`).
    pub signature_checked_with: Option<String>,
    /// Every extension (a request's requested extensions), in encoding order.
    pub extensions: Vec<Extension>,
    /// A request's attributes other than the extension request (challengePassword …).
    pub attributes: Vec<Attribute>,
    /// CRL contents (CRLs only).
    pub crl: Option<CrlInfo>,
    /// Fingerprints of the DER encoding.
    pub fingerprints: Fingerprints,
    /// Remarks: skipped PEM blocks, malformed parts, unchecked signatures.
    pub notes: Vec<String>,
}

/// A serial number in three notations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Serial {
    /// Uppercase colon-separated hex of the value's bytes (`0A:1B`).
    pub hex: String,
    /// The same without colons, as `openssl x509 -serial` prints it (`0A1B`).
    pub plain: String,
    /// Decimal.
    pub decimal: String,
}

/// A distinguished name in text and field by field.
#[derive(Debug, Clone, Serialize)]
pub struct DnInfo {
    /// OpenSSL one-line form: `/C=CN/O=Example/CN=host`.
    pub text: String,
    /// RFC 4514 form: `CN=host,O=Example,C=CN`.
    pub rfc4514: String,
    /// The attributes, most significant first.
    pub fields: Vec<DnField>,
}

/// One attribute of a distinguished name.
#[derive(Debug, Clone, Serialize)]
pub struct DnField {
    /// Short name (C, ST, O, CN, emailAddress …) or dotted OID.
    pub field: String,
    /// Dotted OID.
    pub oid: String,
    /// The value as text (`#` and hex when it is not a string).
    pub value: String,
}

/// A certificate's validity period, judged at the time of the call.
#[derive(Debug, Clone, Serialize)]
pub struct Validity {
    /// Start, RFC 3339.
    pub not_before: String,
    /// End, RFC 3339.
    pub not_after: String,
    /// When the status below was computed, RFC 3339.
    pub checked_at: String,
    /// `not_after` has passed.
    pub expired: bool,
    /// `not_before` is still to come.
    pub not_yet_valid: bool,
    /// Whole days until `not_after` (negative once expired).
    pub days_remaining: i64,
}

/// A public key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// Short description: `EC P-256`, `RSA 2048`, `Ed25519`.
    pub algorithm: String,
    /// The algorithm's dotted OID.
    pub oid: String,
    /// Key size in bits, when known.
    pub bits: Option<usize>,
    /// The named curve of an EC key (`P-256`, `P-384`, `P-521`, or a dotted OID).
    pub curve: Option<String>,
    /// The public exponent of an RSA key.
    pub rsa_exponent: Option<u64>,
}

/// An algorithm by name and OID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlgInfo {
    /// OpenSSL's name (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`, `ED25519`), or the
    /// dotted OID when unknown.
    pub name: String,
    /// Dotted OID.
    pub oid: String,
}

/// A request attribute.
#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    /// Its name (`challengePassword`, `unstructuredName`) or dotted OID.
    pub name: String,
    /// Dotted OID.
    pub oid: String,
    /// The values as text (`#` and hex when not a string).
    pub values: Vec<String>,
}

/// What a CRL says.
#[derive(Debug, Clone, Serialize)]
pub struct CrlInfo {
    /// thisUpdate, RFC 3339.
    pub this_update: String,
    /// nextUpdate, RFC 3339.
    pub next_update: Option<String>,
    /// nextUpdate has passed: the issuer should have published a newer CRL.
    pub stale: bool,
    /// The cRLNumber extension, decimal.
    pub crl_number: Option<String>,
    /// How many certificates are listed.
    pub revoked_count: usize,
    /// All listed certificates, in order.
    pub revoked: Vec<RevokedEntry>,
}

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedEntry {
    /// Its serial number.
    pub serial: Serial,
    /// When it was revoked, RFC 3339.
    pub revocation_date: String,
    /// The reasonCode entry extension (`keyCompromise` …).
    pub reason: Option<String>,
    /// The invalidityDate entry extension, RFC 3339.
    pub invalidity_date: Option<String>,
    /// The holdInstructionCode entry extension: openssl's name, or the dotted OID.
    pub hold_instruction: Option<String>,
    /// All entry extensions.
    pub extensions: Vec<Extension>,
}

/// Fingerprints of an object's DER encoding, uppercase colon-hex as `openssl x509 -fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprints {
    /// SHA-256.
    pub sha256: String,
    /// SHA-1.
    pub sha1: String,
}
