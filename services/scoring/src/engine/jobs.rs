//! Background work of the scoring service: settling leads whose decay step or future-dated
//! activity came due, and rescoring every lead after a new model version is published. Both
//! work in small transactions and resume where they stopped after a restart.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leadflow_kit::outbox::OutboxWaker;
use leadflow_proto::scoring::PreviewScoringModelResponse;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::watch;
use uuid::Uuid;

use super::settle::{Cause, settle_leads};
use crate::domain::{self, DEFAULT_MODEL_ID, Model};
use crate::store;

/// Leads settled per transaction.
pub const BATCH: u64 = 200;

/// Settles up to [`BATCH`] leads whose next check is due at `now`; returns how many.
pub async fn settle_due(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let txn = db.begin().await?;
    let Some((model, _)) = store::active_model(&txn, DEFAULT_MODEL_ID).await? else {
        return Ok(0);
    };
    let due = store::leads_due(&txn, now, BATCH).await?;
    let leads: Vec<(Uuid, String)> = due.iter().map(|lead_id| (*lead_id, String::new())).collect();
    settle_leads(&txn, &model, &leads, now, Cause::Schedule).await?;
    txn.commit().await?;
    Ok(due.len())
}

/// Rescores the next [`BATCH`] leads of the oldest unfinished rescoring job; returns false
/// when no job has work left.
pub async fn rescore_step(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let Some(mut job) = store::pending_rescore(&txn).await? else {
        return Ok(false);
    };

    let active = store::active_model(&txn, &job.model_id).await?;
    let model = match active {
        Some((model, _)) if model.version == job.version => model,
        _ => {
            // A later version replaced this one; its own job rescores every lead.
            job.finished = true;
            store::save_rescore(&txn, &job).await?;
            txn.commit().await?;
            return Ok(true);
        }
    };

    let leads = store::lead_ids_after(&txn, job.cursor_lead_id, BATCH).await?;
    let settled: Vec<(Uuid, String)> = leads.iter().map(|lead_id| (*lead_id, String::new())).collect();
    settle_leads(&txn, &model, &settled, now, Cause::Rescore).await?;
    job.leads_done += leads.len() as i64;
    job.leads_total = job.leads_total.max(job.leads_done);
    job.cursor_lead_id = leads.last().copied().or(job.cursor_lead_id);
    job.finished = (leads.len() as u64) < BATCH;
    store::save_rescore(&txn, &job).await?;
    txn.commit().await?;

    tracing::info!(model_id = %job.model_id, version = job.version, done = job.leads_done, total = job.leads_total, "rescoring progress");
    Ok(true)
}

/// Runs both jobs every `interval` until `shutdown` turns true; wakes the outbox relay after
/// work that may have written MQL events.
pub async fn run(db: DatabaseConnection, waker: OutboxWaker, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }

        let mut worked = false;
        loop {
            match rescore_step(&db, leadflow_kit::time::now()).await {
                Ok(true) => worked = true,
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(error = %error, "rescoring step failed; retrying later");
                    break;
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
        loop {
            match settle_due(&db, leadflow_kit::time::now()).await {
                Ok(0) => break,
                Ok(_) => worked = true,
                Err(error) => {
                    tracing::warn!(error = %error, "settling due leads failed; retrying later");
                    break;
                }
            }
        }
        if worked {
            waker.wake();
        }

        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Evaluates every lead under `candidate` at `now` and compares the result with today's MQL
/// set, without writing anything.
pub async fn preview(
    db: &DatabaseConnection,
    candidate: &Model,
    now: DateTime<Utc>,
    sample_size: usize,
) -> Result<PreviewScoringModelResponse, DbErr> {
    let mut response = PreviewScoringModelResponse::default();
    let mut cursor = None;

    loop {
        let leads = store::lead_ids_after(db, cursor, 500).await?;
        let Some(last) = leads.last() else {
            break;
        };
        cursor = Some(*last);

        for lead_id in leads {
            let Some(score) = store::find_score(db, lead_id).await? else {
                continue;
            };
            let facts: Vec<_> = store::lead_activities(db, lead_id).await?.iter().map(store::fact_from_row).collect();
            let attributes = store::json_to_map(&score.attributes);
            let evaluation = domain::evaluate(candidate, &facts, &attributes, &score.source, now);
            let qualifies = evaluation.total >= candidate.threshold && evaluation.fit >= candidate.min_fit;

            response.leads_evaluated += 1;
            response.current_mql_count += i64::from(score.mql);
            response.preview_qualified_count += i64::from(qualifies);
            if qualifies && !score.mql {
                response.would_become_mql_count += 1;
                if response.would_become_mql.len() < sample_size {
                    response.would_become_mql.push(lead_id.to_string());
                }
            }
            if !qualifies && score.mql {
                response.would_no_longer_qualify_count += 1;
                if response.would_no_longer_qualify.len() < sample_size {
                    response.would_no_longer_qualify.push(lead_id.to_string());
                }
            }
        }
    }
    Ok(response)
}
