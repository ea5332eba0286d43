//! `mtls_store_pg`: the CA store on PostgreSQL (`[store] url = "postgres://…"`), so that
//! several `mtls ca serve` instances share one database and every invariant is kept by it:
//! serials unique by constraint, CRL numbers from one row updated in the CRL's own transaction,
//! token uses taken by a conditional `UPDATE`, `unique_subject` under a per-subject advisory
//! lock, audit rows in the transaction of what they record.
//!
//! The schema is versioned and migrated at start under an advisory lock, so two instances
//! starting together migrate once. Every revocation is also a row of `changes` (and a
//! `NOTIFY mtls_changes`), the sequence other instances follow.
//!
//! Passwords come from the URL, `PGPASSWORD` or the password file (`PGPASSFILE`, else
//! `~/.pgpass`), as libpq reads them. `sslmode=require` is TLS on rustls, verified against
//! `sslrootcert` (or the system roots) and the host name.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
mod crl;
mod feed;
mod import;
mod instances;
mod schema;
mod store;
mod tls;
mod write;

pub use connect::{connect_admin, redact};
pub use import::Copied;
pub use store::PgStore;

use mtls_pki::store::Store;
use mtls_pki::store::backend::{Backend, ChangeFeed};

/// The PostgreSQL backend (`postgres://` and `postgresql://` URLs).
#[derive(Debug)]
pub struct PgBackend;

/// The one backend value [`install`] registers.
pub static BACKEND: PgBackend = PgBackend;

/// Makes `[store] url = "postgres://…"` work in this program.
pub fn install() {
    mtls_pki::store::backend::install(&BACKEND);
}

impl Backend for PgBackend {
    fn schemes(&self) -> &'static [&'static str] {
        &["postgres", "postgresql"]
    }

    fn create(&self, url: &str) -> mtls_pki::Result<Box<dyn Store>> {
        Ok(Box::new(PgStore::create(url)?))
    }

    fn open(&self, url: &str) -> mtls_pki::Result<Box<dyn Store>> {
        Ok(Box::new(PgStore::open(url)?))
    }

    fn feed(&self, url: &str) -> mtls_pki::Result<Box<dyn ChangeFeed>> {
        Ok(Box::new(feed::PgFeed::new(url)?))
    }
}
