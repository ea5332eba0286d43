//! Issue 9's smaller defects, through the binary: a failed name lookup reports the resolver's
//! own error.

use crate::common::*;

/// `mtls connect` to a name that does not resolve says what the resolver said, not a bare
/// "not found".
#[test]
fn a_failed_lookup_reports_the_resolvers_error() {
    let env = Env::new();
    env.root_ca();
    let o = env
        .mtls(&["connect", "no-such-host.invalid:8443", "--ca", "ca/ca.crt"])
        .run();
    assert_eq!(o.code, Some(1), "{o:#?}");
    let line = o.error_line();
    assert!(
        line.contains("host lookup of no-such-host.invalid"),
        "{line}"
    );
    assert!(!line.ends_with(": not found"), "{line}");
    assert!(
        line.contains("lookup") || line.contains("resolve") || line.contains("known"),
        "{line}"
    );
}
