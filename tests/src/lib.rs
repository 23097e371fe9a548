//! A test harness that runs the whole suite in-process: the three real services on port 0,
//! each with its own fresh database, talking to each other over loopback gRPC.
//!
//! Every storage test runs once per [`Backend`]: always on SQLite files in a temporary
//! folder, and on PostgreSQL when `LEADFLOW_TEST_DATABASE_URL` names a server (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`). Each suite then gets three new databases,
//! dropped when it stops.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use leadflow_kit::config::{RelaySettings, ServiceConfig};
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Environment variable with the PostgreSQL server URL for storage tests.
pub const DATABASE_URL_VAR: &str = "LEADFLOW_TEST_DATABASE_URL";

/// The database engine a suite runs on.
#[derive(Clone, Debug)]
pub enum Backend {
    /// SQLite files in a temporary folder.
    Sqlite,
    /// A PostgreSQL server; each suite creates its own databases on it.
    Postgres(String),
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite => write!(f, "sqlite"),
            Backend::Postgres(_) => write!(f, "postgres"),
        }
    }
}

/// Returns the backends to test on: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => backends.push(Backend::Postgres(url)),
        _ => eprintln!("{DATABASE_URL_VAR} is not set; storage tests run on SQLite only"),
    }
    backends
}

/// Runs `test` once on every backend, each time on a freshly started suite.
pub async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(Suite) -> Fut,
    Fut: Future<Output = Suite>,
{
    for backend in backends() {
        eprintln!("running on {backend}");
        let suite = Suite::start(backend).await;
        let suite = test(suite).await;
        suite.stop().await;
    }
}

/// A running suite with a client per service.
pub struct Suite {
    /// Backend the suite runs on.
    pub backend: Backend,
    /// Client of the activity service.
    pub activity: ActivityServiceClient<Channel>,
    /// Client of the scoring service.
    pub scoring: ScoringServiceClient<Channel>,
    /// Client of the qualification service.
    pub qualification: QualificationServiceClient<Channel>,
    /// Addresses of activity, scoring and qualification.
    pub addresses: [SocketAddr; 3],
    /// Database URLs of activity, scoring and qualification.
    pub database_urls: [String; 3],
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    created_databases: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Suite {
    /// Starts the three services on port 0 with fresh databases and waits until all report
    /// SERVING.
    pub async fn start(backend: Backend) -> Suite {
        let dir = tempfile::tempdir().expect("temporary folder");

        let mut created_databases = Vec::new();
        let database_urls: [String; 3] = match &backend {
            Backend::Sqlite => ["activity", "scoring", "qualification"]
                .map(|name| format!("sqlite://{}", dir.path().join(format!("{name}.db")).display())),
            Backend::Postgres(server) => {
                let mut urls = Vec::new();
                for name in ["activity", "scoring", "qualification"] {
                    let database = format!("lf_{name}_{}", uuid::Uuid::now_v7().simple());
                    create_database(server, &database).await;
                    urls.push(database_url(server, &database));
                    created_databases.push(database);
                }
                urls.try_into().expect("three URLs")
            }
        };

        let listeners = [bind().await, bind().await, bind().await];
        let addresses = listeners.each_ref().map(|listener| listener.local_addr().expect("local address"));
        let urls = addresses.map(|address| format!("http://{address}"));

        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            let config = ServiceConfig {
                listen: addresses[index],
                database_url: database_urls[index].clone(),
                activity_url: urls[0].clone(),
                scoring_url: urls[1].clone(),
                qualification_url: urls[2].clone(),
                shutdown_timeout_secs: 5,
                job_interval_ms: 100,
                relay: RelaySettings { initial_backoff_ms: 20, max_backoff_ms: 500, ..RelaySettings::default() },
                ..ServiceConfig::default()
            };
            let (stop, stopped) = oneshot::channel::<()>();
            let shutdown = async move {
                let _ = stopped.await;
            };
            let task = match index {
                0 => tokio::spawn(leadflow_activity::run(config, listener, shutdown)),
                1 => tokio::spawn(leadflow_scoring::run(config, listener, shutdown)),
                _ => tokio::spawn(leadflow_qualification::run(config, listener, shutdown)),
            };
            stops.push(stop);
            tasks.push(task);
        }

        let channels = addresses.map(|address| {
            Channel::from_shared(format!("http://{address}")).expect("endpoint").connect_lazy()
        });
        for channel in &channels {
            wait_until_serving(channel.clone()).await;
        }

        Suite {
            backend,
            activity: ActivityServiceClient::new(channels[0].clone()),
            scoring: ScoringServiceClient::new(channels[1].clone()),
            qualification: QualificationServiceClient::new(channels[2].clone()),
            addresses,
            database_urls,
            stops,
            tasks,
            created_databases,
            _dir: dir,
        }
    }

    /// Returns a channel to service `index` (0 activity, 1 scoring, 2 qualification).
    pub fn channel(&self, index: usize) -> Channel {
        Channel::from_shared(format!("http://{}", self.addresses[index])).expect("endpoint").connect_lazy()
    }

    /// Stops the services, checks that each exited cleanly, and drops PostgreSQL databases.
    pub async fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            let result = tokio::time::timeout(Duration::from_secs(15), task).await;
            let result = result.expect("service stopped within 15 s").expect("service task joined");
            result.expect("service exited without error");
        }
        if let Backend::Postgres(server) = &self.backend {
            for database in &self.created_databases {
                drop_database(server, database).await;
            }
        }
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind port 0")
}

async fn wait_until_serving(channel: Channel) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for _ in 0..200 {
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        if let Ok(response) = health.check(request).await {
            if response.into_inner().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("service did not report SERVING within 5 s");
}

pub use leadflow_kit::testing::database_url;

async fn create_database(server: &str, database: &str) {
    let mut connection = sqlx::PgConnection::connect(server).await.expect("connect to the PostgreSQL test server");
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut connection)
        .await
        .expect("create test database");
}

async fn drop_database(server: &str, database: &str) {
    let Ok(mut connection) = sqlx::PgConnection::connect(server).await else {
        return;
    };
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&mut connection).await;
}

/// Polls `check` every 20 ms until it returns `Some`, for effects that travel through the
/// outbox; panics with `what` after 15 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
