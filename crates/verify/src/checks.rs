//! Evaluation of one candidate path: every check of RFC 5280 §6.1 that applies, each failure
//! recorded with the certificate it concerns. Nothing stops at the first error.
//!
//! Per certificate (index 0 = end entity; the last is the trust anchor when the path is
//! anchored):
//! 1. its own problems (malformed/duplicate extensions, unknown critical extensions, profile
//!    rules when strict);
//! 2. validity at the verification time (the trust anchor too, as OpenSSL does);
//! 3. as an issuer (index ≥ 1): basicConstraints cA (a v1 certificate only as a self-signed
//!    anchor), keyUsage keyCertSign, non-empty subject, pathLenConstraint (self-issued
//!    intermediates not counted);
//! 4. purpose: extendedKeyUsage of every certificate must contain the purpose when present
//!    (anyExtendedKeyUsage does not satisfy it, as in rustls-webpki); the end entity's keyUsage,
//!    when present, must have digitalSignature;
//! 5. its signature, with the next certificate's key;
//! 6. revocation, per [`crate::RevocationMode`];
//! 7. name constraints of every CA above it (self-issued intermediates exempt);
//! 8. the host name (end entity).
//!
//! Then how the path ends (untrusted self-signed root, missing issuer, too long) and the maximum
//! depth.

use time::OffsetDateTime;

use crate::cert::{AnchorExempt, ku};
use crate::crl::{self, Status};
use crate::error::{ErrorKind, SslError};
use crate::path::{Ctx, End, MAX_NC_COMPARISONS};
use crate::sig::SigError;
use crate::verifier::{Purpose, RevocationScope};

/// `2024-04-01 00:00:00 UTC`.
pub(crate) fn fmt_time(t: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(t) {
        Ok(dt) => dt
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .unwrap_or_else(|_| t.to_string()),
        Err(_) => format!("{t} (Unix time)"),
    }
}

/// Evaluates `path` (pool indices, end entity first) ending as `end`.
pub(crate) fn evaluate(ctx: &mut Ctx<'_>, path: &[usize], end: End) -> Vec<SslError> {
    let mut errors = Vec::new();
    let n = path.len();
    let anchored = end == End::Anchored;
    let strict = ctx.v.strict;
    let revocation = ctx.v.effective_revocation();
    for (i, &ci) in path.iter().enumerate() {
        let c = ctx.certs[ci];
        let info = &c.info;
        let mut err = |kind: ErrorKind, detail: String| {
            errors.push(SslError::for_cert(kind, i, info, detail));
        };
        let is_anchor = anchored && i == n - 1;

        // 1. The certificate's own problems.
        for p in c.problems.iter().filter(|p| {
            let exempt = is_anchor
                && match p.anchor_exempt {
                    AnchorExempt::No => false,
                    AnchorExempt::Always => true,
                    AnchorExempt::AsIssuer => i > 0,
                };
            (strict || !p.strict) && !exempt
        }) {
            err(p.kind, p.detail.clone());
        }

        // 2. Validity.
        if ctx.time < c.not_before {
            err(
                ErrorKind::CertificateNotYetValid,
                format!(
                    "notBefore is {}, the verification time {}",
                    fmt_time(c.not_before),
                    fmt_time(ctx.time)
                ),
            );
        }
        if ctx.time > c.not_after {
            err(
                ErrorKind::CertificateExpired,
                format!(
                    "notAfter was {}, the verification time is {}",
                    fmt_time(c.not_after),
                    fmt_time(ctx.time)
                ),
            );
        }

        // 3. As an issuer.
        if i > 0 {
            if c.version < 3 {
                if !(is_anchor && c.self_issued()) {
                    err(
                        ErrorKind::InvalidCaCertificate,
                        format!(
                            "a v{} certificate can be a CA only as a self-signed trust anchor",
                            c.version
                        ),
                    );
                }
            } else if !c.is_ca() {
                let why = if c.basic.is_some() {
                    "its basicConstraints has cA=FALSE"
                } else {
                    "it has no basicConstraints extension"
                };
                err(
                    ErrorKind::InvalidCaCertificate,
                    format!("used as an issuer, but {why}"),
                );
            }
            if c.key_usage.is_some_and(|k| k & ku::KEY_CERT_SIGN == 0) {
                err(
                    ErrorKind::InvalidCaCertificate,
                    "used as an issuer, but its keyUsage lacks keyCertSign".into(),
                );
            }
            if c.subject.is_empty() {
                err(
                    ErrorKind::InvalidCaCertificate,
                    "used as an issuer, but its subject is empty".into(),
                );
            }
            if let Some(limit) = c.basic.and_then(|b| b.path_len) {
                let below = path[1..i]
                    .iter()
                    .filter(|&&j| !ctx.certs[j].self_issued())
                    .count();
                if below > limit as usize {
                    err(
                        ErrorKind::PathLengthExceeded,
                        format!(
                            "pathLenConstraint {limit} allows {limit} intermediate CA(s) below it, the path has {below}"
                        ),
                    );
                }
            }
        }

        // 4. Purpose.
        if ctx.purpose != Purpose::Any {
            let (want, ok) = match &c.eku {
                None => ("", true),
                Some(e) => match ctx.purpose {
                    Purpose::ServerAuth => ("serverAuth", e.server_auth),
                    _ => ("clientAuth", e.client_auth),
                },
            };
            if !ok {
                let names = c
                    .eku
                    .as_ref()
                    .map(|e| e.names.join(", "))
                    .unwrap_or_default();
                err(
                    ErrorKind::InvalidPurpose,
                    format!("extendedKeyUsage ({names}) does not include {want}"),
                );
            }
            if i == 0
                && ctx.v.leaf_key_usage
                && c.key_usage.is_some_and(|k| k & ku::DIGITAL_SIGNATURE == 0)
            {
                err(
                    ErrorKind::InvalidPurpose,
                    "keyUsage lacks digitalSignature, which TLS authentication needs".into(),
                );
            }
        }

        // 5. Signature.
        if i + 1 < n {
            let issuer = ctx.certs[path[i + 1]];
            match ctx.signature(ci, path[i + 1]) {
                Ok(()) => {}
                Err(SigError::Key(d)) => errors.push(SslError::for_cert(
                    ErrorKind::UnableToDecodeIssuerPublicKey,
                    i,
                    info,
                    format!("the key of the issuer {}: {d}", issuer.info.subject),
                )),
                Err(SigError::Algorithm(d)) => errors.push(SslError::for_cert(
                    ErrorKind::CertificateSignatureFailed,
                    i,
                    info,
                    d,
                )),
                Err(SigError::Invalid) => errors.push(SslError::for_cert(
                    ErrorKind::CertificateSignatureFailed,
                    i,
                    info,
                    format!(
                        "the signature does not verify with the key of {}",
                        issuer.info.subject
                    ),
                )),
            }
        }

        // 6. Revocation.
        if let Some(mode) = revocation {
            let in_scope = match mode.scope {
                RevocationScope::EndEntity => i == 0,
                _ => true,
            };
            if in_scope && i + 1 < n {
                let issuer = ctx.certs[path[i + 1]];
                let v = ctx.v;
                let candidates: Vec<&crl::Crl> = v
                    .crls_by_issuer
                    .get(&c.issuer)
                    .into_iter()
                    .flatten()
                    .filter_map(|&k| v.crls.get(k))
                    .collect();
                let key_hash = crate::report::sha256(&issuer.spki.key);
                let mut check_sig = |crl: &crl::Crl| -> Result<(), String> {
                    let idx = v
                        .crls
                        .iter()
                        .position(|x| std::ptr::eq(x, crl))
                        .unwrap_or(usize::MAX);
                    if let Ok(cache) = v.crl_signatures.lock() {
                        if let Some(r) = cache.get(&(idx, key_hash)) {
                            return r.clone();
                        }
                    }
                    let r =
                        crate::sig::verify(&issuer.spki, &crl.sig_alg, crl.tbs(), &crl.signature)
                            .map_err(|e| match e {
                                SigError::Invalid => {
                                    "its signature does not verify with the issuer's key"
                                        .to_string()
                                }
                                SigError::Algorithm(d) | SigError::Key(d) => d,
                            });
                    if let Ok(mut cache) = v.crl_signatures.lock() {
                        if cache.len() > 4096 {
                            cache.clear();
                        }
                        cache.insert((idx, key_hash), r.clone());
                    }
                    r
                };
                match crl::status(
                    c,
                    issuer,
                    &candidates,
                    ctx.time,
                    strict,
                    mode.allow_expired_crls,
                    &mut check_sig,
                ) {
                    Status::Good => {}
                    Status::Revoked(d) => errors.push(SslError::for_cert(
                        ErrorKind::CertificateRevoked,
                        i,
                        info,
                        d,
                    )),
                    Status::Expired(d) if mode.require_status => {
                        errors.push(SslError::for_cert(ErrorKind::CrlExpired, i, info, d))
                    }
                    Status::Unknown(d) if mode.require_status => errors.push(SslError::for_cert(
                        ErrorKind::CertificateStatusUnknown,
                        i,
                        info,
                        d,
                    )),
                    Status::Expired(_) | Status::Unknown(_) => {}
                }
            }
        }

        // 7. Name constraints of the CAs above.
        if i == 0 || !c.self_issued() {
            for &j in &path[i + 1..] {
                let ca = ctx.certs[j];
                let Some(nc) = &ca.name_constraints else {
                    continue;
                };
                match crate::nc::check(&c.nc_names, nc, &mut ctx.nc_budget) {
                    Ok(v) => {
                        for d in v {
                            errors.push(SslError::for_cert(
                                ErrorKind::NameConstraintsViolation,
                                i,
                                info,
                                format!("{d} of the name constraints of {}", ca.info.subject),
                            ));
                        }
                    }
                    Err(()) => errors.push(SslError::for_cert(
                        ErrorKind::NameConstraintsViolation,
                        i,
                        info,
                        format!(
                            "refused: more than {MAX_NC_COMPARISONS} name constraint comparisons"
                        ),
                    )),
                }
            }
        }

        // 8. Host name.
        if i == 0 {
            if let Some((host, reference)) = &ctx.host {
                let r = match reference {
                    Ok(r) => crate::name::check_host(c.san.as_deref(), r, host),
                    Err(e) => Err(e.clone()),
                };
                if let Err(d) = r {
                    errors.push(SslError::for_cert(ErrorKind::HostNameMismatch, 0, info, d));
                }
            }
        }
    }

    // How the path ends.
    let top = n - 1;
    let top_cert = ctx.certs[path[top]];
    match end {
        End::Anchored => {}
        End::TooLong => errors.push(SslError::for_cert(
            ErrorKind::ChainTooLong,
            top,
            &top_cert.info,
            format!("path building stopped after {n} certificates"),
        )),
        End::NoIssuer => {
            let (kind, detail) = if ctx.self_signed(path[top]) {
                if top == 0 {
                    (
                        ErrorKind::SelfSignedCertificate,
                        "it is not among the trust anchors".to_string(),
                    )
                } else {
                    (
                        ErrorKind::SelfSignedCertificateInChain,
                        "the self-signed root of the chain is not among the trust anchors"
                            .to_string(),
                    )
                }
            } else {
                let mut d = format!(
                    "the issuer {} is neither a trust anchor nor among the supplied certificates",
                    top_cert.info.issuer
                );
                if ctx.unparsed > 0 {
                    d.push_str(&format!(
                        " ({} supplied certificate(s) could not be parsed)",
                        ctx.unparsed
                    ));
                }
                if top == 0 {
                    (ErrorKind::UnableToGetLocalIssuerCertificate, d)
                } else {
                    (ErrorKind::UnableToGetIssuerCertificate, d)
                }
            };
            errors.push(SslError::for_cert(kind, top, &top_cert.info, detail));
        }
    }

    // Maximum depth: intermediates, not counting self-issued ones.
    let last_inter = if anchored { n.saturating_sub(1) } else { n };
    let mut count = 0;
    for (i, &ci) in path.iter().enumerate().take(last_inter).skip(1) {
        if !ctx.certs[ci].self_issued() {
            count += 1;
            if count > ctx.v.max_depth {
                errors.push(SslError::for_cert(
                    ErrorKind::ChainTooLong,
                    i,
                    &ctx.certs[ci].info,
                    format!(
                        "more than {} intermediate certificate(s) (the maximum depth)",
                        ctx.v.max_depth
                    ),
                ));
                break;
            }
        }
    }

    errors.sort_by_key(|e| e.cert_index.unwrap_or(usize::MAX));
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert((e.kind, e.cert_index, e.detail.clone())));
    errors
}
