//! Settings of a service, layered: built-in defaults, then an optional TOML file, then
//! `LEADFLOW_*` environment variables (nested keys with `__`, for example
//! `LEADFLOW_RELAY__BATCH_SIZE`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;
use crate::auth::tls::TlsSettings;
use crate::limits::LimitSettings;
use crate::outbox::RelayConfig;
use crate::telemetry::TelemetrySettings;

/// Settings of one service process. Unknown keys are ignored, because the `LEADFLOW_`
/// prefix is shared with the CLI and the tests (`LEADFLOW_ACTIVITY_ADDR`,
/// `LEADFLOW_TEST_DATABASE_URL`), whose variables may be set in the same environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceConfig {
    /// Address the gRPC server listens on.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    pub database_url: String,
    /// URL of the activity service, for services that send it events.
    pub activity_url: String,
    /// URL of the scoring service.
    pub scoring_url: String,
    /// URL of the qualification service.
    pub qualification_url: String,
    /// Seconds that in-flight calls get to finish after SIGTERM or SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Milliseconds between runs of a service's background jobs (decay and rescoring).
    pub job_interval_ms: u64,
    /// Milliseconds between checks of the service's tables for `ANALYZE` and `VACUUM`; 0 turns
    /// the checks off.
    pub maintenance_interval_ms: u64,
    /// Outbox relay settings.
    pub relay: RelaySettings,
    /// Traces over OTLP and the admin port with `/metrics` (`[telemetry]`); off by default.
    pub telemetry: TelemetrySettings,
    /// Authentication of callers and the token this service sends (`[auth]`).
    pub auth: AuthSettings,
    /// TLS of the server and of the relays' calls (`[tls]`).
    pub tls: TlsSettings,
    /// Per-caller limits, request timeout and message size (`[limits]`).
    pub limits: LimitSettings,
    /// Group commit of `TrackActivity` calls (`[group_commit]`).
    pub group_commit: GroupCommitSettings,
}

/// Group commit settings as configured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupCommitSettings {
    /// Writer tasks, each with its own transaction; 0 picks the default of the database: 1 on
    /// SQLite, whose pool has one connection, and 2 on PostgreSQL.
    pub writers: usize,
    /// Maximum number of calls in one transaction; 0 picks the default, 128.
    pub max_batch: usize,
}

/// Outbox relay settings as configured.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RelaySettings {
    /// Most events per delivery call.
    pub batch_size: u64,
    /// Deadline of one delivery call, in milliseconds.
    pub call_timeout_ms: u64,
    /// First retry delay, in milliseconds.
    pub initial_backoff_ms: u64,
    /// Largest retry delay, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        let defaults = RelayConfig::default();
        Self {
            batch_size: defaults.batch_size,
            call_timeout_ms: defaults.call_timeout.as_millis() as u64,
            initial_backoff_ms: defaults.initial_backoff.as_millis() as u64,
            max_backoff_ms: defaults.max_backoff.as_millis() as u64,
        }
    }
}

impl RelaySettings {
    /// Converts the settings to the relay's own type.
    pub fn to_relay_config(&self) -> RelayConfig {
        RelayConfig {
            batch_size: self.batch_size.max(1),
            call_timeout: Duration::from_millis(self.call_timeout_ms.max(1)),
            initial_backoff: Duration::from_millis(self.initial_backoff_ms.max(1)),
            max_backoff: Duration::from_millis(self.max_backoff_ms.max(1)),
            ..RelayConfig::default()
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: String::new(),
            activity_url: "http://127.0.0.1:50051".to_owned(),
            scoring_url: "http://127.0.0.1:50052".to_owned(),
            qualification_url: "http://127.0.0.1:50053".to_owned(),
            shutdown_timeout_secs: 20,
            log_format: "text".to_owned(),
            job_interval_ms: 1000,
            maintenance_interval_ms: 10_000,
            relay: RelaySettings::default(),
            telemetry: TelemetrySettings::default(),
            auth: AuthSettings::default(),
            tls: TlsSettings::default(),
            limits: LimitSettings::default(),
            group_commit: GroupCommitSettings::default(),
        }
    }
}

impl ServiceConfig {
    /// Loads the settings: `defaults`, then `file` when given, then `LEADFLOW_*` variables.
    pub fn load(defaults: ServiceConfig, file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(defaults));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("LEADFLOW_").split("__"));

        let config: ServiceConfig = figment.extract()?;
        if config.database_url.is_empty() {
            anyhow::bail!("database_url is not set; set LEADFLOW_DATABASE_URL to sqlite://PATH or postgres://…");
        }
        Ok(config)
    }

    /// Returns the interval of background jobs.
    pub fn job_interval(&self) -> Duration {
        Duration::from_millis(self.job_interval_ms.max(10))
    }

    /// Returns the interval of table maintenance, or `None` when it is off.
    pub fn maintenance_interval(&self) -> Option<Duration> {
        (self.maintenance_interval_ms > 0).then(|| Duration::from_millis(self.maintenance_interval_ms))
    }

    /// Returns the shutdown deadline.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}
