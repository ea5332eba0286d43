//! What the CA's own certificate chain allows it to issue (RFC 5280 §4.2.1.9, §4.2.1.10).
//!
//! A CA can sign anything; a verifier then refuses chains that break a constraint of a CA
//! above the new certificate. So the CA refuses first: it must itself be a CA, a sub-CA needs
//! room under every pathLenConstraint of the chain, and every name of a new certificate must
//! be within the name constraints of every CA of the chain.

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::name::Name;
use crate::pemutil;

/// One CA certificate of the chain, from the issuing CA (first) up.
#[derive(Debug, Clone)]
struct Link {
    subject: String,
    is_ca: bool,
    path_len: Option<u32>,
    name_constraints: bool,
    der: Vec<u8>,
}

/// The constraints of the issuing CA's chain.
#[derive(Debug, Clone)]
pub(crate) struct IssuerLimits {
    chain: Vec<Link>,
}

impl IssuerLimits {
    /// Reads the chain: `cert_der` (the issuing CA) and the further certificates of
    /// `chain_pem` (its issuers; the first block of `chain_pem` is the CA itself).
    pub fn read(cert_der: &[u8], chain_pem: &str) -> Result<IssuerLimits> {
        let mut ders = vec![cert_der.to_vec()];
        if let Ok(blocks) = pemutil::blocks(chain_pem.as_bytes(), "ca-chain.pem", "certificate") {
            ders.extend(
                blocks
                    .into_iter()
                    .map(|b| b.der.to_vec())
                    .filter(|d| d.as_slice() != cert_der),
            );
        }
        let chain = ders.into_iter().map(link).collect::<Result<Vec<_>>>()?;
        Ok(IssuerLimits { chain })
    }

    /// Refuses to issue at all from a certificate that is not a CA, and refuses a CA
    /// certificate (`new_is_ca`) that no pathLenConstraint of the chain leaves room for.
    pub fn check_issue(&self, what: &str, new_is_ca: bool) -> Result<()> {
        let refuse = |issuer: &str, detail: String| Error::IssuerConstraint {
            what: what.into(),
            issuer: issuer.into(),
            detail,
        };
        if let Some(me) = self.chain.first()
            && !me.is_ca
        {
            return Err(refuse(
                &me.subject,
                "its basicConstraints do not say cA=TRUE, so nothing it signs verifies".into(),
            ));
        }
        if !new_is_ca {
            return Ok(());
        }
        // Below chain[k] a path to an end entity holds chain[0..k] and the new CA.
        for (k, l) in self.chain.iter().enumerate() {
            if let Some(limit) = l.path_len
                && (k as u64) + 1 > u64::from(limit)
            {
                return Err(refuse(
                    &l.subject,
                    format!(
                        "its pathLenConstraint is {limit}, which allows {limit} CA(s) below it, and a new CA here would be number {}; issue end-entity certificates only",
                        k + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// True when some CA of the chain has name constraints.
    pub fn has_name_constraints(&self) -> bool {
        self.chain.iter().any(|l| l.name_constraints)
    }

    /// Refuses a signed certificate `der` with a name outside the name constraints of a CA of
    /// the chain.
    pub fn check_names(&self, what: &str, der: &[u8]) -> Result<()> {
        for l in self.chain.iter().filter(|l| l.name_constraints) {
            let violations = mtls_verify::name_constraint_violations(der, &l.der)
                .map_err(|e| Error::invalid(what, format!("checking name constraints: {e}")))?;
            if !violations.is_empty() {
                return Err(Error::IssuerConstraint {
                    what: what.into(),
                    issuer: l.subject.clone(),
                    detail: format!(
                        "{}; only names within its nameConstraints can be certified",
                        violations.join("; ")
                    ),
                });
            }
        }
        Ok(())
    }
}

fn link(der: Vec<u8>) -> Result<Link> {
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| Error::decode("the CA chain", "certificate", e))?;
    let subject = Name::from_x509(cert.subject(), "the CA chain")
        .map(|n| n.to_string())
        .unwrap_or_default();
    let (is_ca, path_len) = match cert.basic_constraints() {
        Ok(Some(bc)) => (bc.value.ca, bc.value.path_len_constraint),
        // A v1 certificate can act as a CA only as a trust anchor; treat it as one.
        _ => (cert.version().0 < 2, None),
    };
    let name_constraints = matches!(cert.name_constraints(), Ok(Some(_)));
    Ok(Link {
        subject,
        is_ca,
        path_len,
        name_constraints,
        der,
    })
}
