//! Wiring of the qualification service: database, gRPC services, the outbox relays to
//! scoring and activity.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use leadflow_kit::auth::ServerSecurity;
use leadflow_kit::auth::client::PeerClients;
use leadflow_kit::config::ServiceConfig;
use leadflow_kit::outbox::{OutboxWaker, Relay};
use leadflow_kit::telemetry::{CounterSpec, ServiceTelemetry};
use leadflow_kit::server::{ServiceParts, run_service};
use leadflow_proto::qualification::qualification_events_service_server::QualificationEventsServiceServer;
use leadflow_proto::qualification::qualification_service_server::QualificationServiceServer;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::api::{QualificationApi, QualificationEventsApi};
use crate::events::{ACTIVITY, ActivitySink, SCORING, ScoringSink};
use crate::migration::Migrator;

/// SQLs that this process created: MQLs that sales accepted.
pub(crate) const SQLS_CREATED: CounterSpec =
    CounterSpec { name: "leadflow_sqls_created", help: "MQLs that sales accepted as SQLs" };

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
    Migrator::up(&db, None).await.context("failed to apply qualification migrations")?;
    tracing::info!("qualification database migrated");
    Ok(())
}

/// Serves on an already bound listener until `shutdown` completes. Tests pass a listener on
/// port 0 and a oneshot receiver.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = leadflow_kit::db::connect(&config.database_url).await?;
    let waker = OutboxWaker::new();

    let security = ServerSecurity::from_config(&config, crate::access::METHOD_ROLES)?;
    let max_message = config.limits.max_message_bytes;
    let routes = Routes::new(
        QualificationServiceServer::new(QualificationApi::new(db.clone(), waker.clone()))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    )
    .add_service(
        QualificationEventsServiceServer::new(QualificationEventsApi::new(db.clone(), waker.clone()))
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    );

    let peers = PeerClients::from_config(&config)?;
    let scoring = peers.lazy_channel(&config.scoring_url, "scoring_url")?;
    let activity = peers.lazy_channel(&config.activity_url, "activity_url")?;
    let relays = vec![
        Relay::new(
            db.clone(),
            SCORING,
            Arc::new(ScoringSink::new(scoring)),
            waker.subscribe(),
            config.relay.to_relay_config(),
        ),
        Relay::new(
            db.clone(),
            ACTIVITY,
            Arc::new(ActivitySink::new(activity)),
            waker.subscribe(),
            config.relay.to_relay_config(),
        ),
    ];

    let (sla_db, sla_interval) = (db.clone(), config.job_interval());
    let parts = ServiceParts {
        domain: crate::DOMAIN,
        health_names: vec![
            "leadflow.qualification.v1.QualificationService",
            "leadflow.qualification.v1.QualificationEventsService",
        ],
        routes,
        db,
        relays,
        shutdown_timeout: config.shutdown_timeout(),
        maintenance_interval: config.maintenance_interval(),
        jobs: vec![Box::new(move |stopped| Box::pin(crate::sla::run(sla_db, sla_interval, stopped)))],
        security,
        telemetry: ServiceTelemetry::new("leadflow-qualification", config.telemetry.clone()).with_counter(SQLS_CREATED),
    };
    run_service::<Migrator>(parts, listener, shutdown).await
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use leadflow_proto::activity::activity_events_service_server::{ActivityEventsService, ActivityEventsServiceServer};
    use leadflow_proto::events::{LeadBecameMql, QualificationEvent, ScoringEvent, qualification_event, scoring_event};
    use leadflow_proto::qualification::qualification_events_service_client::QualificationEventsServiceClient;
    use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
    use leadflow_proto::qualification::{DeliverScoringEventsRequest, GetFunnelRequest, GetQualificationRequest};
    use leadflow_proto::scoring::scoring_events_service_server::{ScoringEventsService, ScoringEventsServiceServer};
    use leadflow_proto::types::QualificationState;
    use leadflow_proto::{activity, scoring};
    use tokio_stream::wrappers::TcpListenerStream;
    use tonic::transport::Endpoint;
    use tonic::{Request, Response, Status};
    use uuid::Uuid;

    use super::*;

    /// Events received by the stand-in consumers, with the service that received them.
    type Received = Arc<Mutex<Vec<(&'static str, QualificationEvent)>>>;

    /// Stands in for the qualification-event consumers of scoring and activity.
    #[derive(Clone, Default)]
    struct Consumers {
        received: Received,
    }

    #[tonic::async_trait]
    impl ScoringEventsService for Consumers {
        async fn deliver_activity_events(
            &self,
            _request: Request<scoring::DeliverActivityEventsRequest>,
        ) -> Result<Response<scoring::DeliverActivityEventsResponse>, Status> {
            Err(Status::unimplemented("the test consumer takes qualification events only"))
        }

        async fn deliver_qualification_events(
            &self,
            request: Request<scoring::DeliverQualificationEventsRequest>,
        ) -> Result<Response<scoring::DeliverQualificationEventsResponse>, Status> {
            let events = request.into_inner().events;
            self.received.lock().unwrap().extend(events.into_iter().map(|event| ("scoring", event)));
            Ok(Response::new(scoring::DeliverQualificationEventsResponse::default()))
        }
    }

    #[tonic::async_trait]
    impl ActivityEventsService for Consumers {
        async fn deliver_qualification_events(
            &self,
            request: Request<activity::DeliverQualificationEventsRequest>,
        ) -> Result<Response<activity::DeliverQualificationEventsResponse>, Status> {
            let events = request.into_inner().events;
            self.received.lock().unwrap().extend(events.into_iter().map(|event| ("activity", event)));
            Ok(Response::new(activity::DeliverQualificationEventsResponse::default()))
        }
    }

    async fn start_consumers() -> (String, Received) {
        let consumers = Consumers::default();
        let received = consumers.received.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(ScoringEventsServiceServer::new(consumers.clone()))
                .add_service(ActivityEventsServiceServer::new(consumers))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (url, received)
    }

    #[tokio::test]
    async fn state_change_reaches_both_consumers() {
        let (consumer_url, received) = start_consumers().await;
        let dir = tempfile::tempdir().unwrap();
        let config = ServiceConfig {
            database_url: format!("sqlite://{}", dir.path().join("qualification.db").display()),
            scoring_url: consumer_url.clone(),
            activity_url: consumer_url,
            ..ServiceConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = tokio::spawn(run(config, listener, async {
            let _ = stopped.await;
        }));

        let channel = Endpoint::from_shared(url).unwrap().connect_lazy();
        let mut queue = QualificationServiceClient::new(channel.clone());
        let mut events = QualificationEventsServiceClient::new(channel);

        // The service returns UNAVAILABLE until its migrations are applied.
        let mut ready = false;
        for _ in 0..100 {
            if queue.get_funnel(GetFunnelRequest::default()).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "service did not start serving");

        let lead_id = Uuid::now_v7();
        let event = ScoringEvent {
            event_id: Uuid::now_v7().to_string(),
            lead_id: lead_id.to_string(),
            create_time: None,
            traceparent: String::new(),
            kind: Some(scoring_event::Kind::LeadBecameMql(LeadBecameMql { score: 65, ..LeadBecameMql::default() })),
        };
        let response = events.deliver_scoring_events(DeliverScoringEventsRequest { events: vec![event] }).await.unwrap();
        assert_eq!(response.into_inner().applied, 1);

        let mut delivered = Vec::new();
        for _ in 0..100 {
            delivered = received.lock().unwrap().clone();
            if delivered.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut destinations: Vec<&str> = delivered.iter().map(|(destination, _)| *destination).collect();
        destinations.sort();
        assert_eq!(destinations, ["activity", "scoring"]);
        assert_ne!(delivered[0].1.event_id, delivered[1].1.event_id, "each destination gets its own event id");
        for (_, event) in &delivered {
            assert_eq!(event.lead_id, lead_id.to_string());
            let Some(qualification_event::Kind::StateChanged(change)) = &event.kind else {
                panic!("event without a state change: {event:?}");
            };
            assert_eq!(change.to_state, QualificationState::New as i32);
        }

        let error = queue.get_qualification(GetQualificationRequest { lead_id: "x".to_owned() }).await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);

        stop.send(()).unwrap();
        service.await.unwrap().unwrap();
    }
}
