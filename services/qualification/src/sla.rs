//! The first-touch SLA job: finds queue entries whose deadline passed without a first touch
//! and escalates each of them exactly once, with one `SlaMissed` event to the activity service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::watch;

use crate::store::{self, sales};
use crate::events;

/// Most entries escalated by one pass; the next pass takes the rest.
const BATCH: u64 = 500;

/// Escalates every untouched queue entry whose deadline is before `now` and returns how many
/// this call escalated. Each entry is marked with its own conditional UPDATE, in a short
/// transaction with its `SlaMissed` event, so concurrent or repeated passes escalate it and
/// send its event once in total. No transaction spans the read and the updates,
/// because on SQLite a read that later upgrades to a write fails at once with "database is
/// locked" when another connection wrote in between, while a single UPDATE waits its turn.
pub async fn escalate_missed(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut escalated = 0;
    loop {
        let entries = sales::list_missed_unescalated(db, now, BATCH).await?;
        let found = entries.len() as u64;
        for entry in entries {
            // The mark and its event commit together, so the event goes out exactly once.
            let txn = db.begin().await?;
            let marked = sales::mark_escalated(&txn, entry.id, now).await?;
            if marked {
                let rep_id = store::find_qualification(&txn, entry.lead_id)
                    .await?
                    .map(|row| row.assigned_rep_id)
                    .unwrap_or_default();
                events::record_sla_missed(&txn, entry.lead_id, entry.due_time, now, &rep_id).await?;
            }
            txn.commit().await?;
            if marked {
                escalated += 1;
                tracing::warn!(
                    lead_id = %entry.lead_id,
                    due_time = %entry.due_time,
                    "first-touch SLA missed; MQL escalated"
                );
            }
        }
        if found < BATCH {
            return Ok(escalated);
        }
    }
}

/// Runs [`escalate_missed`] every `interval` until `stopped` turns true.
pub async fn run(db: DatabaseConnection, interval: Duration, mut stopped: watch::Receiver<bool>) {
    loop {
        match escalate_missed(&db, leadflow_kit::time::now()).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "SLA job escalated missed first touches"),
            Err(error) => tracing::warn!(error = %error, "SLA job failed; it runs again after the interval"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped.changed() => return,
        }
    }
}
