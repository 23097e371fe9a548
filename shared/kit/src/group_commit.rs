//! Group commit: concurrent calls share one database transaction and one commit.
//!
//! A handler submits its job to a [`GroupCommit`] and waits for the reply. Writer tasks take
//! whatever jobs are queued, up to [`GroupCommitConfig::max_batch`] and without waiting for
//! more when the queue is short, and run the batch in one transaction. The [`BatchWork`] of
//! the call first runs the jobs it can together, with one statement per table for the whole
//! batch. Each remaining job runs alone in its own savepoint, so a job that fails (invalid
//! input, not found, a unique conflict) is rolled back alone and its error goes to its own
//! caller. The batch then commits once, every caller gets its result, and the outbox relays
//! are woken once.
//!
//! A job's result reaches its caller only after the commit succeeded, so a call that was
//! acknowledged is durable exactly as with one transaction per call. When the commit, or the
//! transaction itself, fails, every job that had succeeded fails with a retryable error:
//! UNAVAILABLE when the database cannot be reached (the commit may or may not have happened,
//! so the client retries with its idempotency key), ABORTED otherwise (nothing was committed,
//! so `retry_on_conflict` runs the job again).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use tokio::sync::{Mutex, mpsc, oneshot};
use tonic::Code;

use crate::config::GroupCommitSettings;
use crate::errors::{ApiError, ApiResult, Reason};
use crate::outbox::OutboxWaker;

/// The statements of one kind of call, run by the writers for a batch of such calls.
#[async_trait::async_trait]
pub trait BatchWork: Send + Sync + 'static {
    /// The validated input of one call.
    type Job: Send + Sync + 'static;
    /// The result of one call.
    type Output: Send + 'static;

    /// Runs the jobs that can share statements together in `txn`: one query for all their
    /// look-ups, one multi-row insert per table. Returns an entry per job, in order: its
    /// result, or `None` for a job that the writer then runs alone in a savepoint of the same
    /// transaction. An `Err` means the transaction cannot commit: the writer rolls it back
    /// and runs every job alone in a new one. The default runs every job alone.
    async fn run_together(
        &self,
        txn: &DatabaseTransaction,
        jobs: &[&Self::Job],
    ) -> Result<Vec<Option<ApiResult<Self::Output>>>, DbErr> {
        let _ = txn;
        Ok(jobs.iter().map(|_| None).collect())
    }

    /// Runs one job in `txn`, a savepoint of the batch's transaction.
    async fn run_alone(&self, txn: &DatabaseTransaction, job: &Self::Job) -> ApiResult<Self::Output>;
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
    /// Settings for `db` from the configured ones, where 0 picks the default: one writer on
    /// SQLite, [`POSTGRES_WRITERS`] on PostgreSQL, and [`MAX_BATCH`] jobs per transaction.
    pub fn for_database(db: &DatabaseConnection, settings: &GroupCommitSettings) -> Self {
        let default_writers = if crate::db::is_postgres(db) { POSTGRES_WRITERS } else { 1 };
        let writers = if settings.writers == 0 { default_writers } else { settings.writers };
        let max_batch = if settings.max_batch == 0 { MAX_BATCH } else { settings.max_batch };
        Self { max_batch, writers, queue_capacity: QUEUE_CAPACITY }
    }
}

/// Default most jobs per transaction.
pub const MAX_BATCH: usize = 128;
/// Default writer tasks on PostgreSQL. A second writer runs its statements while the first
/// waits for its commit to be flushed. More writers split the queue into smaller batches,
/// which cost more statements per call: on 2 cores with the database on the same machine,
/// `leadflow bench` measured 4046, 3835, 3294 and 2501 calls/s with 1, 2, 4 and 8 writers.
pub const POSTGRES_WRITERS: usize = 2;
/// Default queue capacity.
const QUEUE_CAPACITY: usize = 4096;

struct Queued<W: BatchWork> {
    job: W::Job,
    reply: oneshot::Sender<ApiResult<W::Output>>,
}

/// The queue of jobs and its writer tasks. Cloning shares the queue; the writers stop once
/// every clone is dropped and the queue is empty.
pub struct GroupCommit<W: BatchWork> {
    queue: mpsc::Sender<Queued<W>>,
}

impl<W: BatchWork> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

impl<W: BatchWork> GroupCommit<W> {
    /// Starts the writer tasks on the current Tokio runtime. `waker` is woken after every
    /// commit that stored at least one successful job.
    pub fn start(db: DatabaseConnection, waker: OutboxWaker, work: W, config: GroupCommitConfig) -> Self {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let work = Arc::new(work);
        for _ in 0..config.writers.max(1) {
            let writer = Writer { db: db.clone(), waker: waker.clone(), work: work.clone(), max_batch: config.max_batch.max(1) };
            tokio::spawn(writer.run(receiver.clone()));
        }
        Self { queue: sender }
    }

    /// Runs `job` in the next batch and returns its result once the batch has committed.
    pub async fn run(&self, job: W::Job) -> ApiResult<W::Output> {
        let (reply, result) = oneshot::channel();
        if self.queue.send(Queued { job, reply }).await.is_err() {
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
struct Writer<W> {
    db: DatabaseConnection,
    waker: OutboxWaker,
    work: Arc<W>,
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

impl<W: BatchWork> Writer<W> {
    async fn run(self, queue: Arc<Mutex<mpsc::Receiver<Queued<W>>>>) {
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

    async fn commit_batch(&self, batch: &mut Vec<Queued<W>>) {
        let (jobs, replies): (Vec<_>, Vec<_>) = batch.drain(..).map(|queued| (queued.job, queued.reply)).unzip();
        let size = jobs.len();

        let (results, failure) = match self.run_batch(&jobs).await {
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

    /// Runs the batch together and commits it. When the shared statements fail, for example
    /// on a unique key that a concurrent writer has just taken, the batch is run again with
    /// each job alone in its savepoint, so the conflict reaches only the job it concerns.
    async fn run_batch(&self, jobs: &[W::Job]) -> Outcome<W::Output> {
        let txn = match self.db.begin().await {
            Ok(txn) => txn,
            Err(error) => return Outcome::Broken { results: Vec::new(), error: BatchFailure::from_db(&error) },
        };
        let all: Vec<&W::Job> = jobs.iter().collect();
        let together = match self.work.run_together(&txn, &all).await {
            Ok(together) if together.len() == jobs.len() => together,
            Ok(together) => {
                let cause = format!("{} results for {} jobs", together.len(), jobs.len());
                return Outcome::Broken { results: Vec::new(), error: BatchFailure { unreachable: false, cause } };
            }
            Err(error) if crate::db::is_connection_error(&error) => {
                return Outcome::Broken { results: Vec::new(), error: BatchFailure::from_db(&error) };
            }
            Err(error) => {
                tracing::debug!(jobs = jobs.len(), %error, "shared statements failed; running each job alone");
                if let Err(error) = txn.rollback().await {
                    return Outcome::Broken { results: Vec::new(), error: BatchFailure::from_db(&error) };
                }
                return self.run_each_alone(jobs).await;
            }
        };

        let mut results = Vec::with_capacity(jobs.len());
        for (job, result) in jobs.iter().zip(together) {
            let result = match result {
                Some(result) => result,
                None => match self.run_in_savepoint(&txn, job).await {
                    Ok(result) => result,
                    Err(error) => return Outcome::Broken { results, error },
                },
            };
            let unreachable = matches!(&result, Err(error) if error.code() == Code::Unavailable);
            results.push(result);
            // A job that lost the database leaves a transaction that cannot commit.
            if unreachable {
                return Outcome::Broken { results, error: lost_connection() };
            }
        }
        Self::commit(txn, results).await
    }

    /// Runs every job alone in its own savepoint of one new transaction.
    async fn run_each_alone(&self, jobs: &[W::Job]) -> Outcome<W::Output> {
        let mut results = Vec::with_capacity(jobs.len());
        let txn = match self.db.begin().await {
            Ok(txn) => txn,
            Err(error) => return Outcome::Broken { results, error: BatchFailure::from_db(&error) },
        };
        for job in jobs {
            let result = match self.run_in_savepoint(&txn, job).await {
                Ok(result) => result,
                Err(error) => return Outcome::Broken { results, error },
            };
            let unreachable = matches!(&result, Err(error) if error.code() == Code::Unavailable);
            results.push(result);
            if unreachable {
                return Outcome::Broken { results, error: lost_connection() };
            }
        }
        Self::commit(txn, results).await
    }

    /// Runs one job in a savepoint that is released when the job succeeds and rolled back
    /// when it fails. An `Err` means the savepoint itself failed and the batch is broken.
    async fn run_in_savepoint(&self, txn: &DatabaseTransaction, job: &W::Job) -> Result<ApiResult<W::Output>, BatchFailure> {
        let savepoint = txn.begin().await.map_err(|error| BatchFailure::from_db(&error))?;
        let result = self.work.run_alone(&savepoint, job).await;
        let closed = match &result {
            Ok(_) => savepoint.commit().await,
            Err(_) => savepoint.rollback().await,
        };
        closed.map_err(|error| BatchFailure::from_db(&error))?;
        Ok(result)
    }

    async fn commit(txn: DatabaseTransaction, results: Vec<ApiResult<W::Output>>) -> Outcome<W::Output> {
        match txn.commit().await {
            Ok(()) => Outcome::Ran(results),
            Err(error) => Outcome::Broken { results, error: BatchFailure::from_db(&error) },
        }
    }
}

fn lost_connection() -> BatchFailure {
    BatchFailure { unreachable: true, cause: "a job lost the database connection".to_owned() }
}
