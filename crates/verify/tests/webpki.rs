//! Property: on chains where both apply the same rules, our verdict (OK or not) equals
//! rustls-webpki's. Scenarios are generated for several key types; webpki stops at the first
//! error, we report all — only the verdict is compared.
//!
//! Excluded on purpose (documented differences): an expired trust anchor (webpki does not look
//! at anchors' validity) and a leaf keyUsage without digitalSignature (webpki ignores leaf
//! keyUsage).

mod common;

use common::*;
use mtls_verify::{CertificateDer, Purpose, UnixTime, VerifyInput};
use rcgen::{
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair, NameConstraints, SignatureAlgorithm,
};
use rustls_pki_types::ServerName;
use time::Duration;

struct Case {
    name: String,
    roots: Vec<CertificateDer<'static>>,
    inters: Vec<CertificateDer<'static>>,
    leaf: CertificateDer<'static>,
    host: &'static str,
    time: UnixTime,
}

fn webpki_ok(c: &Case) -> bool {
    let anchors: Vec<_> = c
        .roots
        .iter()
        .filter_map(|r| {
            webpki::anchor_from_trusted_cert(r)
                .ok()
                .map(|a| a.to_owned())
        })
        .collect();
    let Ok(ee) = webpki::EndEntityCert::try_from(&c.leaf) else {
        return false;
    };
    let chain = ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &c.inters,
        c.time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    let name = ServerName::try_from(c.host).expect("host");
    chain.is_ok() && ee.verify_is_valid_for_subject_name(&name).is_ok()
}

fn ours_ok(c: &Case) -> (bool, String) {
    let v = mtls_verify::Verifier::new(c.roots.clone()).expect("roots");
    let r = v.verify(
        &VerifyInput::new(&c.leaf)
            .intermediates(&c.inters)
            .time(c.time)
            .purpose(Purpose::ServerAuth)
            .host(c.host),
    );
    (r.is_ok(), r.to_string())
}

fn cases(alg: &'static SignatureAlgorithm) -> Vec<Case> {
    let k = || KeyPair::generate_for(alg).expect("key");
    let root = make(ca_params("Root", None), k(), None);
    let inter = make(ca_params("Inter", Some(0)), k(), Some(&root));
    let good = make(
        leaf_params("good", &["good.test", "192.0.2.1"]),
        k(),
        Some(&inter),
    );
    let mut out = Vec::new();
    let mut push = |name: &str,
                    inters: Vec<CertificateDer<'static>>,
                    leaf: CertificateDer<'static>,
                    host,
                    time| {
        out.push(Case {
            name: format!("{alg:?}/{name}"),
            roots: vec![root.der.clone()],
            inters,
            leaf,
            host,
            time,
        })
    };
    let t = at(now());
    push(
        "good",
        vec![inter.der.clone()],
        good.der.clone(),
        "good.test",
        t,
    );
    push(
        "good-ip",
        vec![inter.der.clone()],
        good.der.clone(),
        "192.0.2.1",
        t,
    );
    push(
        "wrong-host",
        vec![inter.der.clone()],
        good.der.clone(),
        "bad.test",
        t,
    );
    push(
        "wrong-ip",
        vec![inter.der.clone()],
        good.der.clone(),
        "192.0.2.2",
        t,
    );
    push("missing-inter", vec![], good.der.clone(), "good.test", t);
    push(
        "extra-inters",
        vec![root.der.clone(), inter.der.clone(), good.der.clone()],
        good.der.clone(),
        "good.test",
        t,
    );
    push(
        "leaf-expired",
        vec![inter.der.clone()],
        good.der.clone(),
        "good.test",
        at(now() + Duration::days(40)),
    );
    push(
        "not-yet-valid",
        vec![inter.der.clone()],
        good.der.clone(),
        "good.test",
        at(now() - Duration::days(2)),
    );

    let mut lp = leaf_params("client", &["good.test"]);
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = make(lp, k(), Some(&inter));
    push(
        "client-eku",
        vec![inter.der.clone()],
        client.der.clone(),
        "good.test",
        t,
    );

    let mut lp = leaf_params("wild", &["*.good.test"]);
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let wild = make(lp, k(), Some(&inter));
    push(
        "wildcard",
        vec![inter.der.clone()],
        wild.der.clone(),
        "a.good.test",
        t,
    );
    push(
        "wildcard-apex",
        vec![inter.der.clone()],
        wild.der.clone(),
        "good.test",
        t,
    );
    push(
        "wildcard-deep",
        vec![inter.der.clone()],
        wild.der.clone(),
        "a.b.good.test",
        t,
    );

    let mut np = ca_params("NotCA", None);
    np.is_ca = IsCa::ExplicitNoCa;
    np.key_usages = vec![];
    let not_ca = make(np, k(), Some(&root));
    let under_not_ca = make(leaf_params("u", &["good.test"]), k(), Some(&not_ca));
    push(
        "not-ca",
        vec![not_ca.der.clone()],
        under_not_ca.der.clone(),
        "good.test",
        t,
    );

    let inter2 = make(ca_params("Inter2", None), k(), Some(&inter));
    let deep = make(leaf_params("d", &["good.test"]), k(), Some(&inter2));
    push(
        "pathlen",
        vec![inter.der.clone(), inter2.der.clone()],
        deep.der.clone(),
        "good.test",
        t,
    );

    let mut bad = good.der.to_vec();
    let n = bad.len() - 1;
    bad[n] ^= 1;
    push(
        "bad-signature",
        vec![inter.der.clone()],
        CertificateDer::from(bad),
        "good.test",
        t,
    );

    let mut cp = ca_params("Constrained", None);
    cp.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("good.test".into())],
        excluded_subtrees: vec![],
    });
    let constrained = make(cp, k(), Some(&root));
    let inside = make(leaf_params("in", &["a.good.test"]), k(), Some(&constrained));
    let outside = make(
        leaf_params("out", &["a.good.test", "evil.test"]),
        k(),
        Some(&constrained),
    );
    push(
        "nc-inside",
        vec![constrained.der.clone()],
        inside.der.clone(),
        "a.good.test",
        t,
    );
    push(
        "nc-outside",
        vec![constrained.der.clone()],
        outside.der.clone(),
        "a.good.test",
        t,
    );

    let self_signed = make(leaf_params("self", &["good.test"]), k(), None);
    push(
        "self-signed",
        vec![],
        self_signed.der.clone(),
        "good.test",
        t,
    );
    out
}

#[test]
fn verdicts_match_webpki() {
    let mut checked = 0;
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        for c in cases(alg) {
            let theirs = webpki_ok(&c);
            let (ours, report) = ours_ok(&c);
            assert_eq!(
                ours, theirs,
                "{}: ours {ours}, webpki {theirs}\n{report}",
                c.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 50);
}
