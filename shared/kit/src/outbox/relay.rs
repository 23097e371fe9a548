//! Delivery of outbox rows to one consumer.
//!
//! The relay reads pending rows of its destination in `seq` order, sends them as one batch
//! with a deadline, and deletes them once the consumer has acknowledged the batch. Failures
//! that a retry can fix (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNKNOWN,
//! CANCELLED and transport errors, see [`is_retryable`]) are retried with exponential backoff, equal jitter and a cap, so a
//! backlog drains on its own when the consumer returns. Any other failure means the consumer
//! rejected an event: the relay narrows the batch to single rows and parks the rejected row
//! with `failed_at` set, so one bad event cannot block the rest.
//!
//! On PostgreSQL the batch is locked with `FOR UPDATE SKIP LOCKED` for the time of the call,
//! so several replicas can relay from one database without sending a row twice at once. On
//! SQLite one process owns the file, so no lock is taken.
//!
//! On PostgreSQL the delete of an acknowledged batch commits in the background while the next
//! batch is read and sent. Its rows stay locked until that commit, so the next read skips
//! them. At most one such commit is pending. If it fails, the rows are sent again, and the
//! consumer's inbox ignores them.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use tokio::sync::watch;
use tonic::{Code, Status};

use super::entity::outbox;

/// Settings of a relay.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Most rows sent in one call.
    pub batch_size: u64,
    /// Deadline of one delivery call.
    pub call_timeout: Duration,
    /// First retry delay after a failure.
    pub initial_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// Maximum wait between two reads of the outbox when nothing wakes the relay, so rows
    /// written by other replicas are picked up.
    pub poll_interval: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            call_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The consumer end of a relay: one gRPC method that takes a batch of encoded events.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Sends the encoded events in order and returns once the consumer has stored them all.
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status>;
}

/// Relays the outbox rows of one destination.
pub struct Relay {
    db: DatabaseConnection,
    destination: String,
    sink: Arc<dyn EventSink>,
    wake: watch::Receiver<u64>,
    config: RelayConfig,
    /// The delete of the last acknowledged batch, still committing (PostgreSQL only).
    pending_delete: Option<tokio::task::JoinHandle<Result<(), DbErr>>>,
}

enum BatchError {
    /// The consumer could not be reached or was overloaded; retry later.
    Retryable(String),
    /// The consumer rejected the batch.
    Rejected(String),
    /// The local database failed.
    Database(DbErr),
}

impl Relay {
    /// Creates a relay for `destination` that wakes on `wake`.
    pub fn new(
        db: DatabaseConnection,
        destination: &str,
        sink: Arc<dyn EventSink>,
        wake: watch::Receiver<u64>,
        config: RelayConfig,
    ) -> Self {
        Self { db, destination: destination.to_owned(), sink, wake, config, pending_delete: None }
    }

    /// Returns the service that receives the events, for example `scoring`.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Runs until `shutdown` turns true. A batch in flight when shutdown starts is finished.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(destination = %self.destination, "outbox relay started");

        let mut failures: u32 = 0;
        let mut single_rows = false;

        loop {
            if *shutdown.borrow() {
                break;
            }

            let batch_size = if single_rows { 1 } else { self.config.batch_size };
            match self.relay_batch(batch_size).await {
                Ok(0) => {
                    failures = 0;
                    single_rows = false;
                    // The read skipped the rows of a delete still committing. Once it ends they
                    // are gone, or pending again if it failed, so the relay reads once more.
                    if self.pending_delete.is_some() {
                        self.await_pending_delete().await;
                        continue;
                    }
                    self.wait_for_work(&mut shutdown).await;
                }
                Ok(_) => {
                    failures = 0;
                }
                Err(BatchError::Retryable(error)) => {
                    failures = failures.saturating_add(1);
                    let delay = self.backoff(failures);
                    if let Some(telemetry) = crate::telemetry::current() {
                        telemetry.metrics().record_relay_retry(&self.destination);
                    }
                    tracing::warn!(
                        destination = %self.destination,
                        attempt = failures,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %error,
                        "outbox delivery failed; retrying"
                    );
                    sleep_or_shutdown(delay, &mut shutdown).await;
                }
                Err(BatchError::Rejected(error)) => {
                    tracing::warn!(
                        destination = %self.destination,
                        error = %error,
                        "consumer rejected an outbox batch; retrying row by row"
                    );
                    single_rows = true;
                }
                Err(BatchError::Database(error)) => {
                    failures = failures.saturating_add(1);
                    let delay = self.backoff(failures);
                    tracing::warn!(destination = %self.destination, error = %error, "outbox read failed; retrying");
                    sleep_or_shutdown(delay, &mut shutdown).await;
                }
            }
        }

        self.await_pending_delete().await;
        tracing::info!(destination = %self.destination, "outbox relay stopped");
    }

    /// Waits for the pending delete of the last acknowledged batch, if any. A failed delete
    /// only means those rows are sent again.
    async fn await_pending_delete(&mut self) {
        let Some(pending) = self.pending_delete.take() else { return };
        let error = match pending.await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        tracing::warn!(
            destination = %self.destination,
            error = %error,
            "deleting a delivered outbox batch failed; its rows will be sent again"
        );
    }

    async fn wait_for_work(&mut self, shutdown: &mut watch::Receiver<bool>) {
        tokio::select! {
            _ = self.wake.changed() => {}
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(self.config.poll_interval) => {}
        }
    }

    /// Returns the delay before retry number `failures`: exponential from the initial backoff,
    /// capped, with equal jitter (half fixed, half random).
    fn backoff(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let base = self.config.initial_backoff.saturating_mul(1 << exponent).min(self.config.max_backoff);
        let half = base / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// Delivers one batch; returns how many rows were delivered or parked.
    async fn relay_batch(&mut self, batch_size: u64) -> Result<usize, BatchError> {
        let txn = self.db.begin().await.map_err(BatchError::Database)?;

        let mut query = outbox::Entity::find()
            .filter(outbox::Column::Destination.eq(self.destination.as_str()))
            .filter(outbox::Column::FailedAt.is_null())
            .order_by_asc(outbox::Column::Seq)
            .limit(batch_size);
        if crate::db::is_postgres(&txn) {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(&txn).await.map_err(BatchError::Database)?;
        if rows.is_empty() {
            txn.commit().await.map_err(BatchError::Database)?;
            return Ok(0);
        }

        // SQLite has one connection per process: holding the transaction over the call
        // would stall every request, so it is closed here and reopened for the update.
        let txn = if crate::db::is_postgres(&txn) {
            Some(txn)
        } else {
            txn.commit().await.map_err(BatchError::Database)?;
            None
        };

        let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        let payloads: Vec<Vec<u8>> = rows.iter().map(|row| row.payload.clone()).collect();
        let outcome = match tokio::time::timeout(
            self.config.call_timeout,
            self.sink.deliver(payloads, self.config.call_timeout),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded("delivery call exceeded its deadline")),
        };

        match outcome {
            Ok(()) => {
                match txn {
                    Some(txn) => {
                        self.await_pending_delete().await;
                        self.pending_delete = Some(tokio::spawn(async move {
                            Finish::Delete(seqs).apply(&txn).await?;
                            txn.commit().await
                        }));
                    }
                    None => self.finish(None, Finish::Delete(seqs)).await?,
                }
                tracing::debug!(destination = %self.destination, rows = rows.len(), "outbox batch delivered");
                Ok(rows.len())
            }
            Err(status) if is_retryable(&status) => {
                let error = format!("{:?}: {}", status.code(), status.message());
                self.finish(txn, Finish::Attempt(seqs, error.clone())).await?;
                Err(BatchError::Retryable(error))
            }
            Err(status) if rows.len() > 1 => {
                let error = format!("{:?}: {}", status.code(), status.message());
                self.finish(txn, Finish::Attempt(seqs, error.clone())).await?;
                Err(BatchError::Rejected(error))
            }
            Err(status) => {
                let row = &rows[0];
                let error = format!("{:?}: {}", status.code(), status.message());
                tracing::error!(
                    destination = %self.destination,
                    event_id = %row.event_id,
                    lead_id = %row.lead_id,
                    error = %error,
                    "consumer rejected an event; it is parked in the outbox with failed_at set"
                );
                self.finish(txn, Finish::Park(row.seq, error)).await?;
                Ok(1)
            }
        }
    }

    /// Applies the closing update of a batch inside the locking transaction on PostgreSQL,
    /// or on its own on SQLite, and commits.
    async fn finish(&self, txn: Option<DatabaseTransaction>, finish: Finish) -> Result<(), BatchError> {
        match txn {
            Some(txn) => {
                finish.apply(&txn).await.map_err(BatchError::Database)?;
                txn.commit().await.map_err(BatchError::Database)
            }
            None => finish.apply(&self.db).await.map_err(BatchError::Database),
        }
    }
}

/// The closing update of a batch.
enum Finish {
    /// The consumer stored the rows: delete them.
    Delete(Vec<i64>),
    /// A failed attempt: count it and keep the error.
    Attempt(Vec<i64>, String),
    /// The consumer rejected the row: park it.
    Park(i64, String),
}

impl Finish {
    async fn apply<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        let attempts_plus_one = Expr::col(outbox::Column::Attempts).add(1);
        match self {
            Finish::Delete(seqs) => {
                outbox::Entity::delete_many().filter(outbox::Column::Seq.is_in(seqs)).exec(db).await?;
            }
            Finish::Attempt(seqs, error) => {
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::Attempts, attempts_plus_one)
                    .col_expr(outbox::Column::LastError, Expr::value(error))
                    .filter(outbox::Column::Seq.is_in(seqs))
                    .exec(db)
                    .await?;
            }
            Finish::Park(seq, error) => {
                outbox::Entity::update_many()
                    .col_expr(outbox::Column::Attempts, attempts_plus_one)
                    .col_expr(outbox::Column::LastError, Expr::value(error))
                    .col_expr(outbox::Column::FailedAt, Expr::value(crate::time::now()))
                    .filter(outbox::Column::Seq.eq(seq))
                    .exec(db)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Returns true for failures that a later retry can fix: the retryable codes, CANCELLED, and
/// any status that tonic made from a local or transport error instead of reading it from the
/// consumer's response. tonic 0.14 reports a connection that closed mid-call as CANCELLED and a
/// peer that sends bytes that are not HTTP/2 as INTERNAL "h2 protocol error"; both carry the
/// underlying error as `source`, and neither is a verdict of the consumer on the events.
pub fn is_retryable(status: &Status) -> bool {
    let retryable_code = matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unknown
            | Code::Cancelled
    );
    retryable_code || std::error::Error::source(status).is_some()
}

async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = shutdown.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_verdicts_are_not_retried() {
        for code in [Code::InvalidArgument, Code::FailedPrecondition, Code::Internal, Code::OutOfRange] {
            assert!(!is_retryable(&Status::new(code, "rejected")), "{code:?} from the consumer is a rejection");
        }
    }

    #[test]
    fn transport_failures_are_retried() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::ResourceExhausted, Code::Aborted, Code::Cancelled] {
            assert!(is_retryable(&Status::new(code, "try again")), "{code:?} is retried");
        }
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, "not HTTP/2");
        let local = Status::from_error(Box::new(io));
        assert!(is_retryable(&local), "a status made from a local error is retried: {local:?}");
        let mut internal = Status::internal("h2 protocol error");
        internal.set_source(std::sync::Arc::new(std::io::Error::other("frame too large")));
        assert!(is_retryable(&internal), "INTERNAL with a transport source is retried");
    }
}
