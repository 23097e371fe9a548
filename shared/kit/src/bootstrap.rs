//! The `main` of a service binary: parse the command line, load settings, set up logging,
//! then either serve or only migrate.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use clap::{Parser, Subcommand};

use crate::config::ServiceConfig;

/// Command line of a service binary.
#[derive(Parser, Debug)]
#[command(version)]
pub struct ServiceArgs {
    /// TOML file with settings; `LEADFLOW_*` variables override it.
    #[arg(long, env = "LEADFLOW_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

/// Subcommands of a service binary.
#[derive(Subcommand, Debug, Clone, Copy)]
pub enum ServiceCommand {
    /// Apply pending migrations, then serve until SIGTERM or SIGINT (the default).
    Serve,
    /// Apply pending migrations and exit; for Kubernetes jobs and init containers.
    Migrate,
}

/// Future returned by a service's serve or migrate function.
pub type BoxedRun = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Runs a service binary. `defaults` are the service's built-in settings; `serve` and
/// `migrate` are its entry points. Bad settings exit with status 2 before any port is bound.
pub async fn main(
    name: &str,
    defaults: ServiceConfig,
    serve: impl FnOnce(ServiceConfig) -> BoxedRun,
    migrate: impl FnOnce(ServiceConfig) -> BoxedRun,
) -> std::process::ExitCode {
    let args = ServiceArgs::parse();

    let config = match ServiceConfig::load(defaults, args.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{name}: invalid configuration: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config.log_format);

    let result = match args.command.unwrap_or(ServiceCommand::Serve) {
        ServiceCommand::Serve => serve(config).await,
        ServiceCommand::Migrate => migrate(config).await,
    };

    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(service = name, error = format!("{error:#}"), "service failed");
            std::process::ExitCode::FAILURE
        }
    }
}
