//! Planner statistics and dead rows of a service's own tables.
//!
//! The planner picks an index look-up only when it has estimates of how many rows a table
//! contains and how many distinct values a column has. Until a table that grew from empty is
//! analyzed, a look-up of 150 leads by `lead_id IN (…)` is estimated to match most of the table and runs
//! as a full scan. The outbox also churns: each delivered row is deleted, and until a vacuum
//! removes them the relay's next read walks past every dead row again. PostgreSQL's
//! autovacuum handles both, but by default it looks at each database once a minute, and it
//! may be turned off.
//!
//! [`run`] therefore checks the statistics counters of the service's tables at a fixed
//! interval and runs `ANALYZE` or `VACUUM` on a table once enough of its rows changed, with
//! thresholds close to autovacuum's defaults. Both use `SKIP_LOCKED`, so a replica skips a
//! table that another replica is analyzing or vacuuming instead of waiting for it. A vacuum
//! keeps the table's empty pages for reuse (`TRUNCATE FALSE`): giving them back would lock
//! out the table's writers while it checks them. Tables the service's role does not own are
//! left to their owner. On SQLite, where the planner favours indexes without statistics, it runs
//! `PRAGMA optimize`, which analyzes only tables whose size changed a lot.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Statement};
use tokio::sync::watch;

/// Rows that must change, beyond the fraction below, before a table is analyzed again.
const ANALYZE_BASE_ROWS: i64 = 500;
/// Fraction of the live rows that must change before a table is analyzed again.
const ANALYZE_FRACTION: f64 = 0.1;
/// Dead rows, beyond the fraction below, that make a table worth a vacuum.
const VACUUM_BASE_ROWS: i64 = 1000;
/// Fraction of the live rows that may be dead before a table is vacuumed.
const VACUUM_FRACTION: f64 = 0.2;
/// Approximate number of rows SQLite's `PRAGMA optimize` reads per index.
const SQLITE_ANALYSIS_LIMIT: u32 = 1000;

/// Tables that one pass analyzed and vacuumed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Tables analyzed.
    pub analyzed: Vec<String>,
    /// Tables vacuumed.
    pub vacuumed: Vec<String>,
}

#[derive(Debug, FromQueryResult)]
struct TableCounters {
    relname: String,
    live: i64,
    dead: i64,
    modified: i64,
}

/// Runs a pass every `interval` until `stopped` turns true. A failed pass is logged and the
/// next one runs as usual.
pub async fn run(db: DatabaseConnection, interval: Duration, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => break,
        }
        if *stopped.borrow() {
            break;
        }
        match run_once(&db).await {
            Ok(pass) if pass.analyzed.is_empty() && pass.vacuumed.is_empty() => {}
            Ok(pass) => tracing::debug!(analyzed = ?pass.analyzed, vacuumed = ?pass.vacuumed, "table maintenance"),
            Err(error) => tracing::warn!(%error, "table maintenance failed; retrying at the next interval"),
        }
    }
}

/// Runs one pass: on PostgreSQL, analyzes and vacuums the tables that need it; on SQLite,
/// runs `PRAGMA optimize`.
pub async fn run_once(db: &DatabaseConnection) -> Result<Pass, DbErr> {
    if !crate::db::is_postgres(db) {
        db.execute_unprepared(&format!("PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")).await?;
        db.execute_unprepared("PRAGMA optimize = 0x10002").await?;
        return Ok(Pass::default());
    }

    let backend = db.get_database_backend();
    let tables = TableCounters::find_by_statement(Statement::from_string(
        backend,
        "SELECT s.relname::text AS relname, s.n_live_tup AS live, s.n_dead_tup AS dead, \
                s.n_mod_since_analyze AS modified \
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE s.schemaname = current_schema() AND pg_has_role(c.relowner, 'USAGE')",
    ))
    .all(db)
    .await?;

    let mut pass = Pass::default();
    for table in tables {
        let name = quote_identifier(&table.relname);
        let vacuum = table.dead > VACUUM_BASE_ROWS + (table.live as f64 * VACUUM_FRACTION) as i64;
        let analyze = table.modified > ANALYZE_BASE_ROWS + (table.live as f64 * ANALYZE_FRACTION) as i64;
        if vacuum {
            // Truncating the empty pages at a table's end takes an exclusive lock that stalls
            // every writer of the table; the outbox and the inbox fill those pages again.
            let options = if analyze { "SKIP_LOCKED, TRUNCATE FALSE, ANALYZE" } else { "SKIP_LOCKED, TRUNCATE FALSE" };
            db.execute_unprepared(&format!("VACUUM ({options}) {name}")).await?;
            pass.vacuumed.push(table.relname.clone());
        } else if analyze {
            db.execute_unprepared(&format!("ANALYZE (SKIP_LOCKED) {name}")).await?;
        }
        if analyze {
            pass.analyzed.push(table.relname);
        }
    }
    Ok(pass)
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::quote_identifier;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("outbox"), "\"outbox\"");
        assert_eq!(quote_identifier("odd\"name"), "\"odd\"\"name\"");
    }
}
