//! Prometheus metrics of one service, in its own registry.
//!
//! Names follow the OpenTelemetry RPC semantic conventions as Prometheus spells them
//! (`rpc.server.duration` in seconds becomes `rpc_server_duration_seconds`). Every metric is
//! listed with its type, labels and meaning in `docs/observability.md`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::outbox::entity::outbox;
use crate::telemetry::CounterSpec;

/// Upper bounds of the call duration buckets, in seconds: 1 ms to 10 s.
const DURATION_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Labels of the per-call metrics, named as the OpenTelemetry RPC conventions name them.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// Always `grpc`.
    pub rpc_system: &'static str,
    /// Full service name, for example `leadflow.activity.v1.ActivityService`.
    pub rpc_service: String,
    /// Method name, for example `TrackActivity`.
    pub rpc_method: String,
    /// Numeric gRPC status code of the call, `0` for OK.
    pub rpc_grpc_status_code: u8,
}

/// Label of the outbox and relay metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestinationLabels {
    /// Service that receives the events, for example `scoring`.
    pub destination: String,
}

type DurationFamily = Family<RpcLabels, Histogram, fn() -> Histogram>;

/// The registry of one service and the metrics that the kit records.
pub struct ServiceMetrics {
    registry: Registry,
    requests: Family<RpcLabels, Counter>,
    errors: Family<RpcLabels, Counter>,
    duration: DurationFamily,
    outbox_pending: Family<DestinationLabels, Gauge>,
    outbox_parked: Family<DestinationLabels, Gauge>,
    outbox_oldest_age: Family<DestinationLabels, Gauge<f64, AtomicU64>>,
    relay_retries: Family<DestinationLabels, Counter>,
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceMetrics {
    /// Creates a registry with the RPC, outbox and relay metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();

        let requests = Family::<RpcLabels, Counter>::default();
        registry.register("rpc_server_requests", "gRPC calls handled, by method and status code", requests.clone());
        let errors = Family::<RpcLabels, Counter>::default();
        registry.register("rpc_server_errors", "gRPC calls that ended with a status other than OK", errors.clone());
        let duration: DurationFamily = Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register_with_unit(
            "rpc_server_duration",
            "Time from the call's request headers to its status, by method and status code",
            Unit::Seconds,
            duration.clone(),
        );

        let outbox_pending = Family::<DestinationLabels, Gauge>::default();
        registry.register("leadflow_outbox_pending_rows", "Outbox rows waiting for delivery", outbox_pending.clone());
        let outbox_parked = Family::<DestinationLabels, Gauge>::default();
        registry.register(
            "leadflow_outbox_parked_rows",
            "Outbox rows that the consumer rejected, kept for an operator and no longer relayed",
            outbox_parked.clone(),
        );
        let outbox_oldest_age = Family::<DestinationLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "leadflow_outbox_oldest_pending_age",
            "Age of the oldest outbox row waiting for delivery, 0 when none waits",
            Unit::Seconds,
            outbox_oldest_age.clone(),
        );
        let relay_retries = Family::<DestinationLabels, Counter>::default();
        registry.register(
            "leadflow_relay_retries",
            "Outbox deliveries that failed with a retryable error and were scheduled again",
            relay_retries.clone(),
        );

        Self { registry, requests, errors, duration, outbox_pending, outbox_parked, outbox_oldest_age, relay_retries }
    }

    /// Registers a counter that a service declares and returns it.
    pub fn register_counter(&mut self, spec: &CounterSpec) -> Counter {
        let counter = Counter::default();
        self.registry.register(spec.name, spec.help, counter.clone());
        counter
    }

    /// Records one finished call.
    pub fn record_call(&self, service: &str, method: &str, code: tonic::Code, elapsed: Duration) {
        let labels = RpcLabels {
            rpc_system: "grpc",
            rpc_service: service.to_owned(),
            rpc_method: method.to_owned(),
            rpc_grpc_status_code: code as u8,
        };
        self.requests.get_or_create(&labels).inc();
        if code != tonic::Code::Ok {
            self.errors.get_or_create(&labels).inc();
        }
        self.duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Counts a failed delivery to `destination` that the relay retries.
    pub fn record_relay_retry(&self, destination: &str) {
        self.relay_retries.get_or_create(&DestinationLabels { destination: destination.to_owned() }).inc();
    }

    /// Reads the outbox backlog of every destination into the outbox gauges.
    pub async fn refresh_outbox(&self, db: &DatabaseConnection, destinations: &[String]) -> Result<(), DbErr> {
        let now = crate::time::now();
        for destination in destinations {
            let pending = outbox::Entity::find()
                .filter(outbox::Column::Destination.eq(destination.as_str()))
                .filter(outbox::Column::FailedAt.is_null());
            let pending_rows = pending.clone().count(db).await?;
            let oldest = pending.order_by_asc(outbox::Column::Seq).one(db).await?;
            let parked_rows = outbox::Entity::find()
                .filter(outbox::Column::Destination.eq(destination.as_str()))
                .filter(outbox::Column::FailedAt.is_not_null())
                .count(db)
                .await?;

            let age = oldest.map(|row| (now - row.create_time).to_std().unwrap_or_default().as_secs_f64()).unwrap_or(0.0);
            let labels = DestinationLabels { destination: destination.clone() };
            self.outbox_pending.get_or_create(&labels).set(pending_rows as i64);
            self.outbox_parked.get_or_create(&labels).set(parked_rows as i64);
            self.outbox_oldest_age.get_or_create(&labels).set(age);
        }
        Ok(())
    }

    /// Encodes every metric in the OpenMetrics text format that Prometheus scrapes.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %error, "failed to encode metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_by_code() {
        let metrics = ServiceMetrics::new();
        let service = "leadflow.activity.v1.ActivityService";
        metrics.record_call(service, "GetLead", tonic::Code::Ok, Duration::from_millis(3));
        metrics.record_call(service, "GetLead", tonic::Code::NotFound, Duration::from_millis(2));

        let text = metrics.encode();
        let ok = r#"rpc_server_requests_total{rpc_system="grpc",rpc_service="leadflow.activity.v1.ActivityService",rpc_method="GetLead",rpc_grpc_status_code="0"} 1"#;
        let not_found_error = r#"rpc_server_errors_total{rpc_system="grpc",rpc_service="leadflow.activity.v1.ActivityService",rpc_method="GetLead",rpc_grpc_status_code="5"} 1"#;
        assert!(text.contains(ok), "{text}");
        assert!(text.contains(not_found_error), "{text}");
        assert!(!text.contains(r#"rpc_server_errors_total{rpc_system="grpc",rpc_service="leadflow.activity.v1.ActivityService",rpc_method="GetLead",rpc_grpc_status_code="0"}"#));
        assert!(text.contains("rpc_server_duration_seconds_bucket{"), "{text}");
    }
}
