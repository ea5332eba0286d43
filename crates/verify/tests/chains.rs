//! Chains built with rcgen at test time: every verdict and every reported error.

mod common;

use common::*;
use mtls_verify::{
    CertificateDer, ErrorKind as K, IgnoreRule, Purpose, Verifier, VerifyInput, load_certificates,
};
use rcgen::{
    CustomExtension, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair, NameConstraints,
};
use time::Duration;

struct Pki {
    root: Node,
    inter: Node,
    leaf: Node,
}

fn pki() -> Pki {
    let root = root("Test Root");
    let inter = ca("Test Intermediate", &root, Some(0));
    let leaf = leaf("server.test", &["server.test", "127.0.0.1", "::1"], &inter);
    Pki { root, inter, leaf }
}

fn input<'a>(leaf: &'a CertificateDer<'a>, inters: &'a [CertificateDer<'a>]) -> VerifyInput<'a> {
    VerifyInput::new(leaf)
        .intermediates(inters)
        .purpose(Purpose::ServerAuth)
}

#[test]
fn good_chain_is_ok() {
    let p = pki();
    let v = verifier(&[&p.root]);
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&p.leaf.der, &inters).host("server.test"));
    assert!(r.is_ok(), "{r}");
    assert!(r.trusted);
    assert_eq!(r.path.len(), 3);
    assert_eq!(r.path[0].subject, "CN=server.test");
    assert_eq!(r.path[2].subject, "CN=Test Root");
    assert_eq!(r.to_string(), "OK");
    // The host in other spellings, IP literals, both purposes.
    for host in ["SERVER.test.", "127.0.0.1", "::1", "[::1]"] {
        let r = v.verify(&input(&p.leaf.der, &inters).host(host));
        assert!(r.is_ok(), "{host}: {r}");
    }
    let r = v.verify(&input(&p.leaf.der, &inters).purpose(Purpose::ClientAuth));
    assert!(r.is_ok(), "{r}");
}

#[test]
fn expired_leaf_with_wrong_host_reports_both() {
    let p = pki();
    let mut lp = leaf_params("old.test", &["old.test"]);
    lp.not_before = now() - Duration::days(60);
    lp.not_after = now() - Duration::days(1);
    let old = make(lp, key(), Some(&p.inter));
    let v = verifier(&[&p.root]);
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&old.der, &inters).host("new.test"));
    assert_errors(&r, &[(K::CertificateExpired, 0), (K::HostNameMismatch, 0)]);
    assert!(r.trusted, "the path is still anchored");
    for e in &r.errors {
        assert_eq!(
            e.certificate.as_ref().unwrap().der,
            old.der,
            "each error names the leaf"
        );
    }
    let text = r.to_string();
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.contains("CertificateExpired [depth 0: CN=old.test]"),
        "{text}"
    );
    assert!(
        text.contains("new.test is not among the certificate's DNS/IP names: DNS:old.test"),
        "{text}"
    );
}

#[test]
fn every_error_of_the_chain() {
    // Intermediate expired, leaf for the wrong purpose and host, leaf not yet valid.
    let root = root("Root");
    let mut ip = ca_params("Old Intermediate", None);
    ip.not_before = now() - Duration::days(90);
    ip.not_after = now() - Duration::days(2);
    let inter = make(ip, key(), Some(&root));
    let mut lp = leaf_params("x.test", &["x.test"]);
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    lp.not_before = now() + Duration::days(1);
    lp.not_after = now() + Duration::days(10);
    let leaf = make(lp, key(), Some(&inter));
    let v = verifier(&[&root]);
    let inters = [inter.der.clone()];
    let r = v.verify(&input(&leaf.der, &inters).host("y.test"));
    assert_errors(
        &r,
        &[
            (K::CertificateNotYetValid, 0),
            (K::InvalidPurpose, 0),
            (K::HostNameMismatch, 0),
            (K::CertificateExpired, 1),
        ],
    );
}

#[test]
fn not_yet_valid() {
    let p = pki();
    let v = verifier(&[&p.root]);
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&p.leaf.der, &inters).time(at(now() - Duration::days(3))));
    // Every certificate starts yesterday.
    assert_errors(
        &r,
        &[
            (K::CertificateNotYetValid, 0),
            (K::CertificateNotYetValid, 1),
            (K::CertificateNotYetValid, 2),
        ],
    );
}

#[test]
fn unknown_issuer() {
    let p = pki();
    let other = root("Other Root");
    let v = verifier(&[&other]);
    // Without the intermediate: the leaf's issuer is missing.
    let r = v.verify(&input(&p.leaf.der, &[]));
    assert_errors(&r, &[(K::UnableToGetLocalIssuerCertificate, 0)]);
    assert!(!r.trusted);
    // With it: the intermediate's issuer is missing.
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&p.leaf.der, &inters));
    assert_errors(&r, &[(K::UnableToGetIssuerCertificate, 1)]);
    assert_eq!(r.path.len(), 2);
}

#[test]
fn self_signed_leaf() {
    let mut lp = leaf_params("self.test", &["self.test"]);
    lp.use_authority_key_identifier_extension = false;
    let leaf = make(lp, key(), None);
    let v = verifier(&[&root("Some Root")]);
    let r = v.verify(&input(&leaf.der, &[]).host("self.test"));
    assert_errors(&r, &[(K::SelfSignedCertificate, 0)]);
    // Trusted explicitly: OK (as OpenSSL and QSslSocket do).
    let v = verifier(&[&leaf]);
    let r = v.verify(&input(&leaf.der, &[]).host("self.test"));
    assert!(r.is_ok(), "{r}");
}

#[test]
fn untrusted_root_in_chain() {
    let p = pki();
    let v = verifier(&[&root("Unrelated Root")]);
    let inters = [p.inter.der.clone(), p.root.der.clone()];
    let r = v.verify(&input(&p.leaf.der, &inters));
    assert_errors(&r, &[(K::SelfSignedCertificateInChain, 2)]);
    assert_eq!(r.path.len(), 3);
}

#[test]
fn wrong_eku_is_invalid_purpose() {
    let p = pki();
    let mut lp = leaf_params("client", &["client.test"]);
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = make(lp, key(), Some(&p.inter));
    let v = verifier(&[&p.root]);
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&client.der, &inters));
    assert_errors(&r, &[(K::InvalidPurpose, 0)]);
    assert!(
        r.errors[0].detail.contains("does not include serverAuth"),
        "{r}"
    );
    assert!(
        v.verify(&input(&client.der, &inters).purpose(Purpose::ClientAuth))
            .is_ok()
    );
    assert!(
        v.verify(&input(&client.der, &inters).purpose(Purpose::Any))
            .is_ok()
    );

    // anyExtendedKeyUsage alone does not satisfy serverAuth (as in rustls-webpki).
    let mut lp = leaf_params("any", &["any.test"]);
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::Any];
    let any = make(lp, key(), Some(&p.inter));
    assert_errors(
        &v.verify(&input(&any.der, &inters)),
        &[(K::InvalidPurpose, 0)],
    );

    // An intermediate restricted to clientAuth cannot issue server certificates.
    let mut cp = ca_params("Client CA", None);
    cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_ca = make(cp, key(), Some(&p.root));
    let server = leaf("s", &["s.test"], &client_ca);
    let inters2 = [client_ca.der.clone()];
    assert_errors(
        &v.verify(&input(&server.der, &inters2)),
        &[(K::InvalidPurpose, 1)],
    );

    // keyUsage without digitalSignature.
    let mut lp = leaf_params("ke", &["ke.test"]);
    lp.key_usages = vec![rcgen::KeyUsagePurpose::KeyEncipherment];
    let ke = make(lp, key(), Some(&p.inter));
    assert_errors(
        &v.verify(&input(&ke.der, &inters)),
        &[(K::InvalidPurpose, 0)],
    );
    let lenient = verifier(&[&p.root]).leaf_key_usage(false);
    assert!(lenient.verify(&input(&ke.der, &inters)).is_ok());
}

#[test]
fn intermediate_without_ca_is_invalid_ca() {
    let root = root("Root");
    let mut np = ca_params("Not A CA", None);
    np.is_ca = IsCa::ExplicitNoCa;
    np.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let not_ca = make(np, key(), Some(&root));
    let leaf = leaf("l", &["l.test"], &not_ca);
    let v = verifier(&[&root]);
    let inters = [not_ca.der.clone()];
    let r = v.verify(&input(&leaf.der, &inters));
    // Both faults are reported: cA=FALSE and no keyCertSign.
    assert_errors(
        &r,
        &[(K::InvalidCaCertificate, 1), (K::InvalidCaCertificate, 1)],
    );
    assert!(r.errors[0].detail.contains("cA=FALSE"), "{r}");
    assert!(r.errors[1].detail.contains("keyCertSign"), "{r}");
}

#[test]
fn path_length_exceeded() {
    let root = root("Root");
    let i1 = ca("Intermediate 1", &root, Some(0));
    let i2 = ca("Intermediate 2", &i1, None);
    let leaf = leaf("l", &["l.test"], &i2);
    let v = verifier(&[&root]);
    let inters = [i2.der.clone(), i1.der.clone()];
    let r = v.verify(&input(&leaf.der, &inters));
    assert_errors(&r, &[(K::PathLengthExceeded, 2)]);
    // pathlen 1 is enough.
    let i1 = ca("Intermediate 1", &root, Some(1));
    let i2 = ca("Intermediate 2", &i1, Some(0));
    let leaf = common::leaf("l", &["l.test"], &i2);
    let inters = [i1.der.clone(), i2.der.clone()];
    assert!(v.verify(&input(&leaf.der, &inters)).is_ok());
}

#[test]
fn max_depth() {
    let root = root("Root");
    let i1 = ca("I1", &root, None);
    let i2 = ca("I2", &i1, None);
    let leaf = leaf("l", &["l.test"], &i2);
    let inters = [i1.der.clone(), i2.der.clone()];
    let r = verifier(&[&root])
        .max_depth(1)
        .verify(&input(&leaf.der, &inters));
    assert_errors(&r, &[(K::ChainTooLong, 2)]);
    assert!(
        verifier(&[&root])
            .max_depth(2)
            .verify(&input(&leaf.der, &inters))
            .is_ok()
    );
}

fn flip_last_byte(der: &CertificateDer<'_>) -> CertificateDer<'static> {
    let mut d = der.to_vec();
    let last = d.len() - 1;
    d[last] ^= 0x01;
    CertificateDer::from(d)
}

#[test]
fn bad_signature() {
    let p = pki();
    let v = verifier(&[&p.root]);
    let bad = flip_last_byte(&p.leaf.der);
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&bad, &inters).host("server.test"));
    assert_errors(&r, &[(K::CertificateSignatureFailed, 0)]);
    assert!(r.trusted, "the path is built even though a signature fails");
    // A tampered intermediate.
    let bad_inter = [flip_last_byte(&p.inter.der)];
    let r = v.verify(&input(&p.leaf.der, &bad_inter));
    assert_errors(&r, &[(K::CertificateSignatureFailed, 1)]);
}

#[test]
fn alternative_paths() {
    // Two intermediates with the same name: an impostor with another key (tried first because it
    // is listed first) and the real one. The real one wins.
    let root = root("Root");
    let real = ca("Issuing CA", &root, None);
    let mut ip = ca_params("Issuing CA", None);
    ip.use_authority_key_identifier_extension = false;
    let impostor = make(ip, key(), Some(&root));
    let leaf = leaf("l", &["l.test"], &real);
    let v = verifier(&[&root]);
    let inters = [impostor.der.clone(), real.der.clone()];
    let r = v.verify(&input(&leaf.der, &inters));
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.path[1].der, real.der);

    // Chain of pain: an expired cross-certificate of the root is ignored for the trusted root.
    let old_root = self::root("Old Root");
    let mut xp = ca_params("Root", None);
    xp.not_before = now() - Duration::days(400);
    xp.not_after = now() - Duration::days(5);
    let cross = make(
        xp,
        KeyPair::from_pem(&root.key.serialize_pem()).unwrap(),
        Some(&old_root),
    );
    let v = verifier(&[&root, &old_root]);
    let leaf2 = self::leaf("l2", &["l2.test"], &root);
    let inters = [cross.der.clone()];
    let r = v.verify(&input(&leaf2.der, &inters));
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.path.len(), 2);
}

#[test]
fn name_constraints() {
    let root = root("Root");
    let mut cp = ca_params("Constrained CA", None);
    cp.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("example.com".into())],
        excluded_subtrees: vec![GeneralSubtree::DnsName("bad.example.com".into())],
    });
    let constrained = make(cp, key(), Some(&root));
    let v = verifier(&[&root]);
    let inters = [constrained.der.clone()];
    let good = leaf("g", &["www.example.com"], &constrained);
    assert!(v.verify(&input(&good.der, &inters)).is_ok());
    let outside = leaf("o", &["www.example.org"], &constrained);
    assert_errors(
        &v.verify(&input(&outside.der, &inters)),
        &[(K::NameConstraintsViolation, 0)],
    );
    let excluded = leaf("x", &["a.bad.example.com", "www.example.net"], &constrained);
    let r = v.verify(&input(&excluded.der, &inters));
    assert_errors(
        &r,
        &[
            (K::NameConstraintsViolation, 0),
            (K::NameConstraintsViolation, 0),
        ],
    );
    let wildcard = leaf("w", &["*.example.com"], &constrained);
    assert_errors(
        &v.verify(&input(&wildcard.der, &inters)),
        &[(K::NameConstraintsViolation, 0)],
    );
}

#[test]
fn unknown_critical_extension() {
    let p = pki();
    let mut lp = leaf_params("c", &["c.test"]);
    let mut ext =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55738, 666, 1], vec![0x05, 0x00]);
    ext.set_criticality(true);
    lp.custom_extensions = vec![ext];
    let c = make(lp, key(), Some(&p.inter));
    let v = verifier(&[&p.root]);
    let inters = [p.inter.der.clone()];
    let r = v.verify(&input(&c.der, &inters));
    assert_errors(&r, &[(K::UnhandledCriticalExtension, 0)]);
    assert!(
        r.errors[0].detail.contains("1.3.6.1.4.1.55738.666.1"),
        "{r}"
    );
}

#[test]
fn wildcard_and_ip_matching() {
    let root = root("Root");
    let w = leaf("w", &["*.example.com", "192.0.2.7", "2001:db8::1"], &root);
    let v = verifier(&[&root]);
    let check = |host: &str| v.verify(&input(&w.der, &[]).host(host)).is_ok();
    assert!(check("a.example.com"));
    assert!(check("A.EXAMPLE.COM"));
    assert!(!check("example.com"));
    assert!(!check("a.b.example.com"));
    assert!(!check("aexample.com"));
    assert!(check("192.0.2.7"));
    assert!(!check("192.0.2.8"));
    assert!(check("2001:db8::1"));
    assert!(check("[2001:DB8:0::1]"));
    assert!(!check("2001:db8::2"));
    assert!(
        !check("*.example.com"),
        "a wildcard is not a valid reference name"
    );
    // No CN fallback: a certificate without SAN never matches.
    let mut np = params("nosan.test");
    np.is_ca = IsCa::ExplicitNoCa;
    let nosan = make(np, key(), Some(&root));
    let r = v.verify(&input(&nosan.der, &[]).host("nosan.test"));
    assert_errors(&r, &[(K::HostNameMismatch, 0)]);
    assert!(r.errors[0].detail.contains("no subjectAltName"), "{r}");
}

#[test]
fn key_types() {
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let root = make(
            ca_params("Root", None),
            KeyPair::generate_for(alg).unwrap(),
            None,
        );
        let inter = make(
            ca_params("Inter", None),
            KeyPair::generate_for(alg).unwrap(),
            Some(&root),
        );
        let leaf = make(
            leaf_params("l", &["l.test"]),
            KeyPair::generate_for(alg).unwrap(),
            Some(&inter),
        );
        let inters = [inter.der.clone()];
        let r = verifier(&[&root]).verify(&input(&leaf.der, &inters));
        assert!(r.is_ok(), "{alg:?}: {r}");
    }
    let rsa =
        || KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let root = make(ca_params("RSA Root", None), rsa(), None);
    let leaf = make(leaf_params("l", &["l.test"]), key(), Some(&root));
    assert!(verifier(&[&root]).verify(&input(&leaf.der, &[])).is_ok());
}

#[test]
fn malformed_input() {
    let p = pki();
    let v = verifier(&[&p.root]);
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
    let r = v.verify(&input(&junk, &[]));
    assert_errors(&r, &[(K::MalformedCertificate, 0)]);
    // Junk intermediates are skipped and mentioned when a path cannot be completed.
    let inters = [junk.clone(), p.inter.der.clone()];
    assert!(v.verify(&input(&p.leaf.der, &inters)).is_ok());
    let r = v.verify(&input(&p.leaf.der, std::slice::from_ref(&junk)));
    assert!(r.errors[0].detail.contains("could not be parsed"), "{r}");
    // Truncations of a real certificate never panic.
    let der = p.leaf.der.to_vec();
    for cut in 0..der.len() {
        let d = CertificateDer::from(der[..cut].to_vec());
        assert!(!v.verify(&input(&d, &[])).is_ok());
    }
    // Every single-byte corruption of the leaf or the intermediate: never a panic, and never OK
    // unless the byte is outside what is signed and parsed the same way.
    let inters = [p.inter.der.clone()];
    for i in 0..der.len() {
        let mut d = der.clone();
        d[i] ^= 0xff;
        let d = CertificateDer::from(d);
        let _ = v.verify(&input(&d, &inters).host("server.test"));
    }
    let ider = p.inter.der.to_vec();
    for i in 0..ider.len() {
        let mut d = ider.clone();
        d[i] ^= 0xff;
        let bad = [CertificateDer::from(d)];
        assert!(!v.verify(&input(&p.leaf.der, &bad)).is_ok(), "byte {i}");
    }
    assert!(Verifier::new([vec![1u8, 2, 3]]).is_err());
}

#[test]
fn shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Verifier>();
    assert_send_sync::<mtls_verify::Crl>();
    assert_send_sync::<mtls_verify::Report>();
    assert_eq!("server".parse::<Purpose>(), Ok(Purpose::ServerAuth));
    assert_eq!("clientAuth".parse::<Purpose>(), Ok(Purpose::ClientAuth));
    assert!("web".parse::<Purpose>().is_err());
}

#[test]
fn ignore_rules_and_loading() {
    let p = pki();
    let v = verifier(&[&p.root]);
    let bundle = format!("{}{}", p.leaf.pem(), p.inter.pem());
    let chain = load_certificates(bundle.as_bytes(), "bundle.pem").unwrap();
    assert_eq!(chain.len(), 2);
    let mut r = v.verify(&input(&chain[0], &chain[1..]).host("wrong.test"));
    assert_errors(&r, &[(K::HostNameMismatch, 0)]);
    let fp = r.errors[0].certificate.as_ref().unwrap().sha256_hex();
    let rule: IgnoreRule = format!("HostNameMismatch:{fp}").parse().unwrap();
    assert_eq!(r.ignore(&[rule]).len(), 1);
    assert!(r.is_ok());
    // DER input works the same.
    let der = load_certificates(p.leaf.der.as_ref(), "leaf.der").unwrap();
    assert_eq!(der[0], p.leaf.der);
}

/// Strict serial-number rules concern issued certificates, not the trust anchor: real roots
/// (Starfield / Go Daddy Root G2, x509-limbo `online::fastly.com`) have serial 0.
#[test]
fn strict_serial_rules_exempt_the_trust_anchor() {
    let mut rp = ca_params("Serial Zero Root", None);
    rp.serial_number = Some(rcgen::SerialNumber::from_slice(&[0]));
    let root = make(rp, key(), None);
    let leaf = leaf("server.test", &["server.test"], &root);
    let v = verifier(&[&root]).strict(true);
    let r = v.verify(&input(&leaf.der, &[]).host("server.test"));
    assert!(r.is_ok(), "{r}");

    // The same rule still applies to the certificates below it.
    let mut lp = leaf_params("zero.test", &["zero.test"]);
    lp.serial_number = Some(rcgen::SerialNumber::from_slice(&[0]));
    let zero = make(lp, key(), Some(&root));
    let r = v.verify(&input(&zero.der, &[]).host("zero.test"));
    assert_errors(&r, &[(K::MalformedCertificate, 0)]);
    assert!(r.to_string().contains("serial number zero"), "{r}");
    // Not strict: no serial rule at all.
    assert!(verifier(&[&root]).verify(&input(&zero.der, &[])).is_ok());
    // A directly trusted end entity is still held to the rule (x509-limbo
    // rfc5280::serial::negative).
    let pinned = verifier(&[&zero]).strict(true);
    let r = pinned.verify(&input(&zero.der, &[]).host("zero.test"));
    assert_errors(&r, &[(K::MalformedCertificate, 0)]);
}
