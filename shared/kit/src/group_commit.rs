//! Group commit: concurrent calls share one database transaction and one commit.
//!
//! A handler submits its work to a [`GroupCommit`] and waits for the reply. Writer tasks take
//! whatever work is queued, up to [`GroupCommitConfig::max_batch`] jobs and without waiting
//! for more when the queue is short, and run the batch in one transaction. Each job runs in
//! its own savepoint, so a job that fails (invalid input, not found, a unique conflict) is
//! rolled back alone and its error goes to its own caller. The batch then commits once, every
//! caller gets its result, and the outbox relays are woken once.
//!
//! A job's result reaches its caller only after the commit succeeded, so a call that was
//! acknowledged is durable exactly as with one transaction per call. When the commit, or the
//! transaction itself, fails, every job that had succeeded fails with a retryable error:
//! UNAVAILABLE when the database cannot be reached (the commit may or may not have happened,
//! so the client retries with its idempotency key), ABORTED otherwise (nothing was committed,
//! so `retry_on_conflict` runs the job again).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{Mutex, mpsc, oneshot};
use tonic::Code;

use crate::errors::{ApiError, ApiResult, Reason};
use crate::outbox::OutboxWaker;

/// Future of one job, borrowing the transaction it runs in.
pub type JobFuture<'t, R> = Pin<Box<dyn Future<Output = ApiResult<R>> + Send + 't>>;

/// The work of one call: runs its statements in the transaction (a savepoint) it is given.
pub type Work<R> = Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> JobFuture<'t, R> + Send>;

/// Boxes a closure as [`Work`], so the closure's argument and return types are inferred.
pub fn work<R, F>(job: F) -> Work<R>
where
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> JobFuture<'t, R> + Send + 'static,
{
    Box::new(job)
}

/// Settings of a [`GroupCommit`].
#[derive(Clone, Copy, Debug)]
pub struct GroupCommitConfig {
    /// Maximum number of jobs in one transaction.
    pub max_batch: usize,
    /// Writer tasks, each with its own transaction. On SQLite the pool has one connection, so
    /// more than one writer only queues for it.
    pub writers: usize,
    /// Jobs that may wait in the queue; a caller that finds it full waits for room.
    pub queue_capacity: usize,
}

impl GroupCommitConfig {
    /// Settings for `db`: one writer on SQLite and [`POSTGRES_WRITERS`] on PostgreSQL.
    pub fn for_database(db: &DatabaseConnection) -> Self {
        let writers = if crate::db::is_postgres(db) { POSTGRES_WRITERS } else { 1 };
        Self { max_batch: MAX_BATCH, writers, queue_capacity: QUEUE_CAPACITY }
    }
}

/// Default most jobs per transaction.
pub const MAX_BATCH: usize = 128;
/// Default writer tasks on PostgreSQL. Several writers keep the server busy while one waits
/// for its commit to be flushed, and the batches stay large enough to share the flush.
// NOTE: an estimate. No run has yet compared writer counts on a quiet machine with
// `leadflow bench --database-url …` (docs/benchmarks.md).
pub const POSTGRES_WRITERS: usize = 4;
/// Default queue capacity.
const QUEUE_CAPACITY: usize = 4096;

struct Job<R> {
    work: Work<R>,
    reply: oneshot::Sender<ApiResult<R>>,
}

/// The queue of jobs and its writer tasks. Cloning shares the queue; the writers stop once
/// every clone is dropped and the queue is empty.
pub struct GroupCommit<R> {
    queue: mpsc::Sender<Job<R>>,
}

impl<R> Clone for GroupCommit<R> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

impl<R: Send + 'static> GroupCommit<R> {
    /// Starts the writer tasks on the current Tokio runtime. `waker` is woken after every
    /// commit that stored at least one successful job.
    pub fn start(db: DatabaseConnection, waker: OutboxWaker, config: GroupCommitConfig) -> Self {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..config.writers.max(1) {
            let writer = Writer { db: db.clone(), waker: waker.clone(), max_batch: config.max_batch.max(1) };
            tokio::spawn(writer.run(receiver.clone()));
        }
        Self { queue: sender }
    }

    /// Runs `work` in the next batch and returns its result once the batch has committed.
    pub async fn run(&self, work: Work<R>) -> ApiResult<R> {
        let (reply, result) = oneshot::channel();
        if self.queue.send(Job { work, reply }).await.is_err() {
            return Err(writers_stopped());
        }
        result.await.unwrap_or_else(|_| Err(writers_stopped()))
    }
}

fn writers_stopped() -> ApiError {
    ApiError::unavailable(
        Reason::ShuttingDown,
        "the service stopped writing; retry against another instance".to_owned(),
        Duration::from_millis(500),
    )
}

/// One writer task: takes batches from the shared queue and commits them.
struct Writer {
    db: DatabaseConnection,
    waker: OutboxWaker,
    max_batch: usize,
}

/// End state of a batch, with the results of the jobs that ran before it stopped.
enum Outcome<R> {
    /// Every job ran; the results are those of the jobs, in queue order.
    Ran(Vec<ApiResult<R>>),
    /// The transaction failed; `error` describes it and the results so far are kept.
    Broken { results: Vec<ApiResult<R>>, error: BatchFailure },
}

/// Cause of a failed batch.
struct BatchFailure {
    unreachable: bool,
    cause: String,
}

impl BatchFailure {
    fn from_db(error: &DbErr) -> Self {
        Self { unreachable: crate::db::is_connection_error(error), cause: error.to_string() }
    }

    /// The retryable error that each job of the failed batch returns.
    fn to_error(&self) -> ApiError {
        if self.unreachable {
            ApiError::unavailable(
                Reason::DatabaseUnavailable,
                "database unavailable; retry with backoff".to_owned(),
                Duration::from_secs(2),
            )
        } else {
            ApiError::concurrent_update("the batch transaction")
        }
    }
}

impl Writer {
    async fn run<R: Send + 'static>(self, queue: Arc<Mutex<mpsc::Receiver<Job<R>>>>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        loop {
            // The lock is held only while this writer waits for jobs, so the others keep
            // committing. The writer that holds it takes everything queued, up to the maximum.
            let received = queue.lock().await.recv_many(&mut batch, self.max_batch).await;
            if received == 0 {
                break;
            }
            self.commit_batch(&mut batch).await;
        }
    }

    async fn commit_batch<R>(&self, batch: &mut Vec<Job<R>>) {
        let (works, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|job| (job.work, job.reply)).unzip();
        let size = works.len();

        let (results, failure) = match self.run_batch(works).await {
            Outcome::Ran(results) => (results, None),
            Outcome::Broken { results, error } => (results, Some(error)),
        };

        let mut stored = false;
        let mut results = results.into_iter();
        for reply in replies {
            let result = match (results.next(), &failure) {
                // A job's own error is returned whatever happened to the batch.
                (Some(Err(error)), _) => Err(error),
                (Some(Ok(value)), None) => {
                    stored = true;
                    Ok(value)
                }
                (Some(Ok(_)) | None, Some(failure)) => Err(failure.to_error()),
                (None, None) => Err(ApiError::internal("group commit lost the result of a job")),
            };
            // A caller that gave up no longer listens; its job is committed all the same.
            let _ = reply.send(result);
        }

        if stored {
            self.waker.wake();
        }
        if let Some(failure) = failure {
            tracing::warn!(jobs = size, error = %failure.cause, "group commit failed; every job of the batch is retryable");
        } else {
            tracing::debug!(jobs = size, "group commit");
        }
    }

    async fn run_batch<R>(&self, works: Vec<Work<R>>) -> Outcome<R> {
        let mut results = Vec::with_capacity(works.len());
        let txn = match self.db.begin().await {
            Ok(txn) => txn,
            Err(error) => return Outcome::Broken { results, error: BatchFailure::from_db(&error) },
        };

        for work in works {
            let savepoint = match txn.begin().await {
                Ok(savepoint) => savepoint,
                Err(error) => return Outcome::Broken { results, error: BatchFailure::from_db(&error) },
            };
            let result = work(&savepoint).await;
            let closed = match &result {
                Ok(_) => savepoint.commit().await,
                Err(_) => savepoint.rollback().await,
            };
            if let Err(error) = closed {
                results.push(result);
                return Outcome::Broken { results, error: BatchFailure::from_db(&error) };
            }

            // A job that lost the database leaves a transaction that cannot commit.
            let unreachable = matches!(&result, Err(error) if error.code() == Code::Unavailable);
            results.push(result);
            if unreachable {
                return Outcome::Broken {
                    results,
                    error: BatchFailure { unreachable: true, cause: "a job lost the database connection".to_owned() },
                };
            }
        }

        match txn.commit().await {
            Ok(()) => Outcome::Ran(results),
            Err(error) => Outcome::Broken { results, error: BatchFailure::from_db(&error) },
        }
    }
}
