//! Creates `scoring_model`, `lead_score` and `ledger_entry`, and publishes the default model
//! as version 1 so a new installation scores from its first activity.

use sea_orm_migration::prelude::*;

use crate::domain::default_model_points;

/// Creates the scoring tables and the default model.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_create_scoring_tables"
    }
}

#[derive(DeriveIden)]
enum ScoringModel {
    Table,
    ModelId,
    Version,
    ActivityPoints,
    MqlThreshold,
    Description,
    Active,
    PublishTime,
}

#[derive(DeriveIden)]
enum LeadScore {
    Table,
    LeadId,
    Score,
    Mql,
    MqlCount,
    LastMqlTime,
    Source,
    Campaign,
    Outcome,
    LedgerEntries,
    LeadCreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum LedgerEntry {
    Table,
    Id,
    LeadId,
    ActivityId,
    ActivityType,
    Rule,
    ModelId,
    ModelVersion,
    Points,
    ScoreBefore,
    ScoreAfter,
    OccurredAt,
    EntryTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ScoringModel::Table)
                    .col(ColumnDef::new(ScoringModel::ModelId).string().not_null())
                    .col(ColumnDef::new(ScoringModel::Version).integer().not_null())
                    .col(ColumnDef::new(ScoringModel::ActivityPoints).json().not_null())
                    .col(ColumnDef::new(ScoringModel::MqlThreshold).big_integer().not_null())
                    .col(ColumnDef::new(ScoringModel::Description).text().not_null())
                    .col(ColumnDef::new(ScoringModel::Active).boolean().not_null())
                    .col(ColumnDef::new(ScoringModel::PublishTime).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(ScoringModel::ModelId).col(ScoringModel::Version))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadScore::Table)
                    .col(ColumnDef::new(LeadScore::LeadId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LeadScore::Score).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::Mql).boolean().not_null())
                    .col(ColumnDef::new(LeadScore::MqlCount).integer().not_null())
                    .col(ColumnDef::new(LeadScore::LastMqlTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(LeadScore::Source).string().not_null())
                    .col(ColumnDef::new(LeadScore::Campaign).string().not_null())
                    .col(ColumnDef::new(LeadScore::Outcome).string())
                    .col(ColumnDef::new(LeadScore::LedgerEntries).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::LeadCreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LeadScore::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("lead_score_score_lead")
                    .table(LeadScore::Table)
                    .col(LeadScore::Score)
                    .col(LeadScore::LeadId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LedgerEntry::Table)
                    .col(ColumnDef::new(LedgerEntry::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LedgerEntry::LeadId).uuid().not_null())
                    .col(ColumnDef::new(LedgerEntry::ActivityId).uuid())
                    .col(ColumnDef::new(LedgerEntry::ActivityType).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::Rule).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::ModelId).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::ModelVersion).integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::Points).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::ScoreBefore).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::ScoreAfter).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LedgerEntry::EntryTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ledger_entry_lead")
                    .table(LedgerEntry::Table)
                    .col(LedgerEntry::LeadId)
                    .col(LedgerEntry::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ledger_entry_activity")
                    .table(LedgerEntry::Table)
                    .col(LedgerEntry::ActivityId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        let points = serde_json::to_string(&default_model_points()).map_err(|e| DbErr::Custom(e.to_string()))?;
        let insert = Query::insert()
            .into_table(ScoringModel::Table)
            .columns([
                ScoringModel::ModelId,
                ScoringModel::Version,
                ScoringModel::ActivityPoints,
                ScoringModel::MqlThreshold,
                ScoringModel::Description,
                ScoringModel::Active,
                ScoringModel::PublishTime,
            ])
            .values_panic([
                crate::domain::DEFAULT_MODEL_ID.into(),
                1.into(),
                serde_json::from_str::<serde_json::Value>(&points).map_err(|e| DbErr::Custom(e.to_string()))?.into(),
                crate::domain::DEFAULT_THRESHOLD.into(),
                "Built-in starting model: points per activity type, MQL at 50.".into(),
                true.into(),
                leadflow_kit::time::now().into(),
            ])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LedgerEntry::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LeadScore::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ScoringModel::Table).to_owned()).await
    }
}
