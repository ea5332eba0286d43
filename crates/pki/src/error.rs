//! The one error type of the CA library.
//!
//! Every variant names the thing it is about (a file, a field, a serial) and, where a user can act,
//! says what to do. The CLI prints `Display` as one line.

use std::path::PathBuf;

/// Result alias used throughout `mtls_pki`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the CA library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The input could not be decoded as the expected object.
    #[error("{what}: not a valid {expected} ({detail})")]
    Decode {
        /// The input concerned (usually a file name).
        what: String,
        /// What was expected, e.g. "certificate" or "private key".
        expected: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The passphrase did not decrypt the key.
    #[error("wrong passphrase for {what}")]
    WrongPassphrase {
        /// The key concerned.
        what: String,
    },
    /// The key is encrypted and no passphrase was given.
    #[error("{what} is encrypted: give its passphrase (a passphrase file or environment variable)")]
    PassphraseRequired {
        /// The key concerned.
        what: String,
    },
    /// An RSA key below 2048 bits.
    #[error(
        "{what}: RSA-{bits} is too weak and is refused; use rsa2048 or larger, or ec-p256 (the default)"
    )]
    WeakRsaKey {
        /// The key or request concerned.
        what: String,
        /// Its modulus size.
        bits: usize,
    },
    /// A key algorithm mtls cannot sign with or does not accept.
    #[error("{what}: unsupported key ({detail}); use ec-p256, ec-p384, ed25519 or rsa2048+")]
    UnsupportedKey {
        /// The key concerned.
        what: String,
        /// What it is.
        detail: String,
    },
    /// A subject string that could not be parsed.
    #[error("invalid subject {input:?}: {detail}")]
    Subject {
        /// The text given.
        input: String,
        /// What is wrong and how to write it.
        detail: String,
    },
    /// A subjectAltName that could not be parsed.
    #[error("invalid subjectAltName {input:?}: {detail}")]
    San {
        /// The text given.
        input: String,
        /// What is wrong.
        detail: String,
    },
    /// A request whose self-signature does not verify.
    #[error(
        "{what}: the request's signature does not verify (it was altered or corrupted); make the request again"
    )]
    BadRequestSignature {
        /// The request concerned.
        what: String,
    },
    /// A request carrying an extension that mtls does not copy.
    #[error(
        "{what}: the request carries the unsupported extension {name} ({oid}); make it without that extension (the CA sets extensions by profile)"
    )]
    UnsupportedExtension {
        /// The request concerned.
        what: String,
        /// The extension's OID.
        oid: String,
        /// A readable name for it.
        name: String,
    },
    /// A DN field that the policy says must match the CA differs.
    #[error(
        "{what}: policy \"match\" requires {field} to equal the CA's: the CA has {ca_value:?}, the request has {request_value:?}; make the request with {field}={ca_value}"
    )]
    PolicyMismatch {
        /// The request concerned.
        what: String,
        /// The field's short name (C, ST, O …).
        field: String,
        /// The CA's value.
        ca_value: String,
        /// The request's value ("" when absent).
        request_value: String,
    },
    /// A DN field the policy requires is missing.
    #[error(
        "{what}: the policy requires the field {field}, which the request lacks; add {field}=… to the subject"
    )]
    PolicyMissing {
        /// The request concerned.
        what: String,
        /// The field's short name.
        field: String,
    },
    /// A certificate or profile rule that the request breaks.
    #[error("{what}: {detail}")]
    Invalid {
        /// The object concerned.
        what: String,
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// `init` on a directory that already holds a CA.
    #[error("{} already holds a CA (ca.crt or ca.db exists); refusing to overwrite it — choose another directory", dir.display())]
    CaExists {
        /// The CA directory.
        dir: PathBuf,
    },
    /// A directory that holds no CA.
    #[error("{} holds no CA (no ca.toml/ca.crt)", dir.display())]
    CaMissing {
        /// The directory looked at.
        dir: PathBuf,
    },
    /// The CA certificate has expired.
    #[error("the CA certificate expired on {not_after}; it can no longer issue — create a new CA")]
    CaExpired {
        /// When it expired.
        not_after: String,
    },
    /// A serial the store does not hold.
    #[error("no certificate with serial {serial} was issued by this CA (see `mtls ca list`)")]
    UnknownSerial {
        /// The serial, in hex.
        serial: String,
    },
    /// A serial that is already revoked.
    #[error("certificate {serial} is already revoked (since {revoked_at}, reason {reason})")]
    AlreadyRevoked {
        /// The serial, in hex.
        serial: String,
        /// When it was revoked.
        revoked_at: String,
        /// Why.
        reason: String,
    },
    /// The CA's configuration file is invalid.
    #[error("{}: {detail}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The store failed.
    #[error("CA store {}: {detail}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A store reached by URL (`[store] url`) failed or refused: unreachable, wrong
    /// credentials, a schema from another mtls version, a database that is not empty …
    #[error("CA store {store}: {detail}")]
    Backend {
        /// The store's URL, without its password.
        store: String,
        /// What happened and how to fix it.
        detail: String,
        /// True when trying again later may succeed (the database is restarting or failing
        /// over): the online CA answers 503 with Retry-After.
        retryable: bool,
    },
    /// The store's database failed (I/O, corruption, a lock held too long).
    #[error("CA store {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The profile requires a subjectAltName, none was given, and the CN is not a hostname or
    /// IP address that could stand for one.
    #[error("{what}: profile {profile} needs a subjectAltName{}; add a DNS or IP subjectAltName", match cn { Some(cn) => format!(" and the CN {cn:?} is not a hostname"), None => String::new() })]
    SanRequired {
        /// The request.
        what: String,
        /// The profile.
        profile: String,
        /// The request's CN, if any.
        cn: Option<String>,
    },
    /// A serial number is already in the store (nothing of the transaction was recorded).
    #[error("serial {serial} is already in the store (duplicate serial); nothing was recorded")]
    DuplicateSerial {
        /// The serial, hex.
        serial: String,
    },
    /// `unique_subject` is on and a valid certificate already has this subject.
    #[error(
        "a valid certificate with subject {subject} exists already (serial {serial}) and ca.toml sets unique_subject = true, as openssl's unique_subject = yes; revoke serial {serial} first, or set unique_subject = false"
    )]
    SubjectNotUnique {
        /// The subject.
        subject: String,
        /// The serial of the valid certificate that has it, hex (or "this batch").
        serial: String,
    },
    /// A validity period that ends after 9999-12-31T23:59:59Z, the last time X.509 can carry.
    #[error(
        "{what}: {lifetime} from now ends after 9999-12-31, the last date a certificate or CRL can carry; ask for a shorter validity"
    )]
    LifetimeOutOfRange {
        /// What the validity is for (a request, the CA, a CRL).
        what: String,
        /// The validity asked for (`30d`, `15m`).
        lifetime: String,
    },
    /// The issuing CA's own certificate forbids what is asked: it is not a CA, its path
    /// length (or a parent's) leaves no room for another CA below it, or a name is outside its
    /// (or a parent's) name constraints. Chains through such a certificate would fail to
    /// verify everywhere.
    #[error("{what}: refused by the constraints of {issuer}: {detail}")]
    IssuerConstraint {
        /// The request.
        what: String,
        /// The CA certificate whose constraint applies (subject).
        issuer: String,
        /// Which constraint, and how to comply.
        detail: String,
    },
    /// An enrollment token that cannot be used. The message is the same whatever the cause,
    /// so that a client probing tokens learns nothing; [`Error::TokenRefused::refusal`] says
    /// which it was, for the audit log.
    #[error("the enrollment token is not valid (unknown, expired or used up); ask for a new one")]
    TokenRefused {
        /// Why.
        refusal: crate::token::TokenRefusal,
    },
    /// A renewal that cannot be granted: the certificate is revoked, expired beyond the
    /// grace period, not this CA's, or the new request changes its subject.
    #[error("renewal of {serial} refused: {detail}")]
    RenewRefused {
        /// The certificate to renew, hex (or "the presented certificate").
        serial: String,
        /// Why, and what to do instead.
        detail: String,
    },
    /// A request asks for more than its token allows.
    #[error("the request's {field} is not allowed by its token: {detail}")]
    TokenScope {
        /// The field of the request (`profile`, `subjectAltName` …).
        field: String,
        /// What was asked and what the token allows.
        detail: String,
    },
    /// A signing or encoding step failed.
    #[error("{what}: {detail}")]
    Crypto {
        /// The operation.
        what: String,
        /// The underlying error.
        detail: String,
    },
}

impl Error {
    /// An I/O error naming `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A decoding error.
    pub fn decode(what: impl Into<String>, expected: &'static str, detail: impl ToString) -> Self {
        Error::Decode {
            what: what.into(),
            expected,
            detail: detail.to_string(),
        }
    }

    /// An invalid-input error.
    pub fn invalid(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// A failure inside a crypto or encoding library.
    pub fn crypto(what: impl Into<String>, detail: impl ToString) -> Self {
        Error::Crypto {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}
