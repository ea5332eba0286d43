//! Differential fuzzing of the path validator: the same chain through `mtls_verify` and
//! rustls-webpki, for a TLS server certificate and a host name. A chain mtls accepts and webpki
//! rejects is a finding (a panic), unless webpki's error is one of the documented, reasoned
//! differences in `verify_differential.exceptions`. (Chains mtls rejects and webpki accepts are
//! not findings: mtls is stricter in places, e.g. it checks the trust anchor's validity.)
//!
//! Input, first byte even: a chain *generated* from the bytes (rcgen): 0–3 intermediates, each
//! certificate's key, basicConstraints, pathLen, keyUsage, extendedKeyUsage, SANs, name
//! constraints, validity, key identifiers, and whether it is signed by its issuer's key at all,
//! are read from the input. First byte odd: a chain given *raw* (the directed corpus made from
//! x509-limbo by `fuzz/limbo-corpus`): a `u64` validation time, a host name, then `u16`-length
//! DER certificates: the trust anchor, the end entity, intermediates.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mtls_verify::{CertificateDer, Purpose, UnixTime, Verifier, VerifyInput};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use rustls_pki_types::ServerName;

/// `<webpki error> <reason>` per line; `#` comments.
const EXCEPTIONS: &str = include_str!("../verify_differential.exceptions");

static EXCEPTED: LazyLock<Vec<String>> = LazyLock::new(|| {
    EXCEPTIONS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
});

/// Keys made once: generating one per execution would be most of the time.
static KEYS: LazyLock<Vec<KeyPair>> = LazyLock::new(|| {
    let mut v = Vec::new();
    for _ in 0..4 {
        v.push(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256"));
    }
    v.push(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("P-384"));
    v.push(KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519"));
    v
});

const NOW: u64 = 1_800_000_000;
const HOSTS: [&str; 6] = [
    "a.example.test",
    "b.example.test",
    "example.test",
    "x.other.test",
    "192.0.2.1",
    "::1",
];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

/// A chain to check: anchors, intermediates, end entity, host, time.
struct Case {
    anchor: CertificateDer<'static>,
    inters: Vec<CertificateDer<'static>>,
    leaf: CertificateDer<'static>,
    host: String,
    time: u64,
}

fn san(b: u8) -> SanType {
    match b % 8 {
        0 => SanType::DnsName("a.example.test".try_into().expect("dns")),
        1 => SanType::DnsName("*.example.test".try_into().expect("dns")),
        2 => SanType::DnsName("example.test".try_into().expect("dns")),
        3 => SanType::DnsName("x.other.test".try_into().expect("dns")),
        4 => SanType::IpAddress("192.0.2.1".parse().expect("ip")),
        5 => SanType::IpAddress("::1".parse().expect("ip")),
        6 => SanType::DnsName("b.example.test".try_into().expect("dns")),
        _ => SanType::Rfc822Name("a@example.test".try_into().expect("email")),
    }
}

fn subtree(b: u8) -> GeneralSubtree {
    match b % 5 {
        0 => GeneralSubtree::DnsName("example.test".into()),
        1 => GeneralSubtree::DnsName(".example.test".into()),
        2 => GeneralSubtree::DnsName("other.test".into()),
        3 => GeneralSubtree::IpAddress(rcgen::CidrSubnet::V4([192, 0, 2, 0], [255, 255, 255, 0])),
        _ => GeneralSubtree::DnsName("a.example.test".into()),
    }
}

/// The parameters of one certificate, read from the input.
fn params(b: &mut Bytes<'_>, cn: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    let f = b.byte();
    p.is_ca = match (ca, f % 4) {
        (true, 0) => IsCa::Ca(BasicConstraints::Unconstrained),
        (true, 1) => IsCa::Ca(BasicConstraints::Constrained(b.byte() % 3)),
        (true, 2) => IsCa::Ca(BasicConstraints::Unconstrained),
        (true, _) => IsCa::NoCa,
        (false, 0) => IsCa::ExplicitNoCa,
        (false, 1) => IsCa::NoCa,
        (false, 2) => IsCa::ExplicitNoCa,
        (false, _) => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    let ku = b.byte();
    let all = [
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if ku & 0x80 != 0 {
        p.key_usages = all
            .iter()
            .enumerate()
            .filter(|(i, _)| ku & (1 << i) != 0)
            .map(|(_, k)| k.clone())
            .collect();
    }
    p.extended_key_usages = match b.byte() % 6 {
        0 | 1 => vec![],
        2 => vec![ExtendedKeyUsagePurpose::ServerAuth],
        3 => vec![ExtendedKeyUsagePurpose::ClientAuth],
        4 => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
        _ => vec![ExtendedKeyUsagePurpose::Any],
    };
    let sans = b.byte();
    for i in 0..(sans % 4) {
        p.subject_alt_names.push(san(sans.wrapping_add(i * 37) >> 2));
    }
    if ca && f & 0x10 != 0 {
        let n = b.byte();
        let mut nc = NameConstraints {
            permitted_subtrees: vec![],
            excluded_subtrees: vec![],
        };
        if n & 1 != 0 {
            nc.permitted_subtrees.push(subtree(n >> 1));
        }
        if n & 0x40 != 0 {
            nc.excluded_subtrees.push(subtree(n >> 3));
        }
        p.name_constraints = Some(nc);
    }
    let now = time::OffsetDateTime::from_unix_timestamp(NOW as i64).expect("time");
    let (from, to) = match b.byte() % 8 {
        0 => (now - time::Duration::days(400), now - time::Duration::days(1)),
        1 => (now + time::Duration::days(1), now + time::Duration::days(400)),
        _ => (now - time::Duration::days(1), now + time::Duration::days(400)),
    };
    p.not_before = from;
    p.not_after = to;
    p.use_authority_key_identifier_extension = f & 0x20 != 0;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&[1, b.byte(), b.byte()]));
    p
}

/// A generated chain: root (the anchor), intermediates, leaf, each from the input.
fn generated(data: &[u8]) -> Option<Case> {
    let mut b = Bytes(data);
    let n_inter = (b.byte() % 4) as usize;
    let keys = &*KEYS;
    let key = |b: &mut Bytes<'_>| &keys[(b.byte() as usize) % keys.len()];
    let root_params = params(&mut b, "Root", true);
    let root_key = key(&mut b);
    let root = root_params.clone().self_signed(root_key).ok()?;
    let mut issuer = Issuer::new(root_params, root_key);
    let mut inters = Vec::new();
    for i in 0..n_inter {
        let p = params(&mut b, &format!("Inter {i}"), true);
        let k = key(&mut b);
        let cert = p.clone().signed_by(k, &issuer).ok()?;
        inters.push(cert.der().clone());
        issuer = Issuer::new(p, k);
    }
    let lp = params(&mut b, "leaf", false);
    let lk = key(&mut b);
    let leaf = lp.signed_by(lk, &issuer).ok()?;
    let host = HOSTS[(b.byte() as usize) % HOSTS.len()].to_string();
    // The intermediates in the order sent: reversed half of the time.
    let mut inters: Vec<_> = inters.into_iter().rev().collect();
    if b.byte() & 1 == 1 {
        inters.reverse();
    }
    Some(Case {
        anchor: root.der().clone(),
        inters,
        leaf: leaf.der().clone(),
        host,
        time: NOW,
    })
}

/// A chain given as bytes (see the module docs).
fn raw(data: &[u8]) -> Option<Case> {
    let t = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    let hl = *data.get(8)? as usize;
    let host = std::str::from_utf8(data.get(9..9 + hl)?).ok()?.to_string();
    let mut rest = data.get(9 + hl..)?;
    let mut certs = Vec::new();
    while rest.len() >= 2 && certs.len() < 10 {
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let der = rest.get(2..2 + n)?;
        certs.push(CertificateDer::from(der.to_vec()));
        rest = &rest[2 + n..];
    }
    if certs.len() < 2 {
        return None;
    }
    let anchor = certs.remove(0);
    let leaf = certs.remove(0);
    Some(Case {
        anchor,
        inters: certs,
        leaf,
        host,
        time: t,
    })
}

/// webpki's verdict: `Ok`, or the error's name.
fn webpki(c: &Case) -> Result<(), String> {
    let anchor = webpki::anchor_from_trusted_cert(&c.anchor)
        .map_err(|e| format!("{e:?}"))?
        .to_owned();
    let ee = webpki::EndEntityCert::try_from(&c.leaf).map_err(|e| format!("{e:?}"))?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(c.time));
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &c.inters,
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| format!("{e:?}"))?;
    let name = ServerName::try_from(c.host.as_str()).map_err(|_| "InvalidServerName".to_string())?;
    ee.verify_is_valid_for_subject_name(&name)
        .map_err(|e| format!("{e:?}"))
}

/// The class of a difference: a documented kind the chain shows, else webpki's error name.
fn difference(webpki_error: &str, c: &Case, ours: &mtls_verify::Report) -> String {
    // A self-issued intermediate on mtls' path (a key rollover certificate): RFC 5280 §6.1
    // does not count it against pathLenConstraint nor (above the end entity) apply name
    // constraints to it; webpki does both, and builds no path through it.
    let n = ours.path.len();
    let between = ours.path.get(1..n.saturating_sub(1)).unwrap_or(&[]);
    if between
        .iter()
        .any(|p| !p.subject.is_empty() && p.subject == p.issuer)
    {
        return "SelfIssuedIntermediate".into();
    }
    // A critical authorityInfoAccess / subjectInfoAccess: mtls (as OpenSSL) knows these and
    // accepts them critical unless strict; webpki does not process them.
    if webpki_error.starts_with("UnsupportedCriticalExtension") {
        use x509_parser::prelude::FromDer;
        let info_access = ["1.3.6.1.5.5.7.1.1", "1.3.6.1.5.5.7.1.11"];
        let critical_ia = std::iter::once(&c.leaf).chain(c.inters.iter()).any(|d| {
            x509_parser::certificate::X509Certificate::from_der(d).is_ok_and(|(_, x)| {
                x.extensions()
                    .iter()
                    .any(|e| e.critical && info_access.contains(&e.oid.to_id_string().as_str()))
            })
        });
        if critical_ia {
            return "CriticalInfoAccess".into();
        }
    }
    webpki_error
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("")
        .to_string()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let case = if mode & 1 == 0 { generated(rest) } else { raw(rest) };
    let Some(c) = case else {
        return;
    };
    // As the socket layer verifies, except leaf keyUsage, which webpki does not look at.
    let Ok(v) = Verifier::new([c.anchor.clone()]) else {
        return;
    };
    let v = v.leaf_key_usage(false);
    let input = VerifyInput::new(&c.leaf)
        .intermediates(&c.inters)
        .time(UnixTime::since_unix_epoch(Duration::from_secs(c.time)))
        .purpose(Purpose::ServerAuth)
        .host(&c.host);
    let ours = v.verify(&input);
    if !ours.is_ok() {
        return;
    }
    if let Err(e) = webpki(&c) {
        let name = difference(&e, &c, &ours);
        if !EXCEPTED.iter().any(|x| *x == name) {
            panic!(
                "mtls_verify accepts a chain webpki rejects with {e} (host {}, {} intermediates)",
                c.host,
                c.inters.len()
            );
        }
    }
});
