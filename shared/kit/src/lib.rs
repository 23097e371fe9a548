//! Building blocks shared by the three Leadflow services. Nothing here depends on leads,
//! scores or queues: each module is one concern of running a gRPC service on its own
//! database.
//!
//! - [`config`]: layered settings (defaults, TOML file, `LEADFLOW_*` variables).
//! - [`telemetry`]: logs (text or JSON), OpenTelemetry traces over OTLP, the admin port.
//! - [`metrics`]: the Prometheus registry of a service: RPC, outbox and relay metrics.
//! - [`db`]: SQLite or PostgreSQL connections chosen by URL.
//! - [`errors`]: one error type mapped to `google.rpc.Status` with rich details.
//! - [`faults`]: the call deadline layer and delays injected by tests.
//! - [`auth`]: bearer tokens (JWT or static), roles per method, TLS and outgoing credentials.
//! - [`limits`]: per-caller rate and concurrency limits, request timeout, message size.
//! - [`server`]: health, reflection, the readiness gate and graceful shutdown.
//! - [`outbox`]: the transactional outbox, its relay and the consumer inbox.
//! - [`idempotency`]: replay of mutating calls that repeat a `request_id`.
//! - [`group_commit`]: concurrent calls committed together in one transaction.
//! - [`paging`]: opaque page tokens.
//! - [`privacy`]: erasure of a lead's personal data from the outbox and stored responses.
//! - [`time`]: conversions between protobuf timestamps and UTC instants.

#![forbid(unsafe_code)]

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod db;
pub mod errors;
pub mod faults;
pub mod group_commit;
pub mod idempotency;
pub mod limits;
pub mod maintenance;
pub mod metrics;
pub mod outbox;
pub mod paging;
pub mod privacy;
pub mod server;
pub mod telemetry;
pub mod testing;
pub mod time;

pub use errors::{ApiError, ApiResult, CallContext, Lang};

/// Runs `operation` up to three times while it fails with ABORTED, the code of a concurrent
/// insert of the same key. The retry then finds the row that the other request stored.
pub async fn retry_on_conflict<T, F, Fut>(mut operation: F) -> ApiResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match operation().await {
            Err(error) if error.code() == tonic::Code::Aborted && attempt < 3 => {
                tracing::debug!(attempt, "retrying after a concurrent update");
            }
            result => return result,
        }
    }
}
