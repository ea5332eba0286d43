//! The end-to-end tests of `mtls`, in one test binary (as ripgrep does) so that the shared
//! helpers in `common` and `net` compile once. Each module drives the built binary and real peers
//! (`openssl`, Python's `ssl`, pkilint) on loopback.

mod common;
mod net;

mod abuse;
mod bad_ca_state;
mod bad_input;
mod ca_init;
mod ca_server;
mod connect_peers;
mod crash_safety;
mod demo;
mod flag_sweep;
mod hardening;
mod key_hygiene;
mod keys_csr;
mod lifetimes;
mod openssl_import;
mod openssl_migration;
mod passphrase_leaks;
mod pkilint;
mod profiles_policy;
mod revocation_list;
mod security_ca;
mod security_limits;
mod security_tls;
mod serials_concurrency;
mod serve_peers;
mod tunnel;
mod verify_cli;
