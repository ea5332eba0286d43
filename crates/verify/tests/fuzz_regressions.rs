//! Inputs found by the differential fuzzer (`fuzz/fuzz_targets/verify_differential.rs`): trust
//! anchors that x509-parser read although their DER is wrong (a constructed INTEGER serial, an
//! extension whose extnID is not an OBJECT IDENTIFIER, a BOOLEAN TRUE that is not 0xFF, a
//! signatureValue BIT STRING with unused bits …), which rustls-webpki refuses. They must be
//! refused here too, naming the rule.

use std::path::Path;

#[test]
fn certificates_with_lenient_tags_are_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let der = std::fs::read(&path).unwrap();
        let err = mtls_verify::Verifier::new([der.as_slice()])
            .expect_err(&path.display().to_string())
            .to_string();
        assert!(
            err.contains("not DER as RFC 5280"),
            "{}: {err}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 6);
}
