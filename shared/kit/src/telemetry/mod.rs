//! Logs, traces and metrics of a service.
//!
//! - [`logs`]: the global `tracing` subscriber, text or JSON lines on standard error.
//! - [`trace`]: W3C `traceparent` values and the OpenTelemetry tracer of one service, exported
//!   over OTLP/gRPC when `telemetry.otlp_endpoint` is set.
//! - [`layer`]: the tower layer around every call: server span, RPC metrics, request id.
//! - [`events`]: consumer spans for delivered events, so a trace continues across the outbox.
//! - [`admin`]: the admin HTTP port that serves `/metrics` for Prometheus.
//!
//! The test harness and `leadflow up` run the three services in one process, so nothing here
//! is global except the log subscriber. Each service builds its own [`Telemetry`] (tracer
//! provider with its own `service.name`, metric registry). Code that runs for a service finds
//! that handle through a Tokio task-local: the layer sets it around every call, and
//! [`crate::server::run_service`] sets it around relays and background jobs. A task spawned
//! from such code does not inherit it; wrap its future with [`Telemetry::scope`].

pub mod admin;
pub mod events;
pub mod layer;
pub mod logs;
pub mod trace;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::ServiceMetrics;

pub use logs::init;
pub use trace::TraceParent;

/// Telemetry settings of a service (`[telemetry]` in the TOML file, `LEADFLOW_TELEMETRY__*`
/// variables). Everything is off by default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// OTLP/gRPC endpoint that receives spans, for example `http://otel-collector:4317`.
    /// Empty turns tracing off.
    pub otlp_endpoint: String,
    /// Deadline of one OTLP export call, in milliseconds; 0 means 10 000.
    pub otlp_timeout_ms: u64,
    /// Milliseconds between two exports of buffered spans; 0 keeps the SDK's default
    /// (`OTEL_BSP_SCHEDULE_DELAY`, 5 000 when unset).
    pub otlp_export_interval_ms: u64,
    /// Address of the admin HTTP server that serves `/metrics`, for example `0.0.0.0:9464`.
    /// Unset turns the admin server off.
    pub admin_listen: Option<SocketAddr>,
}

impl TelemetrySettings {
    /// Returns the interval between span exports, `None` for the SDK's default.
    pub fn otlp_export_interval(&self) -> Option<Duration> {
        (self.otlp_export_interval_ms > 0).then(|| Duration::from_millis(self.otlp_export_interval_ms))
    }

    /// Returns the OTLP export deadline.
    pub fn otlp_timeout(&self) -> Duration {
        if self.otlp_timeout_ms == 0 { Duration::from_secs(10) } else { Duration::from_millis(self.otlp_timeout_ms) }
    }
}

/// A counter of a business event that one service declares, such as MQLs created.
#[derive(Clone, Copy, Debug)]
pub struct CounterSpec {
    /// Metric name without the `_total` suffix, which the exposition adds.
    pub name: &'static str,
    /// Help text shown on `/metrics`.
    pub help: &'static str,
}

/// Telemetry of one service before it starts: its name and settings, and the counters it
/// declares. [`crate::server::run_service`] starts it.
#[derive(Clone, Debug)]
pub struct ServiceTelemetry {
    /// `service.name` of the spans, for example `leadflow-scoring`.
    pub service_name: &'static str,
    /// The settings.
    pub settings: TelemetrySettings,
    /// Counters registered at start, so they read 0 before their first event.
    pub counters: Vec<CounterSpec>,
}

impl ServiceTelemetry {
    /// Creates the telemetry of `service_name` with `settings` and no counters.
    pub fn new(service_name: &'static str, settings: TelemetrySettings) -> Self {
        Self { service_name, settings, counters: Vec::new() }
    }

    /// Declares a counter of the service.
    pub fn with_counter(mut self, counter: CounterSpec) -> Self {
        self.counters.push(counter);
        self
    }
}

/// The running telemetry of one service: its tracer (when tracing is on) and its metrics.
/// Cloning shares them.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    service_name: &'static str,
    tracer: Option<trace::ServiceTracer>,
    metrics: ServiceMetrics,
    counters: HashMap<&'static str, prometheus_client::metrics::counter::Counter>,
}

tokio::task_local! {
    static CURRENT: Telemetry;
}

impl Telemetry {
    /// Builds the telemetry of a service: the OTLP exporter when an endpoint is set (it
    /// connects lazily, so an unreachable collector only loses spans) and the registry.
    /// Must run inside a Tokio runtime.
    pub fn start(spec: &ServiceTelemetry) -> anyhow::Result<Self> {
        let tracer = match spec.settings.otlp_endpoint.trim() {
            "" => None,
            endpoint => Some(trace::ServiceTracer::otlp(spec.service_name, endpoint, &spec.settings)?),
        };
        let mut metrics = ServiceMetrics::new();
        let counters = spec.counters.iter().map(|counter| (counter.name, metrics.register_counter(counter))).collect();
        Ok(Self { inner: Arc::new(Inner { service_name: spec.service_name, tracer, metrics, counters }) })
    }

    /// Telemetry with tracing off and an unserved registry, for code run outside a service.
    pub fn disabled(service_name: &'static str) -> Self {
        Self::start(&ServiceTelemetry::new(service_name, TelemetrySettings::default()))
            .unwrap_or_else(|_| unreachable!("telemetry without an exporter cannot fail"))
    }

    /// Returns the service name.
    pub fn service_name(&self) -> &'static str {
        self.inner.service_name
    }

    /// Returns the tracer, present when tracing is on.
    pub fn tracer(&self) -> Option<&trace::ServiceTracer> {
        self.inner.tracer.as_ref()
    }

    /// Returns the metrics.
    pub fn metrics(&self) -> &ServiceMetrics {
        &self.inner.metrics
    }

    /// Runs `future` with this telemetry as the current one.
    pub fn scope<F: Future>(&self, future: F) -> tokio::task::futures::TaskLocalFuture<Telemetry, F> {
        CURRENT.scope(self.clone(), future)
    }

    /// Runs `function` with this telemetry as the current one.
    pub fn sync_scope<R>(&self, function: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self.clone(), function)
    }

    /// Exports the spans still buffered and stops the exporter. Blocks while it flushes, so
    /// it runs on a blocking thread.
    pub async fn shutdown(&self) {
        if let Some(tracer) = self.inner.tracer.clone() {
            let _ = tokio::task::spawn_blocking(move || tracer.shutdown()).await;
        }
    }
}

/// Returns the telemetry of the service that runs the current task, if any.
pub fn current() -> Option<Telemetry> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Adds one to `counter` of the current service. Does nothing outside a service or when the
/// service did not declare the counter.
pub fn increment(counter: &CounterSpec) {
    let Some(telemetry) = current() else {
        tracing::debug!(counter = counter.name, "counter incremented outside a service; not counted");
        return;
    };
    match telemetry.inner.counters.get(counter.name) {
        Some(value) => {
            value.inc();
        }
        None => tracing::debug!(counter = counter.name, "counter not declared by this service; not counted"),
    }
}
