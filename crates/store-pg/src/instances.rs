//! What each instance has acted on (the `instances` table): every instance's change feed
//! reports the last change it applied and the CRL it serves, about once a second, so that a
//! revocation can wait until every live instance answers with it.

use mtls_pki::Result;
use mtls_pki::store::backend::InstanceReport;
use postgres::GenericClient;

use crate::connect::{backend_error, describe, retryable};

/// Reports older than this are removed when an instance starts (crashed instances).
const FORGET_AFTER_SECS: f64 = 3600.0;

fn db(url: &str) -> impl Fn(postgres::Error) -> mtls_pki::Error + '_ {
    move |e| backend_error(url, describe(&e), retryable(&e))
}

/// Records `instance`'s report, on the database's clock.
pub(crate) fn report(
    c: &mut impl GenericClient,
    url: &str,
    instance: &str,
    applied: i64,
    crl_number: Option<u64>,
) -> Result<()> {
    let crl = crl_number.and_then(|n| i64::try_from(n).ok());
    c.execute(
        "INSERT INTO instances (id, applied, crl_number, seen_at) \
         VALUES ($1, $2, $3, extract(epoch FROM clock_timestamp())) \
         ON CONFLICT (id) DO UPDATE SET applied = EXCLUDED.applied, \
         crl_number = EXCLUDED.crl_number, seen_at = EXCLUDED.seen_at",
        &[&instance, &applied, &crl],
    )
    .map_err(db(url))?;
    Ok(())
}

/// Removes `instance`'s report, and any report left by an instance that died long ago.
pub(crate) fn leave(c: &mut impl GenericClient, url: &str, instance: &str) -> Result<()> {
    c.execute(
        "DELETE FROM instances WHERE id = $1 \
         OR seen_at < extract(epoch FROM clock_timestamp())::float8 - $2",
        &[&instance, &FORGET_AFTER_SECS],
    )
    .map_err(db(url))?;
    Ok(())
}

/// The reports made within the last `live_secs` seconds.
pub(crate) fn live(
    c: &mut impl GenericClient,
    url: &str,
    live_secs: i64,
) -> Result<Vec<InstanceReport>> {
    let rows = c
        .query(
            "SELECT id, applied, crl_number FROM instances \
             WHERE seen_at >= extract(epoch FROM clock_timestamp())::float8 - $1 ORDER BY id",
            &[&(live_secs as f64)],
        )
        .map_err(db(url))?;
    Ok(rows
        .iter()
        .map(|r| InstanceReport {
            id: r.get(0),
            applied: r.get(1),
            crl_number: r
                .get::<_, Option<i64>>(2)
                .and_then(|n| u64::try_from(n).ok()),
        })
        .collect())
}

/// The newest change's id (0 before the first).
pub(crate) fn last_change(c: &mut impl GenericClient, url: &str) -> Result<i64> {
    Ok(
        c.query_one("SELECT n FROM change_counter WHERE id = 1", &[])
            .map_err(db(url))?
            .get(0),
    )
}
