//! Building blocks shared by the three Leadflow services. Nothing here depends on leads,
//! scores or queues: each module is one concern of running a gRPC service on its own
//! database.
//!
//! - [`config`]: layered settings (defaults, TOML file, `LEADFLOW_*` variables).
//! - [`telemetry`]: `tracing` set-up, text or JSON.
//! - [`db`]: SQLite or PostgreSQL connections chosen by URL.
//! - [`errors`]: one error type mapped to `google.rpc.Status` with rich details.
//! - [`faults`]: the call deadline layer and delays injected by tests.
//! - [`server`]: health, reflection, the readiness gate and graceful shutdown.
//! - [`outbox`]: the transactional outbox, its relay and the consumer inbox.
//! - [`idempotency`]: replay of mutating calls that repeat a `request_id`.
//! - [`paging`]: opaque page tokens.
//! - [`time`]: conversions between protobuf timestamps and UTC instants.

#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod config;
pub mod db;
pub mod errors;
pub mod faults;
pub mod idempotency;
pub mod outbox;
pub mod paging;
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
