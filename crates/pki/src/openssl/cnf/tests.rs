//! The openssl.cnf reader against what OpenSSL 3 reads.

use super::*;

#[test]
fn reads_the_stock_ca_section() {
    let text = "[ ca ]\ndefault_ca = CA_default # comment\n[ CA_default ]\ndir = ./demoCA\n\
                database = $dir/index.txt\npolicy = policy_match\n[ policy_match ]\n\
                countryName = match\nstateOrProvinceName = match\norganizationName = match\n\
                organizationalUnitName = optional\ncommonName = supplied\nemailAddress = optional\n";
    let c = Cnf::parse(text, "t").unwrap();
    assert_eq!(c.get("CA_default", "database"), Some("./demoCA/index.txt"));
    let p = c.policy("t").unwrap().unwrap();
    assert_eq!(p.rule(&crate::name::Attr::Country), Some(Rule::Match));
    assert_eq!(p.rule(&crate::name::Attr::Locality), None);
    assert!(Cnf::parse("[oops\n", "t").is_err());
    assert!(Cnf::parse("novalue\n", "t").is_err());
}

fn files(map: &[(&str, &str)]) -> impl FnMut(&Path) -> Included + use<> {
    memory_reader(
        map.iter()
            .map(|(k, v)| (PathBuf::from(k), v.to_string()))
            .collect(),
    )
}

#[test]
fn an_include_bomb_is_bounded() {
    // Each file includes the next eight times, 12 deep: 8^12 parses without MAX_INCLUDES.
    let texts: Vec<(String, String)> = (1..=12)
        .map(|i| {
            (
                format!("/f/{i}.cnf"),
                format!(".include /f/{}.cnf\n", i + 1).repeat(8),
            )
        })
        .collect();
    let map: Vec<(&str, &str)> = texts
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let mut read = files(&map);
    let e = Cnf::parse_with(&texts[0].1, "main.cnf", None, &mut read).unwrap_err();
    assert!(e.to_string().contains("more than 256 includes"), "{e}");
}

#[test]
fn values_read_as_openssl_reads_them() {
    let text =
        "dir = /ca\n[s]\na = \"x # y\" # comment\nb = x\\#y\nc = \"$dir\" $dir/'q r'\nd = \\\"x\n";
    let c = Cnf::parse(text, "t").unwrap();
    assert_eq!(c.get("s", "a"), Some("x # y"));
    assert_eq!(c.get("s", "b"), Some("x#y"));
    assert_eq!(c.get("s", "c"), Some("$dir /ca/q r"));
    assert_eq!(c.get("s", "d"), Some("\"x"));
    for v in [
        "plain",
        "a # b",
        "$dir",
        "back\\slash",
        "say \"hi\"",
        "it's",
    ] {
        let c = Cnf::parse(&format!("[s]\nk = {}\n", quote(v)), "t").unwrap();
        assert_eq!(c.get("s", "k"), Some(v), "{v}");
    }
}

#[test]
fn includes_follow_openssl_3() {
    let main = "base = /etc/ssl\n[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\n\
                policy = policy_match\n.include $base/policy.cnf\n.include=/etc/ssl/conf.d\n\
                .include /nowhere.cnf\n";
    let mut read = files(&[
        // Continues [ CA_default ] until it opens a section of its own.
        (
            "/etc/ssl/policy.cnf",
            "database = /db/index.txt\n[ policy_match ]\ncommonName = supplied\n",
        ),
        (
            "/etc/ssl/conf.d/a.cnf",
            "[ extra ]\nx = 1\n.include /etc/ssl/conf.d\n",
        ),
        ("/etc/ssl/conf.d/b.conf", "[ extra ]\ny = 2\n"),
    ]);
    let c = Cnf::parse_with(main, "main.cnf", None, &mut read).unwrap();
    assert_eq!(c.get("CA_default", "database"), Some("/db/index.txt"));
    assert!(c.policy("t").unwrap().is_some());
    assert_eq!(
        (c.get("extra", "x"), c.get("extra", "y")),
        (Some("1"), Some("2"))
    );
    let notes = c.notes().join("\n");
    assert!(
        notes.contains("/nowhere.cnf") && notes.contains("skipped"),
        "{notes}"
    );
    assert!(
        notes.contains("inside a directory include is ignored"),
        "{notes}"
    );

    // Relative paths: OPENSSL_CONF_INCLUDE, then the includedir pragma.
    let mut read = files(&[("/inc/p.cnf", "k = v\n")]);
    let c = Cnf::parse_with(".include p.cnf\n", "m", Some("/inc".into()), &mut read).unwrap();
    assert_eq!(c.get("default", "k"), Some("v"));
    let c = Cnf::parse_with(
        ".pragma includedir:/inc\n.include = p.cnf\n",
        "m",
        None,
        &mut read,
    )
    .unwrap();
    assert_eq!(c.get("default", "k"), Some("v"));
    let e = Cnf::parse_with(
        ".pragma = abspath:true\n.include p.cnf\n",
        "m",
        None,
        &mut read,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 2") && e.contains("absolute"), "{e}");

    // A file including itself is stopped, naming the depth.
    let mut read = files(&[("/loop.cnf", ".include /loop.cnf\n")]);
    let e = Cnf::parse_with(".include /loop.cnf\n", "m", None, &mut read)
        .unwrap_err()
        .to_string();
    assert!(e.contains("deeper than 16"), "{e}");
}

#[test]
fn expansion_is_bounded() {
    // Each line doubles the value: 2^40 bytes without a bound.
    let mut text = String::from("a = xxxxxxxxxxxxxxxx\n");
    for _ in 0..40 {
        text.push_str("a = $a$a\n");
    }
    let e = Cnf::parse(&text, "t").unwrap_err().to_string();
    assert!(e.contains("line 14") && e.contains("65536"), "{e}");
    let ok = "a = xxxxxxxxxxxxxxxx\n".to_string() + &"a = $a$a\n".repeat(12);
    assert_eq!(
        Cnf::parse(&ok, "t")
            .unwrap()
            .get("default", "a")
            .unwrap()
            .len(),
        65536
    );
}
