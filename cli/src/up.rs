//! `leadflow up`: the three services in one process, for local use.
//!
//! The listeners are bound first, so each service learns the real addresses of the others
//! even when a port is 0. One shutdown signal reaches all three; when one service fails, the
//! others are stopped too.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;

use leadflow_kit::config::ServiceConfig;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::Context;
use crate::args::UpArgs;
use crate::errors::{CliError, Service};
use crate::i18n::Text;

type ServiceFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

async fn bind(service: Service, address: SocketAddr) -> Result<TcpListener, CliError> {
    TcpListener::bind(address).await.map_err(|error| {
        CliError::new(Text::BindFailed).arg("address", address).arg("service", service.name()).arg("error", error)
    })
}

fn database_url(data_dir: &Path, file: &str) -> String {
    format!("sqlite://{}", data_dir.join(file).display())
}

/// Creates the data folder and locks it for this process, so a second `leadflow up` on the
/// same folder stops at once instead of sharing the SQLite files. The lock lasts as long as
/// the returned file stays open.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, CliError> {
    let unusable = |error: std::io::Error| CliError::new(Text::DataDirUnusable).arg("path", data_dir.display()).arg("error", error);
    std::fs::create_dir_all(data_dir).map_err(unusable)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("leadflow.lock"))
        .map_err(unusable)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::new(Text::DataDirInUse).arg("path", data_dir.display())),
        Err(std::fs::TryLockError::Error(error)) => Err(unusable(error)),
    }
}

/// Runs `leadflow up` until Ctrl+C or SIGTERM, or until a service fails.
pub async fn run(context: &Context, args: UpArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let _data_dir_lock = lock_data_dir(&args.data_dir)?;
    let activity_listener = bind(Service::Activity, SocketAddr::new(args.host, args.activity_port)).await?;
    let scoring_listener = bind(Service::Scoring, SocketAddr::new(args.host, args.scoring_port)).await?;
    let qualification_listener =
        bind(Service::Qualification, SocketAddr::new(args.host, args.qualification_port)).await?;

    let activity_address = activity_listener.local_addr()?;
    let scoring_address = scoring_listener.local_addr()?;
    let qualification_address = qualification_listener.local_addr()?;

    leadflow_kit::telemetry::init("text");

    let config = |listen: SocketAddr, database: &str| ServiceConfig {
        listen,
        database_url: database_url(&args.data_dir, database),
        activity_url: format!("http://{activity_address}"),
        scoring_url: format!("http://{scoring_address}"),
        qualification_url: format!("http://{qualification_address}"),
        ..ServiceConfig::default()
    };

    let (stop_sender, stop_receiver) = watch::channel(false);
    let stopped = |mut receiver: watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };

    let services: [(Service, ServiceFuture); 3] = [
        (
            Service::Activity,
            Box::pin(leadflow_activity::run(
                config(activity_address, "activity.db"),
                activity_listener,
                stopped(stop_receiver.clone()),
            )),
        ),
        (
            Service::Scoring,
            Box::pin(leadflow_scoring::run(
                config(scoring_address, "scoring.db"),
                scoring_listener,
                stopped(stop_receiver.clone()),
            )),
        ),
        (
            Service::Qualification,
            Box::pin(leadflow_qualification::run(
                config(qualification_address, "qualification.db"),
                qualification_listener,
                stopped(stop_receiver.clone()),
            )),
        ),
    ];

    print_addresses(context, &args.data_dir, [
        (Service::Activity, activity_address),
        (Service::Scoring, scoring_address),
        (Service::Qualification, qualification_address),
    ]);

    let mut tasks = JoinSet::new();
    for (service, future) in services {
        tasks.spawn(async move { (service, future.await) });
    }

    let signal_sender = stop_sender.clone();
    let signal = tokio::spawn(async move {
        leadflow_kit::server::shutdown_signal().await;
        let _ = signal_sender.send(true);
    });

    let mut first_error: Option<anyhow::Error> = None;
    while let Some(joined) = tasks.join_next().await {
        let failure = match joined {
            Ok((_, Ok(()))) => None,
            Ok((service, Err(error))) => Some(
                CliError::new(Text::ServiceFailed).arg("service", service.name()).arg("error", format!("{error:#}")),
            ),
            Err(error) => Some(CliError::new(Text::ServiceTaskFailed).arg("service", "?").arg("error", error)),
        };

        // Any service that stops on its own takes the others down with it.
        let _ = stop_sender.send(true);
        if let Some(failure) = failure {
            tracing::error!(error = %failure, "service stopped with an error; stopping the others");
            first_error.get_or_insert(failure.into());
        }
    }
    signal.abort();

    if !context.json {
        println!("{}", Text::UpStopped.get(lang));
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn print_addresses(context: &Context, data_dir: &Path, addresses: [(Service, SocketAddr); 3]) {
    let lang = context.lang;
    if context.json {
        let services: serde_json::Map<String, serde_json::Value> = addresses
            .iter()
            .map(|(service, address)| (service.name().to_owned(), json!(format!("http://{address}"))))
            .collect();
        crate::commands::print_json(&json!({
            "services": services,
            "data_dir": data_dir.display().to_string(),
            "authentication": false,
        }));
        return;
    }

    for (service, address) in addresses {
        let url = format!("http://{address}");
        println!("{}", Text::UpListening.fill(lang, &[("service", &service.name()), ("address", &url)]));
    }
    println!("{}", Text::UpDataDir.fill(lang, &[("path", &data_dir.display())]));
    println!("{}", Text::UpNoAuth.get(lang));
    println!("{}", Text::UpStopHint.get(lang));
}
