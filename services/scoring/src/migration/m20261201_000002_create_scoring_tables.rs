//! Creates the scoring tables and publishes the built-in model as version 1, so a new
//! installation scores from its first activity.

use sea_orm_migration::prelude::*;

use crate::domain::Model;

/// Creates `scoring_model`, `rescore_job`, `lead_score`, `scored_activity` and `ledger_entry`.
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
    State,
    Definition,
    MqlThreshold,
    Description,
    CreateTime,
    PublishTime,
}

#[derive(DeriveIden)]
enum RescoreJob {
    Table,
    ModelId,
    Version,
    CursorLeadId,
    LeadsDone,
    LeadsTotal,
    Finished,
    UpdateTime,
}

#[derive(DeriveIden)]
enum LeadScore {
    Table,
    LeadId,
    Score,
    Engagement,
    Fit,
    FloorAdjustment,
    Mql,
    MqlCount,
    LastMqlTime,
    Source,
    Campaign,
    Attributes,
    Outcome,
    LedgerEntries,
    ModelVersion,
    NextCheckAt,
    LeadCreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum ScoredActivity {
    Table,
    ActivityId,
    LeadId,
    ActivityType,
    OccurredAt,
    Properties,
    RuleId,
    BasePoints,
    CreditedPoints,
    Verdict,
    Detail,
}

#[derive(DeriveIden)]
enum LedgerEntry {
    Table,
    Id,
    LeadId,
    Kind,
    ActivityId,
    RuleId,
    ModelId,
    ModelVersion,
    Points,
    ScoreBefore,
    ScoreAfter,
    Reason,
    Detail,
    EffectiveTime,
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
                    .col(ColumnDef::new(ScoringModel::State).string().not_null())
                    .col(ColumnDef::new(ScoringModel::Definition).json().not_null())
                    .col(ColumnDef::new(ScoringModel::MqlThreshold).big_integer().not_null())
                    .col(ColumnDef::new(ScoringModel::Description).text().not_null())
                    .col(ColumnDef::new(ScoringModel::CreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(ScoringModel::PublishTime).timestamp_with_time_zone())
                    .primary_key(Index::create().col(ScoringModel::ModelId).col(ScoringModel::Version))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RescoreJob::Table)
                    .col(ColumnDef::new(RescoreJob::ModelId).string().not_null())
                    .col(ColumnDef::new(RescoreJob::Version).integer().not_null())
                    .col(ColumnDef::new(RescoreJob::CursorLeadId).uuid())
                    .col(ColumnDef::new(RescoreJob::LeadsDone).big_integer().not_null())
                    .col(ColumnDef::new(RescoreJob::LeadsTotal).big_integer().not_null())
                    .col(ColumnDef::new(RescoreJob::Finished).boolean().not_null())
                    .col(ColumnDef::new(RescoreJob::UpdateTime).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(RescoreJob::ModelId).col(RescoreJob::Version))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadScore::Table)
                    .col(ColumnDef::new(LeadScore::LeadId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LeadScore::Score).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::Engagement).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::Fit).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::FloorAdjustment).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::Mql).boolean().not_null())
                    .col(ColumnDef::new(LeadScore::MqlCount).integer().not_null())
                    .col(ColumnDef::new(LeadScore::LastMqlTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(LeadScore::Source).string().not_null())
                    .col(ColumnDef::new(LeadScore::Campaign).string().not_null())
                    .col(ColumnDef::new(LeadScore::Attributes).json().not_null())
                    .col(ColumnDef::new(LeadScore::Outcome).string())
                    .col(ColumnDef::new(LeadScore::LedgerEntries).big_integer().not_null())
                    .col(ColumnDef::new(LeadScore::ModelVersion).integer().not_null())
                    .col(ColumnDef::new(LeadScore::NextCheckAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(LeadScore::LeadCreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LeadScore::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        for (name, columns) in [
            ("lead_score_score_lead", [LeadScore::Score, LeadScore::LeadId]),
            ("lead_score_next_check", [LeadScore::NextCheckAt, LeadScore::LeadId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(LeadScore::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ScoredActivity::Table)
                    .col(ColumnDef::new(ScoredActivity::ActivityId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ScoredActivity::LeadId).uuid().not_null())
                    .col(ColumnDef::new(ScoredActivity::ActivityType).string().not_null())
                    .col(ColumnDef::new(ScoredActivity::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(ScoredActivity::Properties).json().not_null())
                    .col(ColumnDef::new(ScoredActivity::RuleId).string())
                    .col(ColumnDef::new(ScoredActivity::BasePoints).big_integer().not_null())
                    .col(ColumnDef::new(ScoredActivity::CreditedPoints).big_integer().not_null())
                    .col(ColumnDef::new(ScoredActivity::Verdict).string().not_null())
                    .col(ColumnDef::new(ScoredActivity::Detail).text().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("scored_activity_lead_occurred_at")
                    .table(ScoredActivity::Table)
                    .col(ScoredActivity::LeadId)
                    .col(ScoredActivity::OccurredAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LedgerEntry::Table)
                    .col(ColumnDef::new(LedgerEntry::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LedgerEntry::LeadId).uuid().not_null())
                    .col(ColumnDef::new(LedgerEntry::Kind).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::ActivityId).uuid())
                    .col(ColumnDef::new(LedgerEntry::RuleId).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::ModelId).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::ModelVersion).integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::Points).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::ScoreBefore).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::ScoreAfter).big_integer().not_null())
                    .col(ColumnDef::new(LedgerEntry::Reason).string().not_null())
                    .col(ColumnDef::new(LedgerEntry::Detail).text().not_null())
                    .col(ColumnDef::new(LedgerEntry::EffectiveTime).timestamp_with_time_zone().not_null())
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

        let builtin = Model::builtin();
        let definition = serde_json::to_value(&builtin).map_err(|error| DbErr::Custom(error.to_string()))?;
        let now = leadflow_kit::time::now();
        let insert = Query::insert()
            .into_table(ScoringModel::Table)
            .columns([
                ScoringModel::ModelId,
                ScoringModel::Version,
                ScoringModel::State,
                ScoringModel::Definition,
                ScoringModel::MqlThreshold,
                ScoringModel::Description,
                ScoringModel::CreateTime,
                ScoringModel::PublishTime,
            ])
            .values_panic([
                builtin.model_id.clone().into(),
                builtin.version.into(),
                "ACTIVE".into(),
                definition.into(),
                builtin.threshold.into(),
                builtin.description.clone().into(),
                now.into(),
                Some(now).into(),
            ])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LedgerEntry::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ScoredActivity::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(LeadScore::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(RescoreJob::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ScoringModel::Table).to_owned()).await
    }
}
