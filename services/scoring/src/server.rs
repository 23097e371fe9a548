//! Wiring of the scoring service: database, gRPC services, the outbox relay to
//! qualification.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use leadflow_kit::auth::ServerSecurity;
use leadflow_kit::auth::client::PeerClients;
use leadflow_kit::config::ServiceConfig;
use leadflow_kit::outbox::{OutboxWaker, Relay};
use leadflow_kit::telemetry::{CounterSpec, ServiceTelemetry};
use leadflow_kit::server::{ServiceParts, run_service};
use leadflow_proto::scoring::scoring_events_service_server::ScoringEventsServiceServer;
use leadflow_proto::scoring::scoring_service_server::ScoringServiceServer;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::api::{ScoringApi, ScoringEventsApi};
use crate::engine::{QUALIFICATION, QualificationSink, jobs};
use crate::migration::Migrator;

/// MQLs that this process created: leads whose score crossed the threshold.
pub(crate) const MQLS_CREATED: CounterSpec =
    CounterSpec { name: "leadflow_mqls_created", help: "Leads that became MQLs when their score crossed the threshold" };

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
    Migrator::up(&db, None).await.context("failed to apply scoring migrations")?;
    tracing::info!("scoring database migrated");
    Ok(())
}

/// Serves on an already bound listener until `shutdown` completes.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = leadflow_kit::db::connect(&config.database_url).await?;
    let waker = OutboxWaker::new();

    // Watch streams end when shutdown starts, so draining does not wait for them.
    let (streams_stop, streams_stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = streams_stop.send(true);
    };

    let security = ServerSecurity::from_config(&config, crate::access::METHOD_ROLES)?;
    let max_message = config.limits.max_message_bytes;
    let routes = Routes::new(
        ScoringServiceServer::new(ScoringApi::new(db.clone(), streams_stopped))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    )
    .add_service(
        ScoringEventsServiceServer::new(ScoringEventsApi::new(db.clone(), waker.clone()))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    );

    let qualification = PeerClients::from_config(&config)?.lazy_channel(&config.qualification_url, "qualification_url")?;
    let relay = Relay::new(
        db.clone(),
        QUALIFICATION,
        Arc::new(QualificationSink::new(qualification)),
        waker.subscribe(),
        config.relay.to_relay_config(),
    );

    let (jobs_db, jobs_waker, interval) = (db.clone(), waker.clone(), config.job_interval());
    let parts = ServiceParts {
        domain: crate::DOMAIN,
        health_names: vec!["leadflow.scoring.v1.ScoringService", "leadflow.scoring.v1.ScoringEventsService"],
        routes,
        db,
        relays: vec![relay],
        shutdown_timeout: config.shutdown_timeout(),
        maintenance_interval: config.maintenance_interval(),
        jobs: vec![Box::new(move |stopped| Box::pin(jobs::run(jobs_db, jobs_waker, interval, stopped)))],
        security,
        telemetry: ServiceTelemetry::new("leadflow-scoring", config.telemetry.clone()).with_counter(MQLS_CREATED),
    };
    run_service::<Migrator>(parts, listener, shutdown).await
}
