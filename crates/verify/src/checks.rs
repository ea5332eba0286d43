//! Evaluation of one candidate path: every check of RFC 5280 §6.1 that applies, each failure
//! recorded with the certificate it concerns. Nothing stops at the first error.
//!
//! Per certificate (index 0 = end entity; the last is the trust anchor when the path is
//! anchored), one function per step:
//! 1. [`own_problems`]: malformed/duplicate extensions, unknown critical extensions, profile
//!    rules when strict;
//! 2. [`validity`] at the verification time (the trust anchor too, as OpenSSL does);
//! 3. [`as_issuer`] (index ≥ 1): basicConstraints cA (a v1 certificate only as a self-signed
//!    anchor), keyUsage keyCertSign, non-empty subject, pathLenConstraint (self-issued
//!    intermediates not counted);
//! 4. [`purpose`]: extendedKeyUsage of every certificate must contain the purpose when present
//!    (anyExtendedKeyUsage does not satisfy it, as in rustls-webpki); the end entity's keyUsage,
//!    when present, must have digitalSignature;
//! 5. [`signature`], with the next certificate's key;
//! 6. [`revocation`], per [`crate::RevocationMode`] — only on an anchored path whose
//!    signatures all verify: a CRL is trusted through its issuer's key, and on any other path
//!    that key may be the peer's own, so checking would only spend CPU on the peer's behalf;
//! 7. [`name_constraints`] of every CA above it (self-issued intermediates exempt);
//! 8. [`host`] name (end entity).
//!
//! Then [`path_end`] (untrusted self-signed root, missing issuer, too long) and [`depth`].
//!
//! [`recheck`] repeats only the time-dependent steps (2 and 6) on a path that verified before,
//! for resumed TLS sessions.

use time::OffsetDateTime;

use crate::cert::{AnchorExempt, Cert, ku};
use crate::crl::{self, Status};
use crate::error::{ErrorKind, SslError};
use crate::path::{Ctx, End};
use crate::sig::SigError;
use crate::verifier::{Purpose, RevocationMode, RevocationScope};

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

/// Where the errors of one certificate go.
struct Sink<'e, 'c> {
    errors: &'e mut Vec<SslError>,
    index: usize,
    cert: &'c Cert,
}

impl Sink<'_, '_> {
    fn push(&mut self, kind: ErrorKind, detail: impl Into<String>) {
        self.errors.push(SslError::for_cert(
            kind,
            self.index,
            &self.cert.info,
            detail.into(),
        ));
    }
}

/// Evaluates `path` (pool indices, end entity first) ending as `end`.
pub(crate) fn evaluate(ctx: &mut Ctx<'_>, path: &[usize], end: End) -> Vec<SslError> {
    let mut errors = Vec::new();
    let n = path.len();
    let anchored = end == End::Anchored;
    // Signatures first: whether revocation is checked at all depends on them.
    let signatures: Vec<Option<(ErrorKind, String)>> = (0..n.saturating_sub(1))
        .map(|i| signature(ctx, path[i], path[i + 1]).err())
        .collect();
    let revocation = ctx
        .v
        .effective_revocation()
        .filter(|_| anchored && signatures.iter().all(Option::is_none));
    for (i, &ci) in path.iter().enumerate() {
        let c = ctx.certs[ci];
        let is_anchor = anchored && i == n - 1;
        let mut sink = Sink {
            errors: &mut errors,
            index: i,
            cert: c,
        };
        own_problems(&mut sink, is_anchor, ctx.v.strict);
        validity(&mut sink, ctx.time);
        if i > 0 {
            as_issuer(&mut sink, ctx, &path[1..i], is_anchor);
        }
        purpose(&mut sink, ctx);
        if let Some(Some((kind, detail))) = signatures.get(i) {
            sink.push(*kind, detail.clone());
        }
        if let Some(mode) = revocation {
            revocation_of(&mut sink, ctx, path, mode);
        }
        if i == 0 || !c.self_issued() {
            name_constraints(&mut sink, ctx, &path[i + 1..]);
        }
        if i == 0 {
            host(&mut sink, ctx);
        }
    }
    path_end(ctx, path, end, &mut errors);
    depth(ctx, path, anchored, &mut errors);
    finish(errors)
}

/// Re-checks a path that verified earlier, for the time-dependent rules only: validity at
/// `ctx.time` and revocation against the CRLs the verifier holds now (only when the path's
/// signatures all verified, as in [`evaluate`]).
pub(crate) fn recheck(ctx: &mut Ctx<'_>, path: &[usize], signatures_ok: bool) -> Vec<SslError> {
    let mut errors = Vec::new();
    let revocation = ctx.v.effective_revocation().filter(|_| signatures_ok);
    for (i, &ci) in path.iter().enumerate() {
        let mut sink = Sink {
            errors: &mut errors,
            index: i,
            cert: ctx.certs[ci],
        };
        validity(&mut sink, ctx.time);
        if let Some(mode) = revocation {
            revocation_of(&mut sink, ctx, path, mode);
        }
    }
    finish(errors)
}

/// Path order, and each (kind, certificate, detail) once.
fn finish(mut errors: Vec<SslError>) -> Vec<SslError> {
    errors.sort_by_key(|e| e.cert_index.unwrap_or(usize::MAX));
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert((e.kind, e.cert_index, e.detail.clone())));
    errors
}

/// Step 1: the certificate's own problems (parsing, extensions, strict profile rules).
fn own_problems(sink: &mut Sink<'_, '_>, is_anchor: bool, strict: bool) {
    let i = sink.index;
    for p in sink.cert.problems.iter().filter(|p| {
        let exempt = is_anchor
            && match p.anchor_exempt {
                AnchorExempt::No => false,
                AnchorExempt::Always => true,
                AnchorExempt::AsIssuer => i > 0,
            };
        (strict || !p.strict) && !exempt
    }) {
        sink.errors.push(SslError::for_cert(
            p.kind,
            i,
            &sink.cert.info,
            p.detail.clone(),
        ));
    }
}

/// Step 2: notBefore ≤ time ≤ notAfter (RFC 5280 §6.1.3 (a)(2)).
fn validity(sink: &mut Sink<'_, '_>, time: i64) {
    let c = sink.cert;
    if time < c.not_before {
        sink.push(
            ErrorKind::CertificateNotYetValid,
            format!(
                "notBefore is {}, the verification time {}",
                fmt_time(c.not_before),
                fmt_time(time)
            ),
        );
    }
    if time > c.not_after {
        sink.push(
            ErrorKind::CertificateExpired,
            format!(
                "notAfter was {}, the verification time is {}",
                fmt_time(c.not_after),
                fmt_time(time)
            ),
        );
    }
}

/// Step 3: a certificate used as an issuer must be a CA (RFC 5280 §6.1.4 (k), (l), (n)).
/// `below` are the intermediates between the end entity and this certificate.
fn as_issuer(sink: &mut Sink<'_, '_>, ctx: &Ctx<'_>, below: &[usize], is_anchor: bool) {
    let c = sink.cert;
    if c.version < 3 {
        if !(is_anchor && c.self_issued()) {
            sink.push(
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
        sink.push(
            ErrorKind::InvalidCaCertificate,
            format!("used as an issuer, but {why}"),
        );
    }
    if c.key_usage.is_some_and(|k| k & ku::KEY_CERT_SIGN == 0) {
        sink.push(
            ErrorKind::InvalidCaCertificate,
            "used as an issuer, but its keyUsage lacks keyCertSign",
        );
    }
    if c.subject.is_empty() {
        sink.push(
            ErrorKind::InvalidCaCertificate,
            "used as an issuer, but its subject is empty",
        );
    }
    if let Some(limit) = c.basic.and_then(|b| b.path_len) {
        let count = below
            .iter()
            .filter(|&&j| !ctx.certs[j].self_issued())
            .count();
        if count > limit as usize {
            sink.push(
                ErrorKind::PathLengthExceeded,
                format!(
                    "pathLenConstraint {limit} allows {limit} intermediate CA(s) below it, the path has {count}"
                ),
            );
        }
    }
}

/// Step 4: extendedKeyUsage of every certificate, keyUsage of the end entity.
fn purpose(sink: &mut Sink<'_, '_>, ctx: &Ctx<'_>) {
    if ctx.purpose == Purpose::Any {
        return;
    }
    let c = sink.cert;
    if let Some(e) = &c.eku {
        let (want, ok) = match ctx.purpose {
            Purpose::ServerAuth => ("serverAuth", e.server_auth),
            _ => ("clientAuth", e.client_auth),
        };
        if !ok {
            sink.push(
                ErrorKind::InvalidPurpose,
                format!(
                    "extendedKeyUsage ({}) does not include {want}",
                    e.names.join(", ")
                ),
            );
        }
    }
    if sink.index == 0
        && ctx.v.leaf_key_usage
        && c.key_usage.is_some_and(|k| k & ku::DIGITAL_SIGNATURE == 0)
    {
        sink.push(
            ErrorKind::InvalidPurpose,
            "keyUsage lacks digitalSignature, which TLS authentication needs",
        );
    }
}

/// Step 5: the signature of pool entry `child` verifies with the key of `issuer`.
fn signature(ctx: &mut Ctx<'_>, child: usize, issuer: usize) -> Result<(), (ErrorKind, String)> {
    let subject = &ctx.certs[issuer].info.subject;
    match ctx.signature(child, issuer) {
        Ok(()) => Ok(()),
        Err(SigError::Key(d)) => Err((
            ErrorKind::UnableToDecodeIssuerPublicKey,
            format!("the key of the issuer {subject}: {d}"),
        )),
        Err(SigError::Algorithm(d)) => Err((ErrorKind::CertificateSignatureFailed, d)),
        Err(SigError::Invalid) => Err((
            ErrorKind::CertificateSignatureFailed,
            format!("the signature does not verify with the key of {subject}"),
        )),
    }
}

/// Step 6: the certificate's status in the CRLs of its issuer (the next certificate of `path`).
fn revocation_of(sink: &mut Sink<'_, '_>, ctx: &mut Ctx<'_>, path: &[usize], mode: RevocationMode) {
    let i = sink.index;
    let in_scope = match mode.scope {
        RevocationScope::EndEntity => i == 0,
        _ => true,
    };
    let Some(&issuer_i) = path.get(i + 1) else {
        return; // the trust anchor
    };
    if !in_scope {
        return;
    }
    let (c, issuer) = (sink.cert, ctx.certs[issuer_i]);
    let v = ctx.v;
    let candidates: Vec<(usize, &crl::Crl)> = v
        .crls_by_issuer
        .get(&c.issuer)
        .into_iter()
        .flatten()
        .filter_map(|&k| v.crls.get(k).map(|crl| (k, crl.as_ref())))
        .collect();
    let key_hash = crate::report::sha256(&issuer.spki.key);
    let budget = &mut ctx.budget;
    let mut check_sig = |idx: usize, crl: &crl::Crl| -> Result<(), String> {
        if let Some(r) = v.cached_crl_signature(idx, key_hash) {
            return r;
        }
        if let Err(e) = budget.consume_crl_signature(crl.tbs().len()) {
            return Err(format!("its signature was not checked: {e}"));
        }
        let r = crate::sig::verify(&issuer.spki, &crl.sig_alg, crl.tbs(), &crl.signature).map_err(
            |e| match e {
                SigError::Invalid => "its signature does not verify with the issuer's key".into(),
                SigError::Algorithm(d) | SigError::Key(d) => d,
            },
        );
        v.cache_crl_signature(idx, key_hash, r.clone());
        r
    };
    let status = crl::status(
        c,
        issuer,
        &candidates,
        ctx.time,
        v.strict,
        mode.allow_expired_crls,
        &mut check_sig,
    );
    match status {
        Status::Good => {}
        Status::Revoked(d) => sink.push(ErrorKind::CertificateRevoked, d),
        Status::Expired(d) if mode.require_status => sink.push(ErrorKind::CrlExpired, d),
        Status::Unknown(d) if mode.require_status => {
            sink.push(ErrorKind::CertificateStatusUnknown, d)
        }
        Status::Expired(_) | Status::Unknown(_) => {}
    }
}

/// Step 7: the names of the certificate against the name constraints of every CA in `above`.
fn name_constraints(sink: &mut Sink<'_, '_>, ctx: &mut Ctx<'_>, above: &[usize]) {
    for &j in above {
        let ca = ctx.certs[j];
        let Some(nc) = &ca.name_constraints else {
            continue;
        };
        match crate::nc::check(&sink.cert.nc_names, nc, &mut ctx.budget.nc_comparisons) {
            Ok(violations) => {
                for d in violations {
                    sink.push(
                        ErrorKind::NameConstraintsViolation,
                        format!("{d} of the name constraints of {}", ca.info.subject),
                    );
                }
            }
            Err(()) => {
                ctx.budget.name_constraints_exhausted();
                sink.push(
                    ErrorKind::NameConstraintsViolation,
                    format!(
                        "not checked against the name constraints of {}: the comparison budget ran out",
                        ca.info.subject
                    ),
                );
            }
        }
    }
}

/// Step 8: the end entity carries the expected host name or IP address (RFC 6125).
fn host(sink: &mut Sink<'_, '_>, ctx: &Ctx<'_>) {
    if let Some((host, reference)) = &ctx.host {
        let r = match reference {
            Ok(r) => crate::name::check_host(sink.cert.san.as_deref(), r, host),
            Err(e) => Err(e.clone()),
        };
        if let Err(d) = r {
            sink.push(ErrorKind::HostNameMismatch, d);
        }
    }
}

/// How the path ends: at an anchor (fine), cut at the length limit, or at a certificate whose
/// issuer is unknown (self-signed or not).
fn path_end(ctx: &mut Ctx<'_>, path: &[usize], end: End, errors: &mut Vec<SslError>) {
    let top = path.len() - 1;
    let top_cert = ctx.certs[path[top]];
    let (kind, detail) = match end {
        End::Anchored => return,
        End::TooLong => (
            ErrorKind::ChainTooLong,
            format!("path building stopped after {} certificates", path.len()),
        ),
        End::NoIssuer if ctx.self_signed(path[top]) => {
            if top == 0 {
                (
                    ErrorKind::SelfSignedCertificate,
                    "it is not among the trust anchors".to_string(),
                )
            } else {
                (
                    ErrorKind::SelfSignedCertificateInChain,
                    "the self-signed root of the chain is not among the trust anchors".to_string(),
                )
            }
        }
        End::NoIssuer => {
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
        }
    };
    errors.push(SslError::for_cert(kind, top, &top_cert.info, detail));
}

/// The maximum depth: intermediates, not counting self-issued ones.
fn depth(ctx: &Ctx<'_>, path: &[usize], anchored: bool, errors: &mut Vec<SslError>) {
    let n = path.len();
    let last_inter = if anchored { n.saturating_sub(1) } else { n };
    let mut count = 0;
    for (i, &ci) in path.iter().enumerate().take(last_inter).skip(1) {
        if ctx.certs[ci].self_issued() {
            continue;
        }
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
            return;
        }
    }
}
