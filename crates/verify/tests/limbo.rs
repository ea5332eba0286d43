//! The x509-limbo harness: runs every testcase of the bundled suite
//! (`tests/data/limbo/limbo.json.bz2`, 208 cases, SERVER and CLIENT) through [`Verifier`]
//! configured as the socket layer configures it (`mtls_socket::TlsContext::verifier`, used by
//! `mtls serve` and `mtls connect`; `mtls verify` builds the same verifier):
//!
//! * not strict, digitalSignature required in the end entity's keyUsage when it has one;
//! * with CRLs: revocation of the end entity, status required, expired CRLs refused (as the
//!   socket layer); without: no revocation checking;
//! * maximum depth: the case's `max_chain_depth`, else [`mtls_verify::DEFAULT_MAX_DEPTH`];
//! * purpose: SERVER → [`Purpose::ServerAuth`], CLIENT → [`Purpose::ClientAuth`];
//! * host: the case's `expected_peer_name` (DNS or IP) for SERVER cases. The socket layer does
//!   not check a client certificate's names, so CLIENT cases' `expected_peer_names` are checked
//!   here, after the verifier, against the end entity's subjectAltName (as x509-limbo asks).
//!
//! Cases the verifier cannot express (other EKUs, keyUsage or signature-algorithm constraints,
//! an RFC 822 name for a SERVER case) are SKIPPED. Every result that differs from the expected
//! one (a SKIPPED included) must be listed in `tests/data/limbo/exceptions.txt` with a reason;
//! an entry that now matches (stale) or names no case fails the test too.
//!
//! ```text
//! cargo test -p mtls-verify --test limbo -- --nocapture     # summary and differences
//! LIMBO_ONLY=nc:: …                                          # only ids containing this
//! LIMBO_RESULTS=results.json …                               # also write the LimboResult
//!                                                            # (results.json.strict: strict)
//! cargo test -p mtls-verify --test limbo limbo_strict       # Verifier::strict(true)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

use mtls_verify::{
    CertificateDer, DEFAULT_MAX_DEPTH, Purpose, RevocationMode, RevocationScope, UnixTime,
    Verifier, VerifyInput, load_certificates, load_crls, unix_time,
};
use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The input document (`limbo-schema.json`, `Limbo`).
#[derive(Deserialize)]
struct Limbo {
    version: u32,
    testcases: Vec<Testcase>,
}

/// One testcase (`limbo-schema.json`, `Testcase`); fields the harness does not need
/// (description, importance, conflicts_with, peer_certificate_key) are ignored.
#[derive(Deserialize)]
struct Testcase {
    id: String,
    #[serde(default)]
    features: Vec<String>,
    validation_kind: Kind,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    #[serde(default)]
    validation_time: Option<String>,
    signature_algorithms: Vec<String>,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
    expected_result: Expected,
    #[serde(default)]
    expected_peer_name: Option<PeerName>,
    expected_peer_names: Vec<PeerName>,
    #[serde(default)]
    max_chain_depth: Option<u64>,
    #[serde(default)]
    crls: Vec<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
enum Kind {
    Server,
    Client,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
enum Expected {
    Success,
    Failure,
}

#[derive(Deserialize)]
struct PeerName {
    kind: String,
    value: String,
}

/// `ActualResult` of the LimboResult model (HARNESS.md).
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "UPPERCASE")]
enum Actual {
    Success,
    Failure,
    Skipped,
}

impl Actual {
    fn matches(self, e: Expected) -> bool {
        matches!(
            (self, e),
            (Actual::Success, Expected::Success) | (Actual::Failure, Expected::Failure)
        )
    }
}

/// `TestcaseResult`.
#[derive(Serialize)]
struct TestcaseResult {
    id: String,
    actual_result: Actual,
    context: Option<String>,
}

/// `LimboResult`.
#[derive(Serialize)]
struct LimboResult {
    version: u32,
    harness: &'static str,
    results: Vec<TestcaseResult>,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/limbo")
}

fn load_suite() -> Limbo {
    let path = data_dir().join("limbo.json.bz2");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut json = Vec::new();
    bzip2::read::BzDecoder::new(file)
        .read_to_end(&mut json)
        .unwrap_or_else(|e| panic!("decompressing {}: {e}", path.display()));
    let suite: Limbo = serde_json::from_slice(&json).expect("limbo.json matches the schema");
    assert_eq!(suite.version, 1, "limbo schema version");
    suite
}

/// `exceptions.txt`: `<id> <reason>` per line; `#` comments and blank lines ignored.
/// The exceptions of one mode: `strict-only` entries apply to the default mode, `strict-conflict`
/// entries to the strict one, the others to both.
fn load_exceptions(strict: bool) -> BTreeMap<String, String> {
    let path = data_dir().join("exceptions.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let reason = reason.trim();
        if (strict && reason.starts_with("strict-only:"))
            || (!strict && reason.starts_with("strict-conflict:"))
        {
            continue;
        }
        assert!(
            !reason.trim().is_empty(),
            "exceptions.txt line {}: {id} has no reason",
            n + 1
        );
        assert!(
            map.insert(id.to_string(), reason.trim().to_string())
                .is_none(),
            "exceptions.txt line {}: {id} listed twice",
            n + 1
        );
    }
    map
}

fn certs(pems: &[String], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for p in pems {
        out.extend(load_certificates(p.as_bytes(), what).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The end entity's subjectAltName entries as limbo peer names (`kind`, `value`).
fn san_names(der: &[u8]) -> Vec<(&'static str, String)> {
    let Ok((_, x)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = x.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(("DNS", d.to_string())),
            GeneralName::RFC822Name(e) => Some(("RFC822", e.to_string())),
            GeneralName::IPAddress(o) => match o.len() {
                4 => <[u8; 4]>::try_from(*o)
                    .ok()
                    .map(|a| ("IP", std::net::IpAddr::from(a).to_string())),
                16 => <[u8; 16]>::try_from(*o)
                    .ok()
                    .map(|a| ("IP", std::net::IpAddr::from(a).to_string())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Does a presented SAN name equal the expected one? DNS and e-mail domains compare
/// case-insensitively, IPs by value.
fn same_name(kind: &str, presented: &str, expected: &str) -> bool {
    match kind {
        "DNS" => presented.eq_ignore_ascii_case(expected),
        "RFC822" => match (presented.rsplit_once('@'), expected.rsplit_once('@')) {
            (Some((pl, pd)), Some((el, ed))) => pl == el && pd.eq_ignore_ascii_case(ed),
            _ => false,
        },
        "IP" => {
            presented.parse::<std::net::IpAddr>().ok() == expected.parse::<std::net::IpAddr>().ok()
        }
        _ => false,
    }
}

/// Evaluates one testcase: (result, context).
fn evaluate(tc: &Testcase, strict: bool) -> (Actual, Option<String>) {
    let skip = |why: String| (Actual::Skipped, Some(why));
    let fail = |why: String| (Actual::Failure, Some(why));

    // What the verifier can express; anything else is SKIPPED rather than guessed.
    let purpose = match tc.validation_kind {
        Kind::Server => Purpose::ServerAuth,
        Kind::Client => Purpose::ClientAuth,
    };
    let purpose_eku = match purpose {
        Purpose::ClientAuth => "clientAuth",
        _ => "serverAuth",
    };
    // An empty list constrains nothing more: the kind's purpose is required anyway, as the
    // socket layer always requires it.
    if tc.extended_key_usage.iter().any(|e| e != purpose_eku) {
        return skip(format!(
            "extended_key_usage {:?}: the verifier checks one purpose, {purpose_eku} for a {} peer",
            tc.extended_key_usage,
            if purpose == Purpose::ClientAuth {
                "CLIENT"
            } else {
                "SERVER"
            }
        ));
    }
    // key_usage constrains the end entity's keyUsage. The verifier's one keyUsage constraint
    // is digitalSignature (Verifier::leaf_key_usage, always on in the socket layer, where TLS
    // signs with the key); an empty list asks for none.
    let want_digital_signature = tc.key_usage.iter().any(|k| k == "digitalSignature");
    if tc.key_usage.iter().any(|k| k != "digitalSignature") {
        return skip(format!(
            "key_usage {:?}: only digitalSignature can be required",
            tc.key_usage
        ));
    }
    if !tc.signature_algorithms.is_empty() {
        return skip(format!(
            "signature_algorithms {:?}: the verifier has no algorithm restriction",
            tc.signature_algorithms
        ));
    }
    let host = match (&tc.expected_peer_name, tc.validation_kind) {
        (Some(p), Kind::Server) if p.kind == "DNS" || p.kind == "IP" => Some(p.value.as_str()),
        (Some(p), Kind::Server) => {
            return skip(format!(
                "expected_peer_name of kind {}: only DNS and IP can be checked",
                p.kind
            ));
        }
        _ => None,
    };
    let time = match &tc.validation_time {
        Some(t) => {
            match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
                Ok(t) => unix_time(t),
                Err(e) => panic!("{}: bad validation_time {t}: {e}", tc.id),
            }
        }
        None => UnixTime::now(),
    };

    // Inputs the socket layer would refuse to load are failures.
    let roots = match certs(&tc.trusted_certs, "trusted_certs") {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let intermediates = match certs(&tc.untrusted_intermediates, "untrusted_intermediates") {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let peer = match certs(
        std::slice::from_ref(&tc.peer_certificate),
        "peer_certificate",
    ) {
        Ok(mut v) if v.len() == 1 => v.remove(0),
        Ok(v) => return fail(format!("{} peer certificates", v.len())),
        Err(e) => return fail(e),
    };
    let mut crls = Vec::new();
    for c in &tc.crls {
        match load_crls(c.as_bytes(), "crls") {
            Ok(v) => crls.extend(v),
            Err(e) => return fail(e.to_string()),
        }
    }

    // The socket layer's configuration (TlsContext::verifier).
    let mode = if crls.is_empty() {
        RevocationMode {
            scope: RevocationScope::Off,
            ..RevocationMode::default()
        }
    } else {
        RevocationMode {
            scope: RevocationScope::EndEntity,
            require_status: true,
            allow_expired_crls: false,
        }
    };
    let depth = tc.max_chain_depth.map_or(DEFAULT_MAX_DEPTH, |d| {
        usize::try_from(d).unwrap_or(usize::MAX)
    });
    let verifier = match Verifier::new(roots) {
        Ok(v) => v
            .crls(crls)
            .revocation(mode)
            .max_depth(depth)
            .leaf_key_usage(want_digital_signature)
            .strict(strict),
        Err(e) => return fail(e.to_string()),
    };
    let mut input = VerifyInput::new(&peer)
        .intermediates(&intermediates)
        .time(time)
        .purpose(purpose);
    if let Some(h) = host {
        input = input.host(h);
    }
    let report = verifier.verify(&input);
    if !report.is_ok() {
        return fail(report.to_string());
    }

    // CLIENT: the expected peer names must be among the end entity's subjectAltName entries.
    if tc.validation_kind == Kind::Client {
        let presented = san_names(peer.as_ref());
        for want in &tc.expected_peer_names {
            if !presented
                .iter()
                .any(|(k, v)| *k == want.kind && same_name(k, v, &want.value))
            {
                return fail(format!(
                    "expected peer name {}:{} is not in the subjectAltName {presented:?}",
                    want.kind, want.value
                ));
            }
        }
    }
    (Actual::Success, None)
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n        ")
}

/// The socket layer's configuration (not strict).
#[test]
fn limbo() {
    run(false);
}

/// `Verifier::strict(true)` (`mtls verify --strict`, `SslConfiguration::set_strict_verification`):
/// the strict-only exceptions must then match.
#[test]
fn limbo_strict() {
    run(true);
}

fn run(strict: bool) {
    let started = std::time::Instant::now();
    let suite = load_suite();
    let only = std::env::var("LIMBO_ONLY").ok();
    let exceptions = load_exceptions(strict);

    let ids: BTreeSet<&str> = suite.testcases.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), suite.testcases.len(), "duplicate testcase ids");

    let mut results = Vec::new();
    let (mut run, mut matched, mut excepted) = (0, 0, 0);
    let mut unlisted = Vec::new();
    let mut stale = Vec::new();
    for tc in &suite.testcases {
        if only.as_deref().is_some_and(|o| !tc.id.contains(o)) {
            continue;
        }
        run += 1;
        let (actual, context) = evaluate(tc, strict);
        let expected = match tc.expected_result {
            Expected::Success => "SUCCESS",
            Expected::Failure => "FAILURE",
        };
        let listed = exceptions.get(&tc.id);
        if actual.matches(tc.expected_result) {
            matched += 1;
            if let Some(reason) = listed {
                stale.push(format!("{} (listed: {reason})", tc.id));
            }
            if only.is_some() {
                eprintln!(
                    "match {} {expected}\n        {}",
                    tc.id,
                    indent(context.as_deref().unwrap_or("OK"))
                );
            }
        } else {
            let line = format!(
                "{} expected {expected}, got {actual:?} [{}]\n        {}",
                tc.id,
                tc.features.join(","),
                indent(context.as_deref().unwrap_or("OK"))
            );
            match listed {
                Some(reason) => {
                    excepted += 1;
                    eprintln!("exception {line}\n        listed: {reason}");
                }
                None => unlisted.push(line),
            }
        }
        results.push(TestcaseResult {
            id: tc.id.clone(),
            actual_result: actual,
            context,
        });
    }
    for u in &unlisted {
        eprintln!("DIFFERENCE {u}");
    }
    for s in &stale {
        eprintln!("STALE exception (the case now matches): {s}");
    }
    let unknown: Vec<&String> = exceptions
        .keys()
        .filter(|id| !ids.contains(id.as_str()))
        .collect();
    for u in &unknown {
        eprintln!("UNKNOWN exception id: {u}");
    }
    eprintln!(
        "limbo{}: {run} cases run / {matched} matched / {excepted} exceptions ({} unlisted differences, {} stale exceptions) in {:.2?}",
        if strict { " (strict)" } else { "" },
        unlisted.len(),
        stale.len(),
        started.elapsed()
    );

    if let Some(path) = std::env::var_os("LIMBO_RESULTS") {
        // The two modes run in parallel: the strict one writes FILE.strict.
        let mut path = PathBuf::from(path);
        if strict {
            path.as_mut_os_string().push(".strict");
        }
        let doc = LimboResult {
            version: 1,
            harness: "mtls-verify",
            results,
        };
        let json = serde_json::to_string_pretty(&doc).expect("serialize LimboResult");
        std::fs::write(&path, json + "\n").expect("write LIMBO_RESULTS");
        eprintln!("LimboResult written to {}", path.display());
    }

    assert!(
        unlisted.is_empty(),
        "{} difference(s) from the expected results are not in tests/data/limbo/exceptions.txt \
         (see DIFFERENCE lines above)",
        unlisted.len()
    );
    if only.is_none() {
        assert!(
            stale.is_empty() && unknown.is_empty(),
            "exceptions.txt has {} stale and {} unknown entries: remove them",
            stale.len(),
            unknown.len()
        );
    }
}
