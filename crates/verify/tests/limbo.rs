//! Runs an x509-limbo test suite (`limbo.json`) when `LIMBO_JSON` names one; otherwise does
//! nothing. This is a development aid until the real harness exists:
//!
//! ```text
//! LIMBO_JSON=/path/to/limbo.json cargo test -p mtls-verify --test limbo -- --nocapture
//! ```
//!
//! Set `LIMBO_MIN_PASS` (a fraction, e.g. `0.9`) to fail below a pass rate.

use mtls_verify::{
    CertificateDer, Purpose, RevocationMode, Verifier, VerifyInput, load_certificates, load_crls,
    unix_time,
};
use serde_json::Value;

fn pems(v: &Value) -> Vec<CertificateDer<'static>> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .flat_map(|p| load_certificates(p.as_bytes(), "limbo").unwrap_or_default())
        .collect()
}

/// Returns Ok(true) for SUCCESS, Ok(false) for FAILURE, Err(reason) when not applicable.
fn run(tc: &Value) -> Result<(bool, String), String> {
    let roots = pems(&tc["trusted_certs"]);
    let wants_digital_signature = tc["key_usage"]
        .as_array()
        .is_some_and(|k| k.iter().any(|u| u == "digitalSignature"));
    let inters = pems(&tc["untrusted_intermediates"]);
    let leaf = match load_certificates(
        tc["peer_certificate"].as_str().unwrap_or("").as_bytes(),
        "peer",
    ) {
        Ok(mut v) if !v.is_empty() => v.remove(0),
        Ok(_) | Err(_) => return Ok((false, "peer certificate does not load".into())),
    };
    let mut verifier = match Verifier::new(roots) {
        Ok(v) => v.strict(true).leaf_key_usage(wants_digital_signature),
        Err(e) => return Ok((false, e.to_string())),
    };
    let mut crls = Vec::new();
    for c in tc["crls"].as_array().into_iter().flatten() {
        match load_crls(c.as_str().unwrap_or("").as_bytes(), "crl") {
            Ok(v) => crls.extend(v),
            Err(e) => return Ok((false, e.to_string())),
        }
    }
    if !crls.is_empty() {
        verifier = verifier.crls(crls).revocation(RevocationMode::default());
    }
    if let Some(d) = tc["max_chain_depth"].as_u64() {
        verifier = verifier.max_depth(usize::try_from(d).unwrap_or(usize::MAX));
    }
    let purpose = match (
        tc["validation_kind"].as_str(),
        tc["extended_key_usage"].as_array(),
    ) {
        (_, Some(ekus)) if ekus.iter().any(|e| e == "serverAuth") => Purpose::ServerAuth,
        (_, Some(ekus)) if ekus.iter().any(|e| e == "clientAuth") => Purpose::ClientAuth,
        (Some("CLIENT"), _) => Purpose::ClientAuth,
        _ => Purpose::ServerAuth,
    };
    let time = match tc["validation_time"].as_str() {
        Some(t) => unix_time(
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("bad time {t}: {e}"))?,
        ),
        None => mtls_verify::UnixTime::now(),
    };
    let host = match &tc["expected_peer_name"] {
        Value::Object(o) if o.get("kind").and_then(Value::as_str) != Some("RFC822") => {
            o.get("value").and_then(Value::as_str)
        }
        _ => None,
    };
    let mut input = VerifyInput::new(&leaf)
        .intermediates(&inters)
        .time(time)
        .purpose(purpose);
    if let Some(h) = host {
        input = input.host(h);
    }
    let report = verifier.verify(&input);
    Ok((report.is_ok(), report.to_string()))
}

#[test]
fn limbo() {
    let Ok(path) = std::env::var("LIMBO_JSON") else {
        eprintln!("LIMBO_JSON not set: skipping the x509-limbo run");
        return;
    };
    let data = std::fs::read(&path).expect("read LIMBO_JSON");
    let suite: Value = serde_json::from_slice(&data).expect("parse limbo.json");
    let only = std::env::var("LIMBO_ONLY").ok();
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for tc in suite["testcases"].as_array().expect("testcases") {
        let id = tc["id"].as_str().unwrap_or("?");
        if only.as_deref().is_some_and(|o| !id.contains(o)) {
            continue;
        }
        let expected = tc["expected_result"] == "SUCCESS";
        let started = std::time::Instant::now();
        match run(tc) {
            Err(why) => {
                skip += 1;
                eprintln!("SKIP {id}: {why}");
            }
            Ok((ok, report)) => {
                let ms = started.elapsed().as_millis();
                if ok == expected {
                    pass += 1;
                    if only.is_some() {
                        eprintln!(
                            "pass {id} ({ms} ms)\n    {}",
                            report.replace('\n', "\n    ")
                        );
                    }
                } else {
                    fail += 1;
                    eprintln!(
                        "FAIL {id} (expected {}, {ms} ms)\n    {}",
                        if expected { "SUCCESS" } else { "FAILURE" },
                        report.replace('\n', "\n    ")
                    );
                }
            }
        }
    }
    eprintln!("limbo: {pass} passed, {fail} failed, {skip} skipped");
    if let Ok(min) = std::env::var("LIMBO_MIN_PASS") {
        let min: f64 = min.parse().expect("LIMBO_MIN_PASS is a fraction");
        let rate = f64::from(pass) / f64::from((pass + fail).max(1));
        assert!(rate >= min, "pass rate {rate:.3} below {min}");
    }
}
