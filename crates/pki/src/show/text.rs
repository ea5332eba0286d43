//! The text report of [`Shown::to_text`].

use std::fmt::Write;

use super::{DnInfo, ExtValue, Extension, Kind, Shown};

/// Width of the label column.
const W: usize = 20;
/// How many revoked entries the text report lists.
const MAX_REVOKED: usize = 20;

struct Out(String);

impl Out {
    /// `  label:      value` at `indent` spaces; further lines of `value` are aligned.
    fn kv(&mut self, indent: usize, label: &str, value: &str) {
        let label = format!("{label}:");
        let pad = W.saturating_sub(indent).max(label.len() + 1);
        let mut lines = value.lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(self.0, "{:indent$}{label:<pad$}{first}", "");
        for l in lines {
            let _ = writeln!(self.0, "{:w$}{l}", "", w = indent + pad);
        }
    }

    fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.0, "{:indent$}{text}", "");
    }

    /// One line per item, the first after `label`.
    fn list(&mut self, indent: usize, label: &str, items: &[String]) {
        if items.is_empty() {
            self.kv(indent, label, "(none)");
        } else {
            self.kv(indent, label, &items.join("\n"));
        }
    }
}

impl Shown {
    /// A readable report: a header such as `Certificate 1 of 3`, then Subject, Issuer, Serial,
    /// Validity, Public key, Signature, Extensions (and Attributes, Revoked for requests and CRLs),
    /// Fingerprints and Notes. A CRL lists at most its first 20 revoked entries.
    pub fn to_text(&self) -> String {
        let mut o = Out(String::new());
        let kind = match self.kind {
            Kind::Certificate => "Certificate",
            Kind::Request => "Certificate request",
            Kind::Crl => "CRL",
        };
        o.line(
            0,
            &format!("{kind} {} of {} ({})", self.index, self.count, self.source),
        );
        o.kv(2, "Version", &self.version.to_string());
        if let Some(dn) = &self.subject {
            o.kv(2, "Subject", &dn_text(dn));
        }
        if let Some(dn) = &self.issuer {
            let same = self.subject.as_ref().is_some_and(|s| s.text == dn.text);
            let text = if same {
                format!("{} (same as subject)", dn_text(dn))
            } else {
                dn_text(dn)
            };
            o.kv(2, "Issuer", &text);
        }
        if let Some(s) = &self.serial {
            // Decimal only while it is short enough to be useful (as openssl does).
            if s.hex.len() <= 23 {
                o.kv(2, "Serial", &format!("{} ({})", s.hex, s.decimal));
            } else {
                o.kv(2, "Serial", &s.hex);
            }
        }
        if let Some(v) = &self.validity {
            o.line(2, "Validity:");
            o.kv(4, "Not before", &v.not_before);
            o.kv(4, "Not after", &v.not_after);
            let status = if v.expired {
                format!("EXPIRED {} ago", days(-v.days_remaining))
            } else if v.not_yet_valid {
                format!("NOT YET VALID (starts {})", v.not_before)
            } else {
                format!(
                    "within its validity period, {} left",
                    days(v.days_remaining)
                )
            };
            o.kv(4, "Status", &format!("{status} (at {})", v.checked_at));
        }
        if let Some(c) = &self.crl {
            o.kv(2, "This update", &c.this_update);
            let next = match (&c.next_update, c.stale) {
                (Some(n), true) => format!("{n} (STALE: a newer CRL is overdue)"),
                (Some(n), false) => n.clone(),
                (None, _) => "(none)".into(),
            };
            o.kv(2, "Next update", &next);
            if let Some(n) = &c.crl_number {
                o.kv(2, "CRL number", n);
            }
        }
        if let Some(k) = &self.public_key {
            let mut text = k.algorithm.clone();
            let mut extra = Vec::new();
            if let Some(b) = k.bits {
                extra.push(format!("{b} bits"));
            }
            if let Some(c) = &k.curve {
                extra.push(format!("curve {c}"));
            }
            if let Some(e) = k.rsa_exponent {
                extra.push(format!("exponent {e}"));
            }
            if !extra.is_empty() {
                let _ = write!(text, " ({})", extra.join(", "));
            }
            o.kv(2, "Public key", &text);
        }
        let mut sig = format!(
            "{} ({})",
            self.signature_algorithm.name, self.signature_algorithm.oid
        );
        if self.signature_algorithm.name == self.signature_algorithm.oid {
            sig = self.signature_algorithm.oid.clone();
        }
        let with = self.signature_checked_with.as_deref().unwrap_or("?");
        match self.signature_valid {
            Some(true) => {
                let _ = write!(sig, "\nverifies with {with}");
            }
            Some(false) => {
                let _ = write!(sig, "\nDOES NOT VERIFY with {with}");
            }
            None if self.notes.iter().any(|n| n.contains("not checked")) => {
                sig.push_str("\nnot checked (see notes)")
            }
            None if self.kind != Kind::Request => {
                sig.push_str("\nnot checked (issuer not in input)")
            }
            None => {}
        }
        o.kv(2, "Signature", &sig);
        if !self.extensions.is_empty() {
            let label = if self.kind == Kind::Request {
                "Requested extensions"
            } else {
                "Extensions"
            };
            o.line(2, &format!("{label} ({}):", self.extensions.len()));
            for e in &self.extensions {
                extension(&mut o, 4, e);
            }
        }
        if !self.attributes.is_empty() {
            o.line(2, "Attributes:");
            for a in &self.attributes {
                o.list(4, &a.name, &a.values);
            }
        }
        if let Some(c) = &self.crl {
            o.line(2, &format!("Revoked certificates ({}):", c.revoked_count));
            for r in c.revoked.iter().take(MAX_REVOKED) {
                let mut line = format!("{}  revoked {}", r.serial.hex, r.revocation_date);
                if let Some(reason) = &r.reason {
                    let _ = write!(line, "  {reason}");
                }
                if let Some(d) = &r.invalidity_date {
                    let _ = write!(line, "  invalid since {d}");
                }
                if let Some(h) = &r.hold_instruction {
                    let _ = write!(line, "  hold: {h}");
                }
                o.line(4, &line);
            }
            if c.revoked_count > MAX_REVOKED {
                o.line(
                    4,
                    &format!(
                        "… and {} more (the JSON form lists all)",
                        c.revoked_count - MAX_REVOKED
                    ),
                );
            }
        }
        o.line(2, "Fingerprints:");
        o.kv(4, "SHA-256", &self.fingerprints.sha256);
        o.kv(4, "SHA-1", &self.fingerprints.sha1);
        if !self.notes.is_empty() {
            o.line(2, "Notes:");
            for n in &self.notes {
                o.line(4, &format!("- {n}"));
            }
        }
        o.0
    }
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

fn dn_text(dn: &DnInfo) -> String {
    if dn.text.is_empty() {
        "(empty)".into()
    } else {
        dn.text.clone()
    }
}

fn yes(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

fn extension(o: &mut Out, indent: usize, e: &Extension) {
    let crit = if e.critical { ", critical" } else { "" };
    let label = if e.name == e.oid {
        format!("{}{crit}", e.oid)
    } else {
        format!("{} ({}{crit})", e.name, e.oid)
    };
    o.line(indent, &format!("{label}:"));
    let i = indent + 4;
    match &e.value {
        ExtValue::BasicConstraints { ca, path_len } => {
            let mut t = format!("CA:{}", yes(*ca));
            if let Some(p) = path_len {
                let _ = write!(t, ", pathlen:{p}");
            }
            o.line(i, &t);
        }
        ExtValue::KeyUsage { usages } => o.line(i, &usages.join(", ")),
        ExtValue::ExtendedKeyUsage { usages } => {
            for u in usages {
                if u.name == u.oid {
                    o.line(i, &u.oid);
                } else {
                    o.line(i, &format!("{} ({})", u.name, u.oid));
                }
            }
        }
        ExtValue::GeneralNames { names } => lines(o, i, names),
        ExtValue::KeyIdentifier { key_id } => o.line(i, key_id),
        ExtValue::AuthorityKeyIdentifier {
            key_id,
            issuer,
            serial,
        } => {
            if let Some(k) = key_id {
                o.line(i, &format!("keyid:{k}"));
            }
            for n in issuer {
                o.line(i, &format!("issuer:{n}"));
            }
            if let Some(s) = serial {
                o.line(i, &format!("serial:{s}"));
            }
        }
        ExtValue::DistributionPoints { points } => {
            for p in points {
                lines(o, i, &p.names);
                if !p.reasons.is_empty() {
                    o.line(i + 2, &format!("reasons: {}", p.reasons.join(", ")));
                }
                for n in &p.crl_issuer {
                    o.line(i + 2, &format!("CRL issuer: {n}"));
                }
            }
        }
        ExtValue::InfoAccess { access } => {
            for a in access {
                o.line(i, &format!("{} - {}", a.method, a.location));
            }
        }
        ExtValue::CertificatePolicies { policies } => {
            for p in policies {
                match &p.name {
                    Some(n) => o.line(i, &format!("Policy: {} ({n})", p.oid)),
                    None => o.line(i, &format!("Policy: {}", p.oid)),
                }
                for q in &p.qualifiers {
                    o.line(i + 2, q);
                }
            }
        }
        ExtValue::NameConstraints {
            permitted,
            excluded,
        } => {
            if !permitted.is_empty() {
                o.line(i, "Permitted:");
                lines(o, i + 2, permitted);
            }
            if !excluded.is_empty() {
                o.line(i, "Excluded:");
                lines(o, i + 2, excluded);
            }
        }
        ExtValue::PolicyConstraints {
            require_explicit_policy,
            inhibit_policy_mapping,
        } => {
            if let Some(r) = require_explicit_policy {
                o.line(i, &format!("Require Explicit Policy: {r}"));
            }
            if let Some(r) = inhibit_policy_mapping {
                o.line(i, &format!("Inhibit Policy Mapping: {r}"));
            }
        }
        ExtValue::InhibitAnyPolicy { skip_certs } => o.line(i, &skip_certs.to_string()),
        ExtValue::PolicyMappings { mappings } => {
            for m in mappings {
                o.line(i, &format!("{} -> {}", m.issuer_domain, m.subject_domain));
            }
        }
        ExtValue::Number { number } => o.line(i, number),
        ExtValue::IssuingDistributionPoint {
            names,
            only_user_certs,
            only_ca_certs,
            only_attribute_certs,
            indirect_crl,
            only_some_reasons,
        } => {
            lines(o, i, names);
            let flags = [
                (*only_user_certs, "Only User Certificates"),
                (*only_ca_certs, "Only CA Certificates"),
                (*only_attribute_certs, "Only Attribute Certificates"),
                (*indirect_crl, "Indirect CRL"),
            ];
            for (_, f) in flags.iter().filter(|(set, _)| *set) {
                o.line(i, f);
            }
            if !only_some_reasons.is_empty() {
                o.line(
                    i,
                    &format!("Only Some Reasons: {}", only_some_reasons.join(", ")),
                );
            }
        }
        ExtValue::ReasonCode { reason } => o.line(i, reason),
        ExtValue::Date { date } => o.line(i, date),
        ExtValue::NetscapeCertType { types } => o.line(i, &types.join(", ")),
        ExtValue::Text { text } => o.line(i, text),
        ExtValue::TlsFeature { features } => o.line(i, &features.join(", ")),
        ExtValue::Sct { entries } => {
            for s in entries {
                o.line(i, &format!("log {} at {}", s.log_id, s.timestamp));
            }
        }
        ExtValue::Null => o.line(i, "(present)"),
        ExtValue::Raw { hex, error } => {
            if let Some(err) = error {
                o.line(i, &format!("(malformed: {err})"));
            }
            wrap_hex(o, i, hex);
        }
    }
}

fn lines(o: &mut Out, indent: usize, items: &[String]) {
    for it in items {
        o.line(indent, it);
    }
}

/// Colon-hex in lines of 16 bytes.
fn wrap_hex(o: &mut Out, indent: usize, hex: &str) {
    if hex.is_empty() {
        o.line(indent, "(empty)");
        return;
    }
    let bytes: Vec<&str> = hex.split(':').collect();
    for chunk in bytes.chunks(16) {
        o.line(indent, &chunk.join(":"));
    }
}
