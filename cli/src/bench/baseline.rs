//! Baselines measured in the same run as the suite: what the gRPC stack and the database can
//! do on this machine without Leadflow's own work.
//!
//! - A no-op `TrackActivity` server: tonic with the same messages, answering at once.
//! - `grpc.health.v1.Health/Check` through Leadflow's server layers and through a bare tonic
//!   server, to price the layers alone.
//! - The database's insert rate for a row shaped like an activity, one row per transaction
//!   and 100 rows per transaction: `pgbench` with a custom script on PostgreSQL, sqlx on a
//!   SQLite file with the services' settings (WAL, `synchronous = FULL`).
//! - The database's rate for the rows that one stored `TrackActivity` call writes: the
//!   activity, its outbox event and the stored response, for [`WRITE_SET_CALLS`] calls per
//!   transaction as the group commit stores them. Nothing is read, no foreign key is checked
//!   and no consumer deletes the events, so no implementation that keeps these three rows can
//!   store calls faster on the same database.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::time::{Duration, Instant};

use leadflow_proto::activity::{Activity, TrackActivityRequest, TrackActivityResponse};
use serde::Serialize;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::errors::CliError;
use crate::i18n::Text;

/// Rows per transaction of the batched insert baseline.
pub const BATCH_ROWS: u64 = 100;

/// Calls per transaction of the write-set baseline: 64 callers shared by the two writers of
/// the group commit on PostgreSQL.
pub const WRITE_SET_CALLS: u64 = 32;

/// pgbench clients of the write-set baseline. The group commit runs two writers. In a trial on
/// the benchmark machine two, four and eight clients gave about the same rate, four the highest.
const WRITE_SET_CLIENTS: usize = 4;

/// A server that runs until the returned handle is dropped.
pub struct RunningServer {
    /// Address it listens on.
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningServer {
    /// Returns the URL of the server.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Path of the method the no-op server answers.
const TRACK_PATH: &str = "/leadflow.activity.v1.ActivityService/TrackActivity";

/// `leadflow.activity.v1.ActivityService` with `TrackActivity` answered at once by an
/// activity built from the request, so the response has the size of a real one; every
/// other method is UNIMPLEMENTED.
#[derive(Clone)]
struct NoopActivityService;

impl NamedService for NoopActivityService {
    const NAME: &'static str = "leadflow.activity.v1.ActivityService";
}

type HttpFuture = Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

impl tower::Service<http::Request<tonic::body::Body>> for NoopActivityService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = HttpFuture;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != TRACK_PATH {
                return Ok(tonic::Status::unimplemented("the no-op server answers only TrackActivity").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<TrackActivityResponse, TrackActivityRequest>::default());
            Ok(grpc.unary(EchoTrack, request).await)
        })
    }
}

/// The `TrackActivity` handler of the no-op server.
struct EchoTrack;

impl tonic::server::UnaryService<TrackActivityRequest> for EchoTrack {
    type Response = TrackActivityResponse;
    type Future = std::future::Ready<Result<tonic::Response<TrackActivityResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<TrackActivityRequest>) -> Self::Future {
        let request = request.into_inner();
        let now = std::time::SystemTime::now();
        let activity = Activity {
            activity_id: uuid::Uuid::now_v7().to_string(),
            lead_id: uuid::Uuid::now_v7().to_string(),
            r#type: request.r#type,
            occurred_at: request.occurred_at.or(Some(now.into())),
            properties: request.properties,
            idempotency_key: request.idempotency_key,
            record_time: Some(now.into()),
        };
        std::future::ready(Ok(tonic::Response::new(TrackActivityResponse { activity: Some(activity), created: true, ..TrackActivityResponse::default() })))
    }
}

async fn listen() -> anyhow::Result<TcpListener> {
    let address = SocketAddr::from(([127, 0, 0, 1], 0));
    TcpListener::bind(address)
        .await
        .map_err(|error| CliError::new(Text::BindFailed).arg("address", address).arg("service", "bench").arg("error", error).into())
}

/// Starts the no-op `TrackActivity` server on a bare tonic server.
pub async fn start_noop_track() -> anyhow::Result<RunningServer> {
    let listener = listen().await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let incoming = tokio_stream_of(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(Routes::new(NoopActivityService))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    Ok(RunningServer { address, stop: Some(stop) })
}

/// Starts a bare tonic server with only the health service, reporting SERVING.
pub async fn start_bare_health() -> anyhow::Result<RunningServer> {
    let listener = listen().await?;
    let address = listener.local_addr()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("", ServingStatus::Serving).await;
    let (stop, stopped) = oneshot::channel();
    let incoming = tokio_stream_of(listener);
    tokio::spawn(async move {
        let _reporter = reporter;
        tonic::transport::Server::builder()
            .add_routes(Routes::new(health))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningServer { address, stop: Some(stop) })
}

/// Starts the health service behind every layer of a Leadflow server (deadline, readiness
/// gate, authentication, limits, faults), with the gate open and authentication off. The
/// per-caller rate limit is raised out of the load's reach; the limit layer still runs.
pub async fn start_layered_health() -> anyhow::Result<RunningServer> {
    let listener = listen().await?;
    let address = listener.local_addr()?;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("", ServingStatus::Serving).await;
    let gate = leadflow_kit::server::Gate::new();
    gate.open();
    let mut security = leadflow_kit::auth::ServerSecurity::open(&[]);
    security.limits.rate_per_second = UNLIMITED_RATE;
    security.limits.rate_burst = UNLIMITED_RATE;
    security.limits.max_concurrent_calls = UNLIMITED_RATE;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _reporter = reporter;
        leadflow_kit::server::serve(
            listener,
            Routes::new(health),
            gate,
            "bench.leadflow",
            security,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        )
        .await
    });
    Ok(RunningServer { address, stop: Some(stop) })
}

/// A per-caller rate and concurrency limit that no benchmark phase reaches.
pub const UNLIMITED_RATE: u32 = 1_000_000;

fn tokio_stream_of(listener: TcpListener) -> tokio_stream::wrappers::TcpListenerStream {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}

/// Insert rates of the database itself, in rows per second.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DatabaseBaseline {
    /// Tool that measured: `pgbench` or `sqlx`.
    pub tool: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Rows per second with one row per transaction.
    pub single_row_per_second: f64,
    /// Rows per second with [`BATCH_ROWS`] rows per transaction.
    pub batch_rows_per_second: f64,
    /// Calls per second when each call writes an activity, an outbox event and a stored
    /// response, with [`WRITE_SET_CALLS`] calls per transaction.
    pub write_set_calls_per_second: f64,
    /// Concurrent clients of the write-set measure.
    pub write_set_clients: usize,
}

/// The table both database baselines insert into: the columns of an activity row, with its
/// unique idempotency key and lead index.
const TABLE_SQL: &str = "CREATE TABLE bench_activity (
    id TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    activity_type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    properties TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    record_time TEXT NOT NULL
)";
const INDEX_SQL: &str = "CREATE INDEX bench_activity_lead ON bench_activity (lead_id, occurred_at, id)";

/// The tables of the write-set baseline beside `bench_activity`: an outbox with the columns
/// and indexes of the services' outbox, and stored responses with those of their
/// idempotency records. `{serial}` and `{bytes}` are the backend's types.
const WRITE_SET_SQL: [&str; 4] = [
    "CREATE TABLE bench_outbox (
        seq {serial},
        event_id TEXT NOT NULL UNIQUE,
        destination TEXT NOT NULL,
        lead_id TEXT NOT NULL,
        payload {bytes} NOT NULL,
        create_time TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        failed_at TEXT
    )",
    "CREATE INDEX bench_outbox_destination ON bench_outbox (destination, seq)",
    "CREATE TABLE bench_response (
        request_id TEXT PRIMARY KEY,
        method TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        response {bytes} NOT NULL,
        create_time TEXT NOT NULL
    )",
    "CREATE INDEX bench_response_create_time ON bench_response (create_time)",
];

/// Bytes of an outbox payload and of a stored response, about those of an encoded
/// `ActivityRecorded` event with its trace context and of a `TrackActivityResponse`.
const EVENT_BYTES: usize = 200;
const RESPONSE_BYTES: usize = 150;

/// Method name stored with each response of the write-set baseline.
const TRACK_METHOD: &str = "leadflow.activity.v1.ActivityService/TrackActivity";

fn write_set_statements(serial: &str, bytes: &str) -> impl Iterator<Item = String> {
    WRITE_SET_SQL.into_iter().map(move |sql| sql.replace("{serial}", serial).replace("{bytes}", bytes))
}

/// Measures single-row and batched inserts into a SQLite file in `folder` with the services'
/// settings and one connection, each for `duration`.
pub async fn sqlite_inserts(folder: &Path, duration: Duration) -> anyhow::Result<DatabaseBaseline> {
    let path = folder.join("baseline.db");
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query(TABLE_SQL).execute(&mut connection).await?;
    sqlx::query(INDEX_SQL).execute(&mut connection).await?;
    for statement in write_set_statements("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB") {
        sqlx::query(&statement).execute(&mut connection).await?;
    }

    let mut next: u64 = 0;
    let single = timed_rows(duration, async || {
        insert_rows(&mut connection, &mut next, 1).await?;
        Ok(1)
    })
    .await?;
    let batched = timed_rows(duration, async || {
        insert_rows(&mut connection, &mut next, BATCH_ROWS).await?;
        Ok(BATCH_ROWS)
    })
    .await?;
    let write_set = timed_rows(duration, async || {
        insert_write_sets(&mut connection, &mut next).await?;
        Ok(WRITE_SET_CALLS)
    })
    .await?;

    Ok(DatabaseBaseline {
        tool: "sqlx".to_owned(),
        clients: 1,
        single_row_per_second: single,
        batch_rows_per_second: batched,
        write_set_calls_per_second: write_set,
        write_set_clients: 1,
    })
}

async fn timed_rows(duration: Duration, mut step: impl AsyncFnMut() -> anyhow::Result<u64>) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut rows = 0;
    while start.elapsed() < duration {
        rows += step().await?;
    }
    Ok(rows as f64 / start.elapsed().as_secs_f64())
}

async fn insert_rows(connection: &mut sqlx::SqliteConnection, next: &mut u64, rows: u64) -> anyhow::Result<()> {
    let mut txn = connection.begin().await?;
    for _ in 0..rows {
        *next += 1;
        let now = chrono::Utc::now().to_rfc3339();
        insert_activity(&mut txn, *next, &uuid::Uuid::now_v7().to_string(), &now).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Inserts one page view of `lead_id` with the idempotency key `bench-{number}`.
async fn insert_activity(connection: &mut sqlx::SqliteConnection, number: u64, lead_id: &str, now: &str) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO bench_activity VALUES (?, ?, 'page_view', ?, '{\"url\":\"/pricing\"}', ?, ?)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(lead_id)
        .bind(now)
        .bind(format!("bench-{number}"))
        .bind(now)
        .execute(connection)
        .await?;
    Ok(())
}

/// Stores the rows of [`WRITE_SET_CALLS`] calls in one transaction: per call an activity, an
/// outbox event and a stored response. The keys are time-ordered, as the services' ids are, so
/// each insert lands at the end of its index. This ran twice the rate of one `INSERT … SELECT`
/// per table with random keys.
async fn insert_write_sets(connection: &mut sqlx::SqliteConnection, next: &mut u64) -> anyhow::Result<()> {
    let event = vec![0xab_u8; EVENT_BYTES];
    let response = vec![0xcd_u8; RESPONSE_BYTES];
    let mut txn = connection.begin().await?;
    for _ in 0..WRITE_SET_CALLS {
        *next += 1;
        let now = chrono::Utc::now().to_rfc3339();
        let lead_id = uuid::Uuid::now_v7().to_string();
        insert_activity(&mut txn, *next, &lead_id, &now).await?;
        sqlx::query("INSERT INTO bench_outbox (event_id, destination, lead_id, payload, create_time) VALUES (?, 'scoring', ?, ?, ?)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&lead_id)
            .bind(&event)
            .bind(&now)
            .execute(&mut *txn)
            .await?;
        sqlx::query("INSERT INTO bench_response VALUES (?, ?, ?, ?, ?)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(TRACK_METHOD)
            .bind(format!("{next:064x}"))
            .bind(&response)
            .bind(&now)
            .execute(&mut *txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Measures single-row and batched inserts with `pgbench` at `clients` connections into a
/// table of the database at `database_url`, each for `duration` (whole seconds, at least 1).
pub async fn pgbench_inserts(
    database_url: &str,
    folder: &Path,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<DatabaseBaseline> {
    let mut connection = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query("DROP TABLE IF EXISTS bench_activity").execute(&mut connection).await?;
    sqlx::query(TABLE_SQL).execute(&mut connection).await?;
    sqlx::query(INDEX_SQL).execute(&mut connection).await?;
    sqlx::query("DROP TABLE IF EXISTS bench_outbox, bench_response").execute(&mut connection).await?;
    sqlx::query("DROP SEQUENCE IF EXISTS bench_key").execute(&mut connection).await?;
    sqlx::query("CREATE SEQUENCE bench_key").execute(&mut connection).await?;
    for statement in write_set_statements("BIGSERIAL PRIMARY KEY", "BYTEA") {
        sqlx::query(&statement).execute(&mut connection).await?;
    }
    connection.close().await?;

    // One statement per transaction, as the services' transactions are; pgbench runs each
    // script line as its own transaction outside an explicit block.
    let single = "INSERT INTO bench_activity VALUES (gen_random_uuid()::text, gen_random_uuid()::text, 'page_view', now()::text, '{\"url\":\"/pricing\"}', gen_random_uuid()::text, now()::text);\n";
    let batch = format!(
        "INSERT INTO bench_activity SELECT gen_random_uuid()::text, gen_random_uuid()::text, 'page_view', now()::text, '{{\"url\":\"/pricing\"}}', gen_random_uuid()::text, now()::text FROM generate_series(1, {BATCH_ROWS});\n"
    );
    // The rows of WRITE_SET_CALLS stored calls, which pgbench counts as one transaction. The
    // keys come from a sequence, padded to the length of a UUID. Time-ordered keys, as the
    // services' ids are, land at the end of each index and ran faster than random UUIDs.
    let key = "lpad(nextval('bench_key')::text, 36, '0')";
    let write_set = format!(
        "BEGIN;\n\
         INSERT INTO bench_activity SELECT {key}, gen_random_uuid()::text, 'page_view', now()::text, '{{\"url\":\"/pricing\"}}', {key}, now()::text FROM generate_series(1, {WRITE_SET_CALLS});\n\
         INSERT INTO bench_outbox (event_id, destination, lead_id, payload, create_time) SELECT {key}, 'scoring', gen_random_uuid()::text, decode(repeat('ab', {EVENT_BYTES}), 'hex'), now()::text FROM generate_series(1, {WRITE_SET_CALLS});\n\
         INSERT INTO bench_response SELECT {key}, '{TRACK_METHOD}', md5(random()::text), decode(repeat('cd', {RESPONSE_BYTES}), 'hex'), now()::text FROM generate_series(1, {WRITE_SET_CALLS});\n\
         END;\n"
    );
    let seconds = duration.as_secs().max(1);
    let single_tps = run_pgbench(database_url, folder, "single.sql", single, clients, seconds).await?;
    let batch_tps = run_pgbench(database_url, folder, "batch.sql", &batch, clients, seconds).await?;
    let write_set_tps = run_pgbench(database_url, folder, "write_set.sql", &write_set, WRITE_SET_CLIENTS, seconds).await?;

    Ok(DatabaseBaseline {
        tool: "pgbench".to_owned(),
        clients,
        single_row_per_second: single_tps,
        batch_rows_per_second: batch_tps * BATCH_ROWS as f64,
        write_set_calls_per_second: write_set_tps * WRITE_SET_CALLS as f64,
        write_set_clients: WRITE_SET_CLIENTS,
    })
}

async fn run_pgbench(
    database_url: &str,
    folder: &Path,
    name: &str,
    script: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let path = folder.join(name);
    std::fs::write(&path, script)?;
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1).min(clients.max(1));
    let output = tokio::process::Command::new("pgbench")
        .args(["--no-vacuum", "--client", &clients.to_string(), "--jobs", &threads.to_string()])
        .args(["--time", &seconds.to_string(), "--file"])
        .arg(&path)
        .arg(database_url)
        .output()
        .await
        .map_err(|error| CliError::new(Text::BenchToolFailed).arg("tool", "pgbench").arg("error", error))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(CliError::new(Text::BenchToolFailed).arg("tool", "pgbench").arg("error", stderr.trim()).into());
    }
    parse_pgbench_tps(&stdout)
        .ok_or_else(|| CliError::new(Text::BenchToolFailed).arg("tool", "pgbench").arg("error", "no tps line in its output").into())
}

/// Reads the transactions per second from pgbench's `tps = N (without initial connection
/// time)` line.
pub fn parse_pgbench_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .filter(|line| line.trim_start().starts_with("tps = "))
        .find(|line| !line.contains("including"))
        .and_then(|line| line.trim_start().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbench_tps_is_read() {
        let output = "number of failed transactions: 0 (0.000%)\nlatency average = 3.1 ms\ninitial connection time = 40.2 ms\ntps = 20412.123456 (without initial connection time)\n";
        assert_eq!(parse_pgbench_tps(output), Some(20412.123456));
        assert_eq!(parse_pgbench_tps("nothing"), None);
    }

    /// Checks the rows of the write-set baseline: whole transactions of write sets, with a
    /// stored response for every outbox event.
    fn check_write_sets(outbox: i64, responses: i64, per_second: f64) {
        let calls = WRITE_SET_CALLS as i64;
        assert!(outbox > 0, "no write set was stored");
        assert_eq!(outbox % calls, 0, "outbox rows {outbox} are not whole write sets of {calls}");
        assert_eq!(responses, outbox, "one stored response per outbox event");
        assert!(per_second > 0.0, "write-set rate {per_second}");
    }

    #[tokio::test]
    async fn database_baselines_store_whole_write_sets() {
        for database in leadflow_kit::testing::databases("bench_baseline").await {
            let folder = tempfile::tempdir().expect("temporary folder");
            let count = |table: &str| format!("SELECT COUNT(*) FROM {table}");
            let (baseline, outbox, responses) = if database.backend == "postgres" {
                let baseline = pgbench_inserts(&database.url, folder.path(), 2, Duration::from_secs(1)).await.expect("pgbench baselines");
                let mut connection = sqlx::PgConnection::connect(&database.url).await.expect("connect");
                let outbox: i64 = sqlx::query_scalar(&count("bench_outbox")).fetch_one(&mut connection).await.expect("count");
                let responses: i64 = sqlx::query_scalar(&count("bench_response")).fetch_one(&mut connection).await.expect("count");
                (baseline, outbox, responses)
            } else {
                let baseline = sqlite_inserts(folder.path(), Duration::from_millis(200)).await.expect("sqlite baselines");
                let url = format!("sqlite://{}", folder.path().join("baseline.db").display());
                let mut connection = sqlx::SqliteConnection::connect(&url).await.expect("open");
                let outbox: i64 = sqlx::query_scalar(&count("bench_outbox")).fetch_one(&mut connection).await.expect("count");
                let responses: i64 = sqlx::query_scalar(&count("bench_response")).fetch_one(&mut connection).await.expect("count");
                (baseline, outbox, responses)
            };
            assert!(baseline.single_row_per_second > 0.0, "{baseline:?}");
            assert!(baseline.batch_rows_per_second > 0.0, "{baseline:?}");
            check_write_sets(outbox, responses, baseline.write_set_calls_per_second);
            database.drop_database().await;
        }
    }
}
