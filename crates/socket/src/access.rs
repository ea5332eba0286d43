//! Who may talk to us: identity rules (CN, OU and subjectAltName globs, public key pins)
//! applied to the peer's certificate after the handshake.
//!
//! An identity read from a certificate means something only if the certificate chains to a
//! trusted CA: in `QueryPeer` mode a handshake succeeds with a certificate from any CA, whose
//! CN can be anything its maker chose. So [`AccessPolicy::check`] refuses a peer whose chain
//! did not verify before it looks at a single name. `mtls serve` and the tunnel share this.

use mtls_verify::SslError;
use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::socket::SslSocket;

/// One identity rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The subject's commonName matches this glob (see [`Globs`]).
    Cn(String),
    /// Some subjectAltName, written `DNS:…`, `IP:…`, `email:…` or `URI:…`, matches this glob.
    San(String),
    /// Some organizationalUnitName of the subject matches this glob.
    Ou(String),
    /// Some DNS subjectAltName (without `DNS:`) matches this glob.
    Dns(String),
    /// Some URI subjectAltName (without `URI:`) matches this glob.
    Uri(String),
    /// The SHA-256 of the certificate's SubjectPublicKeyInfo is this (a key pin, as HPKP and
    /// ghostunnel's `--allow-spki` have it; it survives a renewal that keeps the key).
    Spki([u8; 32]),
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Cn(g) => write!(f, "CN {g}"),
            Rule::San(g) => write!(f, "SAN {g}"),
            Rule::Ou(g) => write!(f, "OU {g}"),
            Rule::Dns(g) => write!(f, "DNS {g}"),
            Rule::Uri(g) => write!(f, "URI {g}"),
            Rule::Spki(h) => write!(f, "SPKI SHA-256 {}", hex(h)),
        }
    }
}

/// How name globs match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Globs {
    /// `*` matches any run of characters, `?` one ([`glob`]; `mtls serve`).
    #[default]
    Shell,
    /// `*` matches within one label (no `.` or `/`), `**` across labels, `?` one character
    /// of a label ([`label_glob`]; the tunnel, as ghostunnel has it).
    Labels,
}

/// How the rules of a policy combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Combine {
    /// A peer matching any rule is allowed (ghostunnel's `--allow-*`).
    #[default]
    AnyRule,
    /// A peer must match a rule of every kind present: some CN rule if there are CN rules,
    /// and some SAN rule if there are SAN rules (`mtls serve --allow-cn … --allow-san …`).
    EveryKind,
}

/// Identity rules for peers. An empty policy allows every peer (no identity check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    rules: Vec<Rule>,
    combine: Combine,
    globs: Globs,
}

/// Why a peer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The peer sent no certificate.
    #[error("no client certificate, and identity rules are set")]
    NoCertificate,
    /// The peer's chain has errors the ignore policy does not tolerate, so its names are not
    /// trusted.
    #[error("its certificate chain did not verify ({}), so its names are not trusted", kinds(.errors))]
    NotVerified {
        /// The errors found.
        errors: Vec<SslError>,
    },
    /// The certificate verified, but no rule matches its names.
    #[error("CN {}, OU [{}], subjectAltNames [{}] and SPKI SHA-256 {spki} match no rule",
        quoted(.cn), .ous.join(", "), .sans.join(", "))]
    NoMatch {
        /// The commonName, if any.
        cn: Option<String>,
        /// The subjectAltNames, as `DNS:…`, `IP:…`, `email:…`, `URI:…`.
        sans: Vec<String>,
        /// The organizationalUnitNames.
        ous: Vec<String>,
        /// The SHA-256 of its SubjectPublicKeyInfo, hex.
        spki: String,
    },
}

fn quoted(cn: &Option<String>) -> String {
    cn.as_ref().map_or("(none)".into(), |c| format!("{c:?}"))
}

fn kinds(errors: &[SslError]) -> String {
    if errors.is_empty() {
        return "it was not checked".into();
    }
    let names: Vec<String> = errors.iter().map(|e| e.kind.to_string()).collect();
    names.join(", ")
}

impl AccessPolicy {
    /// No rules yet; added rules combine as `combine` says.
    pub fn new(combine: Combine) -> Self {
        AccessPolicy {
            rules: Vec::new(),
            combine,
            globs: Globs::Shell,
        }
    }

    /// Matches name globs as `globs` says (the default is [`Globs::Shell`]).
    pub fn with_globs(mut self, globs: Globs) -> Self {
        self.globs = globs;
        self
    }

    /// Adds a rule.
    pub fn allow(&mut self, rule: Rule) -> &mut Self {
        self.rules.push(rule);
        self
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True when there is no rule (everyone is allowed).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Checks the peer of an encrypted `socket`.
    ///
    /// # Errors
    ///
    /// [`Denied`] when rules are set and the peer sent no certificate, its chain did not
    /// verify ([`SslSocket::peer_verified`]), or no rule matches its names.
    pub fn check(&self, socket: &SslSocket) -> Result<(), Denied> {
        self.check_peer(
            socket.peer_certificate_chain(),
            socket.peer_verified(),
            socket.ssl_errors(),
        )
    }

    /// Checks a peer given by its chain (leaf first), whether it verified, and the errors its
    /// verification found.
    ///
    /// # Errors
    ///
    /// As [`AccessPolicy::check`].
    pub fn check_peer(
        &self,
        chain: &[CertificateDer<'_>],
        verified: bool,
        errors: &[SslError],
    ) -> Result<(), Denied> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let Some(leaf) = chain.first() else {
            return Err(Denied::NoCertificate);
        };
        if !verified {
            return Err(Denied::NotVerified {
                errors: errors.to_vec(),
            });
        }
        let Names {
            cn,
            ous,
            sans,
            spki,
        } = names(leaf);
        let m = |g: &str, t: &str| match self.globs {
            Globs::Shell => glob(g, t),
            Globs::Labels => label_glob(g, t),
        };
        let san_of = |prefix: &'static str| sans.iter().filter_map(move |s| s.strip_prefix(prefix));
        let matches = |r: &Rule| match r {
            Rule::Cn(g) => cn.as_deref().is_some_and(|cn| m(g, cn)),
            Rule::San(g) => sans.iter().any(|s| m(g, s)),
            Rule::Ou(g) => ous.iter().any(|o| m(g, o)),
            Rule::Dns(g) => san_of("DNS:").any(|d| m(g, d)),
            Rule::Uri(g) => san_of("URI:").any(|u| m(g, u)),
            Rule::Spki(h) => spki.as_ref() == Some(h),
        };
        let allowed = match self.combine {
            Combine::AnyRule => self.rules.iter().any(matches),
            Combine::EveryKind => {
                let kind_ok = |is_kind: fn(&Rule) -> bool| {
                    let mut of_kind = self.rules.iter().filter(|r| is_kind(r)).peekable();
                    of_kind.peek().is_none() || of_kind.any(matches)
                };
                kind_ok(|r| matches!(r, Rule::Cn(_) | Rule::Ou(_)))
                    && kind_ok(|r| matches!(r, Rule::San(_) | Rule::Dns(_) | Rule::Uri(_)))
                    && kind_ok(|r| matches!(r, Rule::Spki(_)))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied::NoMatch {
                cn,
                sans,
                ous,
                spki: spki.map(|h| hex(&h)).unwrap_or_default(),
            })
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the rules look at in a certificate.
struct Names {
    cn: Option<String>,
    ous: Vec<String>,
    sans: Vec<String>,
    spki: Option<[u8; 32]>,
}

/// The names and key digest of a certificate (empty when it cannot be parsed).
fn names(der: &[u8]) -> Names {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Names {
            cn: None,
            ous: Vec::new(),
            sans: Vec::new(),
            spki: None,
        };
    };
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned);
    let ous = cert
        .subject()
        .iter_organizational_unit()
        .filter_map(|a| a.as_str().ok().map(str::to_owned))
        .collect();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.public_key().raw);
    let spki = <[u8; 32]>::try_from(digest.as_ref()).ok();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for g in &ext.value.general_names {
            match g {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::RFC822Name(e) => sans.push(format!("email:{e}")),
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        sans.push(format!("IP:{ip}"));
                    }
                }
                _ => {}
            }
        }
    }
    Names {
        cn,
        ous,
        sans,
        spki,
    }
}

/// A glob over labels: `**` matches any run of characters, `*` any run within one label (no
/// `.` or `/`), `?` one character other than those; everything else literally. So
/// `*.game.example` matches `eu.game.example` but not `a.eu.game.example`, which
/// `**.game.example` matches.
pub fn label_glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let sep = |c: char| c == '.' || c == '/';
    // at[j]: the pattern so far matches t[..j]. Patterns and names are short (a few dozen
    // characters), so the table costs nothing.
    let mut at = vec![false; t.len() + 1];
    at[0] = true;
    let mut i = 0;
    while i < p.len() {
        let mut next = vec![false; t.len() + 1];
        if p[i] == '*' && p.get(i + 1) == Some(&'*') {
            let first = at.iter().position(|&b| b);
            if let Some(f) = first {
                next[f..].iter_mut().for_each(|b| *b = true);
            }
            i += 2;
        } else if p[i] == '*' {
            for j in 0..=t.len() {
                next[j] = at[j] || (j > 0 && next[j - 1] && !sep(t[j - 1]));
            }
            i += 1;
        } else {
            for j in 1..=t.len() {
                let one = if p[i] == '?' {
                    !sep(t[j - 1])
                } else {
                    p[i] == t[j - 1]
                };
                next[j] = at[j - 1] && one;
            }
            i += 1;
        }
        at = next;
    }
    at[t.len()]
}

/// `*` matches any run of characters, `?` one character; everything else literally
/// (case-sensitive).
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("client*", "client1"));
        assert!(glob("*.example", "a.b.example"));
        assert!(glob("c?", "c1"));
        assert!(!glob("c?", "c12"));
        assert!(glob("*", ""));
        assert!(!glob("server", "client"));
    }

    #[test]
    fn label_globs_keep_star_within_a_label() {
        assert!(label_glob("*.game.example", "eu.game.example"));
        assert!(!label_glob("*.game.example", "a.eu.game.example"));
        assert!(label_glob("**.game.example", "a.eu.game.example"));
        assert!(label_glob("game-*", "game-7"));
        assert!(!label_glob("game-*", "game-7.evil"));
        assert!(label_glob("spiffe://prod/*", "spiffe://prod/web"));
        assert!(!label_glob("spiffe://prod/*", "spiffe://prod/web/admin"));
        assert!(label_glob("spiffe://prod/**", "spiffe://prod/web/admin"));
        assert!(label_glob("c?", "c1"));
        assert!(!label_glob("c?", "."));
        assert!(label_glob("**", ""));
        assert!(label_glob("exact", "exact"));
        assert!(!label_glob("exact", "exactly"));
    }

    #[test]
    fn an_unverified_or_missing_certificate_is_refused_before_names_are_read() {
        let mut p = AccessPolicy::new(Combine::AnyRule);
        assert_eq!(p.check_peer(&[], false, &[]), Ok(()));
        p.allow(Rule::Cn("*".into()));
        assert_eq!(p.check_peer(&[], true, &[]), Err(Denied::NoCertificate));
        let junk = CertificateDer::from(vec![0u8; 4]);
        assert!(matches!(
            p.check_peer(std::slice::from_ref(&junk), false, &[]),
            Err(Denied::NotVerified { .. })
        ));
    }
}
