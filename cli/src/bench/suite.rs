//! The suite under test: the three service binaries as separate processes on loopback ports,
//! on SQLite files in a temporary folder or on fresh PostgreSQL databases that are dropped at
//! the end.
//!
//! Each database is migrated first by the binary's `migrate` subcommand. The start-up time
//! is then measured from spawning `serve` against the migrated database to the first
//! `grpc.health.v1.Health/Check` that returns SERVING, so it leaves migrations out.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::baseline::UNLIMITED_RATE;
use crate::errors::CliError;
use crate::i18n::Text;

/// The three services, in start order (consumers first).
pub const SERVICES: [&str; 3] = ["qualification", "scoring", "activity"];

/// Maximum wait for a service to report SERVING.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Location of the services' data.
#[derive(Clone, Debug)]
pub enum Storage {
    /// One SQLite file per service in this folder.
    Sqlite(PathBuf),
    /// One fresh database per service on the PostgreSQL server of this URL.
    Postgres(String),
}

/// One running service process.
pub struct ServiceProcess {
    /// Service name: activity, scoring or qualification.
    pub name: &'static str,
    /// URL of its gRPC port.
    pub url: String,
    /// Process id.
    pub pid: u32,
    /// Time from spawning `serve` to the first SERVING health check.
    pub startup: Duration,
    child: Child,
}

/// The running suite.
pub struct Suite {
    /// The processes, in [`SERVICES`] order.
    pub processes: Vec<ServiceProcess>,
    databases: Vec<String>,
    storage: Storage,
}

impl Suite {
    /// Migrates the three databases, then starts each service and waits until it is SERVING.
    /// Logs go to `<service>.log` in `folder`.
    pub async fn start(bin_dir: &Path, storage: Storage, folder: &Path) -> anyhow::Result<Self> {
        let ports: Vec<u16> = SERVICES.iter().map(|_| free_port()).collect::<std::io::Result<_>>()?;
        let url_of = |service: &str| {
            let index = SERVICES.iter().position(|name| *name == service).unwrap_or(0);
            format!("http://127.0.0.1:{}", ports[index])
        };

        let mut databases = Vec::new();
        let mut suite = Suite { processes: Vec::new(), databases: Vec::new(), storage: storage.clone() };
        for (index, service) in SERVICES.iter().enumerate() {
            let database_url = match &storage {
                Storage::Sqlite(folder) => format!("sqlite://{}", folder.join(format!("{service}.db")).display()),
                Storage::Postgres(server) => {
                    let name = format!("leadflow_bench_{}_{service}", std::process::id());
                    create_database(server, &name).await?;
                    databases.push(name.clone());
                    suite.databases = databases.clone();
                    with_database(server, &name)
                }
            };

            let binary = bin_dir.join(format!("leadflow-{service}"));
            if !binary.exists() {
                return Err(CliError::new(Text::BenchBinaryMissing).arg("path", binary.display()).into());
            }
            let environment = [
                ("LEADFLOW_LISTEN".to_owned(), format!("127.0.0.1:{}", ports[index])),
                ("LEADFLOW_DATABASE_URL".to_owned(), database_url),
                ("LEADFLOW_ACTIVITY_URL".to_owned(), url_of("activity")),
                ("LEADFLOW_SCORING_URL".to_owned(), url_of("scoring")),
                ("LEADFLOW_QUALIFICATION_URL".to_owned(), url_of("qualification")),
                // The load comes from one caller; its per-caller limits must not shape the result.
                ("LEADFLOW_LIMITS__RATE_PER_SECOND".to_owned(), UNLIMITED_RATE.to_string()),
                ("LEADFLOW_LIMITS__RATE_BURST".to_owned(), UNLIMITED_RATE.to_string()),
                ("LEADFLOW_LIMITS__MAX_CONCURRENT_CALLS".to_owned(), UNLIMITED_RATE.to_string()),
            ];

            let migrated = Command::new(&binary)
                .arg("migrate")
                .envs(environment.iter().cloned())
                .env_remove("LEADFLOW_CONFIG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .await
                .map_err(|error| CliError::new(Text::BenchServiceFailed).arg("service", service).arg("error", error))?;
            if !migrated.status.success() {
                let stderr = String::from_utf8_lossy(&migrated.stderr);
                return Err(CliError::new(Text::BenchServiceFailed).arg("service", service).arg("error", stderr.trim()).into());
            }

            let log = std::fs::File::create(folder.join(format!("{service}.log")))?;
            let spawned = Instant::now();
            let child = Command::new(&binary)
                .arg("serve")
                .envs(environment.iter().cloned())
                .env_remove("LEADFLOW_CONFIG")
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .map_err(|error| CliError::new(Text::BenchServiceFailed).arg("service", service).arg("error", error))?;
            let pid = child.id().unwrap_or_default();
            let url = url_of(service);
            let mut process = ServiceProcess { name: service, url: url.clone(), pid, startup: Duration::ZERO, child };

            let serving = wait_serving(&url, &mut process.child).await;
            process.startup = spawned.elapsed();
            suite.processes.push(process);
            if let Err(error) = serving {
                return Err(CliError::new(Text::BenchServiceFailed).arg("service", service).arg("error", error).into());
            }
        }
        Ok(suite)
    }

    /// Returns the process of `service`.
    pub fn process(&self, service: &str) -> Option<&ServiceProcess> {
        self.processes.iter().find(|process| process.name == service)
    }

    /// Opens `connections` channels to `service`, so the load does not share one HTTP/2
    /// connection.
    pub async fn channels(&self, service: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
        let url = self.process(service).map(|process| process.url.clone()).unwrap_or_default();
        channels(&url, connections).await
    }

    /// Stops the services (SIGKILL: nothing of the run needs to survive) and drops the
    /// PostgreSQL databases.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for process in &mut self.processes {
            let _ = process.child.kill().await;
        }
        if let Storage::Postgres(server) = &self.storage {
            drop_databases(server, &self.databases).await?;
        }
        Ok(())
    }
}

/// Opens `connections` channels to `url`.
pub async fn channels(url: &str, connections: usize) -> anyhow::Result<Vec<Channel>> {
    let mut opened = Vec::new();
    for _ in 0..connections.max(1) {
        opened.push(Endpoint::from_shared(url.to_owned())?.tcp_nodelay(true).connect().await?);
    }
    Ok(opened)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls the health of the server at `url` until it reports SERVING, the process exits or
/// [`START_TIMEOUT`] passes.
async fn wait_serving(url: &str, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|error| error.to_string())?;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the process exited with {status}"));
        }
        if let Ok(channel) = endpoint.connect().await {
            let mut health = HealthClient::new(channel);
            while Instant::now() < deadline {
                match health.check(HealthCheckRequest { service: String::new() }).await {
                    Ok(response) if response.get_ref().status == ServingStatus::Serving as i32 => return Ok(()),
                    Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                    Err(_) => break,
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(format!("no SERVING health check within {} s", START_TIMEOUT.as_secs()))
}

/// Returns `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|index| index + 3).unwrap_or(0);
    let path_start = base[authority_start..].find('/').map(|index| authority_start + index).unwrap_or(base.len());
    let mut result = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// Creates the database `name` on the PostgreSQL server of `server_url`.
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect_with(&sqlx::postgres::PgConnectOptions::from_str(server_url)?).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\"")).execute(&mut connection).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// Drops the databases `names` on the PostgreSQL server of `server_url`, ending their
/// remaining sessions.
pub async fn drop_databases(server_url: &str, names: &[String]) -> anyhow::Result<()> {
    let mut connection = sqlx::PgConnection::connect_with(&sqlx::postgres::PgConnectOptions::from_str(server_url)?).await?;
    for name in names {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut connection).await?;
    }
    connection.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
    }
}
