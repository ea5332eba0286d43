//! `show` on requests and CRLs (openssl CLI, rcgen), DER input, and inputs that must fail.

mod common;

use common::{ext, names, one, pki};
use mtls_pki::show::{ExtValue, Kind, Shown, show, show_at};
use time::{Duration, OffsetDateTime};

#[test]
fn request_signature_and_attributes() {
    let p = pki();
    let pem = p.read("leaf.csr");
    let s = one(&pem);
    assert_eq!(s.kind, Kind::Request);
    assert_eq!(s.version, 1);
    assert_eq!(s.signature_valid, Some(true));
    assert_eq!(
        s.subject.as_ref().unwrap().text,
        "/C=CN/O=Example/CN=www.example.com"
    );
    assert!(s.issuer.is_none() && s.serial.is_none() && s.validity.is_none());
    assert_eq!(s.public_key.as_ref().unwrap().algorithm, "EC P-256");
    assert_eq!(
        names(ext(&s, "subjectAltName")),
        ["DNS:www.example.com", "IP:192.0.2.1"]
    );
    let attrs: Vec<(&str, &[String])> = s
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.values.as_slice()))
        .collect();
    assert_eq!(
        attrs,
        [
            ("challengePassword", &["s3cret-pass".to_string()][..]),
            ("unstructuredName", &["Example Unit".to_string()][..])
        ]
    );
    let text = s.to_text();
    for want in [
        "Certificate request 1 of 1",
        "Requested extensions (2):",
        "challengePassword",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }

    // DER, then with one signature byte flipped: still decodes, no longer verifies.
    let mut der = pem::parse(&pem).unwrap().into_contents();
    let s = one(&der);
    assert_eq!(
        (s.kind, s.source.as_str(), s.signature_valid),
        (Kind::Request, "DER", Some(true))
    );
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let s = one(&der);
    assert_eq!(s.signature_valid, Some(false));
    assert!(s.to_text().contains("DOES NOT VERIFY"));
}

#[test]
fn crl_from_openssl_ca() {
    let p = pki();
    let s = one(&p.read("int.crl"));
    assert_eq!(s.kind, Kind::Crl);
    assert_eq!(s.version, 2);
    assert_eq!(
        s.issuer.as_ref().unwrap().text,
        "/C=CN/O=Example/CN=Example Intermediate"
    );
    assert_eq!(s.signature_valid, None);
    let crl = s.crl.as_ref().unwrap();
    assert_eq!(crl.crl_number.as_deref(), Some("4096"));
    assert!(!crl.stale && crl.next_update.is_some());
    assert_eq!(crl.revoked_count, 1);
    let r = &crl.revoked[0];
    assert_eq!(r.serial.plain, "0ABCDEF012");
    assert_eq!(r.reason.as_deref(), Some("keyCompromise"));
    assert_eq!(r.invalidity_date.as_deref(), Some("2020-01-01T00:00:00Z"));
    let delta = ext(&s, "deltaCRLIndicator");
    assert!(delta.critical);
    assert!(matches!(&delta.value, ExtValue::Number { number } if number == "4095"));
    assert!(matches!(
        &ext(&s, "freshestCRL").value,
        ExtValue::DistributionPoints { points } if points[0].names == ["URI:http://crl.example/delta.crl"]
    ));
    assert!(matches!(
        &ext(&s, "cRLNumber").value,
        ExtValue::Number { number } if number == "4096"
    ));
    let idp = ext(&s, "issuingDistributionPoint");
    assert!(idp.critical);
    assert!(matches!(
        &idp.value,
        ExtValue::IssuingDistributionPoint { names, only_user_certs: true, .. }
            if names == &["URI:http://crl.example/int.crl"]
    ));
    // AKI of the CRL = SKI of the intermediate.
    let int = one(&p.read("int.crt"));
    let ski = match &ext(&int, "subjectKeyIdentifier").value {
        ExtValue::KeyIdentifier { key_id } => key_id.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        &ext(&s, "authorityKeyIdentifier").value,
        ExtValue::AuthorityKeyIdentifier { key_id: Some(k), .. } if *k == ski
    ));
    let text = s.to_text();
    for want in [
        "CRL 1 of 1",
        "CRL number:",
        "Revoked certificates (1):",
        "0A:BC:DE:F0:12",
        "keyCompromise",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
    // With its issuer in the same input, the signature is checked.
    let both = [p.read("int.crt"), p.read("int.crl")].concat();
    let v = show(&both, "both").unwrap();
    assert_eq!(v[1].signature_valid, Some(true));
    assert_eq!(
        v[1].signature_checked_with.as_deref(),
        Some("certificate 1")
    );
    // DER CRL is detected.
    let der = pem::parse(p.read("int.crl")).unwrap().into_contents();
    assert_eq!(one(&der).kind, Kind::Crl);
    // Stale later.
    let later = OffsetDateTime::now_utc() + Duration::days(31);
    assert!(
        show_at(&der, "x", later).unwrap()[0]
            .crl
            .as_ref()
            .unwrap()
            .stale
    );
}

#[test]
fn long_crl_is_truncated_in_text_only() {
    use rcgen::{
        CertificateParams, CertificateRevocationListParams, CertifiedIssuer, CrlDistributionPoint,
        CrlIssuingDistributionPoint, CrlScope, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
        PKCS_ED25519, RevocationReason, RevokedCertParams, SerialNumber,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let issuer = CertifiedIssuer::self_signed(params, key).unwrap();
    let now = OffsetDateTime::now_utc();
    let crl = CertificateRevocationListParams {
        this_update: now,
        next_update: now + Duration::days(7),
        crl_number: SerialNumber::from(7u64),
        issuing_distribution_point: Some(CrlIssuingDistributionPoint {
            distribution_point: CrlDistributionPoint {
                uris: vec!["http://crl.example/x.crl".into()],
            },
            scope: Some(CrlScope::CaCertsOnly),
        }),
        revoked_certs: (1..=25u64)
            .map(|n| RevokedCertParams {
                serial_number: SerialNumber::from(n),
                revocation_time: now,
                reason_code: Some(RevocationReason::Superseded),
                invalidity_date: Some(now - Duration::days(1)),
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .unwrap();
    let input = [issuer.as_ref().pem(), crl.pem().unwrap()].concat();
    let v = show(input.as_bytes(), "x").unwrap();
    assert_eq!(v[0].signature_algorithm.name, "ED25519");
    assert_eq!(v[0].public_key.as_ref().unwrap().algorithm, "Ed25519");
    assert_eq!(v[0].signature_valid, Some(true));
    let s = &v[1];
    assert_eq!(s.signature_valid, Some(true));
    let c = s.crl.as_ref().unwrap();
    assert_eq!((c.revoked_count, c.revoked.len()), (25, 25));
    assert_eq!(c.revoked[24].reason.as_deref(), Some("superseded"));
    assert!(c.revoked[0].invalidity_date.is_some());
    let text = s.to_text();
    assert!(text.contains("… and 5 more"), "{text}");
    assert_eq!(text.matches("superseded").count(), 20);
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["crl"]["revoked"].as_array().unwrap().len(), 25);
    assert_eq!(json["kind"], "crl");
}

#[test]
fn der_input_and_trailing_data() {
    let p = pki();
    let der = pem::parse(p.read("root.crt")).unwrap().into_contents();
    let s = one(&der);
    assert_eq!((s.kind, s.source.as_str()), (Kind::Certificate, "DER"));
    assert_eq!(
        s.fingerprints.sha256,
        p.x509_value("root.crt", &["-fingerprint", "-sha256"])
    );
    let mut trailing = der.clone();
    trailing.extend_from_slice(b"junk");
    let e = show(&trailing, "t.der").unwrap_err().to_string();
    assert!(e.contains("4 bytes of trailing data"), "{e}");
    assert!(e.contains("DER certificate"), "{e}");
    // Trailing bytes inside a PEM block too.
    let block = mtls_pki::pemutil::encode("CERTIFICATE", &trailing);
    let e = show(block.as_bytes(), "t.pem").unwrap_err().to_string();
    assert!(e.contains("trailing data"), "{e}");
}

#[test]
fn other_pem_blocks_are_skipped() {
    let p = pki();
    let input = [p.read("leaf.key"), p.read("leaf.crt")].concat();
    let s = one(&input);
    assert_eq!(s.kind, Kind::Certificate);
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("skipped PEM block 1 (PRIVATE KEY)")),
        "{:?}",
        s.notes
    );
    assert!(s.to_text().contains("skipped PEM block 1"));
    let e = show(&p.read("leaf.key"), "leaf.key").unwrap_err();
    assert!(matches!(e, mtls_pki::Error::Decode { .. }), "{e}");
    assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
}

/// Truncations, corruptions and random bytes: errors, never panics.
#[test]
fn garbage_never_panics() {
    let p = pki();
    for name in ["root.crt", "leaf.csr", "int.crl"] {
        let pem_text = p.read(name);
        let der = pem::parse(&pem_text).unwrap().into_contents();
        for len in 0..der.len() {
            assert!(
                show(&der[..len], "t").is_err(),
                "{name} truncated to {len} decoded"
            );
        }
        for i in 0..der.len() {
            let mut d = der.clone();
            d[i] ^= 0xA5;
            let _ = show(&d, "t").map(|v| v.iter().map(Shown::to_text).count());
        }
        for len in (0..pem_text.len()).step_by(7) {
            let _ = show(&pem_text[..len], "t");
        }
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..2000 {
        let len = round % 300;
        let mut data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if round % 2 == 0 && !data.is_empty() {
            data[0] = 0x30;
        }
        let _ = show(&data, "random");
    }
    for bad in [
        &b""[..],
        b"   \n",
        b"hello",
        b"\x30",
        b"\x30\x82\xff\xff",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n",
    ] {
        assert!(show(bad, "bad").is_err(), "{bad:?}");
    }
}
