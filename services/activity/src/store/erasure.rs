//! Reads and writes of erasures, and the removal of a lead's personal data from the activity
//! database.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{activity, lead, visitor_alias};

/// Erasures of leads' personal data.
pub mod erasure {
    use sea_orm::entity::prelude::*;

    /// One erasure with the time each service confirmed it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "erasure")]
    pub struct Model {
        /// UUIDv7 of the erasure.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The erased lead; a lead is erased at most once.
        #[sea_orm(unique)]
        pub lead_id: Uuid,
        /// Time the activity service erased its rows.
        pub activity_erase_time: DateTimeUtc,
        /// Time the scoring service erased its copies, once confirmed.
        pub scoring_erase_time: Option<DateTimeUtc>,
        /// Time the qualification service erased its copies, once confirmed.
        pub qualification_erase_time: Option<DateTimeUtc>,
        /// Time the last confirmation arrived.
        pub complete_time: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Finds an erasure by its id.
pub async fn find<C: ConnectionTrait>(db: &C, erasure_id: Uuid) -> Result<Option<erasure::Model>, DbErr> {
    erasure::Entity::find_by_id(erasure_id).one(db).await
}

/// Finds the erasure of a lead.
pub async fn find_by_lead<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Option<erasure::Model>, DbErr> {
    erasure::Entity::find().filter(erasure::Column::LeadId.eq(lead_id)).one(db).await
}

/// Inserts an erasure.
pub async fn insert<C: ConnectionTrait>(db: &C, row: &erasure::Model) -> Result<(), DbErr> {
    let active = erasure::ActiveModel {
        id: Set(row.id),
        lead_id: Set(row.lead_id),
        activity_erase_time: Set(row.activity_erase_time),
        scoring_erase_time: Set(row.scoring_erase_time),
        qualification_erase_time: Set(row.qualification_erase_time),
        complete_time: Set(row.complete_time),
    };
    erasure::Entity::insert(active).exec_without_returning(db).await?;
    Ok(())
}

/// Writes the confirmation columns of an erasure.
pub async fn update_confirmations<C: ConnectionTrait>(db: &C, row: &erasure::Model) -> Result<(), DbErr> {
    erasure::Entity::update_many()
        .col_expr(erasure::Column::ScoringEraseTime, Expr::value(row.scoring_erase_time))
        .col_expr(erasure::Column::QualificationEraseTime, Expr::value(row.qualification_erase_time))
        .col_expr(erasure::Column::CompleteTime, Expr::value(row.complete_time))
        .filter(erasure::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Returns the ids of the leads that were merged into `lead_id`.
pub async fn merged_into<C: ConnectionTrait>(db: &C, lead_id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    let rows = lead::Entity::find().filter(lead::Column::MergedInto.eq(lead_id)).all(db).await?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Removes the personal data of one lead row: its e-mail address, external id, attributes,
/// the properties and idempotency keys of its activities, and its visitor ids. The row keeps
/// its id, source, campaign, lifecycle stage, outcome, consent flags and times.
pub async fn erase_lead_rows<C: ConnectionTrait>(db: &C, lead_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    let empty = serde_json::Value::Object(serde_json::Map::new());

    lead::Entity::update_many()
        .col_expr(lead::Column::Email, Expr::value(Option::<String>::None))
        .col_expr(lead::Column::ExternalId, Expr::value(Option::<String>::None))
        .col_expr(lead::Column::Attributes, Expr::value(empty.clone()))
        .col_expr(lead::Column::EraseTime, Expr::value(Some(now)))
        .col_expr(lead::Column::UpdateTime, Expr::value(now))
        .filter(lead::Column::Id.eq(lead_id))
        .exec(db)
        .await?;

    // Idempotency keys are chosen by the client and may name the person (`leadflow import`
    // builds them from the lead's key column, often the e-mail address), so they go too.
    activity::Entity::update_many()
        .col_expr(activity::Column::Properties, Expr::value(empty))
        .col_expr(activity::Column::IdempotencyKey, Expr::value(Option::<String>::None))
        .filter(activity::Column::LeadId.eq(lead_id))
        .exec(db)
        .await?;

    visitor_alias::Entity::delete_many().filter(visitor_alias::Column::LeadId.eq(lead_id)).exec(db).await?;
    Ok(())
}
