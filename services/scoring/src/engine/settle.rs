//! Settling a lead: evaluate it under the active model at an instant, write one ledger entry
//! per change against what its score already holds, and hand it to sales when it crosses the
//! threshold.
//!
//! The stored score always equals the sum of the lead's ledger. Every entry carries exactly the
//! difference between the points credited before and the points the evaluation gives now, for
//! each activity, for the fit score and for the floor.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leadflow_kit::time::to_timestamp;
use leadflow_proto::events::{LeadBecameMql, scoring_event};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::batch::{Batch, Writes};
use crate::domain::model::DecayPolicy;
use crate::domain::{self, Model};
use crate::store::{self, lead_score, ledger_entry, scored_activity};

/// Why a lead is settled; decides the kind of entries for changed activities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// New activities or profile changes arrived.
    Events,
    /// A decay step or a future-dated activity came due.
    Schedule,
    /// A new model version was published.
    Rescore,
    /// Another lead was merged into this one; its activities arrived as pending.
    Merge,
}

/// Ledger entry kinds as stored.
pub mod kind {
    /// An activity was scored.
    pub const ACTIVITY: &str = "ACTIVITY";
    /// An earlier activity's points changed after a late activity.
    pub const CORRECTION: &str = "CORRECTION";
    /// Points decayed with age.
    pub const DECAY: &str = "DECAY";
    /// The fit score changed.
    pub const FIT: &str = "FIT";
    /// The floor raised or released the total.
    pub const FLOOR: &str = "FLOOR";
    /// A new model version changed points.
    pub const RESCORE: &str = "RESCORE";
    /// The lead became an MQL.
    pub const MQL: &str = "MQL";
    /// The total fell below the threshold.
    pub const FELL_BELOW: &str = "FELL_BELOW";
}

struct Ledger<'a> {
    model: &'a Model,
    lead_id: Uuid,
    running: i64,
    now: DateTime<Utc>,
    entries: Vec<ledger_entry::Model>,
}

impl Ledger<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: &str,
        activity_id: Option<Uuid>,
        rule_id: &str,
        points: i64,
        reason: &str,
        detail: String,
        effective_time: DateTime<Utc>,
    ) {
        let before = self.running;
        self.running += points;
        self.entries.push(ledger_entry::Model {
            id: Uuid::now_v7(),
            lead_id: self.lead_id,
            kind: kind.to_owned(),
            activity_id,
            rule_id: rule_id.to_owned(),
            model_id: self.model.model_id.clone(),
            model_version: self.model.version,
            points,
            score_before: before,
            score_after: self.running,
            reason: reason.to_owned(),
            detail,
            effective_time,
            entry_time: self.now,
        });
    }
}

/// Returns the instant of the last decay step at or before `now`.
fn last_step(policy: DecayPolicy, occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let age = (now - occurred_at).num_seconds().max(0);
    match policy {
        DecayPolicy::None => now,
        DecayPolicy::HalfLife { secs } => occurred_at + chrono::Duration::seconds(age / secs * secs),
        DecayPolicy::Expire { secs } => occurred_at + chrono::Duration::seconds(secs),
    }
}

/// Settles one lead at `now` in the caller's transaction. A lead without a score, a merged
/// lead and an erased lead are left as they are.
pub async fn settle_lead<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    lead_id: Uuid,
    now: DateTime<Utc>,
    cause: Cause,
    traceparent: &str,
) -> Result<(), DbErr> {
    settle_leads(db, model, &[(lead_id, traceparent.to_owned())], now, cause).await
}

/// Settles several leads at `now` as [`settle_lead`] does, reading their scores, erasures and
/// activities with one query each and writing each kind of row with one statement.
pub async fn settle_leads<C: ConnectionTrait>(
    db: &C,
    model: &Model,
    leads: &[(Uuid, String)],
    now: DateTime<Utc>,
    cause: Cause,
) -> Result<(), DbErr> {
    let mut batch = Batch::default();
    batch.settle(db, model, leads, now, cause).await?;
    batch.flush(db).await
}

/// The part of a lead's history that an evaluation covered.
enum History<'a> {
    /// Every activity of the lead.
    Whole(&'a [domain::ActivityFact]),
    /// Only activities appended since the last settle; see [`appended_evaluation`].
    Appended,
}

/// Evaluates a lead whose score and activities (oldest first) are read, updates its score in
/// place and adds its changed activities, ledger entries and events to `writes`. Returns true
/// when the lead became an MQL.
pub(crate) fn settle_loaded(
    model: &Model,
    score: &mut lead_score::Model,
    rows: Vec<scored_activity::Model>,
    now: DateTime<Utc>,
    cause: Cause,
    traceparent: &str,
    writes: &mut Writes,
) -> bool {
    let facts: Vec<_> = rows.iter().map(store::fact_from_row).collect();
    let attributes = store::json_to_map(&score.attributes);
    let evaluation = domain::evaluate(model, &facts, &attributes, &score.source, now);
    record(model, score, rows, evaluation, History::Whole(&facts), now, cause, traceparent, writes)
}

/// Returns true when a lead's new activities can be settled from its score and the activities
/// its limits look back on, without the rest of its history. That needs a score settled under
/// `model` at or before `now`, with no decay step or future-dated activity come due since, and
/// no stored activity pending. The new activities must be pending, at or before `now`, and
/// later than the lead's latest stored activity. Their instants are already cut to
/// microseconds, the precision both databases store, so a later instant stays later once
/// stored.
pub(crate) fn can_append(
    model: &Model,
    score: &lead_score::Model,
    new_rows: &[scored_activity::Model],
    stored: Option<store::StoredActivities>,
    now: DateTime<Utc>,
) -> bool {
    let latest_stored = stored.map(|stored| stored.latest);
    score.model_version == model.version
        // A `now` before the last settle (another replica's clock behind) would give points
        // back to decayed activities.
        && score.update_time <= now
        && score.next_check_at.is_none_or(|next| next > now)
        && !stored.is_some_and(|stored| stored.pending)
        && new_rows.iter().all(|row| {
            row.verdict == store::PENDING && row.occurred_at <= now && latest_stored.is_none_or(|latest| row.occurred_at > latest)
        })
}

/// Evaluates the new activities of a lead that [`can_append`] accepted, given the stored
/// activities counted by rules with limits (oldest first). Returns `None` when the lead would
/// become an MQL, because the hand-off dates the crossing and names its reasons from the
/// whole history. Such a lead is settled with [`settle_loaded`].
pub(crate) fn appended_evaluation(
    model: &Model,
    score: &lead_score::Model,
    counted_before: &[scored_activity::Model],
    new_rows: &[scored_activity::Model],
    now: DateTime<Utc>,
) -> Option<domain::Evaluation> {
    let counted: Vec<_> = counted_before.iter().map(store::fact_from_row).collect();
    let appended: Vec<_> = new_rows.iter().map(store::fact_from_row).collect();
    let attributes = store::json_to_map(&score.attributes);
    let evaluation =
        domain::evaluate::evaluate_appended(model, &counted, &appended, score.engagement, &attributes, &score.source, now);
    let qualified_before = domain::evaluate::qualifies(model, score.score, score.fit);
    let becomes_mql = domain::crosses_threshold(model, !score.mql, qualified_before, evaluation.total, evaluation.fit);
    (!becomes_mql).then_some(evaluation)
}

/// Settles a lead with an evaluation from [`appended_evaluation`] as [`settle_loaded`] would
/// with its whole history.
pub(crate) fn settle_appended(
    model: &Model,
    score: &mut lead_score::Model,
    new_rows: Vec<scored_activity::Model>,
    evaluation: domain::Evaluation,
    now: DateTime<Utc>,
    traceparent: &str,
    writes: &mut Writes,
) {
    record(model, score, new_rows, evaluation, History::Appended, now, Cause::Events, traceparent, writes);
}

/// Writes what `evaluation` changes against the lead's score: ledger entries, activity rows,
/// the score itself and an MQL hand-off. Returns true when the lead became an MQL.
#[allow(clippy::too_many_arguments)]
fn record(
    model: &Model,
    score: &mut lead_score::Model,
    rows: Vec<scored_activity::Model>,
    evaluation: domain::Evaluation,
    history: History<'_>,
    now: DateTime<Utc>,
    cause: Cause,
    traceparent: &str,
    writes: &mut Writes,
) -> bool {
    let lead_id = score.lead_id;
    let mut ledger = Ledger { model, lead_id, running: score.score, now, entries: Vec::new() };
    let base_change_kind =
        if cause == Cause::Rescore || score.model_version != model.version { kind::RESCORE } else { kind::CORRECTION };
    let mut rows_by_id: BTreeMap<Uuid, scored_activity::Model> = rows.into_iter().map(|row| (row.activity_id, row)).collect();
    let mut latest_new_activity: Option<DateTime<Utc>> = None;

    for (award, points) in evaluation.awards.iter().zip(&evaluation.points) {
        let Some(row) = rows_by_id.get_mut(&award.activity_id) else {
            continue;
        };
        let rule = award.rule_index.map(|index| &model.rules[index]);
        let rule_id = rule.map(|rule| rule.rule_id.clone());
        let verdict = award.verdict.code();
        let detail = award.verdict.detail();
        let delta = points - row.credited_points;

        let entry_kind = if row.verdict == store::PENDING {
            latest_new_activity = Some(latest_new_activity.map_or(award.occurred_at, |t| t.max(award.occurred_at)));
            Some((kind::ACTIVITY, award.occurred_at))
        } else if row.base_points != award.base_points || row.rule_id != rule_id || row.verdict != verdict {
            Some((base_change_kind, award.occurred_at))
        } else if delta != 0 {
            let policy = rule.map(|rule| model.decay_of(rule)).unwrap_or(DecayPolicy::None);
            Some((kind::DECAY, last_step(policy, award.occurred_at, now)))
        } else {
            None
        };

        if let Some((entry_kind, effective_time)) = entry_kind {
            let reason = if entry_kind == kind::DECAY { "decay" } else { verdict };
            ledger.push(
                entry_kind,
                Some(award.activity_id),
                rule_id.as_deref().unwrap_or_default(),
                delta,
                reason,
                detail.clone(),
                effective_time,
            );
            row.rule_id = rule_id;
            row.base_points = award.base_points;
            row.credited_points = *points;
            row.verdict = verdict.to_owned();
            row.detail = detail;
            writes.activities.insert(row.activity_id, row.clone());
        }
    }

    if evaluation.fit != score.fit {
        let rules: Vec<&str> = evaluation.fit_matches.iter().map(|(id, _, _)| id.as_str()).collect();
        let detail = if rules.is_empty() { "no fit rule matches".to_owned() } else { format!("matching fit rules: {}", rules.join(", ")) };
        ledger.push(kind::FIT, None, &rules.join(","), evaluation.fit - score.fit, "fit", detail, now);
    }
    if evaluation.floor_adjustment != score.floor_adjustment {
        let detail = format!("score floor {}", model.floor.unwrap_or_default());
        ledger.push(kind::FLOOR, None, "", evaluation.floor_adjustment - score.floor_adjustment, "floor", detail, now);
    }

    if ledger.running != evaluation.total {
        tracing::error!(lead_id = %lead_id, ledger = ledger.running, evaluation = evaluation.total, "ledger and evaluation disagree");
    }

    let before = score.score;
    let after = ledger.running;
    // Activities that a merge brought are old, but the survivor qualifies through the merge,
    // so a crossing it causes is dated at the merge.
    let effective = if cause == Cause::Merge { now } else { latest_new_activity.unwrap_or(now) };
    if before >= model.threshold && after < model.threshold {
        let detail = format!("total {after} is below the threshold {}; an MQL stays an MQL", model.threshold);
        ledger.push(kind::FELL_BELOW, None, "", 0, "fell_below", detail, effective);
    }

    // A rescore compares against the new model only, so a lead that qualifies under it is
    // handed over even when its total did not move.
    let qualified_before = cause != Cause::Rescore && domain::evaluate::qualifies(model, before, score.fit);
    let became_mql = domain::crosses_threshold(model, !score.mql, qualified_before, after, evaluation.fit);
    if became_mql {
        // A lead that was an MQL before was re-armed by a recycle at an unknown instant, so its
        // new crossing is dated by the activity that caused it rather than by history.
        let historical = match history {
            History::Whole(facts) if score.mql_count == 0 && cause != Cause::Merge => {
                crossing_point(model, facts, &store::json_to_map(&score.attributes), &score.source, now)
            }
            _ => None,
        };
        let (crossed_at, crossed_score) = historical.unwrap_or((effective, after));
        let detail = format!("total {crossed_score} reached the threshold {}", model.threshold);
        ledger.push(kind::MQL, None, "", 0, "threshold_crossed", detail, crossed_at);
        score.mql = true;
        score.mql_count += 1;
        score.last_mql_time = Some(crossed_at);

        let contributions = evaluation.awards.iter().zip(&evaluation.points).map(|(award, points)| (award.activity_type.as_str(), *points));
        let mut reasons = domain::reasons(contributions);
        reasons.truncate(domain::TOP_REASONS);
        let kind = scoring_event::Kind::LeadBecameMql(LeadBecameMql {
            score: crossed_score,
            threshold: model.threshold,
            model_id: model.model_id.clone(),
            model_version: model.version,
            source: score.source.clone(),
            campaign: score.campaign.clone(),
            crossed_at: Some(to_timestamp(crossed_at)),
            top_reasons: reasons,
            attributes: store::json_to_map(&score.attributes),
            do_not_contact: score.do_not_contact,
        });
        writes.enqueue(lead_id, traceparent, kind);
        leadflow_kit::telemetry::increment(&crate::server::MQLS_CREATED);
        tracing::info!(lead_id = %lead_id, score = crossed_score, threshold = model.threshold, model_version = model.version, "lead became MQL");
    }

    let next_pending = rows_by_id
        .values()
        .filter(|row| row.verdict == store::PENDING && row.occurred_at > now)
        .map(|row| row.occurred_at)
        .min();
    // Activities evaluated before an appended evaluation still come due at the score's
    // stored next check.
    let carried = match history {
        History::Whole(_) => None,
        History::Appended => score.next_check_at,
    };
    let next_check = [evaluation.next_decay, next_pending, carried].into_iter().flatten().min();

    score.score = after;
    score.engagement = evaluation.engagement;
    score.fit = evaluation.fit;
    score.floor_adjustment = evaluation.floor_adjustment;
    score.model_version = model.version;
    score.next_check_at = next_check;
    score.update_time = now;
    score.ledger_entries += ledger.entries.len() as i64;

    writes.ledger.extend(ledger.entries);
    became_mql
}

/// Returns the first instant at or before `now`, among the activities' `occurred_at`, at
/// which the lead qualified, with its total then. Each candidate instant is evaluated on its
/// own, with the activities known up to it and decay as of it, so activities that arrived out
/// of order date the crossing where it happened. `None` when no activity instant qualifies,
/// for example when a profile change made the lead qualify.
fn crossing_point(
    model: &Model,
    facts: &[domain::ActivityFact],
    attributes: &BTreeMap<String, String>,
    source: &str,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, i64)> {
    let mut instants: Vec<DateTime<Utc>> = facts.iter().map(|fact| fact.occurred_at).filter(|at| *at <= now).collect();
    instants.sort();
    instants.dedup();
    instants.into_iter().find_map(|instant| {
        let evaluation = domain::evaluate(model, facts, attributes, source, instant);
        domain::evaluate::qualifies(model, evaluation.total, evaluation.fit).then_some((instant, evaluation.total))
    })
}

/// Returns a new, empty score row for a lead.
pub fn new_score(lead_id: Uuid, lead_create_time: DateTime<Utc>, model: &Model, now: DateTime<Utc>) -> lead_score::Model {
    lead_score::Model {
        lead_id,
        score: 0,
        engagement: 0,
        fit: 0,
        floor_adjustment: 0,
        mql: false,
        mql_count: 0,
        last_mql_time: None,
        source: String::new(),
        campaign: String::new(),
        attributes: serde_json::Value::Object(Default::default()),
        outcome: None,
        ledger_entries: 0,
        model_version: model.version,
        next_check_at: None,
        lead_create_time,
        update_time: now,
        merged_into: None,
        do_not_contact: false,
    }
}
