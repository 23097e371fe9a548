//! Wiring of the activity service: database, gRPC services, the outbox relay to scoring.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use leadflow_kit::auth::ServerSecurity;
use leadflow_kit::auth::client::PeerClients;
use leadflow_kit::config::ServiceConfig;
use leadflow_kit::outbox::{OutboxWaker, Relay};
use leadflow_kit::faults::FaultInjection;
use leadflow_kit::telemetry::ServiceTelemetry;
use leadflow_kit::server::{ServiceParts, run_service_with};
use leadflow_proto::activity::activity_events_service_server::ActivityEventsServiceServer;
use leadflow_proto::activity::activity_service_server::ActivityServiceServer;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::api::{ActivityApi, ActivityEventsApi};
use crate::events::{SCORING, ScoringSink};
use crate::migration::Migrator;

/// Binds the configured address and serves until SIGTERM or SIGINT.
pub async fn serve(config: ServiceConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("failed to bind {}", config.listen))?;
    run(config, listener, leadflow_kit::server::shutdown_signal()).await
}

/// Applies pending migrations and returns.
pub async fn migrate(config: ServiceConfig) -> anyhow::Result<()> {
    let db = leadflow_kit::db::connect(&config.database_url).await?;
    Migrator::up(&db, None).await.context("failed to apply activity migrations")?;
    tracing::info!("activity database migrated");
    Ok(())
}

/// Serves on an already bound listener until `shutdown` completes. Tests pass a listener on
/// port 0 and a oneshot receiver.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_faults(config, FaultInjection::default(), listener, shutdown).await
}

/// [`run`] with delays injected by tests through `faults`.
pub async fn run_with_faults(
    config: ServiceConfig,
    faults: FaultInjection,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = leadflow_kit::db::connect(&config.database_url).await?;
    let waker = OutboxWaker::new();

    let security = ServerSecurity::from_config(&config, crate::access::METHOD_ROLES)?;
    let max_message = config.limits.max_message_bytes;
    let routes = Routes::new(
        ActivityServiceServer::new(ActivityApi::new(db.clone(), waker.clone(), &config.group_commit))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    )
    .add_service(
        ActivityEventsServiceServer::new(ActivityEventsApi::new(db.clone()))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    );

    let scoring = PeerClients::from_config(&config)?.lazy_channel(&config.scoring_url, "scoring_url")?;
    let relay = Relay::new(
        db.clone(),
        SCORING,
        Arc::new(ScoringSink::new(scoring)),
        waker.subscribe(),
        config.relay.to_relay_config(),
    );

    let parts = ServiceParts {
        domain: crate::DOMAIN,
        health_names: vec!["leadflow.activity.v1.ActivityService", "leadflow.activity.v1.ActivityEventsService"],
        routes,
        db,
        relays: vec![relay],
        shutdown_timeout: config.shutdown_timeout(),
        maintenance_interval: config.maintenance_interval(),
        jobs: Vec::new(),
        security,
        telemetry: ServiceTelemetry::new("leadflow-activity", config.telemetry.clone()),
    };
    run_service_with::<Migrator>(parts, faults, listener, shutdown).await
}
