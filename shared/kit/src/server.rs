//! Server bootstrap shared by the services: health, reflection, the readiness gate and
//! graceful shutdown with a deadline.
//!
//! Start-up order: bind the port, serve with health NOT_SERVING and the gate closed (calls get
//! UNAVAILABLE `SERVICE_STARTING`), migrate, then open the gate and report SERVING. On
//! SIGTERM or SIGINT the gate drains (new calls get UNAVAILABLE `SHUTTING_DOWN`), health turns
//! NOT_SERVING, in-flight calls finish, and the server is dropped when the deadline passes
//! even if a client keeps a stream open.
//!
//! While the service runs, a probe pings its PostgreSQL database every second. When the
//! database cannot be reached, health turns NOT_SERVING and the gate rejects calls at once
//! with UNAVAILABLE `DATABASE_UNAVAILABLE` and a `RetryInfo`. Both recover when a ping
//! succeeds again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::{Layer, Service};

use crate::auth::{AuthLayer, ServerSecurity};
use crate::errors::{ApiError, Lang, Reason};
use crate::faults::{DeadlineLayer, FaultInjection, FaultLayer};
use crate::limits::LimitLayer;

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;
const DATABASE_DOWN: u8 = 3;

/// Interval of the database probe.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Consecutive pool timeouts after which the probe reports the database down. A pool timeout
/// can also mean that every connection is busy, so one alone does not close the gate.
const PROBE_TIMEOUTS_BEFORE_DOWN: u32 = 3;

/// Whether a service takes calls: starting, ready, database down or draining.
#[derive(Clone)]
pub struct Gate {
    state: Arc<AtomicU8>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// Creates a closed gate: the service is starting.
    pub fn new() -> Self {
        Self { state: Arc::new(AtomicU8::new(STARTING)) }
    }

    /// Lets calls through.
    pub fn open(&self) {
        self.state.store(READY, Ordering::SeqCst);
    }

    /// Rejects new calls from now on, for shutdown.
    pub fn drain(&self) {
        self.state.store(DRAINING, Ordering::SeqCst);
    }

    /// Returns true while calls are let through.
    pub fn is_open(&self) -> bool {
        self.state.load(Ordering::SeqCst) == READY
    }

    /// Rejects calls with DATABASE_UNAVAILABLE while the gate is open; returns true when
    /// the state changed. A starting or draining gate keeps its state.
    pub fn database_down(&self) -> bool {
        self.state.compare_exchange(READY, DATABASE_DOWN, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Lets calls through again after [`Gate::database_down`]; returns true when the state
    /// changed.
    pub fn database_up(&self) -> bool {
        self.state.compare_exchange(DATABASE_DOWN, READY, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    fn rejection(&self) -> Option<ApiError> {
        match self.state.load(Ordering::SeqCst) {
            READY => None,
            DRAINING => Some(ApiError::unavailable(
                Reason::ShuttingDown,
                "service is shutting down; retry against another instance".to_owned(),
                Duration::from_millis(500),
            )),
            DATABASE_DOWN => Some(ApiError::unavailable(
                Reason::DatabaseUnavailable,
                "database unavailable; retry with backoff".to_owned(),
                Duration::from_secs(2),
            )),
            _ => Some(ApiError::unavailable(
                Reason::ServiceStarting,
                "service is starting; retry in a moment".to_owned(),
                Duration::from_millis(500),
            )),
        }
    }
}

/// Tower layer that returns UNAVAILABLE while the gate is closed. Health and reflection stay
/// reachable so probes and tools see the state.
#[derive(Clone)]
pub struct GateLayer {
    gate: Gate,
    domain: &'static str,
}

impl GateLayer {
    /// Creates the layer for the service with error domain `domain`.
    pub fn new(gate: Gate, domain: &'static str) -> Self {
        Self { gate, domain }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService { inner, gate: self.gate.clone(), domain: self.domain }
    }
}

/// Service produced by [`GateLayer`].
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    gate: Gate,
    domain: &'static str,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<B>> for GateService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Send,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let always_open = path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.");

        if !always_open {
            if let Some(error) = self.gate.rejection() {
                let lang = request
                    .headers()
                    .get("accept-language")
                    .and_then(|value| value.to_str().ok())
                    .map(Lang::from_accept_language)
                    .unwrap_or_default();
                let rpc = path.to_owned();
                let status = error.into_status(self.domain, &rpc, lang);
                return Box::pin(async move { Ok(status.into_http()) });
            }
        }

        Box::pin(self.inner.call(request))
    }
}

/// Builds the reflection services (v1 and v1alpha) over the Leadflow descriptor set. They
/// list only `services` (the ones this server runs), health and reflection itself, so a
/// client never discovers a service that the port does not serve.
pub fn reflection_routes(routes: Routes, services: &[&str]) -> anyhow::Result<Routes> {
    let configure = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(leadflow_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health");
        for service in services {
            builder = builder.with_service_name(*service);
        }
        builder
    };
    let v1 = configure().build_v1()?;
    let v1alpha = configure().build_v1alpha()?;
    Ok(routes.add_service(v1).add_service(v1alpha))
}

/// Sets every named service and the server as a whole (the empty name) to `status`.
pub async fn set_health(reporter: &HealthReporter, services: &[&str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in services {
        reporter.set_service_status(*service, status).await;
    }
}

/// Serves `routes` on `listener` until `shutdown` completes, then drains with a deadline.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    gate: Gate,
    domain: &'static str,
    security: ServerSecurity,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> anyhow::Result<()> {
    serve_with_faults(listener, routes, gate, domain, security, shutdown, grace, FaultInjection::default()).await
}

/// [`serve`] with injected faults, for tests.
#[allow(clippy::too_many_arguments)]
pub async fn serve_with_faults(
    listener: TcpListener,
    routes: Routes,
    gate: Gate,
    domain: &'static str,
    security: ServerSecurity,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
    faults: FaultInjection,
) -> anyhow::Result<()> {
    let incoming = TcpListenerStream::new(listener);
    let (stop_sender, stop_receiver) = tokio::sync::oneshot::channel::<()>();

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = security.tls {
        builder = builder.tls_config(tls).map_err(|error| anyhow::anyhow!("invalid server TLS configuration: {error}"))?;
    }

    // The observe layer sits right inside the deadline layer, so it counts and logs the
    // calls that the gate, authentication and limits reject. It belongs to the service whose
    // telemetry scope runs this function (see `run_service_with`).
    let telemetry = crate::telemetry::current().unwrap_or_else(|| crate::telemetry::Telemetry::disabled("leadflow"));

    // The deadline layer is outermost so an injected delay counts against the deadline.
    // Authentication runs before the limits, so they count calls per token subject.
    let server = builder
        .layer(DeadlineLayer)
        .layer(crate::telemetry::layer::ObserveLayer::new(telemetry))
        .layer(GateLayer::new(gate.clone(), domain))
        .layer(AuthLayer::new(security.authenticator, security.access, domain))
        .layer(LimitLayer::new(security.limits, domain))
        .layer(FaultLayer::new(faults))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stop_receiver.await;
        });
    tokio::pin!(server);

    tokio::select! {
        result = &mut server => return result.map_err(Into::into),
        _ = shutdown => {}
    }

    tracing::info!(grace_ms = grace.as_millis() as u64, "draining in-flight calls");
    gate.drain();
    let _ = stop_sender.send(());

    match tokio::time::timeout(grace, &mut server).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => {
            tracing::warn!("shutdown deadline passed; closing remaining connections");
            Ok(())
        }
    }
}

/// Completes on SIGINT or SIGTERM and logs which one arrived.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();

    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        _ = interrupt => tracing::info!(signal = "SIGINT", "shutdown requested"),
        _ = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

/// Parts of a service that [`run_service`] runs.
pub struct ServiceParts {
    /// Error domain, for example `activity.leadflow`.
    pub domain: &'static str,
    /// Full names of the gRPC services whose health is reported.
    pub health_names: Vec<&'static str>,
    /// The service's gRPC routes, without health and reflection.
    pub routes: Routes,
    /// The service's database.
    pub db: sea_orm::DatabaseConnection,
    /// One relay per destination of the service's outbox.
    pub relays: Vec<crate::outbox::Relay>,
    /// Deadline for draining in-flight calls at shutdown.
    pub shutdown_timeout: Duration,
    /// Background jobs started after migration; each gets a receiver that turns true at
    /// shutdown and should return soon after.
    pub jobs: Vec<Job>,
    /// Interval of the table maintenance task (see [`crate::maintenance`]), or `None` to turn it off.
    pub maintenance_interval: Option<Duration>,
    /// Authentication, access table, limits and TLS of the port.
    pub security: ServerSecurity,
    /// Service name, tracing and metrics settings, and the service's own counters.
    pub telemetry: crate::telemetry::ServiceTelemetry,
}

/// A background job of a service.
pub type Job = Box<dyn FnOnce(tokio::sync::watch::Receiver<bool>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Runs a service on `listener` until `shutdown` completes: serve with health NOT_SERVING,
/// migrate, open the gate, start the relays and the database probe; at shutdown drain calls,
/// then stop the relays after their current batch.
pub async fn run_service<M: sea_orm_migration::MigratorTrait>(
    parts: ServiceParts,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_service_with::<M>(parts, FaultInjection::default(), listener, shutdown).await
}

/// [`run_service`] with injected faults, for tests.
pub async fn run_service_with<M: sea_orm_migration::MigratorTrait>(
    parts: ServiceParts,
    faults: FaultInjection,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context as _;

    let local_addr = listener.local_addr()?;
    let telemetry = crate::telemetry::Telemetry::start(&parts.telemetry)?;
    let destinations: Vec<String> = parts.relays.iter().map(|relay| relay.destination().to_owned()).collect();
    let admin = crate::telemetry::admin::spawn(&telemetry, &parts.telemetry.settings, parts.db.clone(), destinations).await?;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    set_health(&reporter, &parts.health_names, ServingStatus::NotServing).await;

    let routes = reflection_routes(parts.routes.add_service(health_service), &parts.health_names)?;
    parts.security.log_summary(parts.domain);
    let gate = Gate::new();
    let (server_stop, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(telemetry.scope(serve_with_faults(
        listener,
        routes,
        gate.clone(),
        parts.domain,
        parts.security,
        async {
            let _ = server_stopped.await;
        },
        parts.shutdown_timeout,
        faults,
    )));

    if let Err(error) = M::up(&parts.db, None).await {
        let _ = server_stop.send(());
        let _ = server.await;
        if let Some(admin) = admin {
            admin.stop().await;
        }
        telemetry.shutdown().await;
        return Err(error).context("failed to apply database migrations");
    }

    let (relay_stop, relay_stopped) = tokio::sync::watch::channel(false);
    let relays: Vec<_> = parts
        .relays
        .into_iter()
        .map(|relay| tokio::spawn(telemetry.scope(relay.run(relay_stopped.clone()))))
        .collect();

    let mut jobs: Vec<_> =
        parts.jobs.into_iter().map(|job| tokio::spawn(telemetry.scope(job(relay_stopped.clone())))).collect();
    if let Some(interval) = parts.maintenance_interval {
        let maintenance = crate::maintenance::run(parts.db.clone(), interval, relay_stopped.clone());
        jobs.push(tokio::spawn(telemetry.scope(maintenance)));
    }

    let purge_db = parts.db.clone();
    let mut purge_stopped = relay_stopped.clone();
    let purger = tokio::spawn(async move {
        loop {
            match crate::idempotency::purge(&purge_db).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "purged expired idempotency keys"),
                Err(error) => tracing::warn!(error = error.message(), "idempotency purge failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = purge_stopped.changed() => break,
            }
        }
    });

    gate.open();
    set_health(&reporter, &parts.health_names, ServingStatus::Serving).await;
    tracing::info!(service = parts.domain, address = %local_addr, "serving");

    let probe = crate::db::is_postgres(&parts.db).then(|| {
        let probe = DatabaseProbe {
            db: parts.db.clone(),
            gate: gate.clone(),
            reporter: reporter.clone(),
            health_names: parts.health_names.clone(),
        };
        tokio::spawn(probe.run(relay_stopped.clone()))
    });

    let mut server = server;
    let server_result = tokio::select! {
        result = &mut server => Some(result),
        _ = shutdown => None,
    };

    set_health(&reporter, &parts.health_names, ServingStatus::NotServing).await;
    let server_result = match server_result {
        Some(result) => result,
        None => {
            let _ = server_stop.send(());
            server.await
        }
    };

    let _ = relay_stop.send(true);
    for task in relays.into_iter().chain(jobs) {
        let _ = task.await;
    }
    let _ = purger.await;
    if let Some(probe) = probe {
        let _ = probe.await;
    }
    if let Some(admin) = admin {
        admin.stop().await;
    }
    telemetry.shutdown().await;
    tracing::info!(service = parts.domain, "stopped");

    server_result.context("server task failed")?
}

/// Pings the database every [`PROBE_INTERVAL`] and turns health and the gate off while it
/// cannot be reached.
///
/// Only PostgreSQL is probed. A SQLite file belongs to the process, and its one pooled
/// connection is often busy for longer than a ping may wait, which would read as an outage.
struct DatabaseProbe {
    db: sea_orm::DatabaseConnection,
    gate: Gate,
    reporter: HealthReporter,
    health_names: Vec<&'static str>,
}

impl DatabaseProbe {
    async fn run(self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let mut pool_timeouts: u32 = 0;
        let mut down = false;

        loop {
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = stopped.changed() => break,
            }

            let ping = tokio::time::timeout(crate::db::ACQUIRE_TIMEOUT * 2, self.db.ping()).await;
            let failure = match ping {
                Ok(Ok(())) => None,
                Ok(Err(error)) if crate::db::is_connection_error(&error) => Some(error),
                // Any other error came back from a reachable server.
                Ok(Err(_)) => None,
                Err(_) => Some(sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
            };

            match failure {
                None => {
                    pool_timeouts = 0;
                    if down && self.gate.database_up() {
                        set_health(&self.reporter, &self.health_names, ServingStatus::Serving).await;
                        tracing::info!("database reachable again; serving");
                    }
                    down = false;
                }
                Some(error) => {
                    let timed_out = matches!(error, sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
                    pool_timeouts = if timed_out { pool_timeouts + 1 } else { 0 };
                    if down || (timed_out && pool_timeouts < PROBE_TIMEOUTS_BEFORE_DOWN) {
                        continue;
                    }
                    if self.gate.database_down() {
                        set_health(&self.reporter, &self.health_names, ServingStatus::NotServing).await;
                        tracing::warn!(error = %error, "database unreachable; health NOT_SERVING until it returns");
                        down = true;
                    }
                }
            }
        }
    }
}
