//! One-time enrollment tokens: a secret handed to a client so that it can get one certificate
//! from the online CA without an operator at the CA machine.
//!
//! A token is 256 random bits, written as 64 hex digits. The store keeps only its SHA-256 (a
//! leaked database holds no usable token; 256 bits of entropy need no slow hash), with the name,
//! the profile and subjectAltNames it allows, its expiry and the uses left. A use is consumed in
//! the same transaction that records the certificate, so two requests racing with one
//! single-use token cannot both get a certificate.

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::san::San;
use crate::san_policy::SanPattern;
use crate::time::Lifetime;

/// Length of a token's secret, in bytes (256 bits).
pub const SECRET_LEN: usize = 32;

/// The longest life a token may be given: 30 days. Tokens are meant to be used within
/// minutes; a long-lived bearer secret is a standing risk.
pub const MAX_TTL_SECS: i64 = 30 * 86_400;

/// The most uses one token may grant.
pub const MAX_USES: u32 = 10_000;

/// The SHA-256 of a token, which is all the store keeps.
pub type TokenHash = [u8; 32];

/// A new token's secret, as handed to the client once. Wiped from memory when dropped.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The 64 hex digits.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its hash, as stored.
    pub fn hash(&self) -> TokenHash {
        hash(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Draws a new secret from the system RNG.
///
/// # Errors
///
/// [`Error::Crypto`] if the RNG fails.
pub fn generate() -> Result<Secret> {
    let mut b = Zeroizing::new([0u8; SECRET_LEN]);
    aws_lc_rs::rand::fill(&mut b[..])
        .map_err(|_| Error::crypto("enrollment token", "system RNG failed"))?;
    let mut s = Zeroizing::new(String::with_capacity(SECRET_LEN * 2));
    for byte in b.iter() {
        s.push_str(&format!("{byte:02x}"));
    }
    Ok(Secret(s))
}

/// The SHA-256 of `token` as given (surrounding whitespace removed).
pub fn hash(token: &str) -> TokenHash {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.trim().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// What a token allows, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenRecord {
    /// Its name: who or what it was made for (shown in the audit log).
    pub name: String,
    /// The profile certificates are issued under.
    pub profile: String,
    /// The subjectAltNames a request may ask for, as `san_allow` patterns
    /// (`DNS:*.example`, `IP:10.0.0.0/8`, exact names); empty allows none.
    pub sans: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; not usable from then on.
    pub expires_at: i64,
    /// Uses left.
    pub uses_left: u32,
    /// The validity of the certificates it enrolls; `[online]`'s when `None`.
    pub validity: Option<Lifetime>,
}

impl TokenRecord {
    /// A token for `name` and `profile`, valid for `ttl_secs` from `now`, for `uses` uses.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for an empty name, a life outside 1 s ..= [`MAX_TTL_SECS`], uses
    /// outside 1 ..= [`MAX_USES`], or a SAN pattern that does not parse.
    pub fn new(
        name: &str,
        profile: &str,
        sans: Vec<String>,
        now: i64,
        ttl_secs: i64,
        uses: u32,
    ) -> Result<TokenRecord> {
        if name.trim().is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "token name",
                "give 1 to 256 printable characters",
            ));
        }
        if !(1..=MAX_TTL_SECS).contains(&ttl_secs) {
            return Err(Error::invalid(
                "token lifetime",
                format!("must be between 1 s and {} days", MAX_TTL_SECS / 86_400),
            ));
        }
        if !(1..=MAX_USES).contains(&uses) {
            return Err(Error::invalid(
                "token uses",
                format!("must be between 1 and {MAX_USES}"),
            ));
        }
        crate::san_policy::parse_list(&sans, profile)?;
        Ok(TokenRecord {
            name: name.to_string(),
            profile: profile.to_string(),
            sans,
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
            uses_left: uses,
            validity: None,
        })
    }

    /// The same token, enrolling certificates valid `validity` (`None`: `[online]`'s).
    pub fn with_validity(mut self, validity: Option<Lifetime>) -> TokenRecord {
        self.validity = validity;
        self
    }

    /// What it allows, for the audit log: `profile client, 1 use(s), certificates valid 15m`.
    pub fn summary(&self) -> String {
        let mut s = format!("profile {}, {} use(s)", self.profile, self.uses_left);
        if let Some(v) = self.validity {
            s.push_str(&format!(", certificates valid {v}"));
        }
        s
    }

    /// Why it cannot be used at `now`, if it cannot.
    pub fn refusal(&self, now: i64) -> Option<TokenRefusal> {
        if now >= self.expires_at {
            Some(TokenRefusal::Expired)
        } else if self.uses_left == 0 {
            Some(TokenRefusal::Used)
        } else {
            None
        }
    }

    /// Refuses the first of `sans` that the token does not allow, naming it.
    ///
    /// # Errors
    ///
    /// [`Error::TokenScope`] naming the subjectAltName.
    pub fn check_sans(&self, sans: &[San]) -> Result<()> {
        let patterns: Vec<SanPattern> = self
            .sans
            .iter()
            .filter_map(|p| p.parse::<SanPattern>().ok())
            .collect();
        for san in sans {
            if !patterns.iter().any(|p| p.allows(san)) {
                return Err(Error::TokenScope {
                    field: "subjectAltName".into(),
                    detail: format!(
                        "{san} is not among the names token {:?} allows ({})",
                        self.name,
                        if self.sans.is_empty() {
                            "none".to_string()
                        } else {
                            self.sans.join(", ")
                        }
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Why a token was not accepted. Clients are told only that it was not (the same answer for
/// each, so that probing reveals nothing); the audit log records which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRefusal {
    /// No such token.
    Unknown,
    /// Past its expiry.
    Expired,
    /// No uses left.
    Used,
}

impl TokenRefusal {
    /// `unknown`, `expired` or `used`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "unknown",
            TokenRefusal::Expired => "expired",
            TokenRefusal::Used => "used",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex_and_only_their_hash_matters() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), hash(&format!(" {}\n", a.expose())));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn limits_and_scope() {
        let ok = |ttl, uses| TokenRecord::new("dev", "client", vec![], 0, ttl, uses);
        assert!(ok(0, 1).is_err() && ok(MAX_TTL_SECS + 1, 1).is_err() && ok(60, 0).is_err());
        let t =
            TokenRecord::new("dev", "client", vec!["DNS:*.dev.example".into()], 0, 60, 1).unwrap();
        assert_eq!(t.refusal(59), None);
        assert_eq!(t.refusal(60), Some(TokenRefusal::Expired));
        t.check_sans(&["DNS:a.dev.example".parse().unwrap()])
            .unwrap();
        let e = t
            .check_sans(&["DNS:evil.example".parse().unwrap()])
            .unwrap_err();
        assert!(e.to_string().contains("DNS:evil.example"), "{e}");
        assert!(TokenRecord::new("dev", "client", vec!["nonsense".into()], 0, 60, 1).is_err());
    }
}
