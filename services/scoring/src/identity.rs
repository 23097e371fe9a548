//! Merges of two leads in the scoring service. The merged lead's scored activities move to
//! the survivor as pending, and its score goes to 0 with one ledger entry per credited part.
//! The survivor is then settled, so its score covers both histories and nothing counts twice.

use chrono::{DateTime, Utc};
use leadflow_kit::time::from_timestamp;
use leadflow_proto::events::{LeadsMerged, scoring_event};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::domain::Model;
use crate::engine::{Cause, EventError, enqueue, ensure_score, settle_lead};
use crate::store::{self, lead_score, ledger_entry, scored_activity};

/// Ledger entry kind of the points a merged lead gives up.
pub const MERGED: &str = "MERGED";

/// Maximum number of merge steps followed from a merged lead to its survivor. The activity
/// service never merges into a merged lead, so one step is the norm.
const MAX_MERGE_HOPS: usize = 8;

/// Returns the lead that owns `score` now: the lead itself, or the survivor it was merged into.
pub async fn survivor_of<C: ConnectionTrait>(db: &C, score: &lead_score::Model) -> Result<Uuid, DbErr> {
    let mut lead_id = score.lead_id;
    let mut next = score.merged_into;
    for _ in 0..MAX_MERGE_HOPS {
        let Some(survivor) = next else {
            return Ok(lead_id);
        };
        lead_id = survivor;
        next = store::find_score(db, survivor).await?.and_then(|row| row.merged_into);
    }
    Ok(lead_id)
}

/// Finds the score of a lead id: its own, or its survivor's after a merge.
pub async fn resolve_score<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<lead_score::Model>, DbErr> {
    let Some(score) = store::find_score(db, lead_id).await? else {
        return Ok(None);
    };
    if score.merged_into.is_none() {
        return Ok(Some(score));
    }
    let survivor = survivor_of(db, &score).await?;
    store::find_score(db, survivor).await
}

/// Applies a `LeadsMerged` event for `survivor_id` in the caller's transaction, forwards it
/// to qualification and settles the survivor. A merge applied before changes nothing.
pub async fn apply_leads_merged<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    survivor_id: Uuid,
    merged: &LeadsMerged,
    index: usize,
    now: DateTime<Utc>,
    traceparent: &str,
) -> Result<(), EventError> {
    let merged_id = Uuid::parse_str(&merged.merged_lead_id)
        .map_err(|_| EventError::Invalid(index, format!("leads_merged.merged_lead_id {:?} is not a UUID", merged.merged_lead_id)))?;
    if merged_id == survivor_id {
        return Err(EventError::Invalid(index, "leads_merged names the survivor as merged lead".to_owned()));
    }
    let merge_time = merged.merge_time.as_ref().and_then(from_timestamp).unwrap_or(now);

    let mut survivor = ensure_score(db, model, survivor_id, merge_time, now, traceparent).await?;
    let mut merged_score = ensure_score(db, model, merged_id, merge_time, now, traceparent).await?;
    if merged_score.merged_into.is_some() {
        tracing::warn!(lead_id = %merged_id, survivor_lead_id = %survivor_id, "lead already merged; merge event ignored");
        return Ok(());
    }

    zero_merged_score(db, model, &mut merged_score, survivor_id, &merged.merge_id, now).await?;
    let moved = move_activities(db, merged_id, survivor_id).await?;

    // A hand-off already made for the merged lead stands for the survivor, so the merge does
    // not hand the same person to sales a second time.
    if merged_score.mql && !survivor.mql {
        survivor.mql = true;
        survivor.last_mql_time = merged_score.last_mql_time;
    }
    survivor.do_not_contact |= merged_score.do_not_contact;
    store::update_score(db, &survivor).await?;

    // Qualification learns of the merge before any MQL the merge causes, so a queue entry of
    // the merged lead moves first.
    enqueue(db, survivor_id, traceparent, scoring_event::Kind::LeadsMerged(merged.clone())).await?;
    settle_lead(db, model, survivor_id, now, Cause::Merge, traceparent).await?;
    tracing::info!(
        survivor_lead_id = %survivor_id,
        merged_lead_id = %merged_id,
        activities_moved = moved,
        "merge applied to scores"
    );
    Ok(())
}

/// Writes the ledger entries that take the merged lead's score to 0 and marks it merged.
async fn zero_merged_score<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    score: &mut lead_score::Model,
    survivor_id: Uuid,
    merge_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let rows = store::lead_activities(db, score.lead_id).await?;
    // The residue covers points the ledger holds beyond the parts below, so the merged lead
    // always ends at 0; the final entry also records the merge itself.
    let credited: i64 = rows.iter().map(|row| row.credited_points).sum();
    let residue = -(score.score - credited - score.fit - score.floor_adjustment);
    let mut running = score.score;
    let mut entries = Vec::new();
    let mut push = |activity_id: Option<Uuid>, points: i64, detail: String| {
        let before = running;
        running += points;
        entries.push(ledger_entry::Model {
            id: Uuid::now_v7(),
            lead_id: score.lead_id,
            kind: MERGED.to_owned(),
            activity_id,
            rule_id: String::new(),
            model_id: model.model_id.clone(),
            model_version: model.version,
            points,
            score_before: before,
            score_after: running,
            reason: "merged".to_owned(),
            detail,
            effective_time: now,
            entry_time: now,
        });
    };

    for row in rows.iter().filter(|row| row.credited_points != 0) {
        push(Some(row.activity_id), -row.credited_points, format!("activity moved to lead {survivor_id} by merge {merge_id}"));
    }
    if score.fit != 0 {
        push(None, -score.fit, format!("fit leaves with the merge into lead {survivor_id}"));
    }
    if score.floor_adjustment != 0 {
        push(None, -score.floor_adjustment, format!("floor raise leaves with the merge into lead {survivor_id}"));
    }
    push(None, residue, format!("merged into lead {survivor_id} by merge {merge_id}"));

    score.ledger_entries += entries.len() as i64;
    store::insert_ledger_entries(db, entries).await?;
    score.score = 0;
    score.engagement = 0;
    score.fit = 0;
    score.floor_adjustment = 0;
    score.merged_into = Some(survivor_id);
    score.next_check_at = None;
    score.update_time = now;
    store::update_score(db, score).await
}

/// Moves every scored activity of `from` to `to` as pending, so the survivor's settle scores
/// each one under its own limits. Returns the number moved.
async fn move_activities<C: ConnectionTrait>(db: &C, from: Uuid, to: Uuid) -> Result<u64, DbErr> {
    let result = scored_activity::Entity::update_many()
        .col_expr(scored_activity::Column::LeadId, Expr::value(to))
        .col_expr(scored_activity::Column::RuleId, Expr::value(Option::<String>::None))
        .col_expr(scored_activity::Column::BasePoints, Expr::value(0_i64))
        .col_expr(scored_activity::Column::CreditedPoints, Expr::value(0_i64))
        .col_expr(scored_activity::Column::Verdict, Expr::value(store::PENDING))
        .col_expr(scored_activity::Column::Detail, Expr::value(String::new()))
        .filter(scored_activity::Column::LeadId.eq(from))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
