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
use leadflow_kit::faults::FaultInjection;
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, ClientTlsConfig};

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

/// Changes to the settings a suite starts with, for tests of authentication, TLS and limits.
#[derive(Default)]
pub struct SuiteOptions {
    /// Called with each service's index (0 activity, 1 scoring, 2 qualification) and its
    /// settings before the service starts.
    pub configure: Option<Box<dyn Fn(usize, &mut ServiceConfig)>>,
    /// TLS of the suite's own channels. When set, the service URLs start with `https://`.
    pub client_tls: Option<ClientTlsConfig>,
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
    /// Delays injected into the activity service's calls; none until a test sets one.
    pub activity_faults: FaultInjection,
    configs: [ServiceConfig; 3],
    running: [Option<RunningService>; 3],
    created_databases: Vec<String>,
    client_tls: Option<ClientTlsConfig>,
    _dir: tempfile::TempDir,
}

impl Suite {
    /// Starts the three services on port 0 with fresh databases and waits until all report
    /// SERVING.
    pub async fn start(backend: Backend) -> Suite {
        Suite::start_with(backend, SuiteOptions::default()).await
    }

    /// [`Suite::start`] with changed settings.
    pub async fn start_with(backend: Backend, options: SuiteOptions) -> Suite {
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
        let scheme = if options.client_tls.is_some() { "https" } else { "http" };
        let urls = addresses.map(|address| format!("{scheme}://{address}"));

        let mut configs: [ServiceConfig; 3] = std::array::from_fn(|index| ServiceConfig {
            listen: addresses[index],
            database_url: database_urls[index].clone(),
            activity_url: urls[0].clone(),
            scoring_url: urls[1].clone(),
            qualification_url: urls[2].clone(),
            shutdown_timeout_secs: 5,
            job_interval_ms: 100,
            relay: RelaySettings { initial_backoff_ms: 20, max_backoff_ms: 500, ..RelaySettings::default() },
            ..ServiceConfig::default()
        });
        if let Some(configure) = &options.configure {
            for (index, config) in configs.iter_mut().enumerate() {
                configure(index, config);
            }
        }
        let activity_faults = FaultInjection::enabled();
        let mut running = [None, None, None];
        for (index, listener) in listeners.into_iter().enumerate() {
            running[index] = Some(RunningService::spawn(index, configs[index].clone(), &activity_faults, listener));
        }

        let channels = addresses.map(|address| channel_to(address, options.client_tls.as_ref()));
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
            activity_faults,
            configs,
            running,
            created_databases,
            client_tls: options.client_tls,
            _dir: dir,
        }
    }

    /// Returns a channel to service `index` (0 activity, 1 scoring, 2 qualification).
    pub fn channel(&self, index: usize) -> Channel {
        channel_to(self.addresses[index], self.client_tls.as_ref())
    }

    /// Returns the settings service `index` runs with.
    pub fn config(&self, index: usize) -> &ServiceConfig {
        &self.configs[index]
    }

    /// Stops service `index` gracefully and waits until it has exited, at most 15 s. The
    /// other services keep running; their relays retry until [`Suite::start_service`].
    pub async fn stop_service(&mut self, index: usize) {
        let service = self.running[index].take().unwrap_or_else(|| panic!("service {index} is not running"));
        service.stop().await;
    }

    /// Starts service `index` again on its old address and database, and waits until it
    /// reports SERVING.
    pub async fn start_service(&mut self, index: usize) {
        assert!(self.running[index].is_none(), "service {index} is already running");
        let listener = bind_again(self.addresses[index]).await;
        let service = RunningService::spawn(index, self.configs[index].clone(), &self.activity_faults, listener);
        self.running[index] = Some(service);
        wait_until_serving(self.channel(index)).await;
    }

    /// Starts the shutdown of service `index` and returns its task without waiting, for
    /// tests that watch the drain.
    pub fn begin_shutdown(&mut self, index: usize) -> JoinHandle<anyhow::Result<()>> {
        let service = self.running[index].take().unwrap_or_else(|| panic!("service {index} is not running"));
        let _ = service.stop.send(());
        service.task
    }

    /// Stops the services, checks that each exited cleanly, and drops PostgreSQL databases.
    pub async fn stop(self) {
        for service in self.running.into_iter().flatten() {
            service.stop().await;
        }
        if let Backend::Postgres(server) = &self.backend {
            for database in &self.created_databases {
                drop_database(server, database).await;
            }
        }
    }
}

/// One service task of a suite and the sender that stops it.
struct RunningService {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningService {
    fn spawn(index: usize, config: ServiceConfig, activity_faults: &FaultInjection, listener: TcpListener) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = match index {
            0 => tokio::spawn(leadflow_activity::run_with_faults(config, activity_faults.clone(), listener, shutdown)),
            1 => tokio::spawn(leadflow_scoring::run(config, listener, shutdown)),
            _ => tokio::spawn(leadflow_qualification::run(config, listener, shutdown)),
        };
        Self { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(Duration::from_secs(15), self.task).await;
        let result = result.expect("service stopped within 15 s").expect("service task joined");
        result.expect("service exited without error");
    }
}

/// Returns a lazy channel to `address`, over TLS when `tls` is given.
fn channel_to(address: SocketAddr, tls: Option<&ClientTlsConfig>) -> Channel {
    let endpoint = match tls {
        Some(tls) => Channel::from_shared(format!("https://{address}")).expect("endpoint").tls_config(tls.clone()).expect("TLS"),
        None => Channel::from_shared(format!("http://{address}")).expect("endpoint"),
    };
    endpoint.connect_lazy()
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind port 0")
}

/// Binds `address` again after its service stopped, retrying for up to 5 s while the old
/// socket is still being closed.
async fn bind_again(address: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(address).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not bind {address} again within 5 s");
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

/// Runs a query that returns one integer, such as `SELECT COUNT(*) FROM activity`, on a
/// service's database; for checks on tables that no RPC exposes.
pub async fn query_count(database_url: &str, sql: &str) -> i64 {
    use sqlx::Row;

    if database_url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(database_url).await.expect("open SQLite database");
        sqlx::query(sql).fetch_one(&mut connection).await.unwrap_or_else(|error| panic!("{sql}: {error}")).get(0)
    } else {
        let mut connection = sqlx::PgConnection::connect(database_url).await.expect("connect to PostgreSQL");
        sqlx::query(sql).fetch_one(&mut connection).await.unwrap_or_else(|error| panic!("{sql}: {error}")).get(0)
    }
}
