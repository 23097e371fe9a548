//! The state of a batch being applied: the scores it read, and every row it changed, kept in
//! memory and written by [`Batch::flush`] with a fixed number of statements, whatever the
//! number of events.
//!
//! Until a flush, the batch is the only writer of the rows it holds: its scores are locked on
//! PostgreSQL, and SQLite has one writer. A step that writes without the batch (a merge, an
//! erasure) runs after a flush and is followed by [`Batch::forget`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use leadflow_kit::outbox::{self, entity::outbox::ActiveModel as OutboxRow};
use leadflow_proto::events::scoring_event;
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use super::event_row;
use super::settle::{Cause, appended_evaluation, can_append, settle_appended, settle_loaded};
use crate::domain::{self, ActivityFact, Evaluation, Model};
use crate::store::{self, lead_score, ledger_entry, scored_activity};

/// Rows written by settling, kept for one flush.
#[derive(Default)]
pub(crate) struct Writes {
    /// Activity rows as they are to be stored, new or changed, by activity id.
    pub activities: BTreeMap<Uuid, scored_activity::Model>,
    /// Outbox rows, in the order of delivery.
    pub events: Vec<OutboxRow>,
    /// Ledger entries, in the order they were made.
    pub ledger: Vec<ledger_entry::Model>,
}

impl Writes {
    /// Adds a scoring event for the qualification service.
    pub fn enqueue(&mut self, lead_id: Uuid, traceparent: &str, kind: scoring_event::Kind) {
        self.events.push(event_row(lead_id, traceparent, kind));
    }
}

/// The scores and changes of one batch, as the module documentation describes.
#[derive(Default)]
pub(crate) struct Batch {
    /// Scores read or created, as they are now.
    scores: HashMap<Uuid, lead_score::Model>,
    /// Leads read and found without a score.
    absent: HashSet<Uuid>,
    /// Scores to insert.
    created: BTreeSet<Uuid>,
    /// Stored scores to write back.
    changed: BTreeSet<Uuid>,
    /// Activities received in this batch, which the flush inserts. The other activity rows
    /// are stored ones whose verdict changed.
    received: HashSet<Uuid>,
    writes: Writes,
}

impl Batch {
    /// Reads the scores of `lead_ids` with one query (locked on PostgreSQL).
    pub async fn load<C: ConnectionTrait>(&mut self, db: &C, lead_ids: Vec<Uuid>) -> Result<(), DbErr> {
        let loaded = store::find_scores_for_update(db, lead_ids.clone()).await?;
        self.absent.extend(lead_ids.into_iter().filter(|id| !loaded.contains_key(id)));
        self.scores.extend(loaded);
        Ok(())
    }

    /// Returns the lead's score for a change, creating it when the lead has none yet. A new
    /// lead is announced to the qualification service with a `LeadAttributed` event.
    pub async fn ensure<C: ConnectionTrait>(
        &mut self,
        db: &C,
        model: &Model,
        lead_id: Uuid,
        lead_create_time: DateTime<Utc>,
        now: DateTime<Utc>,
        traceparent: &str,
    ) -> Result<&mut lead_score::Model, DbErr> {
        if !self.scores.contains_key(&lead_id) {
            let stored = if self.absent.remove(&lead_id) { None } else { store::find_score_for_update(db, lead_id).await? };
            let score = match stored {
                Some(score) => score,
                None => {
                    self.writes.enqueue(lead_id, traceparent, super::lead_announced(lead_create_time));
                    self.created.insert(lead_id);
                    super::settle::new_score(lead_id, lead_create_time, model, now)
                }
            };
            self.scores.insert(lead_id, score);
        }
        self.changed.insert(lead_id);
        self.scores.get_mut(&lead_id).ok_or_else(|| DbErr::Custom(format!("score of lead {lead_id} was not kept")))
    }

    /// Adds a scoring event for the qualification service.
    pub fn enqueue(&mut self, lead_id: Uuid, traceparent: &str, kind: scoring_event::Kind) {
        self.writes.enqueue(lead_id, traceparent, kind);
    }

    /// Keeps a received activity of `lead_id` as pending evaluation.
    pub fn receive(&mut self, lead_id: Uuid, fact: &ActivityFact) {
        self.received.insert(fact.activity_id);
        self.writes.activities.insert(fact.activity_id, store::pending_activity(lead_id, fact));
    }

    /// Settles `leads` at `now` with their traceparents, reading the scores not read yet and
    /// the erasures with one query each. An activity that the batch has not written yet counts
    /// as the batch has it. Leads without a score, merged leads and erased leads are skipped.
    ///
    /// A lead whose new activities all follow its stored ones is settled from its score and
    /// the stored activities its limits look back on ([`can_append`]). One query reads the
    /// latest stored instant of each lead and whether one is pending. Another reads the
    /// counted activities within reach. The other leads, and those that become MQLs, are
    /// evaluated over every stored activity, read with one more query. Leads whose score the
    /// batch creates have nothing stored, so these queries leave them out.
    pub async fn settle<C: ConnectionTrait>(
        &mut self,
        db: &C,
        model: &Model,
        leads: &[(Uuid, String)],
        now: DateTime<Utc>,
        cause: Cause,
    ) -> Result<(), DbErr> {
        let lead_ids: Vec<Uuid> = leads.iter().map(|(lead_id, _)| *lead_id).collect();
        let unread: Vec<Uuid> =
            lead_ids.iter().filter(|id| !self.scores.contains_key(id) && !self.absent.contains(id)).copied().collect();
        if !unread.is_empty() {
            self.load(db, unread).await?;
        }
        let erased = crate::erasure::erased_among(db, lead_ids.clone()).await?;
        let mut unwritten: HashMap<Uuid, Vec<scored_activity::Model>> = HashMap::new();
        for row in self.writes.activities.values() {
            unwritten.entry(row.lead_id).or_default().push(row.clone());
        }

        // The leads to settle, each once: a second evaluation would find the lead's
        // activities already taken.
        let mut seen = HashSet::new();
        let mut due: Vec<(Uuid, &str)> = Vec::new();
        for (lead_id, traceparent) in leads {
            let Some(score) = self.scores.get(lead_id) else { continue };
            if seen.insert(*lead_id) && score.merged_into.is_none() && !erased.contains(lead_id) {
                due.push((*lead_id, traceparent));
            }
        }

        let mut appended = self.evaluate_appended(db, model, &due, &unwritten, now, cause).await?;
        let whole: Vec<Uuid> =
            due.iter().map(|(lead_id, _)| *lead_id).filter(|id| !appended.contains_key(id) && self.has_stored(id)).collect();
        let mut stored = store::activities_of_leads(db, whole).await?;

        for (lead_id, traceparent) in due {
            let Some(score) = self.scores.get_mut(&lead_id) else { continue };
            let new_rows = unwritten.remove(&lead_id).unwrap_or_default();
            match appended.remove(&lead_id) {
                Some(evaluation) => settle_appended(model, score, new_rows, evaluation, now, traceparent, &mut self.writes),
                None => {
                    let rows = overlay(stored.remove(&lead_id).unwrap_or_default(), new_rows);
                    settle_loaded(model, score, rows, now, cause, traceparent, &mut self.writes);
                }
            }
            self.changed.insert(lead_id);
        }
        Ok(())
    }

    /// Evaluates the new activities of each lead in `due` that [`can_append`] accepts and that
    /// does not become an MQL. Returns the evaluations by lead.
    async fn evaluate_appended<C: ConnectionTrait>(
        &self,
        db: &C,
        model: &Model,
        due: &[(Uuid, &str)],
        unwritten: &HashMap<Uuid, Vec<scored_activity::Model>>,
        now: DateTime<Utc>,
        cause: Cause,
    ) -> Result<HashMap<Uuid, Evaluation>, DbErr> {
        let mut evaluations = HashMap::new();
        // Other causes change the verdicts or points of stored activities.
        if cause != Cause::Events {
            return Ok(evaluations);
        }
        let no_rows = Vec::new();
        let new_rows = |lead_id: &Uuid| unwritten.get(lead_id).unwrap_or(&no_rows);
        // Rows the batch changed without receiving them are stored ones being re-evaluated.
        let candidates: Vec<Uuid> = due
            .iter()
            .map(|(lead_id, _)| *lead_id)
            .filter(|id| new_rows(id).iter().all(|row| self.received.contains(&row.activity_id)))
            .collect();
        if candidates.is_empty() {
            return Ok(evaluations);
        }

        let with_stored = |ids: &[Uuid]| ids.iter().copied().filter(|id| self.has_stored(id)).collect::<Vec<_>>();
        let stored = store::stored_activities_in_brief(db, with_stored(&candidates)).await?;
        let accepted: Vec<Uuid> = candidates
            .into_iter()
            .filter(|id| self.scores.get(id).is_some_and(|score| can_append(model, score, new_rows(id), stored.get(id).copied(), now)))
            .collect();
        let earliest_new = accepted.iter().flat_map(|id| new_rows(id)).map(|row| row.occurred_at).min().unwrap_or(now);
        let reach = domain::evaluate::limit_reach(model);
        let counted = store::counted_within_reach(db, with_stored(&accepted), &reach, earliest_new).await?;

        for lead_id in accepted {
            let Some(score) = self.scores.get(&lead_id) else { continue };
            let counted_before = counted.get(&lead_id).map(Vec::as_slice).unwrap_or_default();
            if let Some(evaluation) = appended_evaluation(model, score, counted_before, new_rows(&lead_id), now) {
                evaluations.insert(lead_id, evaluation);
            }
        }
        Ok(evaluations)
    }

    /// Writes everything the batch holds: new and changed scores, new activities,
    /// changed verdicts, outbox rows and ledger entries, one statement each (more only past
    /// `leadflow_kit::db::MAX_ROWS_PER_INSERT` rows). The scores read stay known.
    pub async fn flush<C: ConnectionTrait>(&mut self, db: &C) -> Result<(), DbErr> {
        let created = std::mem::take(&mut self.created);
        let changed = std::mem::take(&mut self.changed);
        let new_scores = created.iter().filter_map(|id| self.scores.get(id)).collect();
        store::insert_scores(db, new_scores).await?;
        let stored_scores = changed.difference(&created).filter_map(|id| self.scores.get(id)).collect();
        store::update_scores(db, stored_scores).await?;

        // A received activity is inserted, so a concurrent delivery of the same activity
        // fails on its key instead of overwriting the verdict.
        let writes = std::mem::take(&mut self.writes);
        let received = std::mem::take(&mut self.received);
        let (new_rows, stored_rows) = writes.activities.into_values().partition(|row| received.contains(&row.activity_id));
        store::insert_activities(db, new_rows).await?;
        store::update_activities(db, stored_rows).await?;
        outbox::enqueue_rows(db, writes.events).await?;
        store::insert_ledger_entries(db, writes.ledger).await
    }

    /// Returns false for a lead whose score this batch is creating: it has no stored
    /// activities, because activities are stored only for leads with a score, and a score
    /// that another transaction inserted meanwhile makes this batch's insert fail.
    fn has_stored(&self, lead_id: &Uuid) -> bool {
        !self.created.contains(lead_id)
    }

    /// Drops the scores read, after a step that wrote scores without the batch. Call after
    /// [`Batch::flush`].
    pub fn forget(&mut self) {
        self.scores.clear();
        self.absent.clear();
    }
}

/// Returns a lead's stored activities, with the batch's unwritten versions in place of stored
/// ones, oldest first.
fn overlay(stored: Vec<scored_activity::Model>, unwritten: Vec<scored_activity::Model>) -> Vec<scored_activity::Model> {
    if unwritten.is_empty() {
        return stored;
    }
    let unwritten_ids: HashSet<Uuid> = unwritten.iter().map(|row| row.activity_id).collect();
    let mut rows: Vec<_> = stored.into_iter().filter(|row| !unwritten_ids.contains(&row.activity_id)).chain(unwritten).collect();
    rows.sort_by(|a, b| (a.occurred_at, a.activity_id).cmp(&(b.occurred_at, b.activity_id)));
    rows
}
