//! The admin HTTP server of a service: `GET /metrics` in the OpenMetrics text format, which
//! Prometheus scrapes. It listens on its own port (`telemetry.admin_listen`), apart from the
//! gRPC port, so a NetworkPolicy can open it to the monitoring namespace only.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Telemetry;

/// Content type of the OpenMetrics text exposition.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct AdminState {
    telemetry: Telemetry,
    db: DatabaseConnection,
    destinations: Vec<String>,
}

/// Serves `/metrics` on `listener` until `shutdown` turns true. The outbox gauges are read
/// from `db` for every destination in `destinations` at each scrape.
pub async fn serve(
    listener: TcpListener,
    telemetry: Telemetry,
    db: DatabaseConnection,
    destinations: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let address = listener.local_addr().map(|address| address.to_string()).unwrap_or_default();
    let state = Arc::new(AdminState { telemetry, db, destinations });
    let router = Router::new().route("/metrics", get(metrics)).with_state(state);

    tracing::info!(address = %address, "admin server serving /metrics");
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(stopped).await {
        tracing::error!(address = %address, error = %error, "admin server failed");
    }
}

async fn metrics(State(state): State<Arc<AdminState>>) -> impl IntoResponse {
    let metrics = state.telemetry.metrics();
    if let Err(error) = metrics.refresh_outbox(&state.db, &state.destinations).await {
        tracing::warn!(error = %error, "failed to read the outbox backlog; the gauges keep their last values");
    }
    ([(CONTENT_TYPE, OPENMETRICS)], metrics.encode())
}

/// A running admin server.
pub struct AdminHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminHandle {
    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Binds `telemetry.admin_listen` and serves `/metrics` there; returns `None` when no admin
/// address is configured.
pub async fn spawn(
    telemetry: &Telemetry,
    settings: &super::TelemetrySettings,
    db: DatabaseConnection,
    destinations: Vec<String>,
) -> anyhow::Result<Option<AdminHandle>> {
    let Some(address) = settings.admin_listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| anyhow::anyhow!("failed to bind the admin address {address}: {error}"))?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, telemetry.clone(), db, destinations, stopped));
    Ok(Some(AdminHandle { stop, task }))
}
