//! Path building: a bounded depth-first search from the end entity towards the trust anchors,
//! matching issuer to subject names (canonically compared) and preferring candidates whose
//! subjectKeyIdentifier matches the authorityKeyIdentifier and whose signature verifies.
//!
//! Every path found (anchored, or stuck because no issuer is known) is evaluated by
//! [`crate::checks`]; the first path without errors wins, otherwise the path with the fewest
//! errors (ties: anchored first, then shorter). The search is bounded in steps, paths evaluated,
//! signature checks and name-constraint comparisons, so hostile inputs (100 cross-signed CAs of
//! the same name, cycles) end quickly.

use std::collections::HashMap;
use std::sync::Arc;

use rustls_pki_types::UnixTime;

use crate::budget::Budget;
use crate::cert::Cert;
use crate::checks;
use crate::error::{ErrorKind, SslError};
use crate::name::{Reference, parse_reference};
use crate::report::{CertInfo, Report};
use crate::sig::{self, SigError};
use crate::verifier::{Verifier, VerifyInput};

/// Up to this many candidate issuers of one certificate are ranked by trying their signatures.
const MAX_RANKED_BY_SIGNATURE: usize = 8;

/// Hard limit on the path length, whatever max_depth says.
const MAX_PATH_LEN: usize = 64;

/// How a path ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// At a trust anchor.
    Anchored,
    /// At a certificate whose issuer is unknown.
    NoIssuer,
    /// Cut at the length limit.
    TooLong,
}

/// Everything one verification needs.
pub(crate) struct Ctx<'a> {
    pub v: &'a Verifier,
    pub time: i64,
    pub purpose: crate::Purpose,
    pub host: Option<(&'a str, Result<Reference, String>)>,
    /// Pool: 0 = end entity, then intermediates, then anchors from `first_anchor`.
    pub certs: Vec<&'a Cert>,
    pub first_anchor: usize,
    inter_by_subject: HashMap<&'a crate::dn::Dn, Vec<usize>>,
    sig_cache: HashMap<(usize, usize), Result<(), SigError>>,
    /// What is left of this verification's allowance.
    pub budget: Budget,
    /// Supplied intermediates that could not be parsed.
    pub unparsed: usize,
}

impl Ctx<'_> {
    /// Whether pool entry `i` is a trust anchor.
    pub fn is_anchor(&self, i: usize) -> bool {
        i >= self.first_anchor
    }

    /// Verifies the signature of `child` with `issuer`'s key (cached; bounded).
    pub fn signature(&mut self, child: usize, issuer: usize) -> Result<(), SigError> {
        if let Some(r) = self.sig_cache.get(&(child, issuer)) {
            return r.clone();
        }
        let cost = sig::verify_cost(&self.certs[issuer].spki);
        let r = match self.budget.consume_signature(cost) {
            Err(e) => Err(SigError::Algorithm(format!("not checked: {e}"))),
            Ok(()) => {
                let (c, i) = (self.certs[child], self.certs[issuer]);
                sig::verify(&i.spki, &c.sig_alg, &c.tbs, &c.signature)
            }
        };
        self.sig_cache.insert((child, issuer), r.clone());
        r
    }

    /// Self-issued and verifiable with its own key.
    pub fn self_signed(&mut self, i: usize) -> bool {
        self.certs[i].self_issued() && self.signature(i, i).is_ok()
    }
}

/// The best path found so far.
struct Best {
    path: Vec<usize>,
    end: End,
    errors: Vec<SslError>,
}

impl Best {
    fn key(&self) -> (usize, bool, usize) {
        (
            self.errors.len(),
            self.end != End::Anchored,
            self.path.len(),
        )
    }
}

struct Search<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    best: Option<Best>,
    done: bool,
    max_len: usize,
}

impl Search<'_, '_> {
    fn consider(&mut self, path: &[usize], end: End) {
        if self.ctx.budget.consume_path().is_err() {
            self.done = true;
            return;
        }
        let errors = checks::evaluate(self.ctx, path, end);
        let cand = Best {
            path: path.to_vec(),
            end,
            errors,
        };
        if cand.errors.is_empty() && end == End::Anchored {
            self.done = true;
        }
        if self.best.as_ref().is_none_or(|b| cand.key() < b.key()) {
            self.best = Some(cand);
        }
    }

    /// Candidate issuers of the head of `path`, best first.
    fn issuers(&mut self, path: &[usize]) -> Vec<usize> {
        let head_i = *path.last().unwrap_or(&0);
        let ctx = &*self.ctx;
        let head = ctx.certs[head_i];
        let anchors = ctx
            .v
            .anchors_by_subject
            .get(&head.issuer)
            .into_iter()
            .flatten()
            .map(|a| a + ctx.first_anchor);
        let inters = ctx
            .inter_by_subject
            .get(&head.issuer)
            .into_iter()
            .flatten()
            .copied();
        let mut cands: Vec<usize> = anchors
            .chain(inters)
            .filter(|&c| {
                let cc = ctx.certs[c];
                // Loops: the same certificate, or the same subject and key (RFC 4158 §5.2).
                !path.iter().any(|&p| {
                    p == c || (ctx.certs[p].subject == cc.subject && ctx.certs[p].spki == cc.spki)
                })
            })
            .collect();
        if cands.len() > 1 {
            // With a few candidates, those whose signature verifies go first. With many (a
            // peer sending a crowd of CAs named like the real one), ranking by signature would
            // spend the signature budget on the crowd: rank by key identifier and anchors
            // first, as rustls-webpki does, and check signatures only along the search.
            let by_signature = cands.len() <= MAX_RANKED_BY_SIGNATURE;
            let mut keyed: Vec<(bool, bool, bool, usize)> = Vec::with_capacity(cands.len());
            for &c in &cands {
                let cc = self.ctx.certs[c];
                let aki_mismatch = matches!((&head.aki, &cc.ski), (Some(a), Some(s)) if a != s);
                let bad_sig = by_signature && self.ctx.signature(head_i, c).is_err();
                keyed.push((bad_sig, aki_mismatch, !self.ctx.is_anchor(c), c));
            }
            keyed.sort();
            cands = keyed.into_iter().map(|k| k.3).collect();
        }
        cands
    }

    fn dfs(&mut self, path: &mut Vec<usize>) {
        if self.done {
            return;
        }
        if self.ctx.budget.consume_step().is_err() {
            self.done = true;
            return;
        }
        let cands = self.issuers(path);
        if cands.is_empty() {
            self.consider(path, End::NoIssuer);
            return;
        }
        if path.len() >= self.max_len {
            self.consider(path, End::TooLong);
            return;
        }
        for c in cands {
            if self.done {
                return;
            }
            path.push(c);
            if self.ctx.is_anchor(c) {
                self.consider(path, End::Anchored);
            } else {
                self.dfs(path);
            }
            path.pop();
        }
    }
}

/// The path a verification chose, parsed, for [`Verifier::recheck`] (see
/// [`Verifier::verify_keep`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct VerifiedPath {
    /// End entity first; the trust anchor last when `anchored`.
    certs: Arc<Vec<Cert>>,
    anchored: bool,
    /// Every signature of the path verified (revocation is re-checked only then: a CRL is
    /// trusted through the issuer keys of the path).
    signatures_ok: bool,
    /// The errors of the verification that made it.
    errors: Vec<SslError>,
}

impl VerifiedPath {
    /// True when the path ended at a trust anchor without errors.
    pub fn is_ok(&self) -> bool {
        self.anchored && self.errors.is_empty()
    }

    /// The certificates above the end entity (intermediates and the trust anchor), DER.
    pub fn issuers(&self) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        self.certs
            .iter()
            .skip(1)
            .map(|c| c.info.der.clone())
            .collect()
    }

    fn failed(errors: Vec<SslError>, leaf: Option<Cert>) -> VerifiedPath {
        VerifiedPath {
            certs: Arc::new(leaf.into_iter().collect()),
            anchored: false,
            signatures_ok: false,
            errors,
        }
    }
}

/// A report for a leaf that could not be parsed.
fn unparsed_leaf(der: &[u8], detail: String) -> (Report, VerifiedPath) {
    let info = CertInfo::unparsed(der);
    let errors = vec![SslError::for_cert(
        ErrorKind::MalformedCertificate,
        0,
        &info,
        detail,
    )];
    let report = Report {
        errors: errors.clone(),
        path: vec![info],
        trusted: false,
    };
    (report, VerifiedPath::failed(errors, None))
}

/// Runs a verification (see [`Verifier::verify_keep`]).
pub(crate) fn verify(v: &Verifier, input: &VerifyInput<'_>) -> (Report, VerifiedPath) {
    let leaf = match Cert::parse(input.end_entity.as_ref()) {
        Ok(c) => c,
        Err(detail) => return unparsed_leaf(input.end_entity.as_ref(), detail),
    };
    let mut unparsed = 0;
    let mut inters: Vec<Cert> = Vec::new();
    let mut seen = std::collections::HashSet::from([leaf.info.sha256]);
    for der in input.intermediates {
        match Cert::parse(der.as_ref()) {
            Ok(c) => {
                if !v.anchor_hashes.contains(&c.info.sha256) && seen.insert(c.info.sha256) {
                    inters.push(c);
                }
            }
            Err(_) => unparsed += 1,
        }
    }
    let mut certs: Vec<&Cert> = Vec::with_capacity(1 + inters.len() + v.anchors.len());
    certs.push(&leaf);
    certs.extend(inters.iter());
    let first_anchor = certs.len();
    certs.extend(v.anchors.iter());
    let mut inter_by_subject: HashMap<&crate::dn::Dn, Vec<usize>> = HashMap::new();
    for (i, c) in inters.iter().enumerate() {
        inter_by_subject.entry(&c.subject).or_default().push(i + 1);
    }
    let leaf_trusted = v.anchor_hashes.contains(&leaf.info.sha256);
    let mut ctx = Ctx {
        v,
        time: i64::try_from(input.time.as_secs()).unwrap_or(i64::MAX),
        purpose: input.purpose,
        host: input.host.map(|h| (h, parse_reference(h))),
        certs,
        first_anchor,
        inter_by_subject,
        sig_cache: HashMap::new(),
        budget: Budget::default(),
        unparsed,
    };
    let max_len = v.max_depth.saturating_add(10).min(MAX_PATH_LEN);
    let mut search = Search {
        ctx: &mut ctx,
        best: None,
        done: false,
        max_len,
    };
    if leaf_trusted {
        search.consider(&[0], End::Anchored);
    }
    let mut path = vec![0];
    search.dfs(&mut path);
    let best = search.best.take();
    let exceeded = ctx.budget.exceeded;
    let Some(mut best) = best else {
        // Only possible if the budget ran out before any path was evaluated.
        let info = leaf.info.clone();
        let why = exceeded.map(|e| e.to_string()).unwrap_or_default();
        let errors = vec![SslError::for_cert(
            ErrorKind::VerificationBudgetExceeded,
            0,
            &info,
            format!("the path search stopped before any path was evaluated ({why})"),
        )];
        let report = Report {
            errors: errors.clone(),
            path: vec![info],
            trusted: false,
        };
        return (report, VerifiedPath::failed(errors, Some(leaf)));
    };
    // Running out of work is always an error, even on a path that otherwise passed: a check
    // (a CRL's signature, a name constraint) may have been skipped, and a soft-fail revocation
    // mode would otherwise let an unchecked status through.
    if let Some(e) = exceeded {
        best.errors.push(SslError::new(
            ErrorKind::VerificationBudgetExceeded,
            format!("stopped after {e}; the errors are those of the best path found"),
        ));
    }
    let report = Report {
        path: best
            .path
            .iter()
            .map(|&i| ctx.certs[i].info.clone())
            .collect(),
        trusted: best.end == End::Anchored,
        errors: best.errors.clone(),
    };
    let signatures_ok = !best.errors.iter().any(|e| {
        matches!(
            e.kind,
            ErrorKind::CertificateSignatureFailed | ErrorKind::UnableToDecodeIssuerPublicKey
        )
    });
    let kept = VerifiedPath {
        certs: Arc::new(best.path.iter().map(|&i| ctx.certs[i].clone()).collect()),
        anchored: best.end == End::Anchored,
        signatures_ok,
        errors: best.errors,
    };
    (report, kept)
}

/// Runs a re-check (see [`Verifier::recheck`]).
pub(crate) fn recheck(v: &Verifier, path: &VerifiedPath, time: UnixTime) -> Vec<SslError> {
    if !path.anchored || path.certs.is_empty() {
        return path.errors.clone();
    }
    let mut ctx = Ctx {
        v,
        time: i64::try_from(time.as_secs()).unwrap_or(i64::MAX),
        purpose: crate::Purpose::Any,
        host: None,
        certs: path.certs.iter().collect(),
        first_anchor: path.certs.len() - 1,
        inter_by_subject: HashMap::new(),
        sig_cache: HashMap::new(),
        budget: Budget::default(),
        unparsed: 0,
    };
    let indices: Vec<usize> = (0..path.certs.len()).collect();
    let mut errors = path.errors.clone();
    // The trust anchors may have changed since (a reloaded CA bundle).
    let anchor = &path.certs[path.certs.len() - 1];
    if !v.anchor_hashes.contains(&anchor.info.sha256) {
        errors.push(SslError::for_cert(
            ErrorKind::CertificateUntrusted,
            path.certs.len() - 1,
            &anchor.info,
            "the path's trust anchor is no longer among the trusted CA certificates",
        ));
    }
    errors.extend(checks::recheck(&mut ctx, &indices, path.signatures_ok));
    errors
}
