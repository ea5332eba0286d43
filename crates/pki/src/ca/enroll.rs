//! Enrollment with one-time tokens: the operator (or an admin over the API) makes a token for
//! a profile and a set of names; a client trades it, once, for a certificate.

use super::{CertificateAuthority, Issued, SignRequest};
use crate::csr::Request;
use crate::error::{Error, Result};
use crate::time;
use crate::token::{self, Secret, TokenRecord};

impl CertificateAuthority {
    /// Stores a new token and returns its secret, which exists nowhere else: show it once.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the token's profile is not one of `ca.toml`; store errors.
    pub fn create_token(&mut self, token: &TokenRecord) -> Result<Secret> {
        if !self.config.profiles.contains_key(&token.profile) {
            return Err(Error::invalid(
                format!("token profile {:?}", token.profile),
                format!(
                    "not a profile of ca.toml; use one of: {}",
                    self.config
                        .profiles
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let secret = token::generate()?;
        self.store.add_token(&secret.hash(), token)?;
        Ok(secret)
    }

    /// Signs `req` under the token `secret`: the token's profile, only the subjectAltNames it
    /// allows, and one of its uses consumed in the transaction that records the certificate.
    ///
    /// # Errors
    ///
    /// [`Error::TokenRefused`] (unknown, expired or used: checked before signing, and again
    /// when recording, so that a token raced by two requests serves one), [`Error::TokenScope`]
    /// naming a subjectAltName the token does not allow, and whatever [`sign`](Self::sign)
    /// refuses (the profile's policy and `san_allow` still apply).
    pub fn enroll(&mut self, req: Request, secret: &str) -> Result<(TokenRecord, Issued)> {
        let hash = token::hash(secret);
        let now = time::now().unix_timestamp();
        let t = self.store.token(&hash)?.ok_or(Error::TokenRefused {
            refusal: token::TokenRefusal::Unknown,
        })?;
        if let Some(refusal) = t.refusal(now) {
            return Err(Error::TokenRefused { refusal });
        }
        t.check_sans(&req.sans)?;
        let sign = SignRequest {
            what: req.what,
            subject: req.subject,
            // Granted by the token: the profile's san_allow must allow each, or it is refused.
            sans: req.sans,
            requested_sans: Vec::new(),
            overridden: req.overridden,
            spki_der: req.spki_der,
            profile: t.profile.clone(),
            days: Some(self.config.online.days),
        };
        let issued = self
            .sign_guarded(vec![sign], &|_| {}, Some(&hash))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("enrollment", "nothing was issued"))?;
        Ok((t, issued))
    }
}
