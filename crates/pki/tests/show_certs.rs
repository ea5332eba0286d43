//! `show` on certificates and chains made by the openssl CLI at test time.

mod common;

use common::{ext, names, one, pki};
use mtls_pki::show::{ExtValue, Kind, show, show_at};
use time::{Duration, OffsetDateTime};

#[test]
fn rsa_root_with_extensions() {
    let p = pki();
    let s = one(&p.read("root.crt"));
    assert_eq!(s.kind, Kind::Certificate);
    assert_eq!(s.version, 3);
    assert_eq!(s.source, "PEM CERTIFICATE");
    let subject = s.subject.as_ref().unwrap();
    assert_eq!(
        subject.text,
        "/C=CN/ST=GuangDong/O=Example/CN=Example RSA Root"
    );
    assert_eq!(
        subject.rfc4514,
        "CN=Example RSA Root,O=Example,ST=GuangDong,C=CN"
    );
    assert_eq!(subject.fields[1].field, "ST");
    assert_eq!(subject.fields[1].value, "GuangDong");
    assert_eq!(s.issuer.as_ref().unwrap().text, subject.text);
    let serial = s.serial.as_ref().unwrap();
    assert_eq!(serial.plain, p.x509_value("root.crt", &["-serial"]));
    assert_eq!(serial.hex.replace(':', ""), serial.plain);
    assert_eq!(
        s.fingerprints.sha256,
        p.x509_value("root.crt", &["-fingerprint", "-sha256"])
    );
    assert_eq!(
        s.fingerprints.sha1,
        p.x509_value("root.crt", &["-fingerprint", "-sha1"])
    );
    let key = s.public_key.as_ref().unwrap();
    assert_eq!(key.algorithm, "RSA 2048");
    assert_eq!(key.bits, Some(2048));
    assert_eq!(key.rsa_exponent, Some(65537));
    assert_eq!(s.signature_algorithm.name, "sha256WithRSAEncryption");
    assert_eq!(s.signature_valid, Some(true));
    assert_eq!(s.signature_checked_with.as_deref(), Some("its own key"));
    let v = s.validity.as_ref().unwrap();
    assert!(!v.expired && !v.not_yet_valid);
    assert!((3640..=3650).contains(&v.days_remaining), "{v:?}");

    let bc = ext(&s, "basicConstraints");
    assert!(bc.critical);
    assert!(matches!(
        bc.value,
        ExtValue::BasicConstraints {
            ca: true,
            path_len: Some(1)
        }
    ));
    let ku = ext(&s, "keyUsage");
    assert!(ku.critical);
    match &ku.value {
        ExtValue::KeyUsage { usages } => {
            assert_eq!(
                usages,
                &["Digital Signature", "Certificate Sign", "CRL Sign"]
            )
        }
        other => panic!("{other:?}"),
    }
    match &ext(&s, "cRLDistributionPoints").value {
        ExtValue::DistributionPoints { points } => {
            assert_eq!(points[0].names, ["URI:http://crl.example/root.crl"])
        }
        other => panic!("{other:?}"),
    }
    match &ext(&s, "authorityInfoAccess").value {
        ExtValue::InfoAccess { access } => {
            assert_eq!(access[0].method, "OCSP");
            assert_eq!(access[0].location, "URI:http://ocsp.example/");
            assert_eq!(access[1].method, "CA Issuers");
        }
        other => panic!("{other:?}"),
    }
    match &ext(&s, "certificatePolicies").value {
        ExtValue::CertificatePolicies { policies } => {
            assert_eq!(policies[0].name.as_deref(), Some("anyPolicy"));
            assert_eq!(policies[1].oid, "1.2.3.4");
        }
        other => panic!("{other:?}"),
    }
    match &ext(&s, "nameConstraints").value {
        ExtValue::NameConstraints {
            permitted,
            excluded,
        } => {
            assert_eq!(permitted, &["DNS:example.com", "IP:10.0.0.0/255.0.0.0"]);
            assert_eq!(excluded, &["email:bad.example"]);
        }
        other => panic!("{other:?}"),
    }
    // openssl req -x509 adds SKI and AKI; self-signed, so they are equal.
    let ski = match &ext(&s, "subjectKeyIdentifier").value {
        ExtValue::KeyIdentifier { key_id } => key_id.clone(),
        other => panic!("{other:?}"),
    };
    match &ext(&s, "authorityKeyIdentifier").value {
        ExtValue::AuthorityKeyIdentifier { key_id, .. } => {
            assert_eq!(key_id.as_deref(), Some(ski.as_str()))
        }
        other => panic!("{other:?}"),
    }
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    let text = s.to_text();
    for want in [
        "Certificate 1 of 1",
        "/C=CN/ST=GuangDong/O=Example/CN=Example RSA Root (same as subject)",
        "RSA 2048 (2048 bits, exponent 65537)",
        "verifies with its own key",
        "CA:TRUE, pathlen:1",
        "Digital Signature, Certificate Sign, CRL Sign",
        "OCSP - URI:http://ocsp.example/",
        "IP:10.0.0.0/255.0.0.0",
        &s.fingerprints.sha256,
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
}

#[test]
fn ec_ca() {
    let p = pki();
    let s = one(&p.read("ec.crt"));
    let key = s.public_key.as_ref().unwrap();
    assert_eq!(key.algorithm, "EC P-384");
    assert_eq!(key.bits, Some(384));
    assert_eq!(key.curve.as_deref(), Some("P-384"));
    assert_eq!(s.signature_algorithm.name, "ecdsa-with-SHA256");
    assert_eq!(s.signature_algorithm.oid, "1.2.840.10045.4.3.2");
    assert_eq!(s.signature_valid, Some(true));
    assert_eq!(names(ext(&s, "subjectAltName")), ["email:ca@example.com"]);
    assert!(matches!(
        &ext(&s, "nsComment").value,
        ExtValue::Text { text } if text == "made by the test"
    ));
    assert_eq!(
        s.serial.as_ref().unwrap().plain,
        p.x509_value("ec.crt", &["-serial"])
    );
    match &ext(&s, "freshestCRL").value {
        ExtValue::DistributionPoints { points } => {
            assert_eq!(points[0].names, ["URI:http://crl.example/delta.crl"])
        }
        other => panic!("{other:?}"),
    }
    let unknown = ext(&s, "1.2.3.4.5");
    assert!(unknown.critical);
    assert!(matches!(&unknown.value, ExtValue::Raw { hex, error: None } if hex == "01:02:03"));
    assert!(
        s.notes.iter().any(|n| n.contains("1.2.3.4.5 is critical")),
        "{:?}",
        s.notes
    );
}

#[test]
fn other_names_and_policy_qualifiers() {
    let s = one(&pki().read("int.crt"));
    assert_eq!(
        names(ext(&s, "subjectAltName")),
        [
            "othername:UPN:ca@example.com",
            "DirName:/C=CN/O=Dir Example/CN=dir",
            "RID:1.2.3.4"
        ]
    );
    match &ext(&s, "certificatePolicies").value {
        ExtValue::CertificatePolicies { policies } => {
            assert_eq!(policies[0].oid, "1.3.6.1.4.1.99999.2.1");
            assert_eq!(
                policies[0].qualifiers,
                [
                    "CPS: https://example.com/cps",
                    "User Notice: Explicit Text: Test notice"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn leaf_sans_and_usages() {
    let p = pki();
    let s = one(&p.read("leaf.crt"));
    assert_eq!(
        names(ext(&s, "subjectAltName")),
        [
            "DNS:www.example.com",
            "DNS:*.example.com",
            "IP:10.0.0.1",
            "IP:2001:db8::1",
            "email:admin@example.com",
            "URI:spiffe://example.com/svc"
        ]
    );
    match &ext(&s, "extendedKeyUsage").value {
        ExtValue::ExtendedKeyUsage { usages } => {
            let names: Vec<&str> = usages.iter().map(|u| u.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "TLS Web Server Authentication",
                    "TLS Web Client Authentication",
                    "1.3.6.1.4.1.99999.1"
                ]
            );
            assert_eq!(usages[0].oid, "1.3.6.1.5.5.7.3.1");
        }
        other => panic!("{other:?}"),
    }
    match &ext(&s, "keyUsage").value {
        ExtValue::KeyUsage { usages } => {
            assert_eq!(usages, &["Digital Signature", "Key Encipherment"])
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ext(&s, "basicConstraints").value,
        ExtValue::BasicConstraints {
            ca: false,
            path_len: None
        }
    ));
    assert!(matches!(
        &ext(&s, "tlsFeature").value,
        ExtValue::TlsFeature { features } if features == &["status_request"]
    ));
    let serial = s.serial.as_ref().unwrap();
    assert_eq!(serial.plain, "0ABCDEF012");
    assert_eq!(serial.hex, "0A:BC:DE:F0:12");
    assert_eq!(serial.plain, p.x509_value("leaf.crt", &["-serial"]));
    // The issuer is not in the input.
    assert_eq!(s.signature_valid, None);
    assert!(s.to_text().contains("not checked (issuer not in input)"));

    // Validity judged at other times.
    let later = OffsetDateTime::now_utc() + Duration::days(40);
    let s = show_at(&p.read("leaf.crt"), "x", later).unwrap().remove(0);
    let v = s.validity.as_ref().unwrap();
    assert!(
        v.expired && !v.not_yet_valid && v.days_remaining < 0,
        "{v:?}"
    );
    assert!(s.to_text().contains("EXPIRED"));
    let earlier = OffsetDateTime::now_utc() - Duration::days(2);
    let s = show_at(&p.read("leaf.crt"), "x", earlier)
        .unwrap()
        .remove(0);
    assert!(s.validity.as_ref().unwrap().not_yet_valid);
}

#[test]
fn chain_of_three() {
    let p = pki();
    let v = show(&p.read("chain.pem"), "chain.pem").unwrap();
    assert_eq!(v.len(), 3);
    let cns: Vec<&str> = v
        .iter()
        .map(|s| {
            s.subject
                .as_ref()
                .unwrap()
                .fields
                .last()
                .unwrap()
                .value
                .as_str()
        })
        .collect();
    assert_eq!(
        cns,
        [
            "www.example.com",
            "Example Intermediate",
            "Example RSA Root"
        ]
    );
    for (i, s) in v.iter().enumerate() {
        assert_eq!((s.index, s.count), (i + 1, 3));
        assert_eq!(s.signature_valid, Some(true), "{s:#?}");
    }
    assert_eq!(
        v[0].signature_checked_with.as_deref(),
        Some("certificate 2")
    );
    assert_eq!(
        v[1].signature_checked_with.as_deref(),
        Some("certificate 3")
    );
    assert_eq!(v[2].signature_checked_with.as_deref(), Some("its own key"));
    assert_eq!(v[1].serial.as_ref().unwrap().plain, "1001");
    assert_eq!(v[1].signature_algorithm.name, "sha256WithRSAEncryption");
    assert!(
        v[1].to_text()
            .starts_with("Certificate 2 of 3 (PEM CERTIFICATE)")
    );
}

#[test]
fn trusted_certificate() {
    let p = pki();
    p.openssl(&[
        "x509",
        "-in",
        "root.crt",
        "-trustout",
        "-addtrust",
        "serverAuth",
        "-setalias",
        "my root",
        "-out",
        "trusted.pem",
    ]);
    let s = one(&p.read("trusted.pem"));
    assert_eq!(s.source, "PEM TRUSTED CERTIFICATE");
    assert_eq!(
        s.fingerprints.sha256,
        p.x509_value("root.crt", &["-fingerprint", "-sha256"])
    );
    let note = s.notes.join("\n");
    assert!(
        note.contains("TLS Web Server Authentication") && note.contains("my root"),
        "{note}"
    );
}

/// Keys and algorithms the verifier cannot check are reported as unchecked, not as bad.
#[test]
fn algorithms_beyond_the_verifier() {
    let p = pki();
    let make = |out: &str, args: &[&str]| {
        let mut a = vec![
            "req",
            "-x509",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-subj",
            "/CN=alg",
            "-out",
            out,
        ];
        a.extend_from_slice(args);
        p.openssl(&a);
        one(&p.read(out))
    };
    let s = make("rsa2047.crt", &["-newkey", "rsa:2047"]);
    assert_eq!(s.public_key.as_ref().unwrap().algorithm, "RSA 2047");
    assert_eq!(s.public_key.as_ref().unwrap().bits, Some(2047));
    assert_eq!(s.signature_valid, None);
    assert!(
        s.notes.iter().any(|n| n.contains("2048 to 8192 bits")),
        "{:?}",
        s.notes
    );
    assert!(s.to_text().contains("not checked (see notes)"));

    let s = make(
        "p521.crt",
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-521",
            "-sha512",
        ],
    );
    assert_eq!(s.public_key.as_ref().unwrap().bits, Some(521));
    assert_eq!(s.signature_algorithm.name, "ecdsa-with-SHA512");
    assert_eq!(s.signature_valid, None);

    let s = make(
        "pss.crt",
        &[
            "-newkey",
            "rsa-pss",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-sha256",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    assert_eq!(s.public_key.as_ref().unwrap().algorithm, "RSA-PSS 2048");
    assert_eq!(s.signature_algorithm.name, "rsassaPss");
    assert_eq!(s.signature_valid, Some(true));

    let s = make("ed25519.crt", &["-newkey", "ed25519"]);
    assert_eq!(s.signature_algorithm.name, "ED25519");
    assert_eq!(s.public_key.as_ref().unwrap().algorithm, "Ed25519");
    assert_eq!(s.signature_valid, Some(true));
}

#[test]
fn json_shape() {
    let p = pki();
    let s = one(&p.read("leaf.crt"));
    let j = serde_json::to_value(&s).unwrap();
    for key in [
        "kind",
        "index",
        "count",
        "source",
        "version",
        "serial",
        "subject",
        "issuer",
        "validity",
        "public_key",
        "signature_algorithm",
        "signature_valid",
        "signature_checked_with",
        "extensions",
        "attributes",
        "crl",
        "fingerprints",
        "notes",
    ] {
        assert!(j.get(key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["kind"], "certificate");
    assert_eq!(j["serial"]["plain"], "0ABCDEF012");
    assert_eq!(j["subject"]["fields"][2]["field"], "CN");
    assert_eq!(j["subject"]["fields"][2]["oid"], "2.5.4.3");
    assert_eq!(j["public_key"]["curve"], "P-256");
    assert!(j["crl"].is_null());
    let san = j["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "subjectAltName")
        .unwrap();
    assert_eq!(san["oid"], "2.5.29.17");
    assert_eq!(san["critical"], false);
    assert_eq!(san["value"]["type"], "general_names");
    assert_eq!(san["value"]["names"][2], "IP:10.0.0.1");
    let bc = j["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "basicConstraints")
        .unwrap();
    assert_eq!(
        bc["value"],
        serde_json::json!({"type": "basic_constraints", "ca": false, "path_len": null})
    );
}
