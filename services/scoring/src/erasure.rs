//! Erasure of a lead's personal data in the scoring service.
//!
//! A `LeadErased` event from the activity service empties the copies scoring keeps: the
//! profile attributes of the score row, the properties of every received activity and the
//! property values quoted in verdict and ledger details. Scores, points, rule ids, source,
//! campaign and times remain, so the ledger still adds up and reports still count the lead.
//! The lead is then frozen: no later settlement changes its score. The event goes on to the
//! qualification service with `scoring_erase_time` set.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use leadflow_kit::privacy;
use leadflow_kit::time::to_timestamp;
use leadflow_proto::events::{LeadErased, ScoringEvent, scoring_event};
use prost::Message;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm::sea_query::OnConflict;
use uuid::Uuid;

use crate::engine;
use crate::store::{self, lead_score, ledger_entry, scored_activity};

/// Leads whose personal data was erased.
pub mod erased_lead {
    use sea_orm::entity::prelude::*;

    /// One erased lead.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "erased_lead")]
    pub struct Model {
        /// Lead id from the activity service.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: Uuid,
        /// Id of the erasure in the activity service.
        pub erasure_id: String,
        /// Time this service erased the lead's copies.
        pub erase_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Returns true when the lead's personal data was erased.
pub async fn is_erased<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<bool, DbErr> {
    Ok(erased_lead::Entity::find_by_id(lead_id).one(db).await?.is_some())
}

/// Returns which of `lead_ids` were erased, with one query.
pub async fn erased_among<C: ConnectionTrait>(db: &C, lead_ids: Vec<Uuid>) -> Result<BTreeSet<Uuid>, DbErr> {
    if lead_ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    let rows = erased_lead::Entity::find().filter(erased_lead::Column::LeadId.is_in(lead_ids)).all(db).await?;
    Ok(rows.into_iter().map(|row| row.lead_id).collect())
}

/// Erases the lead's copies at `now` in the caller's transaction and writes the forwarded
/// `LeadErased` event for the qualification service.
pub async fn apply_lead_erased<C: ConnectionTrait>(
    db: &C,
    lead_id: Uuid,
    erased: &LeadErased,
    traceparent: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let empty = serde_json::Value::Object(serde_json::Map::new());

    lead_score::Entity::update_many()
        .col_expr(lead_score::Column::Attributes, Expr::value(empty.clone()))
        .col_expr(lead_score::Column::NextCheckAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(lead_score::Column::LeadId.eq(lead_id))
        .exec(db)
        .await?;

    let activities = store::lead_activities(db, lead_id).await?;
    let quoted: BTreeSet<String> = activities
        .iter()
        .flat_map(|row| store::json_to_map(&row.properties).into_values())
        .map(|value| format!("{value:?}"))
        .collect();
    for row in &activities {
        scored_activity::Entity::update_many()
            .col_expr(scored_activity::Column::Properties, Expr::value(empty.clone()))
            .col_expr(scored_activity::Column::Detail, Expr::value(without_values(&row.detail, &quoted)))
            .filter(scored_activity::Column::ActivityId.eq(row.activity_id))
            .exec(db)
            .await?;
    }

    let entries = ledger_entry::Entity::find().filter(ledger_entry::Column::LeadId.eq(lead_id)).all(db).await?;
    for entry in entries {
        let detail = without_values(&entry.detail, &quoted);
        if detail != entry.detail {
            ledger_entry::Entity::update_many()
                .col_expr(ledger_entry::Column::Detail, Expr::value(detail))
                .filter(ledger_entry::Column::Id.eq(entry.id))
                .exec(db)
                .await?;
        }
    }

    let lead_text = lead_id.to_string();
    privacy::scrub_outbox(db, &lead_text, scrub_scoring_event).await?;
    privacy::forget_stored_responses(db, &lead_text).await?;

    let row = erased_lead::ActiveModel {
        lead_id: Set(lead_id),
        erasure_id: Set(erased.erasure_id.clone()),
        erase_time: Set(now),
    };
    erased_lead::Entity::insert(row)
        .on_conflict(OnConflict::column(erased_lead::Column::LeadId).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;

    let forwarded = LeadErased { scoring_erase_time: Some(to_timestamp(now)), ..erased.clone() };
    engine::enqueue(db, lead_id, traceparent, scoring_event::Kind::LeadErased(forwarded)).await?;
    tracing::info!(lead_id = %lead_id, erasure_id = %erased.erasure_id, "lead's personal data erased from scoring");
    Ok(())
}

/// Replaces every quoted property value in a verdict or ledger detail with `"[erased]"`.
/// Details quote values in Rust debug form (`"value"`), so a match is a whole value.
fn without_values(detail: &str, quoted: &BTreeSet<String>) -> String {
    let mut detail = detail.to_owned();
    for value in quoted {
        if detail.contains(value.as_str()) {
            detail = detail.replace(value.as_str(), "\"[erased]\"");
        }
    }
    detail
}

/// Removes the profile attributes of a pending `LeadBecameMql`; other scoring events carry
/// no personal data.
fn scrub_scoring_event(payload: &[u8]) -> Option<Vec<u8>> {
    let mut event = ScoringEvent::decode(payload).ok()?;
    let Some(scoring_event::Kind::LeadBecameMql(mql)) = event.kind.as_mut() else {
        return None;
    };
    if mql.attributes.is_empty() {
        return None;
    }
    mql.attributes.clear();
    Some(event.encode_to_vec())
}
