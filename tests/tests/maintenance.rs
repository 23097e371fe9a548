//! Table maintenance: a table that grew from empty gets planner statistics, so look-ups by a
//! key column use its index, and on PostgreSQL a table full of deleted rows is vacuumed.
//!
//! The PostgreSQL tables are created with autovacuum off, so only the service's own
//! maintenance can analyze or vacuum them.

use std::time::Duration;

use leadflow_kit::maintenance::{self, Pass};
use leadflow_kit::testing;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// Rows of the test table; five per lead.
const ROWS: u32 = 20_000;

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Returns the column `value` of the one row that `sql` returns.
async fn value<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .unwrap_or_else(|| panic!("{sql}: no row"));
    row.try_get("", "value").unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Returns the plan of `sql` as one string: PostgreSQL's `EXPLAIN` lines or SQLite's
/// `EXPLAIN QUERY PLAN` details.
async fn plan(db: &DatabaseConnection, sql: &str) -> String {
    let (explain, column) =
        if leadflow_kit::db::is_postgres(db) { ("EXPLAIN", "QUERY PLAN") } else { ("EXPLAIN QUERY PLAN", "detail") };
    let rows = db
        .query_all(Statement::from_string(db.get_database_backend(), format!("{explain} {sql}")))
        .await
        .expect("explain");
    rows.iter().map(|row| row.try_get::<String>("", column).expect("plan line")).collect::<Vec<_>>().join("\n")
}

/// Runs maintenance passes until `done` accepts one, for at most 20 seconds: PostgreSQL's
/// counters reach its statistics view up to a few seconds after a commit.
async fn pass_until(db: &DatabaseConnection, done: impl Fn(&Pass) -> bool) -> Pass {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pass = maintenance::run_once(db).await.expect("maintenance pass");
        if done(&pass) {
            return pass;
        }
        assert!(tokio::time::Instant::now() < deadline, "no pass did the work; last pass: {pass:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn lookup_of_150_leads() -> String {
    let leads: Vec<String> = (1..=150).map(|lead| lead.to_string()).collect();
    format!("SELECT id, note FROM visit WHERE lead IN ({})", leads.join(", "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grown_table_lookups_use_index() {
    for database in testing::databases("maintenance_analyze").await {
        eprintln!("running on {}", database.backend);
        let db = leadflow_kit::db::connect(&database.url).await.expect("connect");
        let postgres = leadflow_kit::db::is_postgres(&db);
        let storage = if postgres { " WITH (autovacuum_enabled = false)" } else { "" };
        execute(&db, &format!("CREATE TABLE visit (id INTEGER PRIMARY KEY, lead INTEGER NOT NULL, note TEXT NOT NULL){storage}")).await;
        execute(&db, "CREATE INDEX visit_lead ON visit (lead)").await;
        let fill = if postgres {
            format!("INSERT INTO visit SELECT n, n % 4000, 'page view ' || n FROM generate_series(1, {ROWS}) AS n")
        } else {
            format!(
                "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < {ROWS}) \
                 INSERT INTO visit SELECT v, v % 4000, 'page view ' || v FROM n"
            )
        };
        execute(&db, &fill).await;

        let lookup = lookup_of_150_leads();
        if postgres {
            let before = plan(&db, &lookup).await;
            assert!(before.contains("Seq Scan on visit"), "without statistics the look-up scans the table:\n{before}");
            let pass = pass_until(&db, |pass| pass.analyzed.iter().any(|table| table == "visit")).await;
            assert!(!pass.vacuumed.contains(&"visit".to_owned()), "a table without dead rows is not vacuumed: {pass:?}");
        } else {
            maintenance::run_once(&db).await.expect("maintenance pass");
            let stats: i64 = value(&db, "SELECT count(*) AS value FROM sqlite_stat1 WHERE tbl = 'visit'").await;
            assert!(stats > 0, "PRAGMA optimize analyzed the grown table");
        }

        let after = plan(&db, &lookup).await;
        assert!(after.contains("visit_lead"), "with statistics the look-up uses the lead index:\n{after}");
        assert!(!after.contains("Seq Scan"), "with statistics the look-up does not scan the table:\n{after}");
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_rows_are_vacuumed() {
    let Some(server) = testing::postgres_server("only PostgreSQL keeps dead rows") else { return };
    let database = testing::TestDatabase::postgres(&server, "maintenance_vacuum").await;
    let db = leadflow_kit::db::connect(&database.url).await.expect("connect");
    execute(&db, "CREATE TABLE churn (seq BIGINT PRIMARY KEY, payload TEXT NOT NULL) WITH (autovacuum_enabled = false)").await;
    execute(&db, &format!("INSERT INTO churn SELECT n, repeat('x', 100) FROM generate_series(1, {ROWS}) AS n")).await;
    execute(&db, "DELETE FROM churn WHERE seq > 100").await;

    let size_before: i64 = value(&db, "SELECT pg_relation_size('churn') AS value").await;

    pass_until(&db, |pass| pass.vacuumed.iter().any(|table| table == "churn")).await;

    let vacuumed: bool = value(&db, "SELECT (last_vacuum IS NOT NULL) AS value FROM pg_stat_user_tables WHERE relname = 'churn'").await;
    assert!(vacuumed, "the statistics view records the vacuum");
    // The deleted rows filled the table's last pages; a vacuum that truncated them would
    // have locked out the table's writers.
    let size_after: i64 = value(&db, "SELECT pg_relation_size('churn') AS value").await;
    assert_eq!(size_after, size_before, "the vacuum keeps the table's empty pages");
    let quiet = maintenance::run_once(&db).await.expect("second pass");
    assert!(!quiet.vacuumed.contains(&"churn".to_owned()), "a vacuumed table is left alone: {quiet:?}");
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_keeps_pages_in_every_service() {
    use sea_orm_migration::MigratorTrait;

    let Some(server) = testing::postgres_server("vacuum_truncate is a PostgreSQL table option") else { return };
    let database = testing::TestDatabase::postgres(&server, "maintenance_outbox_pages").await;
    let db = leadflow_kit::db::connect(&database.url).await.expect("connect");
    let options = "SELECT coalesce(array_to_string(reloptions, ','), '') AS value FROM pg_class WHERE relname = 'outbox'";

    for service in ["activity", "scoring", "qualification"] {
        match service {
            "activity" => leadflow_activity::migration::Migrator::up(&db, None).await,
            "scoring" => leadflow_scoring::migration::Migrator::up(&db, None).await,
            _ => leadflow_qualification::migration::Migrator::up(&db, None).await,
        }
        .expect("migrate");
        let reloptions: String = value(&db, options).await;
        assert!(reloptions.contains("vacuum_truncate=false"), "{service}: outbox options {reloptions:?}");
        execute(&db, "DROP SCHEMA public CASCADE").await;
        execute(&db, "CREATE SCHEMA public").await;
    }
    database.drop_database().await;
}
